"""Benchmark: the OVN twin against the floor of doing the same steps by hand (not a test).

What it answers: how much does ``apibridge lab up`` cost on top of the raw work — the six daemons,
the northbound objects, the namespaces and veths, the servers — and is ``lab verify`` fast enough for
100 pods in 10 VPCs on this machine?

* **cold start** — ``Lab.up`` of the seed scenario (examples/seed: 3 VPCs, 2 attached pods, a node
  with the API server stand-in) from nothing until ovn-controller has installed the flows, beside
  the *floor*: the same Topology realized the way research/ovnlab.sh does it — ``ovsdb-server`` /
  ``ovs-vswitchd`` / ``ovn-northd`` / ``ovn-controller`` started by hand, one ``ovn-nbctl`` per
  object, ``ip``/``ethtool``/``ovs-vsctl`` per interface, ``python3 -m http.server`` for the node
  and each pod with a port, ``ovn-nbctl --wait=hv sync``.
* **per pod** — adding one pod to the running lab (``Lab.up`` reconcile with one more Pod in the
  input), averaged over ``--pods`` additions, beside the floor of adding it by hand (netns, veth,
  addresses, routes, ethtool, add-port, ``lsp-add``, ``--wait=hv sync``).
* **verify** — ``lab verify`` of 10 VPCs × 10 pods (a strict ApiBridge per VPC, a port per pod).
* **memory** — the RSS of the six OVN/OVS daemons with those 100 pods.

Run as root: ``.venv/bin/python bench/lab.py`` (about a minute). The last output line is JSON:
``{"cold_start_s", "floor_cold_start_s", "per_pod_s", "floor_per_pod_s", "verify_100_pods_s", "rss_mb"}``.
Target: cold start and per pod within 1.5x of the floor. Other processes on the machine skew both
sides alike, which is why the floor is measured in the same run.

``--scale`` (issue 14) instead builds labs of 100, 300 and 1,000 pods from generated manifests
(:mod:`apibridge.twin.proof.synthetic`: two nodes, ten tenant VPCs, half of each selected by a strict
ApiBridge), verifies each ``--verifies`` times by equivalence class, and takes it down; per size it
reports ``up_s``, ``verify_s`` (the slowest verify), ``probes``, ``false_results`` (probes whose
result contradicts the construction, over all verifies), ``down_s`` (first try), ``rss_mib`` (every
process of the lab: daemons, hub, API server stand-ins), plus the growth from the smallest to the
largest size and the machine's load average before each size (the machine is shared).
Targets at 1,000 pods: up <= 30 s, verify <= 15 s, down <= 10 s first try, 0 false results in five
verifies, RSS <= 300 MiB, growth no worse than linear.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from apibridge.kubeovn import rules
from apibridge.model.cluster import load_cluster
from apibridge.plan.planner import plan
from apibridge.twin.lab import LAB_NODE, Lab
from apibridge.twin.ovn.topology import Topology, build_topology, iter_nics
from apibridge.twin.pods import netns as ns
from apibridge.twin.pods import probe
from apibridge.twin.proc import pids_mentioning, read_pidfile, run
from apibridge.twin.proof import synthetic
from apibridge.twin.proof.verify import class_expectations, verify
from apibridge.twin.state import locate

REPO = Path(__file__).resolve().parents[1]
SEED = [str(REPO / "examples" / "seed")]


def say(text: str) -> None:
    print(text, flush=True)


# --- the floor: ovnlab.sh's way, driven by the same Topology ------------------------------------------


class Floor:
    """The raw steps, one process per object/interface, under ``root`` with namespaces ``<prefix>*``."""

    def __init__(self, root: Path, prefix: str) -> None:
        self.root = root
        self.prefix = prefix
        self.sw = f"{prefix}ovs"
        self.servers: list[subprocess.Popen[bytes]] = []
        self.namespaces: list[str] = []
        self.env = {
            **os.environ,
            "OVS_RUNDIR": str(root),
            "OVS_DBDIR": str(root),
            "OVS_LOGDIR": str(root),
            "OVN_RUNDIR": str(root),
            "OVN_DBDIR": str(root),
            "OVN_LOGDIR": str(root),
        }
        self.nb = f"unix:{root}/nb.sock"
        self.sb = f"unix:{root}/sb.sock"
        self.ovs = f"unix:{root}/db.sock"

    def sh(self, *argv: str) -> None:
        run(list(argv), env=self.env)

    def nbctl(self, *args: str) -> None:
        self.sh("ovn-nbctl", f"--db={self.nb}", *args)

    def vsctl(self, *args: str) -> None:
        self.sh("ovs-vsctl", f"--db={self.ovs}", *args)

    def start_daemons(self) -> None:
        r = self.root
        common = ["--detach", "--no-chdir", "-vconsole:off"]
        self.sh("ovsdb-tool", "create", f"{r}/conf.db", "/usr/share/openvswitch/vswitch.ovsschema")
        self.sh(
            "ovsdb-server",
            f"{r}/conf.db",
            f"--remote=punix:{r}/db.sock",
            f"--pidfile={r}/ovsdb-server.pid",
            f"--unixctl={r}/ovsdb-server.ctl",
            f"--log-file={r}/ovsdb-server.log",
            *common,
        )
        self.vsctl("--no-wait", "init")
        self.sh("ip", "netns", "add", self.sw)
        self.sh(
            "ip",
            "netns",
            "exec",
            self.sw,
            "ovs-vswitchd",
            self.ovs,
            f"--pidfile={r}/ovs-vswitchd.pid",
            f"--unixctl={r}/ovs-vswitchd.ctl",
            f"--log-file={r}/ovs-vswitchd.log",
            *common,
        )
        for db, schema in (("nb", "/usr/share/ovn/ovn-nb.ovsschema"), ("sb", "/usr/share/ovn/ovn-sb.ovsschema")):
            self.sh("ovsdb-tool", "create", f"{r}/{db}.db", schema)
            self.sh(
                "ovsdb-server",
                f"{r}/{db}.db",
                f"--remote=punix:{r}/{db}.sock",
                f"--pidfile={r}/{db}.pid",
                f"--unixctl={r}/{db}.ctl",
                f"--log-file={r}/{db}.log",
                *common,
            )
        self.nbctl("--no-wait", "init")
        self.sh("ovn-sbctl", f"--db={self.sb}", "init")
        self.sh(
            "ovn-northd",
            f"--ovnnb-db={self.nb}",
            f"--ovnsb-db={self.sb}",
            f"--pidfile={r}/northd.pid",
            f"--unixctl={r}/northd.ctl",
            f"--log-file={r}/northd.log",
            *common,
        )
        chassis = f"{self.prefix}chassis"
        self.vsctl(
            "set",
            "open_vswitch",
            ".",
            f"external_ids:system-id={chassis}",
            f"external_ids:ovn-remote={self.sb}",
            "external_ids:ovn-encap-type=geneve",
            "external_ids:ovn-encap-ip=127.0.0.1",
            "external_ids:ovn-bridge-datapath-type=netdev",
        )
        self.vsctl(
            "--may-exist",
            "add-br",
            "br-int",
            "--",
            "set",
            "bridge",
            "br-int",
            "datapath_type=netdev",
            "fail-mode=secure",
            "other-config:disable-in-band=true",
        )
        self.sh("ovn-controller", self.ovs, f"--pidfile={r}/controller.pid", f"--log-file={r}/controller.log", *common)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            out = run(
                ["ovn-sbctl", f"--db={self.sb}", "--bare", "--columns=name", "list", "chassis"],
                env=self.env,
                check=False,
            ).stdout
            if chassis in out:
                return
            time.sleep(0.01)
        raise RuntimeError("floor: chassis did not register")

    def northbound(self, topo: Topology) -> None:
        v = "external_ids:vendor=kube-ovn"
        self.nbctl("set", "NB_Global", ".", "options:use_ct_inv_match=false")
        for r in topo.routers:
            self.nbctl(
                "lr-add",
                r.name,
                "--",
                "set",
                "logical_router",
                r.name,
                v,
                *(f"options:{k}={val}" for k, val in r.options.items()),
            )
        for lb in topo.load_balancers:
            extra = ["selection_fields=ip_src"] if lb.selection_fields else []
            self.nbctl(
                "create",
                "load_balancer",
                f"name={lb.name}",
                f"protocol={lb.protocol}",
                v,
                *extra,
                *(f"options:{k}={val}" for k, val in lb.options.items()),
            )
            for vip, backends in lb.vips.items():
                self.nbctl("lb-add", lb.name, vip, backends, lb.protocol)
        for sw in topo.switches:
            self.nbctl("ls-add", sw.name, "--", "set", "logical_switch", sw.name, v)
            rp = sw.router_port
            if rp is not None:
                lsp = rules.switch_router_port(sw.name, rp.router)
                self.nbctl(
                    "lrp-add",
                    rp.router,
                    rp.name,
                    rp.mac,
                    *rp.networks,
                    "--",
                    "set",
                    "logical_router_port",
                    rp.name,
                    f"external_ids:lr={rp.router}",
                    v,
                )
                self.nbctl(
                    "lsp-add",
                    sw.name,
                    lsp,
                    "--",
                    "lsp-set-type",
                    lsp,
                    "router",
                    "--",
                    "lsp-set-addresses",
                    lsp,
                    "router",
                    "--",
                    "lsp-set-options",
                    lsp,
                    f"router-port={rp.name}",
                    "--",
                    "set",
                    "logical_switch_port",
                    lsp,
                    f"external_ids:ls={sw.name}",
                    v,
                )
            for lb_name in sw.load_balancers:
                self.nbctl("ls-lb-add", sw.name, lb_name)
            for acl in sw.acls:
                self.nbctl("acl-add", sw.name, acl.direction, str(acl.priority), acl.match, acl.action)
        for route in topo.static_routes:
            self.nbctl(f"--policy={route.policy}", "lr-route-add", route.router, route.prefix, route.nexthop)
        for pol in topo.policies:
            self.nbctl(
                "lr-policy-add",
                pol.router,
                str(pol.priority),
                pol.match,
                pol.action,
                *([pol.nexthop] if pol.nexthop else []),
            )
        for owner, nic in iter_nics(topo):
            self.lsp(owner, nic)
        for pg in topo.port_groups:
            self.nbctl("pg-add", pg.name, *pg.ports)

    def lsp(self, owner: str, nic: Any) -> None:
        ips = " ".join(a.split("/")[0] for a in nic.addresses)
        self.nbctl(
            "lsp-add",
            nic.switch,
            nic.lsp,
            "--",
            "lsp-set-addresses",
            nic.lsp,
            f"{nic.mac} {ips}",
            "--",
            "set",
            "logical_switch_port",
            nic.lsp,
            f"external_ids:ls={nic.switch}",
            f'external_ids:pod="{owner}"',
            "external_ids:vendor=kube-ovn",
        )

    def netns_for(self, owner: str) -> str:
        return f"{self.prefix}{owner.replace('/', '_')}"

    def interface(self, owner: str, nic: Any, *, node: bool = False) -> None:
        """ovnlab.sh's add_if: one command per step."""
        netns = self.netns_for(owner)
        if netns not in self.namespaces:
            self.sh("ip", "netns", "add", netns)
            self.sh("ip", "-n", netns, "link", "set", "lo", "up")
            self.namespaces.append(netns)
        host = ns.host_ifname(netns, nic.ifname)
        self.sh("ip", "-n", self.sw, "link", "add", host, "type", "veth", "peer", "name", nic.ifname, "netns", netns)
        self.sh("ip", "-n", netns, "link", "set", nic.ifname, "address", nic.mac)
        for addr in nic.addresses:
            self.sh("ip", "-n", netns, "addr", "add", addr, "dev", nic.ifname, *(["nodad"] if ":" in addr else []))
        self.sh("ip", "-n", netns, "link", "set", nic.ifname, "up")
        self.sh("ip", "-n", self.sw, "link", "set", host, "up")
        self.sh("ip", "netns", "exec", netns, "ethtool", "-K", nic.ifname, "tx", "off")
        self.vsctl(
            "--may-exist",
            "add-port",
            "br-int",
            host,
            "--",
            "set",
            "interface",
            host,
            f"external_ids:iface-id={nic.lsp}",
        )
        if nic.default_route:
            for gw in nic.gateways:
                self.sh("ip", "-n", netns, "route", "add", "default", "via", str(gw), "dev", nic.ifname)
        for r in nic.routes:
            self.sh("ip", "-n", netns, "route", "add", r.dst, "via", r.gw, "dev", nic.ifname)

    def namespaces_and_servers(self, topo: Topology) -> None:
        listen: list[tuple[str, int]] = []
        for node in topo.nodes:
            owner = f"node/{node.name}"
            self.interface(owner, node.nic, node=True)
            for ip in node.internal_ips:
                self.sh("ip", "-n", self.netns_for(owner), "addr", "add", f"{ip}/{ip.max_prefixlen}", "dev", "lo")
            if node.apiserver_port:
                listen.append((self.netns_for(owner), node.apiserver_port))
        for pod in topo.pods:
            for nic in pod.nics:
                self.interface(pod.ref, nic)
            if pod.ports:
                listen.append((self.netns_for(pod.ref), pod.ports[0].port))
        for netns, port in listen:  # ovnlab.sh: python3 -m http.server per server
            self.servers.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", netns, sys.executable, "-m", "http.server", str(port), "--bind", "0.0.0.0"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        pending = list(listen)
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            outcomes = probe.run([probe.Probe(n, "127.0.0.1", p) for n, p in pending], timeout=0.2)
            pending = [
                item for item, o in zip(pending, outcomes, strict=True) if "refused" in o.detail or o.verdict != "reach"
            ]
            if pending:
                time.sleep(0.01)

    def wait_hv(self) -> None:
        self.nbctl("--wait=hv", "--timeout=30", "sync")

    def add_pod(self, owner: str, nics: Any) -> None:
        for nic in nics:
            self.lsp(owner, nic)
            self.interface(owner, nic)
        self.wait_hv()

    def down(self) -> None:
        for server in self.servers:
            server.kill()
            server.wait()
        for pidfile in ("controller", "northd", "ovs-vswitchd", "sb", "nb", "ovsdb-server"):
            pid = read_pidfile(self.root / f"{pidfile}.pid")
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        for netns in [*self.namespaces, self.sw]:
            ns.delete_netns(netns)
        shutil.rmtree(self.root, ignore_errors=True)


# --- inputs ------------------------------------------------------------------------------------------


def pod_doc(name: str, namespace: str, port: int | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "x"}
    if port:
        container["ports"] = [{"containerPort": port}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [container]},
    }


def ten_by_ten() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "kind-control-plane", "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.2"}]},
        },
    ]
    for v in range(10):
        vpc, namespace = f"tenant-{v}", f"team-{v}"
        docs += [
            {
                "apiVersion": "kubeovn.io/v1",
                "kind": "Vpc",
                "metadata": {"name": vpc},
                "spec": {"namespaces": [namespace]},
            },
            {
                "apiVersion": "kubeovn.io/v1",
                "kind": "Subnet",
                "metadata": {"name": f"{vpc}-subnet"},
                "spec": {"vpc": vpc, "cidrBlock": f"10.{v + 1}.0.0/24", "namespaces": [namespace]},
            },
            {
                "apiVersion": "apibridge.dev/v1alpha1",
                "kind": "ApiBridge",
                "metadata": {"name": vpc},
                "spec": {"vpc": vpc, "cidrBlock": "auto", "isolation": "strict"},
            },
        ]
        docs += [pod_doc(f"app-{p}", namespace, 8080) for p in range(10)]
    return docs


def daemon_rss_mb(lab: Lab) -> float:
    total = 0
    for name in lab.daemons.names:  # the central's and every chassis's
        pid = lab.daemons.pid(name)
        if pid is None:
            continue
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def lab_rss_mib(lab: Lab) -> tuple[float, dict[str, float]]:
    """RSS of every process of the lab (its command line names the lab's state directory), and by process."""
    by_name: dict[str, float] = {}
    for pid in pids_mentioning(lab.place.marker):
        with contextlib.suppress(OSError):
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            name = next((a.decode() for a in argv if b"apibridge.twin." in a), argv[0].decode().rsplit("/", 1)[-1])
            if name.endswith("ovsdb-server"):
                name += " " + next((a.decode().rsplit("/", 1)[-1] for a in argv if a.endswith(b".db")), "")
            for line in lines:
                if line.startswith("VmRSS:"):
                    by_name[name] = by_name.get(name, 0.0) + int(line.split()[1]) / 1024
    return sum(by_name.values()), {k: round(v, 1) for k, v in sorted(by_name.items())}


def false_results(result: Any) -> int:
    """Probes whose result contradicts the construction (a reachable path blocked, or the reverse)."""
    wrong = 0
    for c in result.checked:
        e = c.exp
        k = synthetic.known(e.source, api=e.kind == "api", to_pod=e.to_pod if e.kind != "attachment" else None)
        if (k is not None and (c.result == "reach") != k.reach) or (k is None and not c.ok):
            wrong += 1
    return wrong


def scale(sizes: list[int], verifies: int, base: Path, tag: str) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for n in sizes:
        manifests = base / f"scale-{n}.yaml"
        manifests.write_text(yaml.safe_dump_all(synthetic.manifests(n)))
        load = [round(x, 2) for x in os.getloadavg()]
        lab = Lab(locate(f"b{tag}s{n}", base))
        try:
            t0 = time.monotonic()
            report = lab.up([str(manifests)])
            up_s = time.monotonic() - t0
            say(f"{n} pods: up in {up_s:.2f}s ({report.pods_up} pods, {report.nodes} nodes; {report.timings})")
            netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
            topo = lab.desired().topology
            times: list[float] = []
            wrong = probes = 0
            for i in range(verifies):
                t0 = time.monotonic()
                result = verify(topo, netns, ca_file=lab.place.ca_file, seed=i)
                times.append(time.monotonic() - t0)
                probes = len(result.checked)
                wrong += false_results(result)
                cov = result.coverage
                retried = sum(1 for c in result.checked if c.attempts > 1)
                say(
                    f"  verify {i + 1}: {times[-1]:.2f}s, {probes} probes, {result.failed} failed, "
                    f"{retried} retried; {cov.classes if cov else '?'} classes, {cov.pairs if cov else '?'} pairs"
                )
            rss, rss_by_process = lab_rss_mib(lab)
            say(f"  RSS {rss:.1f} MiB: {rss_by_process}")
        finally:
            lab.close()
            t0 = time.monotonic()
            try:
                lab.down()
                first_try = True
            except Exception as exc:  # report it, then clean up for the next size
                say(f"  down failed on the first try: {exc}")
                first_try = False
                lab.down()
            down_s = time.monotonic() - t0
        figures[str(n)] = {
            "up_s": round(up_s, 2),
            "verify_s": round(max(times), 2),
            "probes": probes,
            "false_results": wrong,
            "down_s": round(down_s, 2),
            "down_first_try": first_try,
            "rss_mib": round(rss, 1),
            "rss_mib_by_process": rss_by_process,
            "load_before": load,
        }
        say(f"  {figures[str(n)]}")
    small, large = str(sizes[0]), str(sizes[-1])
    growth = {
        k: round(figures[large][k] / figures[small][k], 2) if figures[small][k] else None
        for k in ("up_s", "verify_s", "probes", "down_s", "rss_mib")
    }
    return {"scale": figures, f"growth_{small}_to_{large}": growth}


def concurrency(n: int, settings: list[tuple[int, int]], base: Path, tag: str) -> dict[str, Any]:
    """What the userspace datapath (and the prober) sustain: one ``n``-pod lab, its class-verify probes
    run at each (answered in flight, first wave of unanswered) setting. Among the unanswered ones go
    *canaries*: copies of the answered probes run as if they were expected blocked (the silent wait, no
    retry) — each stands for a leak, and a canary reported blocked is a leak the verify would have missed
    (``canaries_missed``; ``canaries_error``: connected, then TLS or HTTP failed — a leak the verify reports,
    as an error). Per setting: the seconds, the answered probes that timed out on their first try, the
    canaries missed, and the false results after retries."""
    manifests = base / f"conc-{n}.yaml"
    manifests.write_text(yaml.safe_dump_all(synthetic.manifests(n)))
    lab = Lab(locate(f"b{tag}c{n}", base))
    out: dict[str, Any] = {"pods": n, "load_before": [round(x, 2) for x in os.getloadavg()]}
    try:
        lab.up([str(manifests)])
        netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
        topo = lab.desired().topology
        exps, _ = class_expectations(topo, netns, seed=0)  # what one class verify probes
        probes = [probe.Probe(e.netns, e.target, e.port, e.protocol, expect_answer=e.expect == "reach") for e in exps]
        canaries = [dataclasses.replace(p, expect_answer=False) for p in probes if p.expect_answer]
        silent = [p for p in probes if not p.expect_answer]
        # spread the canaries through the silent probes, where a leak would be
        step = max(1, len(silent) // max(1, len(canaries)))
        answered_probes = [p for p in probes if p.expect_answer]
        every, is_canary = list(answered_probes), [False] * len(answered_probes)
        for k, c in enumerate(canaries):
            chunk = silent[k * step : (k + 1) * step]
            every += [*chunk, c]
            is_canary += [False] * len(chunk) + [True]
        every += silent[len(canaries) * step :]
        is_canary += [False] * (len(every) - len(is_canary))
        real = {id(p): e for p, e in zip(probes, exps, strict=True)}
        for answered, quiet in settings:
            t0 = time.monotonic()
            outcomes = probe.run(every, ca_file=lab.place.ca_file, parallel=answered, parallel_silent=quiet)
            seconds = time.monotonic() - t0
            first_try = sum(1 for pr, o in zip(every, outcomes, strict=True) if pr.expect_answer and o.attempts > 1)
            missed = sum(1 for c, o in zip(is_canary, outcomes, strict=True) if c and o.verdict == "blocked")
            errors = sum(1 for c, o in zip(is_canary, outcomes, strict=True) if c and o.verdict == "error")
            wrong = 0
            for k, (pr, o) in enumerate(zip(every, outcomes, strict=True)):
                e = real.get(id(pr))
                if e is not None and not is_canary[k] and (o.verdict == "reach") != (e.expect == "reach"):
                    wrong += 1
            key = f"{answered}/{quiet}"
            out[key] = {
                "seconds": round(seconds, 2),
                "answered_timeouts_first_try": first_try,
                "canaries_missed": missed,
                "canaries_error": errors,
                "canaries": len(canaries),
                "false_results": wrong,
            }
            say(f"  answered {answered}, first unanswered wave {quiet}: {out[key]}; {len(every)} probes")
    finally:
        lab.close()
        lab.down()
    return out


# --- the runs ------------------------------------------------------------------------------------------


def keep(base: Path) -> Lab:
    """A 10x10 lab left running (``--keep``), for looking at it."""
    big = base / "ten-by-ten.yaml"
    big.write_text(yaml.safe_dump_all(ten_by_ten()))
    lab = Lab(locate("bench", base))
    lab.up([str(big)])
    return lab


def engines(pods: int, base: Path, tag: str) -> dict[str, Any]:
    """``--engines`` (issue 12): pod start, ``kubectl create`` to the pod's first API byte, one by one, on a
    ``lab up --kube`` of examples/apibridge with each engine (bench/podstart.py's probe), model first."""
    import ssl

    import podstart  # bench/podstart.py, beside this script
    from apibridge.twin.control.kubeapi import KubeApi

    figures: dict[str, Any] = {"pods": pods}
    env = {**os.environ, "APIBRIDGE_LAB_DIR": str(base)}
    env.pop("KUBECONFIG", None)
    for engine in ("model", "kube-ovn"):
        name = f"be{tag}{engine[:1]}"
        place = locate(name, base)
        try:
            t0 = time.monotonic()
            up = subprocess.run(
                [str(podstart.APIBRIDGE), "lab", "up", "--kube", "--engine", engine, "--name", name,
                 str(REPO / "examples" / "apibridge")],
                env=env, check=False, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            if up.returncode != 0:
                raise RuntimeError(f"lab up --kube --engine {engine} failed ({up.returncode}): {up.stderr}{up.stdout}")
            say(f"lab up --kube --engine {engine}: {time.monotonic() - t0:.1f} s")
            ctx = ssl.create_default_context(cafile=str(place.ca_file))
            token = (place.kube_dir / "pki" / "admin.token").read_text().strip()
            settings = json.loads((place.kube_dir / "settings.json").read_text())
            started = podstart.Started(
                KubeApi(f"https://{settings['link_ip']}:{settings['port']}", place.ca_file, token)
            )
            times: list[float] = []
            for i in range(pods):
                pod = f"one-{i}"
                start = time.monotonic()
                podstart.create(str(place.kube_dir / "admin.kubeconfig"), [podstart.pod(pod)])
                netns = place.pod_netns(podstart.NAMESPACE, pod)
                times.append(podstart.wait_answer(started, pod, netns, ctx) - start)
            started.informer.stop()
            key = engine.replace("-", "_")
            figures[f"engine_{key}_podstart_p50_s"] = round(statistics.median(times), 3)
            figures[f"engine_{key}_podstart_p99_s"] = round(podstart.pct(times, 0.99), 3)
            figures[f"engine_{key}_no_answer"] = sum(1 for t in times if t == float("inf"))
            say(f"engine {engine}: pod start {podstart.summary(times)}")
        finally:
            subprocess.run([str(podstart.APIBRIDGE), "lab", "down", "--name", name], env=env, capture_output=True,
                           check=False)  # fmt: skip
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=10, help="pods added one by one for the per-pod figure")
    parser.add_argument("--rounds", type=int, default=3, help="cold starts per side (the median counts)")
    parser.add_argument("--scale", action="store_true", help="100, 300 and 1,000-pod labs (issue 14)")
    parser.add_argument("--sizes", default="100,300,1000", help="pod counts for --scale")
    parser.add_argument("--verifies", type=int, default=5, help="verifies per size for --scale")
    parser.add_argument(
        "--concurrency",
        default="",
        help="answered probes in flight / first wave of unanswered ones, last --sizes lab (e.g. 128/64,128/1024)",
    )
    parser.add_argument(
        "--engines", type=int, default=0, metavar="PODS", help="pod start with each engine, PODS pods (issue 12)"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/lab.py needs root", file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="abb-", dir="/tmp"))
    tag = uuid.uuid4().hex[:4]
    if args.engines:
        try:
            print(json.dumps(engines(args.engines, base, tag)))
        finally:
            shutil.rmtree(base, ignore_errors=True)
        return 0
    if args.concurrency:
        settings = [(int(a), int(b)) for a, b in (x.split("/") for x in args.concurrency.split(","))]
        try:
            figures = concurrency(int(args.sizes.split(",")[-1]), settings, base, tag)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        print(json.dumps(figures))
        return 0
    if args.scale:
        try:
            figures = scale([int(s) for s in args.sizes.split(",")], args.verifies, base, tag)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        print(json.dumps(figures))
        return 0
    cluster = load_cluster(SEED, assume_node=LAB_NODE)
    seed_topo = build_topology(cluster, plan(cluster))
    work = base / "inputs"
    work.mkdir()
    try:
        # cold start: ours and the floor, alternating, median of --rounds
        ours: list[float] = []
        floors: list[float] = []
        for i in range(args.rounds):
            lab = Lab(locate(f"b{tag}c{i}", base))
            t0 = time.monotonic()
            lab.up(SEED)
            ours.append(time.monotonic() - t0)
            lab.down()
            floor = Floor(base / f"floor{i}", f"abf{tag}{i}.")
            floor.root.mkdir()
            t0 = time.monotonic()
            try:
                floor.start_daemons()
                floor.northbound(seed_topo)
                floor.namespaces_and_servers(seed_topo)
                floor.wait_hv()
                floors.append(time.monotonic() - t0)
            finally:
                floor.down()
        cold, floor_cold = statistics.median(ours), statistics.median(floors)
        say(
            f"cold start (examples/seed): {cold:.3f}s, floor {floor_cold:.3f}s ({cold / floor_cold:.2f}x) "
            f"[ours {', '.join(f'{x:.2f}' for x in ours)}; floor {', '.join(f'{x:.2f}' for x in floors)}]"
        )

        # per pod: add one Pod at a time to a running seed lab; the floor adds the same pod by hand
        extra = work / "extra.yaml"
        extra.write_text("")
        lab = Lab(locate(f"b{tag}p", base))
        lab.up([*SEED, str(extra)])
        added: list[float] = []
        docs: list[dict[str, Any]] = []
        for i in range(args.pods):
            docs.append(pod_doc(f"extra-{i}", "ingress-nginx"))
            extra.write_text(yaml.safe_dump_all(docs))
            t0 = time.monotonic()
            report = lab.up([*SEED, str(extra)])
            added.append(time.monotonic() - t0)
            assert report.added == [f"ingress-nginx/extra-{i}"], report.added
        topo = lab.desired().topology
        lab.down()
        floor = Floor(base / "floorp", f"abf{tag}p.")
        floor.root.mkdir()
        floor_added: list[float] = []
        try:
            floor.start_daemons()
            floor.northbound(seed_topo)
            floor.namespaces_and_servers(seed_topo)
            floor.wait_hv()
            for i in range(args.pods):
                pod = topo.pod(f"ingress-nginx/extra-{i}")
                assert pod is not None
                t0 = time.monotonic()
                floor.add_pod(pod.ref, pod.nics)
                floor_added.append(time.monotonic() - t0)
        finally:
            floor.down()
        per_pod, floor_per_pod = statistics.mean(added), statistics.mean(floor_added)
        say(f"per added pod: {per_pod:.3f}s, floor {floor_per_pod:.3f}s ({per_pod / floor_per_pod:.2f}x)")

        # 10 VPCs x 10 pods: up, verify, memory
        big = work / "ten-by-ten.yaml"
        big.write_text(yaml.safe_dump_all(ten_by_ten()))
        lab = Lab(locate(f"b{tag}v", base))
        try:
            t0 = time.monotonic()
            report = lab.up([str(big)])
            up_100 = time.monotonic() - t0
            say(f"10 VPCs x 10 pods: up in {up_100:.2f}s ({report.pods_up} pods; {report.timings})")
            netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
            t0 = time.monotonic()
            result = verify(lab.desired().topology, netns, ca_file=lab.place.ca_file)
            verify_s = time.monotonic() - t0
            say(
                f"verify of 100 pods: {verify_s:.2f}s for {len(result.checked)} probes "
                f"({result.passed} as expected, {result.failed} not)"
            )
            rss = daemon_rss_mb(lab)
            say(f"RSS of the six OVN/OVS daemons with 100 pods: {rss:.1f} MiB")
        finally:
            lab.down()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(
        json.dumps(
            {
                "cold_start_s": round(cold, 3),
                "floor_cold_start_s": round(floor_cold, 3),
                "per_pod_s": round(per_pod, 4),
                "floor_per_pod_s": round(floor_per_pod, 4),
                "verify_100_pods_s": round(verify_s, 2),
                "rss_mb": round(rss, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
