"""kube-proxy's DNAT on the twin's nodes (issue 11 item 2): the nft ruleset from the default VPC's VIPs."""

from __future__ import annotations

from apibridge.twin.ovn.hostpath import TABLE, kube_proxy_ruleset
from apibridge.twin.ovn.topology import LoadBalancer, Topology


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
