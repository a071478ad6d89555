"""What the intent says must (not) be reachable, checked with real connections in the running twin.

The expected matrix comes from the intent, not from the wiring — otherwise a wrong route would
simply be "expected":

* **API** — every pod → each API ClusterIP (``https://<ip>:<port>/version``, CA verified): *reach*
  for pods an ApiBridge selects (for the families its destinations cover), for pods whose
  hand-written routes annotation sends the ClusterIP through an attachment on a default-VPC switch
  (the seed), and for default-VPC pods; *blocked* for every other custom-VPC pod.
* **own VPC** — each pod → the next pod of its VPC on a declared port: *reach*.
* **VPC boundary** — each pod → one pod of every other VPC, its eth0 and its attachment addresses:
  *blocked*. Pairs between the default VPC and a pod whose attachment is *not* fenced (the seed,
  ``isolation: open``) are not asserted: an open attachment is a door into the default VPC by
  design. Between tenants it never is — that is the seed's leak.
* **nodes** — each strictly fenced attached pod → every node's join and InternalIPs on the API
  server port: *blocked*.

``adversarial`` first makes every attached pod route the other attachment subnets, the default
VPC's subnets (join included) and the node IPs through its own attachment — what a compromised
pod can do without any privilege beyond its namespace — probes the same matrix, and removes those
routes again; then each attached pod tries ARP and IP spoofing on its attachment (``spoof``), which
port security must block.

Sampling keeps 10 VPCs × 10 pods at ~2,200 probes, up to 2,048 in flight together (1 s timeout):
a verify costs seconds, not minutes.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from apibridge.kubeovn import rules
from apibridge.kubeovn.dualstack import IPAddress
from apibridge.twin.ovn.topology import Nic, Topology, TwinPod
from apibridge.twin.pods import probe
from apibridge.twin.proc import run

Expect = Literal["reach", "blocked"]
Kind = Literal["api", "dns", "same-vpc", "cross-vpc", "node", "attachment", "spoof", "foreign"]
FALLBACK_PORT = 80  # probed when a target declares no port: a refusal still proves reachability


@dataclass(frozen=True)
class Expectation:
    source: str  # ns/pod
    netns: str
    target: str  # an IP address
    port: int
    protocol: probe.Protocol
    expect: Expect
    kind: Kind
    why: str
    to_pod: str | None = None
    to_node: str | None = None
    shared_subnet: str | None = None  # the target sits on a switch where the source has an attachment
    source_attached: bool = False


@dataclass(frozen=True)
class Checked:
    exp: Expectation
    result: probe.Verdict
    detail: str
    seconds: float
    adversarial: bool = False

    @property
    def ok(self) -> bool:
        return self.result == self.exp.expect

    @property
    def hostport(self) -> str:
        ip = self.exp.target
        return f"[{ip}]:{self.exp.port}" if ":" in ip else f"{ip}:{self.exp.port}"

    @property
    def target_label(self) -> str:
        if self.exp.kind == "foreign":
            return f"NAD {self.exp.target}"
        if self.exp.port == 0:
            return self.exp.target
        if self.exp.kind == "api":
            return f"the API server https://{self.hostport}"
        if self.exp.to_pod:
            return f"{self.exp.to_pod} {self.hostport}"
        if self.exp.to_node:
            return f"node {self.exp.to_node} {self.hostport}"
        return self.hostport

    def message(self) -> str:
        e = self.exp
        if self.ok:
            return f"{e.source} → {self.target_label}: {self.result} as expected ({self.detail})"
        if self.result == "reach":
            if e.kind == "foreign":
                return f"LEAK: {e.source} may attach {self.target_label} of another VPC ({self.detail})"
            if e.kind == "spoof":
                return f"LEAK: {e.source} spoofed another address on its attachment ({self.detail}); expected: {e.why}"
            if e.shared_subnet:
                how = f"through the shared attachment subnet {e.shared_subnet}"
            elif self.adversarial and e.source_attached:
                how = "through its attachment, with routes the pod added itself"
            elif self.adversarial:
                how = "with routes the attached pods added themselves"
            else:
                how = "across the VPC boundary"
            return f"LEAK: {e.source} reached {self.target_label} {how}"
        if self.result == "blocked":
            return f"BLOCKED: {e.source} could not reach {self.target_label} ({self.detail}); expected: {e.why}"
        return f"ERROR: {e.source} → {self.target_label}: {self.detail} (expected {e.expect}: {e.why})"

    def to_json(self) -> dict[str, Any]:
        e = self.exp
        return {
            "from": e.source,
            "to": e.target,
            "to_pod": e.to_pod,
            "port": e.port,
            "protocol": e.protocol,
            "kind": e.kind,
            "expect": e.expect,
            "result": self.result,
            "ok": self.ok,
            "detail": self.detail,
            "adversarial": self.adversarial,
        }


@dataclass
class VerifyReport:
    checked: list[Checked] = field(default_factory=list)
    adversarial: bool = False
    routes_added: dict[str, list[str]] = field(default_factory=dict)  # pod -> routes (adversarial)
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(1 for c in self.checked if c.ok)

    @property
    def failed(self) -> int:
        return sum(1 for c in self.checked if not c.ok)

    @property
    def failures(self) -> list[Checked]:
        return [c for c in self.checked if not c.ok]

    def leaks(self) -> list[Checked]:
        return [c for c in self.checked if not c.ok and c.result == "reach"]

    def to_json(self) -> dict[str, Any]:
        return {
            "probes": [c.to_json() for c in self.checked],
            "passed": self.passed,
            "failed": self.failed,
            "adversarial": self.adversarial,
            "seconds": round(self.seconds, 3),
        }


# --- the matrix -------------------------------------------------------------------------------------


def _attachments(pod: TwinPod) -> tuple[Nic, ...]:
    return tuple(n for n in pod.nics if n.ifname != rules.PRIMARY_IFNAME)


def _families(pod: TwinPod) -> set[int]:
    return {ip.version for n in pod.nics for ip in n.ips}


def _first_tcp(pod: TwinPod) -> int:
    return next((p.port for p in pod.ports if p.protocol == "TCP"), FALLBACK_PORT)


class _Matrix:
    def __init__(self, topo: Topology, netns_of: dict[str, str]) -> None:
        self.topo = topo
        self.netns_of = netns_of
        self.pods = [p for p in topo.pods if p.failure is None and p.ref in netns_of]
        self.vpc_of_switch = {s.name: s.vpc for s in topo.switches}
        self.switch_cidrs = {s.name: s.cidrs for s in topo.switches}
        self.lb_switches = {s.name for s in topo.switches if s.load_balancers}
        self.out: list[Expectation] = []

    def strict(self, pod: TwinPod) -> bool:
        bridge = self.topo.bridge(pod.bridge)
        return bridge is not None and bridge.isolation == "strict" and bool(_attachments(pod))

    def open_attached(self, pod: TwinPod) -> bool:
        return bool(_attachments(pod)) and not self.strict(pod)

    def shared(self, src: TwinPod, ip: IPAddress) -> str | None:
        for nic in _attachments(src):
            if any(ip in c for c in self.switch_cidrs.get(nic.switch, ())):
                return nic.switch
        return None

    def own_vpc_has(self, src: TwinPod, ip: IPAddress) -> bool:
        return any(
            ip in c
            for s, cidrs in self.switch_cidrs.items()
            if self.vpc_of_switch.get(s) == src.vpc
            for c in cidrs
            if src.vpc != rules.DEFAULT_VPC
        )

    def add(
        self,
        src: TwinPod,
        ip: IPAddress,
        port: int,
        protocol: probe.Protocol,
        expect: Expect,
        kind: Kind,
        why: str,
        to_pod: str | None = None,
        to_node: str | None = None,
    ) -> None:
        if ip.version not in _families(src):
            return
        self.out.append(
            Expectation(
                src.ref,
                self.netns_of[src.ref],
                str(ip),
                port,
                protocol,
                expect,
                kind,
                why,
                to_pod,
                to_node,
                self.shared(src, ip),
                bool(_attachments(src)),
            )
        )

    def api(self) -> None:
        port = self.topo.api_port
        for pod in self.pods:
            bridge = self.topo.bridge(pod.bridge)
            for vip in self.topo.api_cluster_ips:
                if pod.vpc == rules.DEFAULT_VPC:
                    expect: Expect = "reach"
                    why = "default-VPC switches carry the cluster load balancers"
                elif bridge is not None and bridge.reaches(vip, port):
                    expect, why = "reach", f"ApiBridge {bridge.name} gives its pods the API server"
                elif bridge is None and self.routed_by_hand(pod, vip):
                    expect, why = "reach", "its routes annotation sends the ClusterIP through an attachment"
                else:
                    expect, why = "blocked", f"custom VPC {pod.vpc} has no path to the API server"
                self.add(pod, vip, port, "https", expect, "api", why)

    def routed_by_hand(self, pod: TwinPod, vip: IPAddress) -> bool:
        for nic in _attachments(pod):
            if self.vpc_of_switch.get(nic.switch) != rules.DEFAULT_VPC or nic.switch not in self.lb_switches:
                continue
            for route in nic.routes:
                try:
                    if route.dst and vip in ipaddress.ip_network(route.dst, strict=False):
                        return True
                except ValueError:
                    continue
        return False

    def same_vpc(self) -> None:
        groups = self.groups()
        for members in groups.values():
            if len(members) < 2:
                continue
            for i, pod in enumerate(members):
                peer = members[(i + 1) % len(members)]
                eth0 = peer.nic(rules.PRIMARY_IFNAME)
                ips = sorted(eth0.ips, key=lambda a: a.version) if eth0 else []
                ip = next((a for a in ips if a.version in _families(pod)), None)
                if ip is not None:
                    self.add(
                        pod,
                        ip,
                        _first_tcp(peer),
                        "tcp",
                        "reach",
                        "same-vpc",
                        f"pods of VPC {pod.vpc} reach each other",
                        to_pod=peer.ref,
                    )

    def groups(self) -> dict[str, list[TwinPod]]:
        groups: dict[str, list[TwinPod]] = {}
        for pod in self.pods:
            groups.setdefault(pod.vpc or "?", []).append(pod)
        return groups

    def cross_vpc(self) -> None:
        groups = self.groups()
        for pod in self.pods:
            for vpc, members in sorted(groups.items()):
                if vpc == pod.vpc:
                    continue
                target = next((m for m in members if _attachments(m)), members[0])
                default_pair = rules.DEFAULT_VPC in (vpc, pod.vpc)
                if default_pair and (self.open_attached(pod) or self.open_attached(target)):
                    continue  # an unfenced attachment is a door into the default VPC by design
                why = f"{pod.vpc} and {vpc} are separate VPCs"
                port = _first_tcp(target)
                for nic in target.nics:
                    for ip in nic.ips:
                        if self.own_vpc_has(pod, ip):
                            continue  # overlapping CIDRs: the address means another pod in the source's VPC
                        self.add(pod, ip, port, "tcp", "blocked", "cross-vpc", why, to_pod=target.ref)

    def nodes(self) -> None:
        for pod in self.pods:
            if not self.strict(pod):
                continue
            for node in self.topo.nodes:
                port = node.apiserver_port or rules.DEFAULT_APISERVER_PORT
                for ip in (*node.internal_ips, *node.nic.ips):
                    self.add(
                        pod,
                        ip,
                        port,
                        "tcp",
                        "blocked",
                        "node",
                        f"the fence of ApiBridge {pod.bridge} allows only its destinations",
                        to_node=node.name,
                    )

    def attachments(self) -> None:
        """Under a strict fence an attached pod reaches no other attached pod, not even one of its own
        bridge: the attachment subnet is a way to the API server, not a second pod network."""
        by_switch: dict[str, list[tuple[TwinPod, IPAddress]]] = {}
        for pod in self.pods:
            for nic in _attachments(pod):
                for ip in nic.ips:
                    by_switch.setdefault(nic.switch, []).append((pod, ip))
        for pod in self.pods:
            if not self.strict(pod):
                continue
            for nic in _attachments(pod):
                peer = next(
                    (
                        (p, ip)
                        for p, ip in by_switch.get(nic.switch, ())
                        if p.ref != pod.ref and ip.version in _families(pod)
                    ),
                    None,
                )
                if peer is not None:
                    self.add(
                        pod,
                        peer[1],
                        _first_tcp(peer[0]),
                        "tcp",
                        "blocked",
                        "attachment",
                        f"the fence of ApiBridge {pod.bridge} allows only its destinations",
                        to_pod=peer[0].ref,
                    )

    def dns(self) -> None:
        """UDP 53 to the DNS ClusterIPs for bridges with ``dns: true``."""
        for pod in self.pods:
            bridge = self.topo.bridge(pod.bridge)
            if bridge is None:
                continue
            for dest in bridge.destinations:
                if dest.kind == "dns" and dest.network.num_addresses == 1:
                    self.add(
                        pod,
                        dest.network.network_address,
                        53,
                        "udp",
                        "reach",
                        "dns",
                        f"ApiBridge {bridge.name} gives its pods DNS",
                    )


def expectations(topo: Topology, netns_of: dict[str, str]) -> list[Expectation]:
    """The sampled matrix for the pods that are up (``netns_of``: pod ref -> namespace)."""
    m = _Matrix(topo, netns_of)
    m.api()
    m.dns()
    m.same_vpc()
    m.cross_vpc()
    m.nodes()
    m.attachments()
    return m.out


# --- adversarial routes --------------------------------------------------------------------------


def adversarial_routes(topo: Topology, pod: TwinPod) -> list[str]:
    """``ip route`` arguments a compromised attached pod would add through its (first) attachment."""
    attachments = _attachments(pod)
    if not attachments:
        return []
    nic = attachments[0]
    own = {str(r.dst) for r in nic.routes}
    targets: list[str] = []
    for sw in topo.switches:
        if sw.vpc == rules.DEFAULT_VPC and sw.name != nic.switch:
            targets += [str(c) for c in sw.cidrs]
    for node in topo.nodes:
        targets += [f"{ip}/{ip.max_prefixlen}" for ip in node.internal_ips]
    out = []
    for dst in targets:
        net = ipaddress.ip_network(dst, strict=False)
        gw = next((g for g in nic.gateways if g.version == net.version), None)
        if gw is None or dst in own or any(net == ipaddress.ip_network(a, strict=False) for a in nic.addresses):
            continue
        out.append(f"{net} via {gw} dev {nic.ifname}")
    return out


def _route_batch(netns: str, verb: str, routes: Sequence[str]) -> None:
    if routes:
        run(["ip", "-n", netns, "-force", "-b", "-"], input="".join(f"route {verb} {r}\n" for r in routes), check=False)


# --- running -----------------------------------------------------------------------------------------


def verify(
    topo: Topology,
    netns_of: dict[str, str],
    *,
    ca_file: Path | None,
    adversarial: bool = False,
    timeout: float = probe.DEFAULT_TIMEOUT,
    parallel: int = probe.DEFAULT_PARALLEL,
    done: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Probe the matrix (``done(finished, total)`` after each probe) and report every verdict."""
    t0 = time.monotonic()
    exps = expectations(topo, netns_of)
    report = VerifyReport(adversarial=adversarial)
    pods = [p for p in topo.pods if p.ref in netns_of and p.failure is None]
    if adversarial:
        for pod in pods:
            routes = adversarial_routes(topo, pod)
            if routes:
                report.routes_added[pod.ref] = routes
    try:
        for ref, routes in report.routes_added.items():
            _route_batch(netns_of[ref], "replace", routes)
        count = [0]

        def tick(_: int, __: probe.Outcome) -> None:
            count[0] += 1
            if done is not None:
                done(count[0], len(exps))

        outcomes = probe.run(
            [probe.Probe(e.netns, e.target, e.port, e.protocol) for e in exps],
            ca_file=ca_file,
            timeout=timeout,
            parallel=parallel,
            done=tick,
        )
    finally:
        for ref, routes in report.routes_added.items():
            _route_batch(netns_of[ref], "del", routes)
    report.checked = [
        Checked(e, o.verdict, o.detail, o.seconds, adversarial) for e, o in zip(exps, outcomes, strict=True)
    ]
    if adversarial:
        from apibridge.twin.proof.spoof import spoof_checks  # spoof builds on this module's types

        for attempt in topo.foreign_attempts:
            exp = Expectation(
                attempt.pod,
                netns_of.get(attempt.pod, ""),
                attempt.nad,
                0,
                "tcp",
                "blocked",
                "foreign",
                f"only pods of ApiBridge {attempt.bridge}'s VPC may attach it (the chart's tenancy policy)",
            )
            verdict: probe.Verdict = "blocked" if attempt.refusal else "reach"
            report.checked.append(Checked(exp, verdict, attempt.refusal or "admitted", 0.0, True))
        report.checked += spoof_checks(topo, netns_of)
    report.seconds = time.monotonic() - t0
    return report
