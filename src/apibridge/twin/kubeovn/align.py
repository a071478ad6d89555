"""The model's topology with what kube-ovn-controller chose where the two legitimately differ.

``lab trace`` builds its microflow from the topology (the next hop's MAC is the router port's) and
``lab graph`` draws it; on the kube-ovn engine the NB is the controller's, whose router-port MACs are its own
random ones (``util.GenerateMac`` in ``CreateLogicalRouterPort``, pkg/ovs/ovn-nb-logical_router_port.go,
kube-ovn v1.16.2). A trace sent to the model's MAC would be dropped at the switch's L2 lookup, naming the
wrong stage. Names need no mapping: the
controller names router ports ``<router>-<switch>`` and pod ports ``<pod>.<namespace>[.<provider>]`` as the
model does (the diff compares them by name). Pod addresses and MACs are already the controller's
(:mod:`apibridge.twin.kubeovn.cni`).
"""

from __future__ import annotations

import dataclasses

from apibridge.twin.ovn.realize import NbModel
from apibridge.twin.ovn.topology import RouterPort, Topology


def router_macs(topo: Topology, nb: NbModel) -> Topology:
    """``topo`` with every router port that NB has carrying NB's MAC (the same object when none differs)."""

    def fix(rp: RouterPort) -> RouterPort:
        row = nb.lrps.get(rp.name)
        mac = str(row[1].get("mac") or "") if row else ""
        return dataclasses.replace(rp, mac=mac) if mac and mac != rp.mac else rp

    ports = [fix(rp) for rp in topo.router_ports]
    switches = [
        dataclasses.replace(s, router_port=fix(s.router_port)) if s.router_port is not None else s
        for s in topo.switches
    ]
    if ports == topo.router_ports and switches == topo.switches:
        return topo
    return dataclasses.replace(topo, router_ports=ports, switches=switches)
