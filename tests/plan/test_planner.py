"""The planner's output is what Kube-OVN needs to give a custom-VPC pod the API server, and no more.

Checked as Kube-OVN would read it: the provider Kube-OVN derives from the planned NAD equals the
NAD config's ``provider`` (what kube-ovn-cni sends), the Subnet's provider and the pod annotation
keys; the Subnet lands in ``ovn-cluster`` without ``namespaces``; routes go via the gateway of their
family; the strict fence keys its drops on the switch's router port and lets DNATed packets of
allowed connections through.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apibridge.kubeovn import nadconf, rules
from apibridge.kubeovn.dualstack import IPNetwork
from apibridge.model.cluster import Cluster
from apibridge.model.load import Document
from apibridge.plan import planner
from apibridge.plan import settings as plan_settings
from apibridge.plan.mutation import pod_mutation
from apibridge.plan.settings import Settings
from apibridge.plan.types import BridgePlan, Plan

from .plan_kit import Body, bridge, cluster, namespace, node, seed_cluster, service, subnet, tenant, vpc

DUAL_API = service("default", "kubernetes", "10.96.0.1", "fd00:10:96::1")


def plan_of(*bodies: Body, config: Settings | None = None) -> tuple[Cluster, Plan]:
    c = cluster(*bodies)
    return c, planner.plan(c, config=config)


def seed_plan(**spec: Any) -> BridgePlan:
    _, p = plan_of(*seed_cluster(), bridge("tenant-a", "tenant-a", **spec))
    assert not p.problems, p.problems
    return p.bridges["tenant-a"]


def applied(c_bodies: list[Body], p: Plan) -> Cluster:
    """The cluster after applying the plan's NADs and Subnets."""
    extra = [m for bp in p.bridges.values() for m in (bp.nad, bp.subnet)]
    return cluster(*c_bodies, *extra)


# ---- one provider everywhere --------------------------------------------------------------------------
def test_provider_is_identical_in_nad_config_subnet_and_pod_annotations() -> None:
    bp = seed_plan()
    nad_md = bp.nad["metadata"]
    derived = rules.nad_provider(nad_md["name"], nad_md["namespace"])  # what kube-ovn-controller derives
    conf = nadconf.parse(bp.nad["spec"]["config"])
    assert conf.kind == "kube-ovn"
    assert conf.cni_provider() == derived  # what kube-ovn-cni sends
    assert bp.subnet["spec"]["provider"] == derived
    assert bp.provider == derived
    changes = pod_mutation({}, "ingress-nginx", bp)
    provider_keys = [k for k in changes if k != rules.NETWORKS_ANNOTATION]
    assert provider_keys and all(k.startswith(f"{derived}.kubernetes.io/") for k in provider_keys)
    assert changes[rules.NETWORKS_ANNOTATION] == f"{nad_md['namespace']}/{nad_md['name']}"


def test_planned_objects_read_back_as_kube_ovn_sees_them() -> None:
    bodies = [*seed_cluster(), bridge("tenant-a", "tenant-a")]
    _, p = plan_of(*bodies)
    bp = p.bridges["tenant-a"]
    c = applied(bodies, p)
    sub = c.subnets[bp.subnet_name]
    nad = c.nad(bp.nad_namespace, bp.nad_name)
    assert nad is not None and nad.derived_provider == sub.provider
    assert sub.is_ovn and sub.vpc == rules.DEFAULT_VPC and sub.enable_lb
    assert sub.cidrs == bp.cidrs and sub.gateways == bp.gateways
    # getPodAttachmentNet: exactly one Subnet is bound to the provider
    assert [s.name for s in c.subnets_by_provider(bp.provider)] == [bp.subnet_name]


def test_subnet_is_in_the_default_vpc_without_namespaces() -> None:
    spec = seed_plan().subnet["spec"]
    assert spec["vpc"] == "ovn-cluster"
    assert "namespaces" not in spec  # would clash with the custom VPC's namespaces (validateVpcBySubnet)
    assert spec["enableLb"] is True  # the cluster-* LBs on the switch DNAT the ClusterIP


@pytest.mark.parametrize("api", [service("default", "kubernetes", "10.96.0.1"), DUAL_API])
def test_gateway_per_family_inside_its_cidr(api: Body) -> None:
    _, p = plan_of(api, *tenant("t", "ns", "10.0.1.0/24"), bridge("b", "t"))
    bp = p.bridges["b"]
    assert {c.version for c in bp.cidrs} == {ip.version for ip in api_ips(api)}
    for cidr in bp.cidrs:
        gw = bp.gateway(cidr.version)
        assert gw is not None and gw in cidr and gw != cidr.network_address
        assert gw == cidr.network_address + 1  # Kube-OVN's default gateway, so the Subnet is self-consistent
    spec = bp.subnet["spec"]
    assert [ipaddress.ip_network(x) for x in spec["cidrBlock"].split(",")] == list(bp.cidrs)
    assert [ipaddress.ip_address(x) for x in spec["gateway"].split(",")] == list(bp.gateways)


def api_ips(api: Body) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return [ipaddress.ip_address(x) for x in api["spec"]["clusterIPs"]]


def test_dual_stack_gets_one_cidr_and_one_host_route_per_family() -> None:
    _, p = plan_of(DUAL_API, *tenant("t", "ns", "10.0.1.0/24"), bridge("b", "t"))
    bp = p.bridges["b"]
    assert sorted(c.version for c in bp.cidrs) == [4, 6]
    assert bp.subnet["spec"]["protocol"] == "Dual"
    routes = {(r.dst, r.gw) for r in bp.routes}
    assert routes == {("10.96.0.1/32", str(bp.gateway(4))), ("fd00:10:96::1/128", str(bp.gateway(6)))}


def test_routes_go_to_each_destination_via_the_gateway() -> None:
    bp = seed_plan(destinations={"apiserver": True, "extra": [{"cidr": "192.168.50.0/24"}, {"cidr": "192.168.60.7"}]})
    gw = str(bp.gateway(4))
    assert [(r.dst, r.gw) for r in bp.routes] == [
        ("10.96.0.1/32", gw),
        ("192.168.50.0/24", gw),
        ("192.168.60.7/32", gw),
    ]


def test_dns_destination() -> None:
    _, p = plan_of(
        *seed_cluster(),
        service("kube-system", "kube-dns", "10.96.0.10", port=53),
        bridge("tenant-a", "tenant-a", destinations={"dns": True}),
    )
    bp = p.bridges["tenant-a"]
    assert {r.dst for r in bp.routes} == {"10.96.0.1/32", "10.96.0.10/32"}
    dns_allows = [a.match for a in bp.acls if "10.96.0.10" in a.match]
    assert any("udp.dst == 53" in m for m in dns_allows) and any("tcp.dst == 53" in m for m in dns_allows)


# ---- the fence ------------------------------------------------------------------------------------------
def test_strict_fence_for_ipv4() -> None:
    bp = seed_plan()
    router_port = f"{bp.subnet_name}-ovn-cluster"  # the switch side of the ovn-cluster patch pair
    assert bp.subnet["spec"]["acls"] == [
        {"direction": a.direction, "priority": a.priority, "match": a.match, "action": a.action} for a in bp.acls
    ]
    for acl in bp.acls:
        assert acl.direction in rules.ACL_DIRECTIONS and acl.action in rules.ACL_ACTIONS
    drops = [a for a in bp.acls if a.action == "drop"]
    assert {a.direction for a in drops} == {"from-lport", "to-lport"}
    # OVN compares logical ports for equality only: `inport != "x"` does not compile and is skipped
    assert not any(f"{field} !=" in a.match for a in bp.acls for field in ("inport", "outport"))
    top_drop = max(a.priority for a in drops)
    allows = [a for a in bp.acls if a.action.startswith("allow")]
    # traffic through the router port was judged on the pod side; it is the only blanket allow
    assert any(a.direction == "from-lport" and a.match == f'inport == "{router_port}" && ip' for a in allows)
    assert any(a.direction == "to-lport" and a.match == f'outport == "{router_port}" && ip' for a in allows)
    # the API VIP on its port is allowed before the drop
    assert any("10.96.0.1" in a.match and "tcp.dst == 443" in a.match and a.priority > top_drop for a in allows)
    # the ACL-after-DNAT trap: later packets of an allowed connection are DNATed to the backend
    natted = [a for a in allows if "ct.est" in a.match and "ct_mark.natted == 1" in a.match]
    assert natted and all(a.priority > top_drop and a.direction == "from-lport" for a in natted)
    assert not any("nd" in a.match.split() for a in bp.acls)  # no IPv6, no neighbour discovery rules
    # the fence does not open the whole default VPC: every allow names a destination, the natted
    # guard, or the router port
    for a in allows:
        assert "ip4.dst ==" in a.match or "ct_mark.natted == 1" in a.match or f'"{router_port}"' in a.match


def test_strict_fence_for_dual_stack_allows_neighbour_discovery() -> None:
    _, p = plan_of(DUAL_API, *tenant("t", "ns", "10.0.1.0/24"), bridge("b", "t"))
    bp = p.bridges["b"]
    nd = [a for a in bp.acls if "nd" in a.match.split()]
    assert {a.direction for a in nd} == {"from-lport", "to-lport"}
    assert all(a.priority > max(d.priority for d in bp.acls if d.action == "drop") for a in nd)
    for cidr in bp.cidrs:
        ipf = "ip4" if cidr.version == 4 else "ip6"
        assert any(f"{ipf}.src == {cidr}" in a.match and "ct_mark.natted == 1" in a.match for a in bp.acls)
    assert any("fd00:10:96::1" in a.match and "tcp.dst == 443" in a.match for a in bp.acls)


def test_open_isolation_has_no_acls() -> None:
    bp = seed_plan(isolation="open")
    assert bp.acls == ()
    assert "acls" not in bp.subnet["spec"]


# ---- CIDRs ----------------------------------------------------------------------------------------------
def test_explicit_cidr_block_is_honoured() -> None:
    bp = seed_plan(cidrBlock="100.100.2.0/24")
    assert bp.cidrs == (ipaddress.ip_network("100.100.2.0/24"),)
    assert [r.gw for r in bp.routes] == ["100.100.2.1"]


def applied_subnet(bridge_name: str, cidr: str) -> Body:
    """The Subnet a bridge already owns in the cluster (our labels on it)."""
    body = subnet(f"apibridge-{bridge_name}", cidr, provider=f"apibridge-{bridge_name}.kube-system.ovn")
    body["metadata"]["labels"] = rules.bridge_labels(bridge_name)
    return body


def test_existing_bridge_subnet_keeps_its_cidr() -> None:
    _, p = plan_of(*seed_cluster(), applied_subnet("tenant-a", "100.100.77.0/24"), bridge("tenant-a", "tenant-a"))
    assert p.bridges["tenant-a"].cidrs == (ipaddress.ip_network("100.100.77.0/24"),)


def test_a_foreign_subnet_holding_the_name_does_not_lend_its_cidr() -> None:
    foreign = subnet("apibridge-tenant-a", "100.100.77.0/24", provider="apibridge-tenant-a.kube-system.ovn")
    _, p = plan_of(*seed_cluster(), foreign, bridge("tenant-a", "tenant-a"))
    assert p.bridges["tenant-a"].cidrs != (ipaddress.ip_network("100.100.77.0/24"),)


def test_existing_bridge_subnet_that_now_conflicts_is_moved() -> None:
    existing = applied_subnet("tenant-a", "100.100.77.0/24")
    squatter = subnet("late", "100.100.77.0/25", vpc="tenant-b")
    _, p = plan_of(*seed_cluster(), existing, squatter, bridge("tenant-a", "tenant-a"))
    (cidr,) = p.bridges["tenant-a"].cidrs
    assert not cidr.overlaps(ipaddress.ip_network("100.100.77.0/25"))


def test_every_bridge_gets_its_own_subnet_and_plans_are_deterministic() -> None:
    bodies: list[Body] = [service("default", "kubernetes", "10.96.0.1")]
    for i in range(12):
        bodies += [*tenant(f"t{i}", f"ns{i}", f"10.{i}.0.0/24"), bridge(f"b{i}", f"t{i}")]
    _, p1 = plan_of(*bodies)
    _, p2 = plan_of(*reversed(bodies))
    cidrs = [bp.cidrs[0] for bp in p1.bridges.values()]
    assert len({bp.subnet_name for bp in p1.bridges.values()}) == 12
    assert not any(a.overlaps(b) for i, a in enumerate(cidrs) for b in cidrs[i + 1 :])
    assert {n: bp.cidrs for n, bp in p1.bridges.items()} == {n: bp.cidrs for n, bp in p2.bridges.items()}


def test_replanning_the_applied_state_moves_nothing() -> None:
    bodies: list[Body] = [service("default", "kubernetes", "10.96.0.1")]
    for i in range(8):
        bodies += [*tenant(f"t{i}", f"ns{i}", f"10.{i}.0.0/24"), bridge(f"b{i}", f"t{i}")]
    config = Settings(pool_v4=ipaddress.ip_network("100.100.0.0/21"))  # 8 blocks for 8 bridges
    _, p1 = plan_of(*bodies, config=config)
    again = planner.plan(applied(bodies, p1), config=config)
    assert {n: bp.cidrs for n, bp in again.bridges.items()} == {n: bp.cidrs for n, bp in p1.bridges.items()}


def test_adding_a_bridge_does_not_move_an_applied_one() -> None:
    config = Settings(pool_v4=ipaddress.ip_network("100.100.0.0/22"))
    bodies = [*seed_cluster(), bridge("zed", "tenant-a")]
    _, before = plan_of(*bodies, config=config)
    now = applied(bodies, before)
    now.add_document(Document(bridge("a", "tenant-b"), "new.yaml", 0))
    after = planner.plan(now, config=config)
    assert after.bridges["zed"].cidrs == before.bridges["zed"].cidrs


def test_pool_exhaustion_is_a_problem_not_a_crash() -> None:
    config = Settings(pool_v4=ipaddress.ip_network("100.100.0.0/24"))
    _, p = plan_of(*seed_cluster(), bridge("tenant-a", "tenant-a"), bridge("tenant-b", "tenant-b"), config=config)
    assert len(p.bridges) == 1
    (problem,) = p.problems
    assert problem.field == "spec.cidrBlock" and problem.severity == "error"


def test_destination_family_without_a_cidr_is_a_problem() -> None:
    _, p = plan_of(DUAL_API, *tenant("t", "ns", "10.0.1.0/24"), bridge("b", "t", cidrBlock="100.100.5.0/24"))
    assert [r.dst for r in p.bridges["b"].routes] == ["10.96.0.1/32"]
    assert any("IPv6" in pr.message for pr in p.problems)


@st.composite
def crowded_clusters(draw: st.DrawFn) -> tuple[list[Body], list[IPNetwork]]:
    """Things in and next to the pool 100.64.0.0/15 (which contains the join subnet 100.64.0.0/16)."""
    slots = draw(st.lists(st.integers(0, 15), unique=True, max_size=12))  # /20 slots in 100.65.0.0/16
    bodies: list[Body] = [node("n0", "172.18.0.2"), namespace("default")]
    taken: list[IPNetwork] = [ipaddress.ip_network("100.64.0.0/16")]
    api_ip = "10.96.0.1"
    for i, slot in enumerate(slots):
        base = ipaddress.ip_address("100.65.0.0") + slot * 4096 + draw(st.integers(0, 4095))
        what = draw(st.sampled_from(["subnet", "clusterip", "apiip", "node"]))
        if what == "subnet":
            plen = draw(st.integers(21, 28))
            net = ipaddress.ip_network((int(base), plen), strict=False)
            bodies += [vpc(f"v{i}"), subnet(f"s{i}", str(net), vpc=f"v{i}")]
            taken.append(net)
        elif what == "clusterip":
            bodies.append(service("x", f"svc{i}", str(base)))
            taken.append(ipaddress.ip_network(f"{base}/32"))
        elif what == "apiip":
            api_ip = str(base)  # the kubernetes Service's ClusterIP (added to taken below)
        else:
            bodies.append(node(f"n{i + 1}", str(base), control_plane=False))
            taken.append(ipaddress.ip_network(f"{base}/32"))
    bodies.append(service("default", "kubernetes", api_ip))
    taken.append(ipaddress.ip_network(f"{api_ip}/32"))
    for j in range(draw(st.integers(1, 4))):
        bodies += [*tenant(f"t{j}", f"tns{j}", f"10.{j}.0.0/24"), bridge(f"b{j}", f"t{j}")]
    return bodies, taken


@settings(max_examples=60, deadline=None)
@given(crowded_clusters())
def test_auto_avoids_subnets_of_every_vpc_cluster_ips_node_ips_and_join(
    case: tuple[list[Body], list[IPNetwork]],
) -> None:
    bodies, taken = case
    config = Settings(pool_v4=ipaddress.ip_network("100.64.0.0/15"), block_v4=20)
    _, p = plan_of(*bodies, config=config)
    got = [c for bp in p.bridges.values() for c in bp.cidrs]
    for cidr in got:
        assert cidr.subnet_of(config.pool_v4)  # type: ignore[arg-type]
        assert not any(cidr.overlaps(t) for t in taken), (cidr, taken)  # type: ignore[arg-type]
    assert not any(a.overlaps(b) for i, a in enumerate(got) for b in got[i + 1 :])  # type: ignore[arg-type]
    free = [b for b in config.pool_v4.subnets(new_prefix=20) if not any(b.overlaps(t) for t in taken)]
    assert len(got) == min(len(free), sum(1 for b in bodies if b["kind"] == "ApiBridge"))


def test_auto_avoids_the_service_cidr_when_told() -> None:
    config = Settings(
        pool_v4=ipaddress.ip_network("10.96.0.0/11"), block_v4=12, service_cidrs=(ipaddress.ip_network("10.96.0.0/12"),)
    )
    _, p = plan_of(*seed_cluster(), bridge("tenant-a", "tenant-a"), config=config)
    assert p.bridges["tenant-a"].cidrs == (ipaddress.ip_network("10.112.0.0/12"),)


# ---- readable IPv6 auto blocks (issue #10, item 7) -------------------------------------------------------------
def test_auto_ipv6_block_is_readable_and_mirrors_the_ipv4_block() -> None:
    """It used to read like noise (fd00:100:100:a1:cb10:f57:e971:ca00/120)."""
    _, p = plan_of(DUAL_API, *tenant("t", "ns", "10.0.1.0/24"), bridge("alpha", "t"))
    v4, v6 = sorted(p.bridges["alpha"].cidrs, key=lambda n: n.version)
    index = int(v4.network_address) - int(plan_settings.DEFAULT_POOL_V4.network_address) >> 8
    assert v6 == ipaddress.ip_network((int(plan_settings.DEFAULT_POOL_V6.network_address) + index * 256, 120))
    assert str(v6).startswith("fd00:100:100::") and len(str(v6)) <= len("fd00:100:100::ff00/120")


def test_an_ipv6_only_auto_block_is_readable() -> None:
    v6_api = service("default", "kubernetes", "fd00:10:96::1")
    _, p = plan_of(v6_api, *tenant("t", "ns", "fd00:10:16::/112"), bridge("alpha", "t"))
    (v6,) = p.bridges["alpha"].cidrs
    assert str(v6).startswith("fd00:100:100::") and len(str(v6)) <= len("fd00:100:100::ff:ff00/120")


def test_adding_a_bridge_moves_no_other_bridges_ipv6_block() -> None:
    names = [f"tenant-{i}" for i in range(12)]
    bodies = [DUAL_API, *(b for i, n in enumerate(names) for b in tenant(n, n, f"10.1.{i}.0/24"))]
    _, before = plan_of(*bodies, *(bridge(n, n) for n in names[:-1]))
    _, after = plan_of(*bodies, *(bridge(n, n) for n in names))
    for name in names[:-1]:
        assert before.bridges[name].cidrs == after.bridges[name].cidrs
