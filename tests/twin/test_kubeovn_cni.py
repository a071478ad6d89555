"""The twin as kube-ovn-cni (apibridge.twin.kubeovn.cni): pods wired from kube-ovn-controller's annotations."""

from __future__ import annotations

import ipaddress

from apibridge.kubeovn import rules
from apibridge.twin.kubeovn import cni
from apibridge.twin.ovn.topology import LspNic, Topology, TwinNode, TwinPod

NAD = "api-ovn-nad.kube-system.ovn"


def _pod(*providers: str) -> TwinPod:
    nics = tuple(
        LspNic(
            "eth0" if p == rules.OVN_PROVIDER else f"net{i}",
            "model-lsp",
            "model-switch",
            "00:00:00:00:00:01",
            ("10.99.0.9/24",),
            (ipaddress.ip_address("10.99.0.1"),),
            p == rules.OVN_PROVIDER,
            provider=p,
        )
        for i, p in enumerate(providers)
    )
    return TwinPod("ns1", "web", "tenant-a", "node1", nics, (), {}, None)


def _ann(provider: str, ip: str, cidr: str, gw: str, mac: str, switch: str, routed: bool = True) -> dict[str, str]:
    k = rules.provider_key
    return {
        k(provider, rules.ALLOCATED): "true",
        k(provider, rules.IP_ADDRESS): ip,
        k(provider, rules.CIDR): cidr,
        k(provider, rules.GATEWAY): gw,
        k(provider, rules.MAC_ADDRESS): mac,
        k(provider, rules.LOGICAL_SWITCH): switch,
        **({k(provider, rules.ROUTED): "true"} if routed else {}),
    }


def _doc(annotations: dict[str, str]) -> dict[str, object]:
    return {"kind": "Pod", "metadata": {"namespace": "ns1", "name": "web", "annotations": annotations}}


def test_each_provider_is_wired_from_its_annotations_with_kube_ovns_port_name() -> None:
    ann = {
        **_ann("ovn", "10.0.1.5", "10.0.1.0/24", "10.0.1.1", "0A:00:00:00:00:05", "tenant-a-subnet"),
        **_ann(NAD, "100.100.100.3", "100.100.100.0/24", "100.100.100.1", "0a:00:00:00:00:06", "vpc-api"),
    }
    topo, waiting = cni.from_annotations(Topology(pods=[_pod("ovn", NAD)]), [_doc(ann)])
    assert waiting == []
    eth0, net1 = topo.pods[0].nics
    assert (eth0.lsp, eth0.switch, eth0.mac, eth0.addresses) == (
        "web.ns1",
        "tenant-a-subnet",
        "0a:00:00:00:00:05",
        ("10.0.1.5/24",),
    )
    assert eth0.gateways == (ipaddress.ip_address("10.0.1.1"),)
    assert (net1.lsp, net1.switch, net1.addresses) == (f"web.ns1.{NAD}", "vpc-api", ("100.100.100.3/24",))
    assert net1.ifname == "net1" and not net1.default_route  # the model's shape is kept


def test_a_pod_waits_until_every_provider_is_allocated_and_routed() -> None:
    ann = {
        **_ann("ovn", "10.0.1.5", "10.0.1.0/24", "10.0.1.1", "0a:00:00:00:00:05", "s"),
        **_ann(NAD, "100.100.100.3", "100.100.100.0/24", "100.100.100.1", "0a:00:00:00:00:06", "v", routed=False),
    }
    topo, waiting = cni.from_annotations(Topology(pods=[_pod("ovn", NAD)]), [_doc(ann)])
    assert topo.pods == [] and waiting == ["ns1/web"]
    topo, waiting = cni.from_annotations(Topology(pods=[_pod("ovn")]), [_doc({})])
    assert topo.pods == [] and waiting == ["ns1/web"]


def test_unusable_annotations_fail_the_pod_like_a_failed_cni_add() -> None:
    cases = {
        "outside": _ann("ovn", "10.0.9.5", "10.0.1.0/24", "10.0.1.1", "0a:00:00:00:00:05", "s"),
        "mac": _ann("ovn", "10.0.1.5", "10.0.1.0/24", "10.0.1.1", "not-a-mac", "s"),
        "ip": _ann("ovn", "10.0.1.500", "10.0.1.0/24", "10.0.1.1", "0a:00:00:00:00:05", "s"),
        "huge": _ann("ovn", "10.0.1.5," * 200, "10.0.1.0/24", "10.0.1.1", "0a:00:00:00:00:05", "s"),
        "switch": _ann("ovn", "10.0.1.5", "10.0.1.0/24", "10.0.1.1", "0a:00:00:00:00:05", ""),
    }
    for what, ann in cases.items():
        topo, waiting = cni.from_annotations(Topology(pods=[_pod("ovn")]), [_doc(ann)])
        pod = topo.pods[0]
        assert waiting == [] and pod.nics == () and pod.failure and pod.failure.startswith("kube-ovn-cni: "), what


def test_a_node_takes_the_controllers_join_address_once_written() -> None:
    nic = LspNic("ovn0", "node-n1", "join", "00:00:00:00:00:01", ("100.64.0.9/16",), (), False)
    node = TwinNode("n1", True, (ipaddress.ip_address("172.18.0.2"),), nic, 6443)
    topo, _ = cni.from_annotations(Topology(nodes=[node]), [{"kind": "Node", "metadata": {"name": "n1"}}])
    assert topo.nodes[0] == node  # not yet annotated: the model's
    ann = _ann("ovn", "100.64.0.2", "100.64.0.0/16", "100.64.0.1", "0a:00:00:00:00:02", "join")
    topo, _ = cni.from_annotations(
        Topology(nodes=[node]), [{"kind": "Node", "metadata": {"name": "n1", "annotations": ann}}]
    )
    assert topo.nodes[0].nic.addresses == ("100.64.0.2/16",) and topo.nodes[0].nic.lsp == "node-n1"


def test_node_seed_is_what_get_static_address_reads() -> None:
    nic = LspNic("ovn0", "node-n1", "join", "0a:00:00:00:00:02", ("100.64.0.2/16",), (), False)
    seed = cni.node_seed(TwinNode("n1", True, (), nic, None), "lab-chassis")
    assert seed == {
        "ovn.kubernetes.io/allocated": "true",
        "ovn.kubernetes.io/ip_address": "100.64.0.2",
        "ovn.kubernetes.io/mac_address": "0a:00:00:00:00:02",
        "ovn.kubernetes.io/logical_switch": "join",
        "ovn.kubernetes.io/chassis": "lab-chassis",
    }
