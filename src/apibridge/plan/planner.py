"""ApiBridge intent -> the objects that make it real, computed without I/O.

For each bridge: one NAD (``type: kube-ovn``) and one Subnet of its own in the default VPC — one
subnet per bridge, so tenants never share an L2 segment — with the provider Kube-OVN derives for
that NAD (``<nad>.<ns>.ovn``) written identically into the NAD config, the Subnet and the pod
annotations. The Subnet sets ``vpc: ovn-cluster`` explicitly (so Kube-OVN's admission checks see
it), never ``namespaces`` (that would clash with the custom VPC's), keeps ``enableLb`` on (the
``cluster-*`` load balancers on its switch are what DNAT the ClusterIP), has a gateway per family, and
sets ``natOutgoing`` only when an API endpoint is not a node address (``Cluster.api_endpoints_off_nodes``).
Routes go to each destination address (/32, /128) via the gateway of its family.
The Subnet carries the bridge's VPC and the names of that VPC's Subnets (``apibridge.dev/vpc``,
``apibridge.dev/vpc-subnets``): the chart's admission policy takes bridge Subnets as its parameters and
admits the bridge's attachment only from namespaces of that VPC (see ``apibridge.check.objects.tenancy``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from apibridge.base.errors import Location
from apibridge.kubeovn import dualstack, nadconf, rules
from apibridge.kubeovn.dualstack import IPAddress, IPNetwork, host_prefix
from apibridge.kubeovn.routes import Route
from apibridge.model.cluster import Cluster
from apibridge.model.load import Document
from apibridge.model.objects import ApiBridge, Meta, meta_of, parse_nad, parse_subnet
from apibridge.model.selectors import LabelSelector
from apibridge.plan.allocator import Allocator, PoolExhaustedError, block_index
from apibridge.plan.dns import find_dns_service
from apibridge.plan.fence import fence_acls
from apibridge.plan.settings import Settings
from apibridge.plan.types import BridgePlan, Destination, DnsService, Plan, PlanProblem, PortSpec


def bridge_for_vpc(vpc: str) -> ApiBridge:
    """An ApiBridge with every default, for ``render --vpc`` (named after the VPC)."""
    meta = Meta("ApiBridge", vpc, None, {}, {}, Location("(--vpc)", None, f"ApiBridge/{vpc}"))
    return ApiBridge(
        meta=meta,
        vpc=vpc,
        namespace_selector=None,
        pod_selector=LabelSelector(),
        cidr_block="auto",
        apiserver=True,
        dns=False,
        extra=(),
        isolation="strict",
        nad_namespace=rules.SEED_NAD_NAMESPACE,
        rollout="none",
        on_the_fly=True,
    )


def destinations(
    cluster: Cluster, bridge: ApiBridge, config: Settings | None = None, dns: DnsService | None = None
) -> tuple[list[Destination], list[PlanProblem]]:
    out: list[Destination] = []
    problems: list[PlanProblem] = []
    ref = bridge.meta.ref
    if bridge.apiserver:
        svc = cluster.service(*rules.KUBERNETES_SERVICE)
        ports = tuple(PortSpec(p.port, p.protocol) for p in svc.ports) if svc else ()
        ips = svc.cluster_ips if svc else ()
        if not ips:
            problems.append(
                PlanProblem(
                    "AB101",
                    ref,
                    "spec.destinations.apiserver",
                    "the default/kubernetes Service has no ClusterIP",
                    "include the Service default/kubernetes in the input",
                )
            )
        out += [Destination(ipaddress.ip_network(host_prefix(ip)), ports, "apiserver") for ip in ips]
    if bridge.dns:
        found = dns if dns is not None else find_dns_service(cluster, config)
        if found.service is None or not found.service.cluster_ips:
            what = (
                f"the DNS Service {found.ref} has no ClusterIP"
                if found.service
                else f"no DNS Service in the input (looked for {found.ref})"
            )
            problems.append(
                PlanProblem(
                    "AB102",
                    ref,
                    "spec.destinations.dns",
                    f"dns: true but {what}",
                    "include the cluster DNS Service in the input, or name it (--dns-service namespace/name)",
                )
            )
        else:
            ports = found.ports
            shown = ", ".join(f"{p.port}/{p.protocol}" for p in ports)
            problems.append(
                PlanProblem(
                    "AB105",
                    ref,
                    "spec.destinations.dns",
                    f"DNS Service {found.ref} ({found.how}), ports {shown}",
                    "another Service is the cluster DNS: name it with --dns-service namespace/name "
                    "(Helm: settings.dnsService)",
                    severity="info",
                )
            )
            out += [
                Destination(ipaddress.ip_network(host_prefix(ip)), ports, "dns") for ip in found.service.cluster_ips
            ]
    for extra in bridge.extra:
        out.append(Destination(extra.cidr, tuple(PortSpec(p.port, p.protocol) for p in extra.ports), "extra"))
    return out, problems


def _taken(cluster: Cluster, config: Settings, own: set[str]) -> list[IPNetwork]:
    taken: list[IPNetwork] = [c for s in cluster.subnets.values() if s.name not in own for c in s.cidrs]
    for svc in cluster.services.values():
        taken += [ipaddress.ip_network(host_prefix(ip)) for ip in svc.cluster_ips]
    taken += [ipaddress.ip_network(host_prefix(ip)) for _, ip in cluster.node_ips()]
    taken += list(config.service_cidrs)
    return taken


def _choose_cidrs(
    bridge: ApiBridge, families: set[int], allocator: Allocator, config: Settings, kept: list[IPNetwork]
) -> tuple[list[IPNetwork], list[PlanProblem]]:
    ref = bridge.meta.ref
    if bridge.cidr_block != "auto":
        explicit = [ipaddress.ip_network(p.strip()) for p in bridge.cidr_block.split(",") if p.strip()]
        for net in explicit:
            allocator.reserve(net)
        return explicit, []
    nets: list[IPNetwork] = []
    problems: list[PlanProblem] = []
    v4_index: int | None = None  # where the bridge's IPv4 block sits: its IPv6 block starts there (readable)
    for family in sorted(families):
        own = next((c for c in kept if c.version == family), None)
        if own is not None:  # reserved for this bridge by plan()
            nets.append(own)
            if family == 4:
                v4_index = block_index(config.pool_v4, own)
            continue
        pool, block = (config.pool_v4, config.block_v4) if family == 4 else (config.pool_v6, config.block_v6)
        try:
            net = allocator.allocate(pool, block, bridge.name, start_index=None if family == 4 else v4_index)
            nets.append(net)
            if family == 4:
                v4_index = block_index(pool, net)
        except PoolExhaustedError as exc:
            problems.append(
                PlanProblem(
                    "AB103",
                    ref,
                    "spec.cidrBlock",
                    f"cidrBlock auto: {exc}",
                    "set spec.cidrBlock explicitly or enlarge the pool",
                )
            )
    return nets, problems


_gateway = dualstack.default_gateway


def vpc_subnets(cluster: Cluster) -> dict[str, list[str]]:
    """VPC -> the names of its Subnets, sorted: what a bridge's Subnet lists for the admission policy."""
    out: dict[str, list[str]] = {}
    for s in cluster.subnets.values():
        out.setdefault(s.vpc, []).append(s.name)
    return {vpc: sorted(names) for vpc, names in out.items()}


def subnet_annotations(bridge: ApiBridge, subnets: Iterable[str]) -> dict[str, str]:
    """The bridge Subnet's annotations: the bridge's VPC and that VPC's Subnets (comma-separated, as
    Kube-OVN's namespace annotation ``ovn.kubernetes.io/logical_switch`` lists a namespace's subnets)."""
    return {rules.VPC_ANNOTATION: bridge.vpc, rules.VPC_SUBNETS_ANNOTATION: ",".join(sorted(subnets))}


def _manifests(
    bridge: ApiBridge,
    provider: str,
    cidrs: list[IPNetwork],
    gateways: list[IPAddress],
    acls: tuple[Any, ...],
    subnets: Iterable[str] = (),
    nat_outgoing: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    name = rules.bridge_object_name(bridge.name)
    labels = rules.bridge_labels(bridge.name)
    nad = {
        "apiVersion": rules.NAD_API,
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": name, "namespace": bridge.nad_namespace, "labels": labels},
        "spec": {"config": nadconf.render(provider)},
    }
    protocol = dualstack.protocol_of(cidrs)
    spec: dict[str, Any] = {
        "vpc": rules.DEFAULT_VPC,
        "protocol": protocol,
        "cidrBlock": ",".join(str(c) for c in cidrs),
        "gateway": ",".join(str(g) for g in gateways),
        "excludeIps": [str(g) for g in gateways],
        "provider": provider,
        "gatewayType": rules.DEFAULT_GATEWAY_TYPE,
        "enableLb": True,
        "natOutgoing": nat_outgoing,
        "private": False,
    }
    if acls:
        spec["acls"] = [
            {"direction": a.direction, "priority": a.priority, "match": a.match, "action": a.action} for a in acls
        ]
    subnet = {
        "apiVersion": rules.KUBEOVN_API,
        "kind": "Subnet",
        "metadata": {"name": name, "labels": labels, "annotations": subnet_annotations(bridge, subnets)},
        "spec": spec,
    }
    return nad, subnet


def plan_bridge(
    cluster: Cluster,
    bridge: ApiBridge,
    allocator: Allocator,
    config: Settings,
    kept: list[IPNetwork] | None = None,
    subnets_by_vpc: dict[str, list[str]] | None = None,
    dns: DnsService | None = None,
) -> tuple[BridgePlan | None, list[PlanProblem]]:
    ref = bridge.meta.ref
    name = rules.bridge_object_name(bridge.name)
    provider = rules.nad_provider(name, bridge.nad_namespace)
    dests, problems = destinations(cluster, bridge, config, dns)
    families = {d.family for d in dests} or {4}
    cidrs, more = _choose_cidrs(bridge, families, allocator, config, kept or [])
    problems += more
    if not cidrs:
        return None, problems
    gateways = [_gateway(c) for c in cidrs]
    routes: list[Route] = []
    for dest in dests:
        gw = next((g for g in gateways if g.version == dest.family), None)
        if gw is None:
            problems.append(
                PlanProblem(
                    "AB104",
                    ref,
                    "spec.cidrBlock",
                    f"destination {dest.network} is IPv{dest.family} "
                    f"but the attachment subnet has no IPv{dest.family} CIDR",
                    f"add an IPv{dest.family} CIDR to spec.cidrBlock (one per family)",
                )
            )
            continue
        dst = host_prefix(dest.network.network_address) if dest.network.num_addresses == 1 else str(dest.network)
        if all(r.dst != dst for r in routes):
            routes.append(Route(dst=dst, gw=str(gw)))
    acls = fence_acls(name, tuple(cidrs), tuple(gateways), tuple(dests)) if bridge.isolation == "strict" else ()
    subnets = (subnets_by_vpc if subnets_by_vpc is not None else vpc_subnets(cluster)).get(bridge.vpc, [])
    # an API endpoint off the nodes is reached through the host, which masquerades natOutgoing subnets only
    nat = bridge.apiserver and bool(cluster.api_endpoints_off_nodes())
    nad, subnet = _manifests(bridge, provider, cidrs, gateways, acls, subnets, nat)
    source = f"(planned by {ref})"
    nad_doc, subnet_doc = Document(nad, source, 0), Document(subnet, source, 0)
    return BridgePlan(
        bridge=bridge,
        nad_name=name,
        nad_namespace=bridge.nad_namespace,
        subnet_name=name,
        provider=provider,
        cidrs=tuple(cidrs),
        gateways=tuple(gateways),
        destinations=tuple(dests),
        routes=tuple(routes),
        acls=acls,
        nad=nad,
        subnet=subnet,
        model_nad=parse_nad(nad_doc, meta_of(nad_doc)),
        model_subnet=parse_subnet(subnet_doc, meta_of(subnet_doc)),
    ), problems


def plan(cluster: Cluster, *, extra_bridges: Iterable[ApiBridge] = (), config: Settings | None = None) -> Plan:
    """Plan every ApiBridge of ``cluster`` (plus ``extra_bridges``), in name order for determinism."""
    config = config or Settings()
    bridges = {**cluster.bridges, **{b.name: b for b in extra_bridges}}
    own = {rules.bridge_object_name(name) for name in bridges}
    allocator = Allocator(_taken(cluster, config, own))
    # Applied bridges keep their CIDRs: reserve every existing bridge Subnet before anyone allocates,
    # so a new bridge probing from its hash start can never take an applied one's block.
    kept: dict[str, list[IPNetwork]] = {}
    for name in bridges:
        existing = cluster.subnets.get(rules.bridge_object_name(name))
        # only our own Subnet keeps its CIDR: a foreign one holding the name is not the bridge's (NameTaken)
        if (
            existing is not None
            and rules.owned_by_bridge(existing.meta.labels, name)
            and allocator.is_free_all(existing.cidrs)
        ):
            kept[name] = list(existing.cidrs)
            for cidr in existing.cidrs:
                allocator.reserve(cidr)
    dns = find_dns_service(cluster, config)
    result = Plan(
        service_cidrs=tuple(config.service_cidrs),
        dns=dns,
        kubeovn_version=config.kubeovn_version,
        kube_proxy=config.kube_proxy,
    )
    ordered = sorted(bridges.values(), key=lambda b: (b.cidr_block == "auto", b.name))  # explicit CIDRs first
    by_vpc = vpc_subnets(cluster)
    for bridge in ordered:
        bridge_plan, problems = plan_bridge(cluster, bridge, allocator, config, kept.get(bridge.name, []), by_vpc, dns)
        result.problems += problems
        if bridge_plan is not None:
            result.bridges[bridge.name] = bridge_plan
            result.by_vpc.setdefault(bridge.vpc, []).append(bridge_plan)
    for plans in result.by_vpc.values():
        plans.sort(key=lambda p: p.bridge.name)
    return result
