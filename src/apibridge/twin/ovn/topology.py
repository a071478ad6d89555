"""The logical network kube-ovn-controller and kube-ovn-cni would build, as plain data.

``build_topology(cluster, plan)`` is pure: it applies the bridge mutation to the pods a bridge
selects (exactly as the webhook would), then derives every northbound object Kube-OVN creates, with
Kube-OVN's names (research/kubeovn.md §3): a router per Vpc with Kube-OVN's options, a switch per
Subnet with its ``<lr>-<ls>``/``<ls>-<lr>`` patch pair, the ``join`` switch and ``node-<name>``
ports, the default VPC's 0.0.0.0/0 static route and its 31000/30000/29000 policies with the
per-node port groups of distributed subnets, custom VPCs' src-ip routes, the ``cluster-*`` and
``vpc-<vpc>-*`` load balancers attached to their switches, Service VIPs, Subnet ACLs, and a port
per pod interface (``<pod>.<ns>`` / ``<pod>.<ns>.<provider>``) with IPAM that honours excludeIps
and gateways. It also records what kube-ovn-cni would do in each pod: addresses, default route,
the routes annotation — and its failure modes (routes not JSON, provider bound to no subnet).

The lab realizes this on real OVN; tests can inspect it without daemons.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

from apibridge.check.findings import Finding
from apibridge.check.intent import NO_INTENT, PodIntent, intent_context, pod_intent, with_policies
from apibridge.check.objects import tenancy
from apibridge.check.objects.netpol import Policies
from apibridge.kubeovn import addresses, nadconf, networks, routes, rules
from apibridge.kubeovn.dualstack import IPAddress, IPNetwork
from apibridge.model.cluster import Cluster
from apibridge.model.objects import PodLike, ServicePort, Subnet
from apibridge.plan.mutation import mutate_annotations
from apibridge.plan.types import Destination, Plan
from apibridge.twin.ovn.externals import external_addresses

OVN0 = rules.NODE_NIC
MAX_REPLICAS = 20  # pods per workload in the twin
# an interface whose OVS port lost its iface-id (CleanDuplicatePort) is bound to an empty switch of this prefix
DETACHED_PREFIX = "detached."


@dataclass(frozen=True)
class Allocation:
    """Where a port of a running lab sits: its switch and its addresses (``10.0.1.2/24``)."""

    switch: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Router:
    name: str
    vpc: str
    options: dict[str, str] = field(default_factory=lambda: dict(rules.ROUTER_OPTIONS))


@dataclass(frozen=True)
class RouterPort:
    router: str
    name: str
    mac: str
    networks: tuple[str, ...]  # "100.100.100.1/24"


@dataclass(frozen=True)
class AclRule:
    direction: str
    priority: int
    match: str
    action: str
    external_ids: dict[str, str] = field(default_factory=dict)
    log: bool = False
    name: str | None = None
    severity: str | None = None
    apply_after_lb: bool = False  # options:apply-after-lb (stage ls_in_acl_after_lb, from-lport only)


@dataclass(frozen=True)
class Switch:
    name: str
    vpc: str
    cidrs: tuple[IPNetwork, ...]
    gateways: tuple[IPAddress, ...]
    load_balancers: tuple[str, ...]
    acls: tuple[AclRule, ...]
    router_port: RouterPort | None  # the patch pair towards the VPC router


@dataclass(frozen=True)
class LoadBalancer:
    name: str
    protocol: str  # tcp, udp, sctp
    session: bool
    vips: dict[str, str]  # "10.96.0.1:443" -> "172.18.0.2:6443,..."; IPv6 VIPs as "[fd00::1]:443"
    options: dict[str, str] = field(default_factory=dict)
    selection_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class StaticRoute:
    router: str
    prefix: str
    nexthop: str
    policy: str  # dst-ip | src-ip
    external_ids: dict[str, str] = field(default_factory=lambda: dict(rules.VENDOR))


@dataclass(frozen=True)
class Policy:
    router: str
    priority: int
    match: str
    action: str  # allow | reroute | drop
    nexthop: str | None = None
    external_ids: dict[str, str] = field(default_factory=lambda: dict(rules.VENDOR))


@dataclass(frozen=True)
class PortGroup:
    name: str
    ports: tuple[str, ...]
    external_ids: dict[str, str] = field(default_factory=lambda: dict(rules.VENDOR))
    acls: tuple[AclRule, ...] = ()  # a NetworkPolicy's (twin/ovn/netpol.py)


@dataclass(frozen=True)
class AddressSet:
    name: str
    addresses: tuple[str, ...]
    external_ids: dict[str, str] = field(default_factory=lambda: dict(rules.VENDOR))


@dataclass(frozen=True)
class LspNic:
    """One pod (or node) interface: an LSP on a switch and the kernel side kube-ovn-cni configures."""

    ifname: str  # eth0, net1, ovn0
    lsp: str
    switch: str
    mac: str
    addresses: tuple[str, ...]  # "10.0.1.2/24"
    gateways: tuple[IPAddress, ...]
    default_route: bool
    routes: tuple[routes.Route, ...] = ()  # from the routes annotation (or the host routes of a node)
    provider: str = rules.OVN_PROVIDER
    # ``<provider>.kubernetes.io/port_security: "true"``: the LSP's port_security is its own "MAC IPs", so OVN
    # drops frames (ARP included) whose source MAC or IP is not the port's (buildLogicalSwitchPort)
    port_security: bool = False

    @property
    def ips(self) -> tuple[IPAddress, ...]:
        return tuple(ipaddress.ip_interface(a).ip for a in self.addresses)


@dataclass(frozen=True)
class ListenPort:
    port: int
    protocol: str


@dataclass(frozen=True)
class TwinPod:
    namespace: str
    name: str
    vpc: str | None
    node: str
    nics: tuple[LspNic, ...]
    ports: tuple[ListenPort, ...]
    annotations: dict[str, str]  # after the mutation
    bridge: str | None  # the ApiBridge that mutated it
    failure: str | None = None  # why kube-ovn would fail this pod; then it has no interfaces
    owner: str = ""  # the workload it stands for (``Deployment/ns/name``), "" for a bare Pod
    intent: PodIntent = NO_INTENT  # what it means to reach (apibridge.check.intent), not what it is wired for
    labels: Mapping[str, str] = field(default_factory=dict, compare=False)  # what NetworkPolicies select

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    def nic(self, ifname: str) -> LspNic | None:
        return next((n for n in self.nics if n.ifname == ifname), None)


@dataclass(frozen=True)
class TwinNode:
    name: str
    control_plane: bool
    internal_ips: tuple[IPAddress, ...]
    nic: LspNic  # ovn0 on join
    apiserver_port: int | None  # where the API server stand-in listens, control-plane nodes only
    external_ips: tuple[IPAddress, ...] = ()  # intended destinations outside the lab, behind the host (externals)


@dataclass(frozen=True)
class TwinBridge:
    """An ApiBridge as the twin needs it: whose pods, which subnet, which destinations, fenced or not."""

    name: str
    vpc: str
    subnet: str
    isolation: str  # strict | open
    destinations: tuple[Destination, ...]


@dataclass(frozen=True)
class ForeignAttempt:
    pod: str  # ns/name of the pod that tries
    bridge: str
    nad: str  # ns/name
    refusal: str | None  # None: admitted (the pod would get an address on the bridge's subnet)


@dataclass
class Topology:
    routers: list[Router] = field(default_factory=list)
    router_ports: list[RouterPort] = field(default_factory=list)
    switches: list[Switch] = field(default_factory=list)
    load_balancers: list[LoadBalancer] = field(default_factory=list)
    static_routes: list[StaticRoute] = field(default_factory=list)
    policies: list[Policy] = field(default_factory=list)
    port_groups: list[PortGroup] = field(default_factory=list)
    address_sets: list[AddressSet] = field(default_factory=list)
    nodes: list[TwinNode] = field(default_factory=list)
    pods: list[TwinPod] = field(default_factory=list)
    api_cluster_ips: tuple[IPAddress, ...] = ()
    api_port: int = rules.DEFAULT_API_PORT
    notes: list[str] = field(default_factory=list)
    bridges: list[TwinBridge] = field(default_factory=list)
    # what the chart's admission policy says to a pod of another VPC that attaches a bridge's NAD: one
    # attempt per (bridge, other VPC), from that VPC's first pod; ``verify --adversarial`` reports them
    foreign_attempts: list[ForeignAttempt] = field(default_factory=list)
    # the cluster's NetworkPolicies as Kube-OVN judges them (check.netpol), for verify's expectations
    netpolicies: Policies | None = None
    # ``check`` findings on what the twin does not program (AdminNetworkPolicies: ``netpol.admin_findings``)
    unprogrammed: list[Finding] = field(default_factory=list)
    # kube-proxy runs on the nodes (``Settings.kube_proxy``): the hosts DNAT Service VIPs (``hostpath``)
    kube_proxy: bool = False
    dns_service: str = "kube-system/kube-dns"  # the cluster DNS Service the plan took (``apibridge.plan.dns``)
    # kube-ovn-cni's host NAT sets (``hostpath.masquerade_ruleset``): the default-VPC subnets and those it masquerades
    host_subnets: tuple[IPNetwork, ...] = ()
    nat_subnets: tuple[IPNetwork, ...] = ()
    # API endpoints that are no node's InternalIP (an external load balancer, a VIP): they answer in the
    # namespace beyond the nodes (``twin/ovn/outside.py``), on ``outside_port``
    outside_ips: tuple[IPAddress, ...] = ()
    outside_port: int | None = None

    def pod(self, ref: str) -> TwinPod | None:
        return next((p for p in self.pods if p.ref == ref), None)

    def switch(self, name: str) -> Switch | None:
        return next((s for s in self.switches if s.name == name), None)

    def bridge(self, name: str | None) -> TwinBridge | None:
        return next((b for b in self.bridges if b.name == name), None)

    def node(self, name: str) -> TwinNode | None:
        return next((n for n in self.nodes if n.name == name), None)


def mac_for(name: str) -> str:
    """A stable, locally administered unicast MAC (Kube-OVN uses random ``0a:…`` MACs)."""
    digest = hashlib.sha256(name.encode()).digest()
    return "0a:" + ":".join(f"{b:02x}" for b in digest[:5])


class Ipam:
    """Per-subnet allocation that skips gateways and ``excludeIps`` (``a`` or ``a..b``), takes the addresses
    the input asks for (``take``: Kube-OVN's static addresses, ``apibridge.kubeovn.addresses``) and keeps
    addresses held for such requests (``hold``) out of sequential allocation."""

    def __init__(self, subnet: Subnet) -> None:
        self.subnet = subnet
        self._gateways = {int(g) for g in subnet.gateways}
        self._excluded: list[tuple[int, int]] = [(int(g), int(g)) for g in subnet.gateways]
        for item in subnet.exclude_ips:
            lo, _, hi = item.partition("..")
            try:
                a, b = ipaddress.ip_address(lo.strip()), ipaddress.ip_address((hi or lo).strip())
            except ValueError:
                continue
            self._excluded.append((int(a), int(b)))
        self._next: dict[int, int] = {c.version: int(c.network_address) + 1 for c in subnet.cidrs}
        self._used: dict[int, str] = {}  # address -> the LSP holding it ("" when not known)
        self._held: dict[int, str] = {}  # address -> the LSP whose request names it (taken later)

    def _free(self, value: int) -> bool:
        return (
            value not in self._used
            and value not in self._held
            and not any(lo <= value <= hi for lo, hi in self._excluded)
        )

    def allocate(self, owner: str = "", families: tuple[int, ...] | None = None) -> tuple[str, ...]:
        out: list[str] = []
        for cidr in self.subnet.cidrs:
            if families is not None and cidr.version not in families:
                continue
            last = int(cidr.broadcast_address) - (1 if cidr.version == 4 else 0)
            value = self._next[cidr.version]
            while value <= last and not self._free(value):
                value += 1
            if value > last:
                raise ValueError(f"subnet {self.subnet.name} ({cidr}) has no free address left")
            self._used[value] = owner
            self._next[cidr.version] = value + 1
            out.append(f"{ipaddress.ip_address(value)}/{cidr.prefixlen}")
        return tuple(out)

    def reserve(self, ip: IPAddress) -> None:
        self._used[int(ip)] = ""

    def _cidr_of(self, ip: IPAddress) -> IPNetwork | None:
        return next((c for c in self.subnet.cidrs if addresses.in_range(ip, c)), None)

    def available(self, ips: list[IPAddress], owner: str) -> bool:
        """Could ``owner`` take ``ips`` (each in range, no gateway, held or used by no one else)?"""
        return all(
            self._cidr_of(ip) is not None
            and int(ip) not in self._gateways
            and self._used.get(int(ip), owner) == owner
            and self._held.get(int(ip), owner) == owner
            for ip in ips
        )

    def hold(self, ips: list[IPAddress], owner: str) -> None:
        """Keep ``ips`` for ``owner`` (an address another request holds first stays theirs)."""
        for ip in ips:
            if self._cidr_of(ip) is not None:
                self._held.setdefault(int(ip), owner)

    def take(self, ips: list[IPAddress], owner: str) -> tuple[str, ...]:
        """The addresses ``owner`` asks for, as ``GetStaticAddress`` gives them (dual stack: the family not
        asked for is allocated); ``AddressError`` with Kube-OVN's reason otherwise, nothing taken."""
        out: list[str] = []
        values: list[int] = []
        for ip in ips:
            cidr = self._cidr_of(ip)
            if cidr is None:
                raise addresses.AddressError(
                    f"{addresses.OUT_OF_RANGE}: {ip} is not in the range of subnet {self.subnet.name}"
                )
            value = int(ip)
            holder = self._used.get(value, self._held.get(value))
            if value in self._gateways:
                holder = f"the gateway of subnet {self.subnet.name}"
            if holder is not None and holder != owner:
                raise addresses.AddressError(f"{addresses.CONFLICT}: {ip} has been allocated to {holder or 'a port'}")
            values.append(value)
            out.append(f"{ip}/{cidr.prefixlen}")
        for value in values:
            self._used[value] = owner
            if self._held.get(value) == owner:
                del self._held[value]
        given = {ip.version for ip in ips}
        missing = tuple(c.version for c in self.subnet.cidrs if c.version not in given)
        return (*out, *self.allocate(owner, missing)) if missing else tuple(out)

    def claim(self, addresses: tuple[str, ...], owner: str = "") -> bool:
        """Reserve a previous allocation if it still fits this subnet (one address per CIDR, same prefix)."""
        try:
            ifaces = [ipaddress.ip_interface(a) for a in addresses]
        except ValueError:
            return False
        if sorted(str(i.network) for i in ifaces) != sorted(str(c) for c in self.subnet.cidrs):
            return False
        values = [int(i.ip) for i in ifaces]
        if not all(self._free(v) or self._held.get(v) == owner for v in values):
            return False
        for value in values:
            self._used[value] = owner
            self._held.pop(value, None)
        return True


def vip_key(ip: IPAddress, port: int) -> str:
    """A load balancer VIP (or backend) as OVN writes it: ``ip:port``, ``[ip6]:port``."""
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def _ipf(version: int) -> str:
    return "ip4" if version == 4 else "ip6"


class _Builder:
    def __init__(
        self, cluster: Cluster, plan: Plan, previous: Mapping[str, Allocation] | None = None, *, admitted: bool = False
    ) -> None:
        self.cluster = cluster
        self.plan = plan
        self.bridge_refs = tenancy.BridgeRefs(plan)
        self.admitted = admitted
        self.topo = Topology()
        self.ipam: dict[str, Ipam] = {}
        self.node_names = sorted(cluster.nodes)
        self.pod_ports: dict[tuple[str, str], list[str]] = {}  # (subnet, node) -> LSPs, for port groups
        self._subnets: list[Subnet] | None = None
        self.pod_eth0: dict[str, tuple[TwinPod, PodLike]] = {}
        self.previous = dict(previous or {})
        self.kept: dict[str, tuple[str, ...]] = {}  # LSP -> addresses claimed from ``previous``
        self.sources: dict[str, PodLike] = {}  # twin pod ref -> the Pod (or expanded template) it came from
        self.owners: dict[str, str] = {}  # twin pod ref -> the workload it stands for
        # twin pod ref -> the bridge that selects it but whose mutation it lacks (admitted as it is: the
        # webhook was down or bypassed). Its intent is still the bridge's: the proof must fail, not expect it.
        self.unmutated: dict[str, str] = {}

    def _claim_previous(self) -> None:
        """Keep the addresses existing ports already have (Kube-OVN keeps a running pod's IP)."""
        for lsp, alloc in sorted(self.previous.items()):
            ipam = self.ipam.get(alloc.switch)
            if ipam is not None and ipam.claim(alloc.addresses, lsp):
                self.kept[lsp] = alloc.addresses

    def _addresses(self, lsp: str, switch: str, requested: list[IPAddress] | None = None) -> tuple[str, ...]:
        prev = self.previous.get(lsp)
        kept = self.kept.get(lsp) if prev is not None and prev.switch == switch else None
        if kept is not None and (requested is None or {ipaddress.ip_interface(a).ip for a in kept} >= set(requested)):
            return kept
        if requested:
            return self.ipam[switch].take(requested, lsp)
        return self.ipam[switch].allocate(lsp)

    # -- planned objects joined with the input -----------------------------------------------------
    def subnets(self) -> list[Subnet]:
        """Input subnets with the bridges' subnets applied over them (computed once)."""
        if self._subnets is None:
            subnets = dict(self.cluster.subnets)
            if not self.admitted:
                subnets.update({bp.subnet_name: bp.model_subnet for bp in self.plan.bridges.values()})
            self._subnets = sorted(subnets.values(), key=lambda s: (s.name != rules.JOIN_SUBNET, s.name))
        return self._subnets

    def build(self) -> Topology:
        topo = self.topo
        topo.api_cluster_ips = self.cluster.api_cluster_ips()
        topo.kube_proxy = self.plan.kube_proxy
        if self.plan.dns is not None and self.plan.dns.service is not None:
            topo.dns_service = self.plan.dns.ref
        topo.bridges = [
            TwinBridge(bp.bridge.name, bp.bridge.vpc, bp.subnet_name, bp.bridge.isolation, bp.destinations)
            for _, bp in sorted(self.plan.bridges.items())
            if not self.admitted or bp.subnet_name in self.cluster.subnets
        ]
        svc = self.cluster.service(*rules.KUBERNETES_SERVICE)
        if svc and svc.ports:
            topo.api_port = svc.ports[0].port
        vpcs = sorted({rules.DEFAULT_VPC, *self.cluster.vpcs})
        for vpc in vpcs:
            topo.routers.append(Router(vpc, vpc))
            for spec in rules.load_balancer_specs(vpc, self.plan.kubeovn_version):
                topo.load_balancers.append(
                    LoadBalancer(spec.name, spec.protocol, spec.session, {}, spec.options, spec.selection_fields)
                )
        self._vpc_routes()
        subnets = self.subnets()
        for subnet in subnets:
            self._switch(subnet)
        self._claim_previous()
        pods = sorted(self._expand_pods(), key=lambda p: (p.namespace, p.meta.name))
        self._hold_requests(pods)
        self._nodes()
        intents = intent_context(self.cluster, self.plan)
        policies = topo.netpolicies = Policies(self.cluster, self.plan.kubeovn_version)
        for pod in pods:
            twin = self._pod(pod)
            owner = "" if pod.meta.kind == "Pod" else self._owner(pod)
            selecting = twin.bridge or self.unmutated.get(twin.ref)
            bp = self.plan.bridges.get(selecting) if selecting else None
            intent = pod_intent(
                pod.annotations,
                pod.namespace,
                bp.bridge if bp else None,
                intents,
                nad=f"{bp.nad_namespace}/{bp.nad_name}" if bp else "",
            )
            if selecting and not twin.bridge:
                lacks = f"ApiBridge {selecting} selects it, but it was admitted without the bridge's attachment"
                intent = replace(intent, wants=tuple(w if w.evidence else replace(w, why=lacks) for w in intent.wants))
            via = _api_nic(twin, bp.subnet_name if bp else None, self.topo)
            if policies and via is not None:
                intent = with_policies(intent, pod.namespace, pod.labels, via.provider, policies, self.cluster)
            topo.pods.append(replace(twin, owner=owner, intent=intent, labels=dict(pod.labels)))
        self._default_vpc_routing(subnets)
        from apibridge.twin.ovn.netpol import admin_findings, program_policies  # it builds on this module's types

        program_policies(topo, self.cluster, self.plan.kubeovn_version)
        topo.unprogrammed = admin_findings(self.cluster, self.plan)
        self._services()
        self._externals()
        self._outside(subnets)
        self._foreign_attempts()
        return topo

    def _vpc_routes(self) -> None:
        """Each Vpc's ``spec.staticRoutes`` and ``spec.policyRoutes`` on its router, the default VPC's included
        (kube-ovn v1.16.2 pkg/controller/vpc.go handleAddOrUpdateVpc: ``policyDst``/empty is ``dst-ip``,
        ``policySrc`` ``src-ip`` (convertPolicy); ``addPolicyRouteToVpc`` takes priority, match, action and
        the comma-separated next hops). Entries without the fields OVN needs are noted and left out."""
        for name, vpc in sorted(self.cluster.vpcs.items()):
            ids = {**rules.VENDOR, "vpc": name}
            for route in vpc.static_routes:
                cidr, nexthop = route.get("cidr"), route.get("nextHopIP")
                if not isinstance(cidr, str) or not cidr or not isinstance(nexthop, str) or not nexthop:
                    self.topo.notes.append(f"Vpc/{name}: static route {dict(route)} has no cidr or nextHopIP")
                    continue
                policy = "src-ip" if route.get("policy") == "policySrc" else "dst-ip"
                self.topo.static_routes.append(StaticRoute(name, cidr, nexthop, policy, dict(ids)))
            for entry in vpc.policy_routes:
                priority, match, action = entry.get("priority"), entry.get("match"), entry.get("action")
                if (
                    not isinstance(priority, int)
                    or not isinstance(match, str)
                    or action not in ("allow", "drop", "reroute")
                ):
                    self.topo.notes.append(f"Vpc/{name}: policy route {dict(entry)} is not priority/match/action")
                    continue
                raw = entry.get("nextHopIP")
                hops = [h.strip() for h in raw.split(",") if h.strip()] if isinstance(raw, str) else []
                if len(hops) > 1:
                    self.topo.notes.append(f"Vpc/{name}: policy route {match!r}: the twin takes the first next hop")
                self.topo.policies.append(
                    Policy(name, priority, match, str(action), hops[0] if hops else None, dict(ids))
                )

    def _externals(self) -> None:
        """Intended destinations nothing in the lab owns go behind the hosts (see ``externals``)."""
        owned = [ip for _, nic in iter_nics(self.topo) for ip in nic.ips]
        owned += [ip for n in self.topo.nodes for ip in n.internal_ips]
        owned += [ip for svc in self.cluster.services.values() for ip in svc.cluster_ips]
        wanted = [w.network for p in self.topo.pods if p.failure is None for w in p.intent.of_kind("extra")]
        placed = external_addresses(wanted, owned, [c for s in self.topo.switches for c in s.cidrs])
        if placed:
            self.topo.nodes = [replace(n, external_ips=placed) for n in self.topo.nodes]

    def _outside(self, subnets: list[Subnet]) -> None:
        """What the node's host does with traffic the 29000 reroute hands it for an API endpoint beyond the
        nodes (issue 11 item 5): the host NAT sets, and the endpoints the outside namespace holds. An endpoint
        the lab already owns or that lies in a subnet is not placed (it would shadow that address)."""
        self.topo.host_subnets = tuple(c for s in subnets if s.on_host_path for c in s.cidrs)
        self.topo.nat_subnets = tuple(c for s in subnets if s.host_masquerades for c in s.cidrs)
        off = self.cluster.api_endpoints_off_nodes()
        eps = self.cluster.service_endpoints(*rules.KUBERNETES_SERVICE)
        ports = sorted({p.port for e in eps for p in e.ports})
        if not off or not ports:
            return
        owned = [ip for _, nic in iter_nics(self.topo) for ip in nic.ips]
        owned += [ip for n in self.topo.nodes for ip in (*n.internal_ips, *n.external_ips)]
        inside = [c for s in self.topo.switches for c in s.cidrs]
        self.topo.outside_ips = external_addresses([ipaddress.ip_network(ip) for ip in off], owned, inside)
        self.topo.outside_port = ports[0] if self.topo.outside_ips else None

    def _foreign_attempts(self) -> None:
        first: dict[str, TwinPod] = {}
        for pod in self.topo.pods:
            if pod.vpc and pod.failure is None:
                first.setdefault(pod.vpc, pod)
        for _, bp in sorted(self.plan.bridges.items()):
            for vpc, pod in sorted(first.items()):
                if vpc == bp.bridge.vpc:
                    continue
                source = self.sources.get(pod.ref)
                if source is None:
                    continue
                nad = f"{bp.nad_namespace}/{bp.nad_name}"
                wants = {
                    **pod.annotations,
                    rules.NETWORKS_ANNOTATION: nad,
                    rules.port_security_key(bp.provider): rules.PORT_SECURITY_ON,
                }
                refusal = tenancy.refusal(self.cluster, self.plan, source, wants, self.bridge_refs)
                self.topo.foreign_attempts.append(ForeignAttempt(pod.ref, bp.bridge.name, nad, refusal))

    def _switch(self, subnet: Subnet) -> None:
        if not subnet.is_ovn:
            self.topo.notes.append(f"Subnet/{subnet.name}: provider {subnet.provider} is not OVN; no switch")
            return
        router = subnet.vpc or rules.DEFAULT_VPC
        lrp = RouterPort(
            router,
            rules.router_port(router, subnet.name),
            mac_for(f"lrp-{router}-{subnet.name}"),
            tuple(f"{g}/{c.prefixlen}" for g, c in zip(subnet.gateways, subnet.cidrs, strict=False)),
        )
        self.topo.router_ports.append(lrp)
        lbs: tuple[str, ...] = ()
        if subnet.enable_lb and subnet.name != rules.JOIN_SUBNET:
            lbs = tuple(rules.vpc_load_balancers(router))
        # UpdateLogicalSwitchACL: spec.acls verbatim, tagged with the subnet; SetLogicalSwitchPrivate: parent only
        spec_ids = {"parent": subnet.name, "subnet": subnet.name, **rules.VENDOR}
        acls = tuple(AclRule(a.direction, a.priority, a.match, a.action, dict(spec_ids)) for a in subnet.acls)
        if subnet.private:
            acls += _private_acls(subnet, self.cluster.subnets[rules.JOIN_SUBNET])
        self.topo.switches.append(Switch(subnet.name, router, subnet.cidrs, subnet.gateways, lbs, acls, lrp))
        self.ipam[subnet.name] = Ipam(subnet)
        if router != rules.DEFAULT_VPC:
            for cidr, gw in zip(subnet.cidrs, subnet.gateways, strict=False):
                self.topo.static_routes.append(StaticRoute(router, str(cidr), str(gw), "src-ip"))
                self.topo.policies.append(
                    Policy(
                        router,
                        rules.SUBNET_ROUTER_POLICY_PRIORITY,
                        f"{_ipf(cidr.version)}.dst == {cidr}",
                        "allow",
                        external_ids={"subnet": subnet.name, **rules.VENDOR},
                    )
                )

    def _nodes(self) -> None:
        join = self.cluster.subnets[rules.JOIN_SUBNET]
        default_vpc_cidrs = [
            c
            for s in self.subnets()
            if s.vpc == rules.DEFAULT_VPC and s.is_ovn and s.name != rules.JOIN_SUBNET
            for c in s.cidrs
        ]
        for name in self.node_names:
            node = self.cluster.nodes[name]
            # an allocated node keeps its join address (kube-ovn v1.16.2 pkg/controller/node.go handleAddNode)
            join_ips = addresses.node_join_address(node.meta.annotations)
            try:
                addrs = self._addresses(rules.node_port(name), rules.JOIN_SUBNET, join_ips)
            except addresses.AddressError as exc:
                self.topo.notes.append(f"Node/{name}: join address not kept ({exc})")
                addrs = self._addresses(rules.node_port(name), rules.JOIN_SUBNET)
            host_routes = tuple(
                routes.Route(dst=str(c), gw=str(join.gateway(c.version)))
                for c in default_vpc_cidrs
                if join.gateway(c.version) is not None
            )
            nic = LspNic(
                OVN0,
                rules.node_port(name),
                rules.JOIN_SUBNET,
                mac_for(f"node-{name}"),
                addrs,
                join.gateways,
                False,
                host_routes,
            )
            api_port = None
            if node.control_plane or len(self.node_names) == 1:
                api_port = rules.DEFAULT_APISERVER_PORT
            self.topo.nodes.append(TwinNode(name, node.control_plane, node.internal_ips, nic, api_port))
        eps = self.cluster.service_endpoints(*rules.KUBERNETES_SERVICE)
        ports = {p.port for e in eps for p in e.ports}
        if ports:
            port = sorted(ports)[0]
            self.topo.nodes = [
                TwinNode(
                    n.name,
                    n.control_plane,
                    n.internal_ips,
                    n.nic,
                    port if n.apiserver_port or any(ip in e.addresses for e in eps for ip in n.internal_ips) else None,
                )
                for n in self.topo.nodes
            ]

    def _hold_requests(self, pods: list[PodLike]) -> None:
        """Hold every address the input asks for before anything is allocated: kube-ovn-controller's IPAM
        starts from the addresses pods and nodes already carry (``InitIPAM``), so a pod allocated first
        never takes an address a later pod names. The first request for an address holds it."""
        for name in self.node_names:
            if ips := addresses.node_join_address(self.cluster.nodes[name].meta.annotations):
                self.ipam[rules.JOIN_SUBNET].hold(ips, rules.node_port(name))
        for pod in pods:
            subnet = self.cluster.pod_subnet(pod)
            for provider, target in [(rules.OVN_PROVIDER, subnet), *self._requested_attachments(pod)]:
                ipam = self.ipam.get(target.name) if target is not None else None
                if ipam is None:
                    continue
                lsp = rules.lsp_name(pod.meta.name, pod.namespace, provider)
                try:
                    ips = self._request(pod, provider, ipam, lsp, holding=True)
                except addresses.AddressError:
                    continue
                if ips:
                    ipam.hold(ips, lsp)

    def _requested_attachments(self, pod: PodLike) -> list[tuple[str, Subnet | None]]:
        """(provider, subnet) of every attachment whose ``ip_address`` the pod names."""
        out: list[tuple[str, Subnet | None]] = []
        for key in pod.annotations:
            provider = rules.provider_of_key(key, rules.IP_ADDRESS)
            if provider is None or provider == rules.OVN_PROVIDER:
                continue
            ls = pod.annotations.get(rules.provider_key(provider, rules.LOGICAL_SWITCH))
            bound = [s for s in self.subnets() if s.provider == rules.subnet_provider(provider)]
            out.append((provider, self._subnet_by_name(ls) if ls else (bound[0] if bound else None)))
        return out

    def _request(
        self, pod: PodLike, provider: str, ipam: Ipam, lsp: str, *, holding: bool = False
    ) -> list[IPAddress] | None:
        """The addresses the input asks for on this attachment (``apibridge.kubeovn.addresses``): its
        ``ip_address``, else its ``ip_pool`` entry, else — primary network of an exported Pod — the
        ``status.podIPs`` it ran with, when they fit. None: allocate. ``AddressError``: the pod fails."""
        annotations = pod.annotations
        if value := annotations.get(addresses.ip_key(provider)):
            return addresses.parse_ips(value)
        if value := annotations.get(addresses.pool_key(provider)):
            entries = addresses.pool_entries(value)
            if not addresses.names_ippool(entries):
                if self._statefulset(pod):
                    index = addresses.statefulset_ordinal(pod.meta.name)
                    if index >= len(entries):
                        raise addresses.AddressError(f"NoAvailableAddress: ip_pool has no entry {index}")
                    return addresses.parse_ips(entries[index])
                if holding:
                    return None  # any free entry: decided when the pod's turn comes
                for entry in entries:
                    try:
                        ips = addresses.parse_ips(entry)
                    except addresses.AddressError:
                        continue
                    if ipam.available(ips, lsp):
                        return ips
                raise addresses.AddressError(f"NoAvailableAddress: every address of ip_pool {value} is taken")
        if provider == rules.OVN_PROVIDER and pod.meta.kind == "Pod":
            kept = list(pod.status_ips)
            if kept and ipam.available(kept, lsp):
                return kept
        return None

    @staticmethod
    def _statefulset(pod: PodLike) -> bool:
        """``isStatefulSetPod``: a StatefulSet's pod (expanded here, or an exported Pod it owns)."""
        if pod.meta.kind == "StatefulSet":
            return True
        owners = pod.raw.get("metadata", {}).get("ownerReferences") if pod.meta.kind == "Pod" else None
        return isinstance(owners, list) and any(
            isinstance(o, Mapping) and o.get("kind") == "StatefulSet" for o in owners
        )

    def _expand_pods(self) -> list[PodLike]:
        """Bare Pods as they are; each workload's template as the pods its controller would create:
        ``replicas`` of a Deployment/ReplicaSet/StatefulSet (``<name>-0``, ``<name>-1``, …), one per
        node for a DaemonSet (``<name>-<node>``), ``parallelism`` for a Job, one for a CronJob."""
        out: list[PodLike] = []
        for pod in self.cluster.pods:
            kind = pod.meta.kind
            if kind == "Pod":
                out.append(pod)
                self.sources[f"{pod.namespace}/{pod.meta.name}"] = pod
                continue
            spec = pod.raw.get("spec") if isinstance(pod.raw.get("spec"), Mapping) else {}
            assert isinstance(spec, Mapping)
            names: list[tuple[str, str | None]]
            if kind == "DaemonSet":
                names = [(f"{pod.meta.name}-{node}", node) for node in self.node_names]
            else:
                key = "parallelism" if kind == "Job" else "replicas"
                count = spec.get(key, 1) if kind != "CronJob" else 1
                count = count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else 1
                if count > MAX_REPLICAS:
                    self.topo.notes.append(f"{pod.meta.ref}: {count} {key}, the twin runs {MAX_REPLICAS}")
                    count = MAX_REPLICAS
                names = [(f"{pod.meta.name}-{i}", None) for i in range(count)]
            for name, node in names:
                meta = replace(pod.meta, name=name)
                twin = replace(pod, meta=meta, node_name=node or pod.node_name)
                self.sources[f"{pod.namespace}/{name}"] = twin
                self.owners[f"{pod.namespace}/{name}"] = pod.meta.ref
                out.append(twin)
        return out

    def _owner(self, pod: PodLike) -> str:
        return self.owners.get(f"{pod.namespace}/{pod.meta.name}", "")

    def _pod_node(self, pod: PodLike, index: int) -> str:
        if pod.node_name and pod.node_name in self.cluster.nodes:
            return pod.node_name
        return self.node_names[index % len(self.node_names)] if self.node_names else "node"

    def _pod(self, pod: PodLike) -> TwinPod:
        bridge_plan, changes = mutate_annotations(self.cluster, self.plan, pod)
        if self.admitted and changes:  # admitted by the API server without the bridge's mutation: as it is
            if bridge_plan is not None:
                self.unmutated[f"{pod.namespace}/{pod.meta.name}"] = bridge_plan.bridge.name
            bridge_plan, changes = None, {}
        annotations = {**pod.annotations, **changes}
        node = self._pod_node(pod, len(self.topo.pods))
        ports = tuple(ListenPort(p.port, p.protocol) for p in pod.ports)
        subnet = self.cluster.pod_subnet(pod)
        vpc = subnet.vpc if subnet else None
        bridge = bridge_plan.bridge.name if bridge_plan else None

        def failed(reason: str) -> TwinPod:
            return TwinPod(pod.namespace, pod.meta.name, vpc, node, (), ports, annotations, bridge, reason)

        # the chart's admission policy (apibridge-tenancy) comes first: such a pod is never created
        refused = tenancy.refusal(self.cluster, self.plan, pod, annotations, self.bridge_refs)
        if refused is not None:
            return failed(refused)
        if subnet is None or subnet.name not in self.ipam:
            return failed("no subnet for the pod's primary network")
        # attachments first: Kube-OVN's getPodKubeovnNets fails the whole pod on any bad attachment
        try:
            selections = networks.parse(annotations.get(rules.NETWORKS_ANNOTATION)).selections
        except networks.NetworksError as exc:
            return failed(f"invalid {rules.NETWORKS_ANNOTATION}: {exc}")
        attach: list[tuple[str, str, Subnet, list[routes.Route]]] = []
        takes_eth0: list[tuple[str, list[routes.Route]]] = []  # provider-less kube-ovn NADs (CleanDuplicatePort)
        names = networks.interface_names(networks.NetworksAnnotation("comma", selections))
        counts = Counter(sel.ref(pod.namespace) for sel in selections)
        for sel, ifname in zip(selections, names, strict=True):
            ns, name = sel.ref(pod.namespace)
            found = self.cluster.nad(ns, name)
            nad = (found.config if found else None) or self._planned_nad(ns, name)
            if nad is None:
                return failed(f'network-attachment-definitions.k8s.cni.cncf.io "{name}" not found in {ns}')
            if nad.kind != "kube-ovn":
                continue
            # the same NAD attached twice: Kube-OVN suffixes the provider with the interface name
            twice = counts[(ns, name)] > 1 and bool(sel.interface)
            provider = rules.nad_provider(name, ns, ifname=sel.interface if twice else None)
            ls = annotations.get(rules.provider_key(provider, rules.LOGICAL_SWITCH))
            target = self._subnet_by_name(ls) if ls else None
            if ls and target is None:  # kube-ovn v1.16.2 pod.go getPodAttachmentNet: the named subnet must exist
                return failed(f'failed to get subnet {ls}: subnet.kubeovn.io "{ls}" not found')
            if not nad.provider:
                # kube-ovn-cni sends "ovn" (loadNetConf): it configures this interface from eth0's annotations
                # and takes eth0's port; kube-ovn-controller's address for the derived provider is never used
                if not nad.server_socket:
                    return failed(f"{ifname}: server_socket is required in cni.conf (NAD {ns}/{name})")
                try:
                    nad_routes = routes.parse(json.dumps(nad.routes)) if nad.routes else []
                except routes.RoutesError as exc:
                    return failed(f"{ifname}: failed to load netconf (NAD {ns}/{name} routes: {exc})")
                takes_eth0.append((ifname, nad_routes))
                continue
            if target is None:
                bound = [s for s in self.subnets() if s.provider == rules.subnet_provider(provider)]
                if not bound:
                    return failed(f"provider {provider} is not bound to any subnet")
                target = bound[0]
            cni = nad.cni_provider()
            # pkg/daemon/handler.go handleAdd providerExists: a non-OVN-form provider must be some Subnet's
            if not rules.is_ovn_provider(cni) and not any(s.provider == cni for s in self.subnets()):
                return failed(f"provider {cni} not bind to any subnet")
            if cni != rules.subnet_provider(provider):
                return failed(
                    f"no address allocated to pod {pod.namespace}/{pod.meta.name} provider "
                    f"{nad.cni_provider()} (NAD config provider differs from {provider})"
                )
            if not nad.server_socket:  # kube-ovn v1.16.2 cmd/cni/cni.go loadNetConf
                return failed(f"{ifname}: server_socket is required in cni.conf (NAD {ns}/{name})")
            # the NAD config's own routes (loadNetConf unmarshals them into []request.Route: a bad one fails)
            try:
                nad_routes = routes.parse(json.dumps(nad.routes)) if nad.routes else []
            except routes.RoutesError as exc:
                return failed(f"{ifname}: failed to load netconf (NAD {ns}/{name} routes: {exc})")
            attach.append((ifname, provider, target, nad_routes))
        nics: list[LspNic] = []
        for ifname, provider, target, nad_routes in attach:
            # kube-ovn-cni reads routes under the NAD config's (plain) provider, also for a NAD attached twice
            raw = annotations.get(rules.provider_key(rules.subnet_provider(provider), rules.ROUTES))
            try:
                # kube-ovn v1.16.2 pkg/daemon/handler.go handleAdd: the NAD config's routes, then the annotation's
                nic_routes = (*nad_routes, *routes.parse(raw))
            except routes.RoutesError as exc:
                return failed(f"invalid routes for pod {pod.namespace}/{pod.meta.name}: {exc}")
            if target.name not in self.ipam:
                return failed(f"subnet {target.name} of provider {provider} has no switch")
            secure = rules.port_security_on(annotations, provider)
            try:
                nics.append(self._nic(pod, target, ifname, provider, nic_routes, node, secure))
            except addresses.AddressError as exc:
                return failed(f"{ifname} of pod {pod.namespace}/{pod.meta.name}: {exc}")
        secure = rules.port_security_on(annotations, rules.OVN_PROVIDER)
        try:
            primary = self._nic(pod, subnet, rules.PRIMARY_IFNAME, rules.OVN_PROVIDER, (), node, secure)
        except addresses.AddressError as exc:
            return failed(f"{rules.PRIMARY_IFNAME} of pod {pod.namespace}/{pod.meta.name}: {exc}")
        if takes_eth0:
            try:
                primary, nics = self._take_eth0(pod, primary, nics, takes_eth0, annotations)
            except routes.RoutesError as exc:
                return failed(f"invalid routes for pod {pod.namespace}/{pod.meta.name}: {exc}")
        return TwinPod(pod.namespace, pod.meta.name, vpc, node, (primary, *nics), ports, annotations, bridge)

    def _take_eth0(
        self,
        pod: PodLike,
        primary: LspNic,
        nics: list[LspNic],
        takers: list[tuple[str, list[routes.Route]]],
        annotations: Mapping[str, str],
    ) -> tuple[LspNic, list[LspNic]]:
        """A kube-ovn NAD without ``provider``: kube-ovn-cni handles the attachment as provider ``ovn``.

        kube-ovn v1.16.2: ``cmd/cni/cni.go loadNetConf`` sets the empty provider to ``ovn``;
        ``pkg/daemon/handler.go handleAdd`` then reads eth0's ``ovn.kubernetes.io/*`` annotations (address,
        MAC, gateway, routes after the NAD config's; ``isDefaultRoute`` only for eth0 unless
        ``ovn.kubernetes.io/default_route: "true"``) and ``pkg/daemon/ovs_linux.go configureHostNic`` plugs the
        interface with iface-id ``<pod>.<ns>`` (``ovs.PodNameToPortName``), calling
        ``ovs.CleanDuplicatePort`` (``pkg/ovs/ovs-vsctl.go``), which removes that iface-id from every other OVS
        interface — eth0's. The pod runs: eth0 keeps its address and default route but is bound to no
        logical port; the interface added last holds eth0's LSP. The twin binds each detached interface
        to an empty switch of its own (no router, no other port): what it sends reaches nothing, as on a
        cluster where its OVS port has no iface-id.
        """
        raw = annotations.get(rules.provider_key(rules.OVN_PROVIDER, rules.ROUTES))
        ann_routes = tuple(routes.parse(raw))
        default = annotations.get(rules.provider_key(rules.OVN_PROVIDER, rules.DEFAULT_ROUTE)) == "true"
        takers_nics = [
            replace(primary, ifname=ifname, default_route=default, routes=(*nad_routes, *ann_routes))
            for ifname, nad_routes in takers
        ]
        *earlier, holder = [primary, *takers_nics]
        detached = [self._detach(pod, nic) for nic in earlier]
        gone = ", ".join(n.ifname for n in detached)
        self.topo.notes.append(
            f"{pod.namespace}/{pod.meta.name}: a kube-ovn NAD without provider: kube-ovn-cni gives "
            f"{holder.ifname} eth0's address and port {primary.lsp} and CleanDuplicatePort detaches {gone}, so "
            f"{gone} {'carries' if len(detached) == 1 else 'carry'} no traffic (its address and routes stay in "
            f"the pod, but lead nowhere) and {holder.ifname} takes its place"
        )
        by_name = {n.ifname: n for n in [*detached, holder]}
        return by_name[primary.ifname], [by_name.get(n.ifname, n) for n in [*nics, *takers_nics]]

    def _detach(self, pod: PodLike, nic: LspNic) -> LspNic:
        name = f"{DETACHED_PREFIX}{pod.meta.name}.{pod.namespace}.{nic.ifname}"
        self.topo.switches.append(Switch(name, self.cluster.pod_vpc(pod) or rules.DEFAULT_VPC, (), (), (), (), None))
        return replace(nic, lsp=name, switch=name)

    def _planned_nad(self, ns: str, name: str) -> nadconf.NadConfig | None:
        if self.admitted:  # only what the API server holds
            return None
        for bp in self.plan.bridges.values():
            if (bp.nad_namespace, bp.nad_name) == (ns, name):
                return bp.model_nad.config
        return None

    def _subnet_by_name(self, name: str) -> Subnet | None:
        return next((s for s in self.subnets() if s.name == name), None)

    def _nic(
        self,
        pod: PodLike,
        subnet: Subnet,
        ifname: str,
        provider: str,
        nic_routes: tuple[routes.Route, ...],
        node: str,
        port_security: bool = False,
    ) -> LspNic:
        lsp = rules.lsp_name(pod.meta.name, pod.namespace, provider)
        mac_value = pod.annotations.get(addresses.mac_key(provider))
        mac = addresses.parse_mac(mac_value) if mac_value else mac_for(lsp)  # before the address, as Kube-OVN
        addrs = self._addresses(lsp, subnet.name, self._request(pod, provider, self.ipam[subnet.name], lsp))
        if subnet.vpc == rules.DEFAULT_VPC and subnet.gateway_type == rules.DEFAULT_GATEWAY_TYPE:
            self.pod_ports.setdefault((subnet.name, node), []).append(lsp)
        return LspNic(
            ifname,
            lsp,
            subnet.name,
            mac,
            addrs,
            subnet.gateways,
            ifname == rules.PRIMARY_IFNAME,
            nic_routes,
            provider,
            port_security,
        )

    def _default_vpc_routing(self, subnets: list[Subnet]) -> None:
        topo = self.topo
        join = self.cluster.subnets[rules.JOIN_SUBNET]
        router = rules.DEFAULT_VPC
        for gw in join.gateways:
            prefix = "0.0.0.0/0" if gw.version == 4 else "::/0"
            topo.static_routes.append(StaticRoute(router, prefix, str(gw), "dst-ip"))
        for subnet in subnets:
            if subnet.vpc != rules.DEFAULT_VPC or not subnet.is_ovn:
                continue
            for cidr in subnet.cidrs:
                topo.policies.append(
                    Policy(
                        router,
                        rules.SUBNET_ROUTER_POLICY_PRIORITY,
                        f"{_ipf(cidr.version)}.dst == {cidr}",
                        "allow",
                        external_ids={"subnet": subnet.name, **rules.VENDOR},
                    )
                )
        for node in topo.nodes:
            for ip in node.internal_ips:
                join_ip = next((a for a in node.nic.ips if a.version == ip.version), None)
                if join_ip is not None:
                    topo.policies.append(
                        Policy(
                            router,
                            rules.NODE_ROUTER_POLICY_PRIORITY,
                            f"{_ipf(ip.version)}.dst == {ip}",
                            "reroute",
                            str(join_ip),
                            {"node": node.name, "address-family": str(ip.version), **rules.VENDOR},
                        )
                    )
        # reconcileDistributedSubnetRouteInDefaultVpc: every distributed default-VPC subnet gets a port group
        # and a 29000 policy per node, with or without pods on it yet (join is the node switch: none).
        distributed = [
            s.name
            for s in subnets
            if s.vpc == rules.DEFAULT_VPC
            and s.is_ovn
            and s.gateway_type == rules.DEFAULT_GATEWAY_TYPE
            and s.name != rules.JOIN_SUBNET
        ]
        pairs = {*self.pod_ports, *((s, n.name) for s in distributed for n in topo.nodes)}
        for subnet_name, node_name in sorted(pairs):
            ports = self.pod_ports.get((subnet_name, node_name), [])
            pg = rules.port_group_name(subnet_name, node_name)
            topo.port_groups.append(
                PortGroup(
                    pg,
                    tuple(ports),
                    {"subnet": subnet_name, "node": node_name, "np": f"{subnet_name}/{node_name}", **rules.VENDOR},
                )
            )
            owner = next((n for n in topo.nodes if n.name == node_name), None)
            if owner is None:
                continue
            for join_ip in owner.nic.ips:
                topo.policies.append(
                    Policy(
                        router,
                        rules.GATEWAY_ROUTER_POLICY_PRIORITY,
                        f"{_ipf(join_ip.version)}.src == ${pg}_ip{join_ip.version}",
                        "reroute",
                        str(join_ip),
                        {"subnet": subnet_name, "node": node_name, **rules.VENDOR},
                    )
                )

    def _services(self) -> None:
        """Service VIPs into the LB of the VPC their endpoints live in (``getVpcAndSubnetForEndpoints``).

        Each Service port gets the backends of its own name, as kube-ovn-controller does
        (``pkg/controller/endpoint_slice.go``, ``getIPPortMappingBackend``: per EndpointSlice, the
        first port whose name equals the Service port's name gives the target port; a slice without
        it adds no backend): kube-dns' ``dns`` (53/UDP), ``dns-tcp`` (53/TCP) and ``metrics``
        (9153/TCP) become three VIPs with one target port each, never a cross product.
        """
        lbs = {lb.name: lb for lb in self.topo.load_balancers}
        pod_ips: dict[str, str | None] = {}
        for pod in self.topo.pods:
            eth0 = pod.nic(rules.PRIMARY_IFNAME)
            for ip in eth0.ips if eth0 else ():
                pod_ips[str(ip)] = pod.vpc
        for (ns, name), svc in sorted(self.cluster.services.items()):
            for sp in svc.ports:
                backends = self._backends(ns, name, sp)
                for vip in svc.cluster_ips:
                    family = [(ip, port) for ip, port in backends if ip.version == vip.version]
                    if not family:
                        continue
                    vpcs = {pod_ips.get(str(ip)) for ip, _ in family}
                    vpc = next(iter(vpcs)) if len(vpcs) == 1 and None not in vpcs else rules.DEFAULT_VPC
                    lb = lbs.get(
                        rules.load_balancer_for(vpc or rules.DEFAULT_VPC, sp.protocol, session=svc.session_affinity)
                    )
                    if lb is not None:
                        lb.vips[vip_key(vip, sp.port)] = ",".join(vip_key(ip, port) for ip, port in family)

    def _backends(self, ns: str, name: str, sp: ServicePort) -> list[tuple[IPAddress, int]]:
        """(address, target port) of Service port ``sp``: from the Service's endpoints, matched by port
        name; without endpoints in the input, from the pods its selector picks (what the
        EndpointSlice controller would write: ``targetPort``, or the port itself)."""
        slices = self.cluster.service_endpoints(ns, name)
        if slices:
            out: list[tuple[IPAddress, int]] = []
            for eps in slices:
                port = next((p.port for p in eps.ports if p.name == sp.name), None)
                if port is not None:
                    out += [(ip, port) for ip in eps.addresses]
            return out
        svc = self.cluster.service(ns, name)
        if not svc or not svc.selector:
            return []
        target = sp.target_port if isinstance(sp.target_port, int) else sp.port
        selected: list[tuple[IPAddress, int]] = []
        for pod in self.topo.pods:
            src = self.sources.get(pod.ref)
            eth0 = pod.nic(rules.PRIMARY_IFNAME)
            if src is not None and eth0 is not None and svc.selects(pod.namespace, src.labels):
                selected += [(ip, target) for ip in eth0.ips]
        return selected


def _private_acls(subnet: Subnet, join: Subnet) -> tuple[AclRule, ...]:
    """``SetLogicalSwitchPrivate``: drop by default, allow in-subnet, the join subnet and allowSubnets."""
    ids = {"parent": subnet.name, **rules.VENDOR}
    acls = [AclRule("to-lport", rules.DEFAULT_DROP_PRIORITY, "ip", "drop", dict(ids), True, subnet.name, "warning")]
    for cidr in subnet.cidrs:
        ipf = _ipf(cidr.version)
        acls.append(
            AclRule(
                "to-lport",
                rules.SUBNET_ALLOW_PRIORITY,
                f"{ipf}.src == {cidr} && {ipf}.dst == {cidr}",
                "allow-related",
                dict(ids),
            )
        )
        join_cidr = join.cidr(cidr.version)
        if join_cidr is not None:  # the nodes (kubelet probes) come from the join subnet
            acls.append(
                AclRule("to-lport", rules.NODE_ALLOW_PRIORITY, f"{ipf}.src == {join_cidr}", "allow-related", dict(ids))
            )
        for allow in subnet.allow_subnets:
            try:
                net = ipaddress.ip_network(allow, strict=False)
            except ValueError:
                continue
            if net.version == cidr.version:
                match = f"({ipf}.src == {cidr} && {ipf}.dst == {net}) || ({ipf}.src == {net} && {ipf}.dst == {cidr})"
                acls.append(AclRule("to-lport", rules.SUBNET_ALLOW_PRIORITY, match, "allow-related", dict(ids)))
    return tuple(acls)


def _api_nic(pod: TwinPod, bridge_subnet: str | None, topo: Topology) -> LspNic | None:
    """The attachment the pod's API traffic leaves through: its bridge's, else one on a default-VPC switch."""
    default = {s.name for s in topo.switches if s.vpc == rules.DEFAULT_VPC}
    attached = [n for n in pod.nics if n.ifname != rules.PRIMARY_IFNAME]
    return next((n for n in attached if n.switch == bridge_subnet), None) or next(
        (n for n in attached if n.switch in default), None
    )


def build_topology(
    cluster: Cluster, plan: Plan, *, previous: Mapping[str, Allocation] | None = None, admitted: bool = False
) -> Topology:
    """The twin's desired state for ``cluster`` with ``plan``'s bridges applied.

    ``previous`` (LSP name -> allocation of a running lab) keeps existing ports at their addresses,
    so reconciling a lab to a new input only touches what changed. ``admitted``: the input is what a
    real API server holds (``lab up --kube``): pods are taken as admitted — the twin applies no mutation
    of its own, a pod the webhook did not inject stays without its bridge — and a bridge's NAD and
    Subnet exist only once the operator has created them.
    """
    return _Builder(cluster, plan, previous, admitted=admitted).build()


def allocations(topo: Topology) -> dict[str, Allocation]:
    """LSP name -> (switch, addresses) of every interface, to pass back as ``previous``."""
    return {nic.lsp: Allocation(nic.switch, nic.addresses) for _, nic in iter_nics(topo)}


def iter_nics(topo: Topology) -> Iterator[tuple[str, LspNic]]:
    """Every interface with its owner (``node/<name>`` or ``<ns>/<pod>``)."""
    for node in topo.nodes:
        yield f"node/{node.name}", node.nic
    for pod in topo.pods:
        for nic in pod.nics:
            yield pod.ref, nic
