"""The verify matrix's expectations that come from the intent (``apibridge.check.intent``), and what
a verify must fail on besides a probe.

``lab verify`` asks each pod's intent, never its wiring, whether it should reach the API server,
DNS and its bridge's ``extra`` destinations — so a broken route shows up as a blocked path instead
of becoming the expectation. Intended destinations are probed where they live (see
``twin.ovn.externals``). A proof must also be able to fail for what it could not probe: a pod
Kube-OVN would fail (its message, as kube-ovn-controller or kube-ovn-cni gives it), a pod that
should be running and is not, and a verify that probed nothing at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from apibridge.check.intent import Want
from apibridge.check.objects.netpol import Endpoint, api_endpoints
from apibridge.kubeovn import rules
from apibridge.kubeovn.dualstack import IPAddress, IPNetwork
from apibridge.twin.ovn.externals import probe_address
from apibridge.twin.ovn.topology import Topology, TwinPod, iter_nics, vip_key

FALLBACK_PORT = 80  # a destination without ports: any port will do, and a refusal proves the path
MAX_DESTINATION_PROBES = 256  # DNS and extra probes per pod
Expect = Literal["reach", "blocked"]


@dataclass(frozen=True)
class Unrealized:
    """A pod the input asks for that is not running in the lab, and why."""

    pod: str
    reason: str
    intends: str = ""  # what it would have reached, when its intent names something

    def message(self) -> str:
        tail = f" (it intends {self.intends})" if self.intends else ""
        return f"FAILED: {self.pod} is not running: {self.reason}{tail}"

    def to_json(self) -> dict[str, str]:
        return {"pod": self.pod, "reason": self.reason, "intends": self.intends}


@dataclass(frozen=True)
class Unprogrammed:
    """A ``check`` finding on what the twin does not program (an AdminNetworkPolicy): no probe can show it."""

    code: str
    obj: str
    field: str
    reason: str

    def message(self) -> str:
        return (
            f"FAILED: {self.obj} {self.field}: {self.reason} (check: {self.code}); the twin does not program "
            f"AdminNetworkPolicies (OVN 23.03 has no ACL tiers), so its probes cannot show this"
        )

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "object": self.obj, "field": self.field, "reason": self.reason}


def unprogrammed(topo: Topology) -> list[Unprogrammed]:
    """What a real cluster does to the pods' paths that the twin cannot imitate (``twin.ovn.netpol``)."""
    return [Unprogrammed(f.code, f.obj, f.field, f.message) for f in topo.unprogrammed]


def _intends(pod: TwinPod) -> str:
    kinds = {"api": "the API server", "dns": "DNS", "extra": "extra destinations"}
    return ", ".join(dict.fromkeys(kinds[w.kind] for w in pod.intent.wants))


def unrealized(topo: Topology, netns_of: Mapping[str, str]) -> list[Unrealized]:
    """Pods that failed (Kube-OVN's reason) or that the lab should run and does not."""
    out: list[Unrealized] = []
    for pod in topo.pods:
        if pod.failure is not None:
            out.append(Unrealized(pod.ref, pod.failure, _intends(pod)))
        elif pod.ref not in netns_of:
            out.append(Unrealized(pod.ref, "the lab has no namespace for it (lab up did not finish?)", _intends(pod)))
    return out


def api_expectation(pod: TwinPod, vip: IPAddress, port: int, topo: Topology | None = None) -> tuple[Expect, str]:
    """Must ``pod`` reach the API server at ``vip:port``? From its VPC and its intent only. A default-VPC
    pod's own NetworkPolicies decide for it; a pod that intends the API server must reach it even when its
    tenant's policy drops it (the reason rides along, so the failure names the policy)."""
    if pod.vpc == rules.DEFAULT_VPC:
        policies = topo.netpolicies if topo is not None else None
        if policies:
            for ip, eport in api_endpoints(policies.cluster):
                if ip.version != vip.version:
                    continue
                v = policies.egress(pod.namespace, pod.labels, rules.OVN_PROVIDER, Endpoint(ip), eport)
                if not v.allowed:
                    return "blocked", f"NetworkPolicy {v.policies} allows no egress to the API endpoint {ip}:{eport}"
        return "reach", "default-VPC switches carry the cluster load balancers"
    want = pod.intent.want(vip, port, "TCP")
    if want is not None and want.blocked_by:
        # the bridge intends it and the tenant's own policy drops it: ``check`` calls that an error (AB310),
        # so the proof fails too (the probe still shows the drop), rather than expect what breaks the intent
        return "reach", f"{want.why}, so it intends the API server, but {want.blocked_by} (check: AB310)"
    if want is not None:
        return "reach", f"{want.why}, so it intends the API server" + _unmasqueraded(pod, vip, topo)
    return "blocked", f"custom VPC {pod.vpc} has no path to the API server and nothing in its intent asks for one"


def _unmasqueraded(pod: TwinPod, vip: IPAddress, topo: Topology | None) -> str:
    """Why the API server's replies cannot come back, when that is ``check``'s AB026: its endpoints are no
    node's address (the lab's ``outside_ips``) and the pod's default-VPC attachment is not masqueraded
    (``topo.nat_subnets``: natOutgoing). "" otherwise."""
    if topo is None:
        return ""
    beyond = [ip for ip in topo.outside_ips if ip.version == vip.version]
    if not beyond:
        return ""
    for nic in pod.nics:
        switch = topo.switch(nic.switch)
        if nic.ifname == rules.PRIMARY_IFNAME or switch is None or switch.vpc != rules.DEFAULT_VPC:
            continue
        if not any(ip in c for ip in nic.ips for c in topo.nat_subnets if c.version == ip.version):
            shown = ", ".join(str(ip) for ip in beyond)
            return (
                f", but the API endpoints {shown} are no node's address and its attachment subnet {nic.switch} has "
                f"no natOutgoing: the host does not masquerade it, so the replies never come back (check: AB026)"
            )
    return ""


@dataclass(frozen=True)
class Destination:
    """One probe of an intended DNS or extra destination."""

    ip: IPAddress
    port: int
    protocol: Literal["tcp", "udp"]
    kind: Literal["dns", "extra"]
    why: str


def owned_addresses(topo: Topology) -> list[IPAddress]:
    """Every address the lab gives a pod or node interface, a node's ``lo`` (InternalIPs, externals)."""
    owned = [ip for _, nic in iter_nics(topo) for ip in nic.ips]
    owned += [ip for n in topo.nodes for ip in (*n.internal_ips, *n.external_ips)]
    return owned


class Places:
    """The probe address of each intended network, worked out once per network (not once per pod), and
    the ClusterIPs the lab's load balancers serve (a DNS Service without endpoints has no VIP)."""

    def __init__(self, topo: Topology) -> None:
        self.owned = owned_addresses(topo)
        self._address: dict[str, IPAddress] = {}
        self._vips = {(vip, lb.protocol) for lb in topo.load_balancers for vip in lb.vips}
        self._served = {vip.rpartition(":")[0].strip("[]") for vip, _ in self._vips}

    def address(self, network: IPNetwork) -> IPAddress:
        key = str(network)
        if key not in self._address:
            self._address[key] = probe_address(network, self.owned)
        return self._address[key]

    def unserved(self, want: Want, ip: IPAddress, port: int, protocol: str) -> str:
        """Why a DNS probe of ``ip:port`` cannot be answered, when no load balancer has it ("" when one has):
        Kube-OVN programs a Service port's VIP only with backends of that port's name (twin ``_services``)."""
        if want.kind != "dns" or (vip_key(ip, port), protocol) in self._vips:
            return ""
        if str(ip) not in self._served:
            return f", but the DNS Service {want.service} has no endpoints (no load balancer has its ClusterIP {ip})"
        return f", but the DNS Service {want.service} has no endpoint for {port}/{protocol.upper()}"


def destinations(pod: TwinPod, places: Places) -> Iterator[Destination]:
    """The DNS and ``extra`` destinations ``pod`` intends, each port a probe (SCTP is not probed), at
    most ``MAX_DESTINATION_PROBES`` (an ApiBridge's lists are input: bounded)."""
    if pod.vpc == rules.DEFAULT_VPC:
        return
    count = 0
    for want in pod.intent.wants:
        if want.kind == "api" or want.blocked_by:  # the tenant's own policy refuses it: not probed as reachable
            continue
        for d in _probes(want, places.address(want.network), places):
            if count >= MAX_DESTINATION_PROBES:
                return
            count += 1
            yield d


def _probes(want: Want, ip: IPAddress, places: Places) -> Iterator[Destination]:
    kind: Literal["dns", "extra"] = "dns" if want.kind == "dns" else "extra"
    what = "DNS" if kind == "dns" else f"{want.network}"
    why = f"{want.why} and names {what}"
    if not want.ports:
        yield Destination(ip, FALLBACK_PORT, "tcp", kind, why)
        return
    for p in want.ports:
        if p.protocol in ("TCP", "UDP"):
            protocol: Literal["tcp", "udp"] = "udp" if p.protocol == "UDP" else "tcp"
            yield Destination(ip, p.port, protocol, kind, why + places.unserved(want, ip, p.port, protocol))


def same_vpc_expectation(topo: Topology, src: TwinPod, dst: TwinPod, ip: IPAddress, port: int) -> tuple[Expect, str]:
    """Must ``src`` reach ``dst`` (its eth0 ``ip``) in their VPC? Yes, unless their NetworkPolicies say no:
    ``src``'s egress or ``dst``'s ingress (judged as Kube-OVN programs them, ``check.netpol``)."""
    why = f"pods of VPC {src.vpc} reach each other"
    policies = topo.netpolicies
    if not policies:
        return "reach", why
    eth0 = src.nic(rules.PRIMARY_IFNAME)
    src_ip = next((a for a in (eth0.ips if eth0 else ()) if a.version == ip.version), ip)
    out = policies.egress(src.namespace, src.labels, rules.OVN_PROVIDER, Endpoint(ip, dst.namespace, dst.labels), port)
    if not out.allowed:
        return (
            "blocked",
            f"NetworkPolicy {out.policies} isolates the egress of {src.ref} and allows no connection to it",
        )
    inbound = Endpoint(src_ip, src.namespace, src.labels)
    into = policies.ingress(dst.namespace, dst.labels, rules.OVN_PROVIDER, inbound, port)
    if not into.allowed:
        return "blocked", f"NetworkPolicy {into.policies} isolates the ingress of {dst.ref} and allows no connection"
    if out.isolating or into.isolating:
        return "reach", why + " (their NetworkPolicies allow it)"
    return "reach", why
