"""The model's topology aligned with kube-ovn-controller's router-port MACs (apibridge.twin.kubeovn.align)."""

from __future__ import annotations

import ipaddress

from apibridge.twin.kubeovn import align
from apibridge.twin.ovn.realize import NbModel
from apibridge.twin.ovn.topology import RouterPort, Switch, Topology


def _topo() -> Topology:
    rp = RouterPort("ovn-cluster", "ovn-cluster-ovn-default", "00:00:00:00:00:01", ("10.16.0.1/16",))
    sw = Switch("ovn-default", "ovn-cluster", (ipaddress.ip_network("10.16.0.0/16"),),
                (ipaddress.ip_address("10.16.0.1"),), (), (), rp)  # fmt: skip
    return Topology(router_ports=[rp], switches=[sw])


def test_router_ports_take_the_controllers_mac() -> None:
    nb = NbModel()
    nb.lrps["ovn-cluster-ovn-default"] = ("ovn-cluster", {"mac": "0a:58:0a:10:00:01", "networks": ["10.16.0.1/16"]})
    topo = align.router_macs(_topo(), nb)
    assert topo.router_ports[0].mac == "0a:58:0a:10:00:01"
    switch = topo.switch("ovn-default")
    assert switch is not None and switch.router_port is not None and switch.router_port.mac == "0a:58:0a:10:00:01"


def test_ports_the_controller_does_not_have_keep_the_models_mac() -> None:
    original = _topo()
    assert align.router_macs(original, NbModel()) is original
