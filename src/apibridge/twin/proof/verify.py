"""What the intent says must (not) be reachable, checked with real connections in the running twin.

The expected matrix comes from the intent, not from the wiring — otherwise a wrong route would
simply be "expected":

* **API** — every pod → each API ClusterIP (``https://<ip>:<port>/version``, CA verified): *reach*
  for default-VPC pods and for pods whose *intent* names the API server (``apibridge.check.intent``:
  selected by a bridge, a hand-written attachment to a default-VPC subnet, a routes annotation
  naming an API ClusterIP — whether or not that wiring works); *blocked* for every other pod.
* **DNS and extra** — each pod → every DNS and ``extra`` destination its intent names, on each
  port, probed where the destination lives (``proof/intent.py``, ``ovn/externals.py``): *reach*.
* **not running** — a pod Kube-OVN would fail, or one the lab lacks, fails the verify with the
  reason; so does a verify that probed nothing, and each ``check`` finding on an AdminNetworkPolicy the
  twin cannot program (AB312, AB313: ``twin.ovn.netpol.admin_findings``).
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
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from apibridge.kubeovn import rules
from apibridge.kubeovn.dualstack import IPAddress
from apibridge.twin.ovn.topology import LspNic, Topology, TwinPod, iter_nics
from apibridge.twin.pods import probe
from apibridge.twin.proc import run
from apibridge.twin.proof import intent

Expect = Literal["reach", "blocked"]
Kind = Literal["api", "dns", "extra", "same-vpc", "cross-vpc", "node", "attachment", "spoof", "foreign"]
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
    cause: probe.Cause = "connected"
    attempts: int = 1
    explanation: tuple[str, ...] = ()  # for a result that contradicts the intent: ovn-trace and ofproto/trace

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
            tries = f", {self.attempts} attempts" if self.attempts > 1 else ""
            return f"BLOCKED: {e.source} could not reach {self.target_label} ({self.detail}{tries}); expected: {e.why}"
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
            "why": e.why,  # where the expectation comes from (the intent), e.g. a policy that breaks it
            "result": self.result,
            "ok": self.ok,
            "detail": self.detail,
            "cause": self.cause,
            "attempts": self.attempts,
            "adversarial": self.adversarial,
            **({"explanation": list(self.explanation)} if self.explanation else {}),
        }


@dataclass
class VerifyReport:
    checked: list[Checked] = field(default_factory=list)
    adversarial: bool = False
    routes_added: dict[str, list[str]] = field(default_factory=dict)  # pod -> routes (adversarial)
    seconds: float = 0.0
    coverage: Coverage | None = None
    # --- intent (proof/intent.py): what fails a verify besides a probe
    unrealized: list[intent.Unrealized] = field(default_factory=list)
    unprogrammed: list[intent.Unprogrammed] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing was probed: a verify that cannot fail proves nothing, so it fails."""
        return not self.checked

    @property
    def passed(self) -> int:
        return sum(1 for c in self.checked if c.ok)

    @property
    def failed(self) -> int:
        """Unexpected probes, plus each pod that is not running, each finding the twin cannot show, plus one
        for an empty verify."""
        unexpected = sum(1 for c in self.checked if not c.ok)
        return unexpected + len(self.unrealized) + len(self.unprogrammed) + int(self.empty)

    # --- end intent

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
            "unrealized": [u.to_json() for u in self.unrealized],
            "unprogrammed": [u.to_json() for u in self.unprogrammed],
            "adversarial": self.adversarial,
            "seconds": round(self.seconds, 3),
            **({"coverage": self.coverage.to_json()} if self.coverage else {}),
        }


# --- the matrix -------------------------------------------------------------------------------------


def _attachments(pod: TwinPod) -> tuple[LspNic, ...]:
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
        self.out: list[Expectation] = []
        self.places = intent.Places(topo)  # where each intended destination lives, computed once

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
        for pod in self.pods:
            self.api_for(pod)

    def api_for(self, pod: TwinPod) -> None:
        port = self.topo.api_port
        for vip in self.topo.api_cluster_ips:
            expect, why = intent.api_expectation(pod, vip, port, self.topo)  # from the intent, never the wiring
            self.add(pod, vip, port, "https", expect, "api", why)

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
                    port = _first_tcp(peer)
                    expect, why = intent.same_vpc_expectation(self.topo, pod, peer, ip, port)
                    self.add(pod, ip, port, "tcp", expect, "same-vpc", why, to_pod=peer.ref)

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
            self.nodes_for(pod)

    def nodes_for(self, pod: TwinPod) -> None:
        if self.strict(pod):
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
        """Every DNS and ``extra`` destination a pod's intent names, where it lives (proof/intent.py)."""
        for pod in self.pods:
            self.dns_for(pod)

    def dns_for(self, pod: TwinPod) -> None:
        for d in intent.destinations(pod, self.places):
            self.add(pod, d.ip, d.port, d.protocol, "reach", d.kind, d.why)

    def pair(self, src: TwinPod, dst: TwinPod) -> None:
        """``src`` → every address of ``dst``, with the rules of the matrix above: its own VPC's pods are
        reached on eth0; another VPC's are not, on any address; under a strict fence no attachment
        address on the source's attachment switch is reached."""
        port = _first_tcp(dst)
        if src.vpc == dst.vpc:
            eth0 = dst.nic(rules.PRIMARY_IFNAME)
            ips = sorted(eth0.ips, key=lambda a: a.version) if eth0 else []
            ip = next((a for a in ips if a.version in _families(src)), None)
            if ip is not None:
                expect, why = intent.same_vpc_expectation(self.topo, src, dst, ip, port)
                self.add(src, ip, port, "tcp", expect, "same-vpc", why, to_pod=dst.ref)
            if self.strict(src):
                mine = {n.switch for n in _attachments(src)}
                for nic in _attachments(dst):
                    if nic.switch in mine:
                        why = f"the fence of ApiBridge {src.bridge} allows only its destinations"
                        for ip in nic.ips:
                            self.add(src, ip, port, "tcp", "blocked", "attachment", why, to_pod=dst.ref)
            return
        if rules.DEFAULT_VPC in (src.vpc, dst.vpc) and (self.open_attached(src) or self.open_attached(dst)):
            return  # an unfenced attachment is a door into the default VPC by design
        why = f"{src.vpc} and {dst.vpc} are separate VPCs"
        for nic in dst.nics:
            for ip in nic.ips:
                if not self.own_vpc_has(src, ip):
                    self.add(src, ip, port, "tcp", "blocked", "cross-vpc", why, to_pod=dst.ref)


def equivalence_key(pod: TwinPod, policies: bool = False) -> tuple[object, ...]:
    """What makes two pods the same to the network: node, VPC, the bridge that selects them (its fence and
    destinations), each NIC's switch (subnet, its ACLs and port group) with its routes, and the ports it
    answers on, and what it intends to reach (check.intent): two pods wired alike but meaning different things
    are judged apart. With NetworkPolicies in the cluster, also its namespace and labels (what they select).
    Addresses are not part of it: OVN treats the members of a subnet alike."""
    nics = tuple((n.ifname, n.switch, n.routes, n.default_route) for n in pod.nics)
    ports = tuple(sorted((p.port, p.protocol) for p in pod.ports))
    # what NetworkPolicies make of it: selected by a policy, or named as one's peer (both go by labels)
    policy = (pod.namespace, tuple(sorted(pod.labels.items()))) if policies else ()
    return (pod.node, pod.vpc, pod.bridge, nics, ports, pod.intent, policy)


@dataclass(frozen=True)
class Coverage:
    """What a verify by equivalence class probed (``exhaustive``: the full matrix instead)."""

    pods: int
    classes: int
    pairs: int  # ordered pairs of classes probed, each with its representatives
    sampled: int  # further pods probed, picked at random with ``seed``
    seed: int
    exhaustive: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "pods": self.pods,
            "classes": self.classes,
            "pairsProbed": self.pairs,
            "sampled": self.sampled,
            "seed": self.seed,
            "exhaustive": self.exhaustive,
        }


DEFAULT_SAMPLE = 32


def class_expectations(
    topo: Topology, netns_of: dict[str, str], *, seed: int, sample: int = DEFAULT_SAMPLE
) -> tuple[list[Expectation], Coverage]:
    """Every ordered pair of equivalence classes, representative to representative (a class with two or
    more pods also to itself), every destination kind from each representative, plus ``sample`` other
    pods chosen with ``seed``, each probing the API, its nodes and one random pod of a random class."""
    m = _Matrix(topo, netns_of)
    classes: dict[tuple[object, ...], list[TwinPod]] = {}
    for pod in sorted(m.pods, key=lambda p: p.ref):
        classes.setdefault(equivalence_key(pod, bool(topo.netpolicies)), []).append(pod)
    members = list(classes.values())
    pairs = 0
    for group in members:
        src = group[0]
        m.api_for(src)
        m.dns_for(src)
        m.nodes_for(src)
        for other in members:
            dst = other[0] if other is not group else (group[1] if len(group) > 1 else None)
            if dst is not None:
                m.pair(src, dst)
                pairs += 1
    rng = random.Random(seed)
    rest = [p for group in members for p in group[1:]]
    picked = rng.sample(rest, min(sample, len(rest)))
    for src in picked:
        m.api_for(src)
        m.dns_for(src)
        m.nodes_for(src)
        group = rng.choice(members)
        dst = rng.choice(group)
        if dst.ref == src.ref:
            dst = group[0] if group[0].ref != src.ref else dst
        if dst.ref != src.ref:
            m.pair(src, dst)
    return m.out, Coverage(len(m.pods), len(members), pairs, len(picked), seed)


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


def _largest_subnet(topo: Topology) -> int:
    """Ports of the largest logical switch: what one blocked SYN's ARP broadcast reaches (probe.silent_parallel)."""
    ports: dict[str, int] = {}
    for _, nic in iter_nics(topo):
        ports[nic.switch] = ports.get(nic.switch, 0) + 1
    return max(ports.values(), default=1)


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
    exhaustive: bool = False,
    seed: int | None = None,
    sample: int = DEFAULT_SAMPLE,
) -> VerifyReport:
    """Probe the pairs of equivalence classes plus a seeded sample (``exhaustive``: the full matrix),
    calling ``done(finished, total)`` after each probe, and report every verdict."""
    t0 = time.monotonic()
    if exhaustive:
        exps = expectations(topo, netns_of)
        up = sum(1 for p in topo.pods if p.failure is None and p.ref in netns_of)
        coverage = Coverage(up, up, 0, 0, 0, exhaustive=True)
    else:
        seed = random.SystemRandom().randrange(2**31) if seed is None else seed
        exps, coverage = class_expectations(topo, netns_of, seed=seed, sample=sample)
    report = VerifyReport(adversarial=adversarial, coverage=coverage)
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

        def tick(_: int, __: probe.ProbeResult) -> None:
            count[0] += 1
            if done is not None:
                done(count[0], len(exps))

        outcomes = probe.run(
            [probe.Probe(e.netns, e.target, e.port, e.protocol, expect_answer=e.expect == "reach") for e in exps],
            ca_file=ca_file,
            timeout=timeout,
            parallel=parallel,
            parallel_silent=probe.silent_parallel(_largest_subnet(topo)),
            done=tick,
        )
    finally:
        for ref, routes in report.routes_added.items():
            _route_batch(netns_of[ref], "del", routes)
    report.checked = [
        Checked(e, o.verdict, o.detail, o.seconds, adversarial, o.cause, o.attempts)
        for e, o in zip(exps, outcomes, strict=True)
    ]
    report.unrealized = intent.unrealized(topo, netns_of)
    report.unprogrammed = intent.unprogrammed(topo)
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
