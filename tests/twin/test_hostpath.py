"""The twin's node hosts: kube-proxy's DNAT (issue 11 item 2: the nft ruleset from the default VPC's VIPs), and
kube-ovn-cni's natOutgoing masquerade with the network beyond the nodes (item 5)."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

from apibridge.model.cluster import load_cluster
from apibridge.plan.planner import plan
from apibridge.twin.ovn import outside
from apibridge.twin.ovn.hostpath import NAT_TABLE, TABLE, kube_proxy_ruleset, masquerade_ruleset
from apibridge.twin.ovn.topology import LoadBalancer, Topology, build_topology

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "seed"
DATA = REPO / "tests" / "twin_lab" / "data"


def topo(kube_proxy: bool) -> Topology:
    t = Topology(kube_proxy=kube_proxy)
    t.load_balancers = [
        LoadBalancer("cluster-tcp-loadbalancer", "tcp", False, {"10.96.0.1:443": "172.18.0.11:6443,172.18.0.12:6443"}),
        LoadBalancer("cluster-udp-loadbalancer", "udp", False, {"[fd00:10:96::a]:53": "[fd00:10:16::5]:53"}),
        LoadBalancer("vpc-t1-tcp-load", "tcp", False, {"10.96.0.1:443": "10.0.1.9:6443"}),  # a custom VPC's: no
    ]
    return t


def test_each_default_vpc_vip_is_dnated_to_its_endpoints() -> None:
    text = kube_proxy_ruleset(topo(True))
    assert "type nat hook prerouting priority dstnat" in text
    assert (
        "ip daddr 10.96.0.1 tcp dport 443 dnat ip to numgen random mod 2 map "
        "{ 0 : 172.18.0.11 . 6443, 1 : 172.18.0.12 . 6443 }" in text
    )
    assert "ip6 daddr fd00:10:96::a udp dport 53 dnat ip6 to [fd00:10:16::5]:53" in text
    assert "10.0.1.9" not in text


def test_without_kube_proxy_the_table_is_removed() -> None:
    text = kube_proxy_ruleset(topo(False))
    assert text == f"table inet {TABLE}\ndelete table inet {TABLE}\n"


def test_the_host_masquerades_only_nat_outgoing_default_vpc_subnets_outside_the_subnets() -> None:
    """kube-ovn v1.16.2 pkg/daemon/gateway_linux.go: ``-m set --match-set ovn40subnets-nat src -m set !
    --match-set ovn40subnets dst -j OVN-MASQUERADE`` (and ``ovn60…``)."""
    t = Topology(
        host_subnets=(ip_network("10.16.0.0/16"), ip_network("100.64.0.0/16"), ip_network("fd00:10:16::/112")),
        nat_subnets=(ip_network("10.16.0.0/16"),),
    )
    text = masquerade_ruleset(t)
    assert text.startswith(f"table inet {NAT_TABLE}\ndelete table inet {NAT_TABLE}\n")
    assert "set nat4 { type ipv4_addr; flags interval; auto-merge; elements = { 10.16.0.0/16 }; }" in text
    assert "set nat6 { type ipv6_addr; flags interval; auto-merge; }" in text  # empty: no v6 natOutgoing subnet
    assert "elements = { 10.16.0.0/16, 100.64.0.0/16 }" in text
    assert "ip saddr @nat4 ip daddr != @subnets4 masquerade" in text
    assert "ip6 saddr @nat6 ip6 daddr != @subnets6 masquerade" in text


def test_the_host_sets_follow_kube_ovns_is_subnet_need_nat() -> None:
    """A custom-VPC or VLAN subnet is in neither set; a default-VPC one without natOutgoing only in the first."""
    cluster = load_cluster([str(SEED / "cluster.yaml"), str(SEED / "seed.yaml"), str(DATA / "external-api-lb.yaml")])
    topo = build_topology(cluster, plan(cluster))
    host, nat = {str(c) for c in topo.host_subnets}, {str(c) for c in topo.nat_subnets}
    assert {"100.64.0.0/16", "10.16.0.0/16", "100.100.100.0/24"} <= host  # join, ovn-default, the seed's attachment
    assert "100.100.100.0/24" not in nat and "10.16.0.0/16" in nat and "100.64.0.0/16" not in nat
    custom = {str(c) for s in cluster.subnets.values() if s.vpc != "ovn-cluster" for c in s.cidrs}
    assert custom and not custom & host
    assert [str(ip) for ip in topo.outside_ips] == ["203.0.113.10"] and topo.outside_port == 6443


def test_an_api_endpoint_on_a_node_needs_no_outside() -> None:
    cluster = load_cluster([str(SEED / "cluster.yaml"), str(SEED / "seed.yaml")])
    assert build_topology(cluster, plan(cluster)).outside_ips == ()


def test_the_outside_routes_only_to_node_addresses_and_the_node_only_to_the_endpoints() -> None:
    cluster = load_cluster([str(SEED / "cluster.yaml"), str(DATA / "external-api-lb.yaml")])
    topo = build_topology(cluster, plan(cluster))
    wired = outside.links(topo, {"kind-control-plane": "ab-x.node.kind-control-plane"})
    assert outside.create_lines(wired, "ab-x.outside") == [
        "link add ext0 netns ab-x.node.kind-control-plane type veth peer name o0 netns ab-x.outside"
    ]
    assert outside.outside_lines(topo, wired) == [
        "addr add 203.0.113.10/32 dev o0",
        "link set o0 up",
        "route replace 172.18.0.2/32 dev o0",
    ]
    assert outside.node_lines(topo, wired[0]) == [
        "addr add 172.18.0.2/32 dev ext0",
        "link set ext0 up",
        "route replace 203.0.113.10/32 dev ext0",
    ]
