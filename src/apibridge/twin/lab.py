"""A running twin: bring it up from manifests, reconcile it to new ones, describe it, tear it down.

``Lab.up`` is the only writer and is idempotent: on a fresh state directory it starts the daemons
and builds everything; on a running lab it *reconciles* — the NB database is diffed row by row
(:mod:`apibridge.twin.ovn.realize`), pods whose wiring is unchanged keep their namespace (addresses
stay put, see ``build_topology(previous=…)``), new pods are added, vanished or rewired ones removed
or recreated. That makes "add a pod to the input" cost one pod, and lets the demo switch scenarios
without a restart.

What kube-ovn-cni does on a node is reproduced per namespace: nodes get ``ovn0`` on ``join`` with
the host routes to every default-VPC subnet and their InternalIPs on ``lo``; pods get
``eth0``, ``net1``… with MAC, addresses, the default route via eth0's gateway and the routes
annotation (invalid entries skipped and reported). Failed pods (``TwinPod.failure``) get no
namespace, only their Kube-OVN message. Each control-plane node runs the HTTPS API server
stand-in; pods' containerPorts are answered by the lab's listener hub.

``Lab.down`` works from the name alone (no record needed): it kills only processes whose command
line names the lab's state directory, deletes only namespaces with the lab's prefix, and removes
only the files it created.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from apibridge.base.certs import CertificateAuthority, write_bundle
from apibridge.base.errors import InputError, Location
from apibridge.kubeovn import rules
from apibridge.model.cluster import AssumedNode, Assumption, Cluster
from apibridge.model.load import Document, load_documents
from apibridge.plan.planner import plan as make_plan
from apibridge.plan.types import Plan, PlanProblem
from apibridge.twin.control import cluster as kube_cluster
from apibridge.twin.control.apiserver import apiserver_hosts, start_apiserver
from apibridge.twin.health import DEFAULT_WAIT, Fault, Health, LabUnhealthyError, caught_up, daemon_faults
from apibridge.twin.kubeovn import cni, engine
from apibridge.twin.ovn import hostpath, outside, realize
from apibridge.twin.ovn.daemons import LabStatus, OvnDaemons
from apibridge.twin.ovn.nb import Northbound
from apibridge.twin.ovn.topology import OVN0, LspNic, Topology, TwinNode, allocations, build_topology
from apibridge.twin.pods import netns as ns
from apibridge.twin.pods.hub import HubClient, HubError, start_hub
from apibridge.twin.pods.nsock import interfaces, link_up, sysctl, tx_checksum_off
from apibridge.twin.proc import owned_by, read_pidfile, run, stop_pidfile
from apibridge.twin.state import ApiServerRecord, LabPlace, LabRecord, PodRecord, read_record, write_record

Progress = Callable[[str], None]
# The node the lab realizes an input without Nodes on: kind's single control-plane node, as ``kind create
# cluster`` names and addresses it on its default docker network.
LAB_NODE = AssumedNode("kind-control-plane", "172.18.0.2", "one kind control-plane node")
OUTSIDE_API = "(outside)"  # record.apiservers key of the stand-in beyond the nodes: no Node can be named so
_NO_DAD = {"net.ipv6.conf.all.accept_dad": "0", "net.ipv6.conf.default.accept_dad": "0"}
_PARSE_FAILED = re.compile(r"\|WARN\|(.*): parsing expression failed \((.*)\)$")


def _acl_match(lflow_match: str) -> str:
    m = re.match(r"^reg0\[\d+\] == 1 && \((.*)\)$", lflow_match)
    return m.group(1) if m else lflow_match


def _quiet(_: str) -> None:
    return None


@dataclass
class Desired:
    """The input and everything derived from it."""

    documents: list[Document]
    cluster: Cluster
    plan: Plan
    topology: Topology


@dataclass
class UpReport:
    name: str
    state_dir: Path
    reconciled: bool  # the lab was running before
    started_daemons: tuple[str, ...]
    nb: realize.Changes
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    recreated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    skipped_routes: dict[str, list[str]] = field(default_factory=dict)
    assumptions: list[Assumption] = field(default_factory=list)
    problems: list[PlanProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    apiservers: dict[str, str] = field(default_factory=dict)  # node -> https://ip:port
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    acl_errors: list[str] = field(default_factory=list)
    pods_up: int = 0
    nodes: int = 0
    rebuilt: bool = False  # the lab's last build had not completed: it was removed and built afresh
    api_assumed: str = ""  # the input has no kubernetes Service: which ClusterIP the lab took, and why


@dataclass
class StatusReport:
    name: str
    state_dir: Path
    exists: bool
    daemons: LabStatus | None
    hub: bool
    apiservers: dict[str, bool]
    pods_up: list[str]
    pods_missing: list[str]  # recorded but their namespace is gone
    failures: dict[str, str]
    nb_counts: dict[str, int]
    inputs: list[str]
    health: Health = field(default_factory=Health)
    build_completed: float | None = None  # None: the last build did not complete

    @property
    def faults(self) -> list[Fault]:
        return self.health.faults

    @property
    def healthy(self) -> bool:
        return self.exists and self.health.ok


@dataclass
class DownReport:
    name: str
    stopped: list[str]
    namespaces: list[str]
    seconds: float


class _Clock:
    """Seconds per step of ``up`` (reported, and used by the benchmark)."""

    def __init__(self) -> None:
        self.start = self.last = time.monotonic()
        self.timings: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.timings[name] = round(now - self.last, 4)
        self.last = now

    def total(self) -> float:
        return time.monotonic() - self.start


def _fingerprint(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _plugged(nic: LspNic, owner: str, namespace: str = "") -> ns.KernelNic:
    """A topology NIC as ``netns.plug`` takes it (the default route only on the pod's default-route NIC)."""
    return ns.KernelNic(
        ifname=nic.ifname,
        iface_id=nic.lsp,
        mac=nic.mac,
        addresses=nic.addresses,
        gateways=tuple(str(g) for g in nic.gateways) if nic.default_route else (),
        routes=nic.routes,
        pod_name=owner,
        pod_namespace=namespace,
    )


def _node_addresses(node: TwinNode) -> list[str]:
    return [f"{ip}/{ip.max_prefixlen}" for ip in (*node.internal_ips, *node.external_ips)]


def snapshot_text(documents: Iterable[Document]) -> str:
    """The input as one JSON ``List`` (what later commands rebuild the lab's intent from; JSON because
    it is written on every reconcile and the C encoder is fast)."""
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [d.body for d in documents]}, default=str)


def _api_assumed(cluster: Cluster, service_cidrs: Sequence[str]) -> str:
    """What ``lab up`` says in its summary when the input has no ``kubernetes`` Service (issue #10 item 5: the
    lab may keep kubeadm's default, but not silently)."""
    if not cluster.api_service_assumed():
        return ""
    ips = ",".join(str(ip) for ip in cluster.api_cluster_ips())
    missing = f"the input has no Service {'/'.join(rules.KUBERNETES_SERVICE)}"
    if service_cidrs:
        return f"API ClusterIP {ips} assumed: first address of --service-cidr {','.join(service_cidrs)} ({missing})"
    how = "kubeadm's default; --service-cidr CIDR takes the range's first address"
    return f"API ClusterIP {ips} assumed: {missing} ({how})"


class Lab:
    """One lab (see the module docstring). Keep an instance to reconcile repeatedly without reconnecting."""

    def __init__(self, place: LabPlace) -> None:
        self.place = place
        self.engine = engine.read(place)
        if self.engine.kube_ovn:
            # NB and SB with Kube-OVN's own schemas (twin/kubeovn/schema.py); each node's chassis carries the
            # node's name as its hostname, which kube-ovn-controller looks a Node's chassis up by
            schemas = engine.schema_dir(place)
            self.daemons = OvnDaemons(
                place.root,
                prefix=place.prefix,
                nb_schema=schemas / "kube-ovn-nb.ovsschema",
                sb_schema=schemas / "kube-ovn-sb.ovsschema",
                node_hostnames=True,
            )
        else:
            self.daemons = OvnDaemons(place.root, prefix=place.prefix)
        self.namespaces = ns.Namespaces(
            place.prefix, self.daemons.bridge, bridges=self.daemons.bridges, daemon_netns=self.daemons.is_daemon_netns
        )
        self._nb: Northbound | None = None
        self._hub: HubClient | None = None
        # ports plugged by this up, per chassis bridge, until ovn-controller installed them
        self._plugged_hosts: list[tuple[ns.Bridge, list[str]]] = []
        self.last: Desired | None = None  # what the last ``up`` built (the node agent reports pods from it)
        self._host_path_loaded: dict[str, str] = {}  # node namespace -> the nft rulesets this instance loaded in it

    # --- plumbing --------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.place.name

    @property
    def kube(self) -> bool:
        """A ``lab up --kube`` lab: its input is what the real API server holds, and that server (not the
        stand-in) answers on the control-plane node (:mod:`apibridge.twin.control.kubelab`)."""
        return self.place.kube_dir.is_dir()

    def record(self) -> LabRecord | None:
        return read_record(self.place)

    def exists(self) -> bool:
        return self.place.record_file.exists() or self.daemons.pid("ovsdb-server") is not None

    def nb(self) -> Northbound:
        if self._nb is None:
            self._nb = Northbound.connect(self.daemons.paths.nb_remote)
        return self._nb

    def hub(self) -> HubClient:
        if self._hub is None:
            self._hub = HubClient(self.place.run_dir / "hub.sock")
        return self._hub

    def close(self) -> None:
        if self._nb is not None:
            self._nb.close()
            self._nb = None
        if self._hub is not None:
            self._hub.close()
            self._hub = None

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _daemons_alive(self) -> bool:
        marker = self.daemons.paths.marker
        pids = [self.daemons.pid(n) for n in self.daemons.names]
        return all(ns.netns_exists(n) for n in self.daemons.daemon_netns()) and all(
            p is not None and owned_by(p, marker) for p in pids
        )

    # --- intent ------------------------------------------------------------------------------------
    def load(
        self, paths: Iterable[str], record: LabRecord | None = None, service_cidrs: Sequence[str] | None = None
    ) -> Desired:
        """Documents -> cluster (with lab defaults) -> plan -> topology, keeping ``record``'s addresses.

        ``service_cidrs`` (else ``record``'s): an input without the ``kubernetes`` Service gets the first
        address of each as its API ClusterIP; without them the lab keeps kubeadm's 10.96.0.1 and says so.
        """
        docs = load_documents(paths)
        cluster = Cluster.from_documents(docs, assume_node=LAB_NODE)
        cidrs = service_cidrs if service_cidrs is not None else (record.service_cidrs if record else [])
        cluster.assume_api_service_in(ipaddress.ip_network(c) for c in cidrs)
        the_plan = make_plan(cluster)
        topo = build_topology(cluster, the_plan, previous=record.previous() if record else None, admitted=self.kube)
        if self.engine.kube_ovn:  # kube-ovn-controller allocated the addresses: wire what it wrote
            topo, waiting = cni.from_annotations(topo, [d.body for d in docs])
            if waiting:
                topo.notes.append(f"waiting for kube-ovn-controller's annotations: {', '.join(waiting[:20])}")
        return Desired(docs, cluster, the_plan, topo)

    def desired(self) -> Desired:
        """What the running lab was built from (its input snapshot)."""
        record = self.require()
        return self.load([str(self.place.input_file)], record)

    def require(self) -> LabRecord:
        """The record of a lab that is up (:class:`LabUnhealthyError` if it is not)."""
        record = self.record()
        if record is None or not self.place.input_file.exists():
            raise LabUnhealthyError([self._not_up()])
        return record

    def _not_up(self) -> Fault:
        return Fault(
            f"lab {self.name}", f"is not up ({self.place.root})", f"apibridge lab up --name {self.name} FILE..."
        )

    def recover_command(self) -> str:
        """What brings a lab with a dead daemon, server or namespace back: ``up`` from its own input."""
        return f"apibridge lab up --name {self.name}"

    # --- health ------------------------------------------------------------------------------------
    def health(self, wait: float = DEFAULT_WAIT, status: LabStatus | None = None) -> Health:
        """Every daemon and server alive, OVN caught up (bounded by ``wait`` s), the build complete."""
        t0 = time.monotonic()
        if not self.exists():
            return Health([self._not_up()], seconds=time.monotonic() - t0)
        record = self.record()
        if record is None or not record.build_completed:
            since = f" (started {time.ctime(record.build_started)})" if record and record.build_started else ""
            inputs = " ".join(record.inputs) if record and record.inputs else "FILE..."
            fault = Fault(
                "build",
                f"of lab {self.name} did not complete{since}: killed or failed halfway",
                f"apibridge lab up --name {self.name} {inputs} (rebuilds it)",
            )
            return Health([fault], seconds=time.monotonic() - t0)
        recover = self.recover_command()
        faults = daemon_faults(status or self.daemons.status(), self.daemons, recover)
        pid = read_pidfile(self.place.run_dir / "hub.pid")
        if pid is None or not owned_by(pid, self.place.marker):
            faults.append(Fault("listener hub", "is not running: pods' ports are closed", recover))
        for node, api in sorted(record.apiservers.items()):
            if not owned_by(api.pid, self.place.marker):
                faults.append(Fault(f"apiserver {node}", f"(the API server stand-in, pid {api.pid}) is gone", recover))
        faults += kube_cluster.lab_faults(self.place)
        present = set(_list_netns())
        missing = sorted(r for r, p in record.pods.items() if p.netns not in present)
        if missing:
            shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
            faults.append(Fault("pods", f"{len(missing)} have lost their namespace: {shown}", recover))
        nb_cfg = None
        if not any(f.what in self.daemons.names for f in faults):
            lag_hint = f"give OVN time, then apibridge lab status --name {self.name}; if it stays behind: {recover}"
            nb_cfg, lag = caught_up(self.nb, self.daemons, wait=wait, recover_lag=lag_hint)
            faults += lag
        return Health(faults, nb_cfg, time.monotonic() - t0)

    def require_healthy(self, wait: float = DEFAULT_WAIT) -> Health:
        """The lab's health, or :class:`LabUnhealthyError` naming its faults (what ``verify`` checks first)."""
        health = self.health(wait)
        if not health.ok:
            raise LabUnhealthyError(health.faults)
        return health

    # --- up / reconcile ------------------------------------------------------------------------------
    def up(
        self,
        paths: Iterable[str],
        progress: Progress = _quiet,
        *,
        trim: bool = True,
        service_cidrs: Sequence[str] | None = None,
    ) -> UpReport:
        """Build the lab from ``paths``, or reconcile the running lab to them.

        No ``paths``: the lab's own input again (what recovers a dead daemon, server or namespace). A
        lab whose last build did not complete is removed and built afresh, never reconciled: what a
        killed build left is unknown. ``trim=False`` leaves compacting the OVSDB servers to the caller
        (``Lab.daemons.trim``): the kube lab's node agent reconciles on every watch event and trims once
        idle, not in every pass, where it delayed each batch of pods by 0.07-0.3 s. ``service_cidrs``
        (``--service-cidr``; None: the lab's own setting) place the API ClusterIP of an input without the
        ``kubernetes`` Service (:meth:`load`).
        """
        clock = _Clock()
        paths = list(paths)
        previous = self.record()
        incomplete = (previous is not None and not previous.build_completed) or (previous is None and self.exists())
        if not paths:
            if previous is None or not self.place.input_file.exists():
                raise InputError(
                    f"lab {self.name!r} has no input of its own to build from",
                    Location(str(self.place.root)),
                    hint=f"apibridge lab up --name {self.name} FILE...",
                )
            paths, inputs = [str(self.place.input_file)], list(previous.inputs)
        else:
            inputs = [str(Path(p).absolute()) if p != "-" else p for p in paths]
        if service_cidrs is None:
            service_cidrs = list(previous.service_cidrs) if previous is not None else []
        progress("loading manifests")
        desired = self.load(paths, None if incomplete else previous, service_cidrs)
        self.last = desired
        if incomplete:
            progress("removing the incomplete lab")
            self.down()
            previous = None
        record = previous or LabRecord(self.name, created=time.time())
        clock.lap("load")
        record.inputs = inputs
        record.service_cidrs = list(service_cidrs)
        record.build_started, record.build_completed = time.time(), 0.0
        self.place.run_dir.mkdir(parents=True, exist_ok=True)
        self.place.input_file.write_text(snapshot_text(desired.documents))
        write_record(self.place, record)  # from here until the end, the lab says its build is incomplete
        # The servers are Python processes (~0.1 s to start each): start them while OVN comes up.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="lab-up") as pool:
            report = self._up(desired, record, previous is not None, pool, progress, clock, trim)
        report.rebuilt = incomplete
        return report

    def _up(
        self,
        desired: Desired,
        record: LabRecord,
        reconciled: bool,
        pool: ThreadPoolExecutor,
        progress: Progress,
        clock: _Clock,
        trim: bool = True,
    ) -> UpReport:
        topo = desired.topology
        progress("starting OVN daemons")
        hub_started = pool.submit(self._ensure_hub, record)
        started: tuple[str, ...] = ()
        nodes = [n.name for n in topo.nodes]
        if not self._daemons_alive() or sorted(c.node or "" for c in self.daemons.all_chassis) != sorted(nodes):
            self.close()
            started = self.daemons.start(nodes=nodes).started
        clock.lap("daemons")

        nb = self.nb()
        if self.engine.kube_ovn:
            changes = realize.Changes()  # the northbound database is kube-ovn-controller's
        else:
            progress("writing the northbound database")
            batch = nb.batch(ensure=True)
            changes = realize.plan_changes(batch, realize.desired(topo), realize.current(nb))
            batch.commit()
        clock.lap("northbound")

        progress("wiring namespaces")
        report = UpReport(
            self.name,
            self.place.root,
            reconciled,
            started,
            changes,
            assumptions=list(desired.cluster.assumptions),
            problems=list(desired.plan.problems),
            notes=list(topo.notes),
            api_assumed=_api_assumed(desired.cluster, record.service_cidrs),
        )
        self._namespaces(topo, record, report)
        self._host_path(topo, record, report, desired.plan.kubeovn_version)
        self._outside(topo, record, report)
        clock.lap("namespaces")

        progress("starting listeners and API servers")
        apis = pool.submit(self._apiservers, topo, record, report)
        self._listeners(topo, record, restarted=hub_started.result())
        clock.lap("listeners")

        progress("waiting for ovn-controller")
        nb.wait_hv(timeout=60)
        plugged, self._plugged_hosts = self._plugged_hosts, []
        with ThreadPoolExecutor(max_workers=max(1, len(plugged)), thread_name_prefix="installed") as waiters:
            done = [
                waiters.submit(self.namespaces.wait_installed, hosts, 60 + len(hosts) / 20, bridge)
                for bridge, hosts in plugged
            ]
            for f in done:
                f.result()
        apis.result()
        clock.lap("wait_hv+apiserver")
        acl_fp = _fingerprint(sorted((s.name, a.direction, a.priority, a.match) for s in topo.switches for a in s.acls))
        if acl_fp != record.acl_fingerprint and not self.engine.kube_ovn:
            record.acl_errors = self._acl_errors(topo)
            record.acl_fingerprint = acl_fp
            clock.lap("acl_check")
        # after the ACL check: its ovn-trace reads the whole southbound database, and the server keeps
        # ~13 MB of that session (1,000 pods) until the next compaction gives it back
        if trim:
            self.daemons.trim()
            clock.lap("trim")
        report.acl_errors = list(record.acl_errors)

        record.updated = record.build_completed = time.time()
        record.allocations = {lsp: [a.switch, list(a.addresses)] for lsp, a in allocations(topo).items()}
        record.assumptions = [[a.obj, a.what] for a in desired.cluster.assumptions]
        write_record(self.place, record)
        clock.lap("record")
        report.failures = dict(record.failures)
        report.skipped_routes = dict(record.skipped_routes)
        report.pods_up = sum(1 for r in record.pods if not r.startswith("node/"))
        report.nodes = sum(1 for r in record.pods if r.startswith("node/"))
        report.timings = clock.timings
        report.seconds = clock.total()
        return report

    def _host_path(self, topo: Topology, record: LabRecord, report: UpReport, version: str) -> None:
        """kube-proxy's Service DNAT and kube-ovn-cni's ``natOutgoing`` masquerade in each node's namespace
        (``twin/ovn/hostpath.py``; issue 11 items 2 and 5)."""
        if self.engine.kube_ovn:
            return
        if shutil.which("nft") is None:
            if topo.kube_proxy:
                report.notes.append("nft not installed: the nodes do not DNAT Service VIPs as kube-proxy would")
            if topo.outside_ips:
                report.notes.append("nft not installed: the nodes do not masquerade natOutgoing subnets")
            return
        ruleset = hostpath.kube_proxy_ruleset(topo, version) + hostpath.masquerade_ruleset(topo)
        kept = set(report.kept)
        for node in topo.nodes:
            ref = f"node/{node.name}"
            rec = record.pods.get(ref)
            if rec is None:
                continue
            # a kept namespace still holds the tables this instance loaded (each ruleset replaces its table whole):
            # no process in each of the node agent's passes (23 ms p50, 43 ms max at load 10.6; on every pod's
            # path) when nothing changed
            if ref in kept and self._host_path_loaded.get(rec.netns) == ruleset:
                continue
            run(["ip", "netns", "exec", rec.netns, "nft", "-f", "-"], input=ruleset, step="kube-proxy DNAT")
            self._host_path_loaded[rec.netns] = ruleset

    def _outside(self, topo: Topology, record: LabRecord, report: UpReport) -> None:
        """The namespace beyond the nodes holding API endpoints that are no node's address, with the API
        server stand-in (``twin/ovn/outside.py``; issue 11 item 5). Rebuilt whole when what it stands for
        changed or a node's link went with its namespace; removed when nothing needs it."""
        netns = self.place.outside_netns
        node_ns = {n.name: rec.netns for n in topo.nodes if (rec := record.pods.get(f"node/{n.name}")) is not None}
        want = bool(topo.outside_ips) and topo.outside_port is not None and not self.kube and not self.engine.kube_ovn
        wired = outside.links(topo, node_ns) if want else []
        fp = outside.fingerprint(topo, wired) if want else ""
        exists = ns.netns_exists(netns)
        api = record.apiservers.get(OUTSIDE_API)
        if (
            want
            and exists
            and fp == record.outside
            and api is not None
            and owned_by(api.pid, self.place.marker)
            and {k.peer for k in wired} <= set(interfaces(netns))
            and all(outside.NODE_IFNAME in interfaces(k.node_netns) for k in wired)
        ):
            report.apiservers[OUTSIDE_API] = _outside_url(topo)
            return
        if api is not None:
            stop_pidfile(Path(api.pidfile), self.place.marker)
            del record.apiservers[OUTSIDE_API]
        if exists:
            ns.delete_netns(netns)  # the stand-in inside is ours; the links' node ends go with their peers
        for node_netns in node_ns.values():
            if record.outside or want:  # a link of the last outside may still be there
                run(["ip", "-n", node_netns, "link", "del", outside.NODE_IFNAME], check=False)
            if record.outside and not want:
                sysctl(node_netns, outside.FORWARDING_OFF)
        record.outside = ""
        if not want or topo.outside_port is None:
            return
        ns.ensure_netns(netns)
        run(["ip", "-force", "-b", "-"], input="".join(x + "\n" for x in outside.create_lines(wired, netns)))
        run(["ip", "-n", netns, "-b", "-"], input="".join(x + "\n" for x in outside.outside_lines(topo, wired)))
        tx_checksum_off(netns, [k.peer for k in wired])
        for k in wired:
            run(["ip", "-n", k.node_netns, "-b", "-"], input="".join(x + "\n" for x in outside.node_lines(topo, k)))
            tx_checksum_off(k.node_netns, [outside.NODE_IFNAME])
            sysctl(k.node_netns, outside.FORWARDING_ON)
        ips = [str(ip) for ip in topo.outside_ips]
        sans = apiserver_hosts([str(ip) for ip in topo.api_cluster_ips], ips)
        ca = self._ca()
        bundle = write_bundle(self.place.pki / "outside", ca, ca.issue(sans, common_name="kube-apiserver"))
        spawned = start_apiserver(
            netns,
            bind="::" if any(ip.version == 6 for ip in topo.outside_ips) else "0.0.0.0",
            cert=bundle.cert,
            key=bundle.key,
            run_dir=self.place.run_dir,
            port=topo.outside_port,
            node=outside.NAME,
        )
        record.apiservers[OUTSIDE_API] = ApiServerRecord(
            OUTSIDE_API, netns, spawned.pid, str(spawned.pidfile), topo.outside_port, sans
        )
        record.outside = fp
        report.apiservers[OUTSIDE_API] = _outside_url(topo)

    def _namespaces(self, topo: Topology, record: LabRecord, report: UpReport) -> None:
        place = self.place
        want: dict[str, tuple[str, list[ns.KernelNic], list[str], str]] = {}  # ref -> (netns, nics, node addrs, fp)
        host_routes: dict[str, list[str]] = {}
        bridge_of: dict[str, ns.Bridge] = {}  # ref -> the br-int of its node's chassis
        for node in topo.nodes:
            bridge_of[f"node/{node.name}"] = self.daemons.chassis_of(node.name).bridge
            nics = [_plugged(node.nic, node.name)]
            addrs = _node_addresses(node)
            # kube-ovn-cni updates a node's routes in place: they are not part of its identity
            bare = [dataclasses.replace(n, routes=()) for n in nics]
            ref = f"node/{node.name}"
            want[ref] = (place.node_netns(node.name), nics, addrs, _fingerprint([bare, addrs]))
            host_routes[ref] = [f"{r.dst} via {r.gw}" for r in node.nic.routes]
        failures: dict[str, str] = {}
        for pod in topo.pods:
            if pod.failure:
                failures[pod.ref] = pod.failure
                continue
            nics = [_plugged(nic, pod.name, pod.namespace) for nic in pod.nics]
            want[pod.ref] = (place.pod_netns(pod.namespace, pod.name), nics, [], _fingerprint(nics))
            bridge_of[pod.ref] = self.daemons.chassis_of(pod.node).bridge
        for ref, (netns, nics, addrs, fp) in list(want.items()):  # a pod moved to another chassis is rewired
            want[ref] = (netns, nics, addrs, _fingerprint([fp, bridge_of[ref].netns]))
        record.failures = failures

        existing = {
            n
            for n in _list_netns()
            if n.startswith(place.prefix) and not self.daemons.is_daemon_netns(n) and n != place.outside_netns
        }
        switch_ports: dict[str, set[str]] = {}  # chassis namespace -> host veth ends in it
        for b in self.daemons.bridges():
            switch_ports[b.netns] = set(interfaces(b.netns)) if existing and ns.netns_exists(b.netns) else set()
        host_ports = set().union(*switch_ports.values())
        keep: set[str] = set()
        for ref, (netns, nics, _, fp) in want.items():
            old = record.pods.get(ref)
            hosts = [ns.host_ifname(netns, n.ifname) for n in nics]
            if (
                old is not None
                and old.netns == netns
                and old.fingerprint == fp
                and netns in existing
                and all(h in host_ports for h in hosts)
            ):
                keep.add(ref)
        kept_netns = {record.pods[r].netns for r in keep}
        # A kube lab's node namespaces hold its control plane (etcd, kube-apiserver…, and the host link):
        # a node whose NICs or addresses changed is rewired in place, as kube-ovn-cni reconfigures a node's
        # ovn0, never deleted under the processes that run in it.
        in_place = {
            ref
            for ref, (netns, _, _, _) in want.items()
            if self.kube
            and ref.startswith("node/")
            and ref not in keep
            and netns in existing
            and (old := record.pods.get(ref)) is not None
            and old.netns == netns
        }
        kept_netns |= {want[r][0] for r in in_place}
        for ref in sorted(in_place):
            # the OVS ports first: ovs-vswitchd (userspace datapath) keeps a dead handle on a deleted device
            # and does not reopen one re-created under the same name
            bridge = bridge_of[ref]
            cmd = [*bridge.vsctl()]
            for host in record.pods[ref].host_ifnames:
                cmd += ["--", "--if-exists", "del-port", bridge.name, host]
            run(cmd, timeout=30)
        doomed = {p.netns for r, p in record.pods.items() if r not in keep | in_place} | (existing - kept_netns)
        gone_hosts = [h for r, p in record.pods.items() if r not in keep for h in p.host_ifnames if h in host_ports]
        for switch_ns, ports in switch_ports.items():
            # synchronously: a deleted namespace's veth peers vanish only later, asynchronously
            gone_here = [h for h in gone_hosts if h in ports]
            if gone_here:
                run(
                    ["ip", "-n", switch_ns, "-force", "-b", "-"],
                    input="".join(f"link del {h}\n" for h in gone_here),
                    check=False,
                )
        for netns in sorted(doomed):
            self._remove_netns(netns, record)
        for ref in [r for r in record.pods if r not in keep]:
            del record.pods[ref]
            (report.recreated if ref in want else report.removed).append(ref)
        report.kept = sorted(keep)
        for ref in sorted(keep & set(host_routes)):
            self._update_host_routes(record.pods[ref], host_routes[ref])

        new = {ref: v for ref, v in want.items() if ref not in keep}
        if not new:
            return
        names = [v[0] for v in new.values()]
        fresh = [n for n in names if not ns.netns_exists(n)]
        ns.ip_batches([f"netns add {n}" for n in fresh], step=f"creating {len(fresh)} namespaces")
        for n in names:
            link_up(n)
            # Like a container runtime: no DAD on the pod's interfaces, so the link-local address used
            # for neighbour discovery is usable at once (else the first IPv6 connections stall ~1 s).
            sysctl(n, _NO_DAD)
        items = [(netns, nic) for netns, nics, _, _ in new.values() for nic in nics]
        if doomed:  # peers of namespaces deleted above may still be on their way out
            wanted_hosts = {ns.host_ifname(netns, nic.ifname) for netns, nic in items}
            ns.wait_for(
                lambda: not any(wanted_hosts & set(interfaces(b.netns)) for b in self.daemons.bridges()), 5.0, 0.01
            )
        per_bridge: dict[ns.Bridge, list[tuple[str, ns.KernelNic]]] = {}
        ref_of = {v[0]: ref for ref, v in new.items()}
        for netns, nic in items:
            per_bridge.setdefault(bridge_of[ref_of[netns]], []).append((netns, nic))
        # each chassis's namespace and ovsdb-server are its own: plug the nodes' pods side by side
        with ThreadPoolExecutor(max_workers=max(1, len(per_bridge)), thread_name_prefix="plug-chassis") as pool:
            results = {b: pool.submit(self.namespaces.plug_many, its, b) for b, its in per_bridge.items()}
            by_bridge = {b: f.result() for b, f in results.items()}
        plugged = [p for ps in by_bridge.values() for p in ps]
        # kube-ovn engine: a node's ovn0 is plugged before kube-ovn-controller creates its port (the first build
        # has no controller yet); ovn-controller installs it whenever the port appears, nothing waits for it
        node_netns = {place.node_netns(n.name) for n in topo.nodes} if self.engine.kube_ovn else set()
        self._plugged_hosts = [
            (b, [p.host_ifname for p in ps if p.netns not in node_netns]) for b, ps in by_bridge.items()
        ]
        skipped: dict[str, list[str]] = {}
        by_netns = {v[0]: ref for ref, v in new.items()}
        for p in plugged:
            for s in p.skipped_routes:
                skipped.setdefault(by_netns[p.netns], []).append(
                    f"{p.ifname}: dst {s.route.dst or '(default)'!r} gw {s.route.gw or '(on-link)'!r}: {s.reason}"
                )
        for ref, (netns, nics, addrs, fp) in new.items():
            if ref in in_place:
                _drop_host_addresses(netns, keep=addrs)
            if addrs:
                self.namespaces.add_host_addresses(netns, addrs)
            record.pods[ref] = PodRecord(
                ref, netns, fp, [ns.host_ifname(netns, n.ifname) for n in nics], host_routes=host_routes.get(ref, [])
            )
            if ref in skipped:
                record.skipped_routes[ref] = skipped[ref]
            else:
                record.skipped_routes.pop(ref, None)
            if ref not in report.recreated:
                report.added.append(ref)
        for ref in list(record.skipped_routes):
            if ref not in record.pods:
                del record.skipped_routes[ref]

    def _acl_errors(self, topo: Topology) -> list[str]:
        """ACLs whose match OVN cannot compile: ovn-controller skips them with one rate-limited log line,
        so a fence can be silently open. ovn-trace parses every logical flow and names each failure."""
        sw = next((s for s in topo.switches if s.acls), None)
        if sw is None or sw.router_port is None:
            return []
        lsp = rules.switch_router_port(sw.name, sw.router_port.router)
        done = run(
            ["ovn-trace", f"--db={self.daemons.paths.sb_remote}", sw.name, f'inport == "{lsp}"'],
            env=self.daemons.env(),
            check=False,
            timeout=30,
        )
        errors: dict[str, str] = {}
        for line in done.stderr.splitlines():
            m = _PARSE_FAILED.search(line)
            if m:
                errors.setdefault(_acl_match(m.group(1)), m.group(2))
        out = []
        for match, why in errors.items():
            owners = sorted(
                {f"{s.name} {a.direction} {a.priority}" for s in topo.switches for a in s.acls if a.match == match}
            )
            if owners:
                out.append(f"ACL '{match}' ({'; '.join(owners)}) does not compile in OVN and is ignored: {why}")
        return out

    def _update_host_routes(self, rec: PodRecord, routes: list[str]) -> None:
        """A node's routes to the default-VPC subnets, as kube-ovn-cni keeps them (``routeDiff``)."""
        if rec.host_routes == routes:
            return
        lines = [f"route del {r} dev {OVN0}" for r in rec.host_routes if r not in routes]
        lines += [f"route replace {r} dev {OVN0}" for r in routes]
        run(["ip", "-n", rec.netns, "-force", "-b", "-"], input="".join(line + "\n" for line in lines), check=False)
        rec.host_routes = list(routes)

    def _remove_netns(self, netns: str, record: LabRecord) -> None:
        ref = next((r for r, p in record.pods.items() if p.netns == netns), None)
        if ref is not None and ref.startswith("node/"):
            api = record.apiservers.pop(ref.removeprefix("node/"), None)
            if api is not None:
                stop_pidfile(Path(api.pidfile), self.place.marker)
        try:
            self.hub().close_netns(netns)
        except (HubError, OSError):
            self._hub = None  # hub gone: its sockets went with it
        self.namespaces.delete(netns)

    def _ensure_hub(self, record: LabRecord) -> bool:
        """True if the hub had to be (re)started (then every listener must be registered again)."""
        pidfile = self.place.run_dir / "hub.pid"
        pid = read_pidfile(pidfile)
        if pid is not None and owned_by(pid, self.place.marker):
            return False
        if self._hub is not None:
            self._hub.close()
            self._hub = None
        record.hub_pid = start_hub(self.place.run_dir).pid
        return True

    def _listeners(self, topo: Topology, record: LabRecord, *, restarted: bool) -> None:
        hub = self.hub()
        registered = {} if restarted else hub.pods()
        for pod in topo.pods:
            rec = record.pods.get(pod.ref)
            if rec is None:
                continue
            tcp = sorted({p.port for p in pod.ports if p.protocol == "TCP"})
            udp = sorted({p.port for p in pod.ports if p.protocol == "UDP"})
            have = registered.get(rec.netns)
            if not tcp and not udp:
                if have is not None:
                    hub.close_netns(rec.netns)
                continue
            if have is None or have["tcp"] != tcp or have["udp"] != udp:
                hub.listen(rec.netns, pod.ref, tcp, udp)
            rec.tcp, rec.udp = tcp, udp

    def _ca(self) -> CertificateAuthority:
        if self.place.ca_file.exists():
            return CertificateAuthority.load(self.place.pki)
        ca = CertificateAuthority.create(f"apibridge lab {self.name} CA")
        ca.write(self.place.pki)
        return ca

    def _apiservers(self, topo: Topology, record: LabRecord, report: UpReport) -> None:
        ca: CertificateAuthority | None = None
        cluster_ips = [str(ip) for ip in topo.api_cluster_ips]
        for node in topo.nodes:
            ref = f"node/{node.name}"
            rec = record.pods.get(ref)
            old = record.apiservers.get(node.name)
            if node.apiserver_port is None or rec is None or self.kube:
                if old is not None:
                    stop_pidfile(Path(old.pidfile), self.place.marker)
                    del record.apiservers[node.name]
                continue
            node_ips = [str(ip) for ip in (*node.internal_ips, *node.nic.ips)]
            sans = apiserver_hosts(cluster_ips, node_ips)
            if (
                old is not None
                and old.sans == sans
                and old.port == node.apiserver_port
                and old.netns == rec.netns
                and owned_by(old.pid, self.place.marker)
            ):
                report.apiservers[node.name] = _url(node)
                continue
            if old is not None:
                stop_pidfile(Path(old.pidfile), self.place.marker)
            ca = ca or self._ca()
            bundle = write_bundle(self.place.pki / node.name, ca, ca.issue(sans, common_name="kube-apiserver"))
            v6 = any(ip.version == 6 for ip in (*node.internal_ips, *node.nic.ips))
            spawned = start_apiserver(
                rec.netns,
                bind="::" if v6 else "0.0.0.0",
                cert=bundle.cert,
                key=bundle.key,
                run_dir=self.place.run_dir,
                port=node.apiserver_port,
                node=node.name,
            )
            record.apiservers[node.name] = ApiServerRecord(
                node.name, rec.netns, spawned.pid, str(spawned.pidfile), node.apiserver_port, sans
            )
            report.apiservers[node.name] = _url(node)
        for name in list(record.apiservers):
            if name != OUTSIDE_API and topo.node(name) is None:
                stop_pidfile(Path(record.apiservers.pop(name).pidfile), self.place.marker)

    # --- down ------------------------------------------------------------------------------------
    def down(self) -> DownReport:
        """Stop everything of this lab and remove its state; safe after a crash and when nothing runs."""
        t0 = time.monotonic()
        self.close()
        stopped: list[str] = []
        marker = self.place.marker
        run_dir = self.place.run_dir
        if run_dir.exists():
            for pidfile in sorted(run_dir.glob("*.pid")):
                if stop_pidfile(pidfile, marker):
                    stopped.append(pidfile.stem)
        # the daemons first: with ovs-vswitchd and its namespace gone, every host veth end goes with it,
        # and no OVS port needs deleting one by one
        report = self.daemons.stop(purge=False)
        stopped += list(report.stopped)
        names = self.namespaces.delete_all()
        for path in (self.place.record_file, self.place.input_file):
            path.unlink(missing_ok=True)
        for directory in (self.place.pki, run_dir, self.place.kube_dir):
            shutil.rmtree(directory, ignore_errors=True)
        self.daemons.stop(purge=True)  # nothing left to stop; removes the daemons' directories and the root
        return DownReport(self.name, stopped, names, time.monotonic() - t0)

    # --- status ------------------------------------------------------------------------------------
    def status(self, wait: float = DEFAULT_WAIT) -> StatusReport:
        record = self.record()
        exists = self.exists()
        daemons = self.daemons.status() if exists else None
        health = self.health(wait, status=daemons)
        pid = read_pidfile(self.place.run_dir / "hub.pid")
        hub = pid is not None and owned_by(pid, self.place.marker)
        apis = {n: owned_by(a.pid, self.place.marker) for n, a in (record.apiservers if record else {}).items()}
        present = set(_list_netns())
        pods = record.pods if record else {}
        up = sorted(r for r, p in pods.items() if p.netns in present)
        missing = sorted(r for r, p in pods.items() if p.netns not in present)
        counts: dict[str, int] = {}
        if daemons is not None and any(d.name == "ovsdb-server-nb" and d.responsive for d in daemons.daemons):
            try:
                counts = realize.counts(self.nb())
            except Exception:  # a half-dead database is reported as no counts, not as a crash
                counts = {}
        return StatusReport(
            self.name,
            self.place.root,
            exists,
            daemons,
            hub,
            apis,
            up,
            missing,
            dict(record.failures) if record else {},
            counts,
            list(record.inputs) if record else [],
            health,
            record.build_completed or None if record else None,
        )

    # --- pods ----------------------------------------------------------------------------------------
    def resolve(self, ref: str) -> PodRecord:
        """A pod (``ns/name``, ``name``, ``ns/workload``) or node (``node/<name>``) of the running lab."""
        record = self.require()
        pods = record.pods
        if ref in pods:
            return pods[ref]
        matches = [
            r
            for r in pods
            if r.split("/", 1)[-1] == ref
            or r.startswith(f"{ref}-")
            or (r.split("/", 1)[-1].startswith(f"{ref}-") and "/" not in ref)
        ]
        if len(matches) >= 1 and len({m.rsplit("-", 1)[0] for m in matches}) == 1:
            return pods[sorted(matches)[0]]
        failed = record.failures.get(ref)
        if failed:
            raise InputError(f"pod {ref} failed in the twin: {failed}", Location(field="POD"))
        shown = ", ".join(sorted(pods)[:12]) + (" …" if len(pods) > 12 else "")
        raise InputError(
            f"no pod or node {ref!r} in lab {self.name!r}",
            Location(field="POD"),
            hint=f"one of: {shown}" if pods else None,
        )

    def exec_argv(self, ref: str, command: list[str]) -> list[str]:
        return ns.exec_argv(self.resolve(ref).netns, command)


def _drop_host_addresses(netns: str, keep: Sequence[str]) -> None:
    """Remove the global addresses on ``lo`` of a rewired node that it no longer has (its InternalIPs are
    there: :meth:`Namespaces.add_host_addresses`)."""
    out = run(["ip", "-n", netns, "-o", "addr", "show", "dev", "lo", "scope", "global"], check=False).stdout
    wanted = {str(ipaddress.ip_interface(a)) for a in keep}
    lines = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[2] in ("inet", "inet6") and fields[3] not in wanted:
            lines.append(f"addr del {fields[3]} dev lo")
    if lines:
        run(["ip", "-n", netns, "-force", "-b", "-"], input="".join(x + "\n" for x in lines), check=False)


def _outside_url(topo: Topology) -> str:
    ip = topo.outside_ips[0]
    return f"https://{f'[{ip}]' if ip.version == 6 else ip}:{topo.outside_port}"


def _url(node: TwinNode) -> str:
    ip = node.internal_ips[0] if node.internal_ips else node.nic.ips[0]
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"https://{host}:{node.apiserver_port}"


def _list_netns() -> list[str]:
    try:
        return os.listdir(ns.NETNS_DIR)
    except FileNotFoundError:
        return []
