"""Port security and the tenancy policy in the twin's model, without daemons: a bridge attachment's LSP
carries ``port_security ["<mac> <ips>"]`` as Kube-OVN writes it, and a foreign attachment is never created."""

from __future__ import annotations

from apibridge.model.cluster import load_cluster
from apibridge.plan.planner import plan
from apibridge.twin.lab import LAB_NODE
from apibridge.twin.ovn import realize
from apibridge.twin.ovn.topology import build_topology

from .conftest import data, example


def test_bridge_attachments_get_port_security_and_eth0_does_not() -> None:
    cluster = load_cluster([example("apibridge")], assume_node=LAB_NODE)
    topo = build_topology(cluster, plan(cluster))
    nb = realize.desired(topo)
    attached = [p for p in topo.pods if p.bridge]
    assert attached
    for pod in attached:
        eth0, net1 = pod.nic("eth0"), pod.nic("net1")
        assert eth0 is not None and net1 is not None
        ips = " ".join(str(ip) for ip in net1.ips)
        assert nb.lsps[net1.lsp][1]["port_security"] == [f"{net1.mac} {ips}"]
        assert nb.lsps[eth0.lsp][1]["port_security"] == []  # not asked for on eth0: Kube-OVN leaves it empty


def test_a_foreign_attachment_is_refused_as_the_chart_refuses_it() -> None:
    cluster = load_cluster([example("apibridge"), data("foreign-attachment.yaml")], assume_node=LAB_NODE)
    topo = build_topology(cluster, plan(cluster))
    (intruder,) = [p for p in topo.pods if p.ref == "tenant-b/intruder"]
    assert intruder.failure is not None
    assert "AB304" in intruder.failure and "apibridge-tenant-a" in intruder.failure
    assert intruder.nics == ()


def test_every_bridge_is_tried_from_every_other_vpc_and_refused() -> None:
    cluster = load_cluster([example("apibridge")], assume_node=LAB_NODE)
    topo = build_topology(cluster, plan(cluster))
    tried = {(a.bridge, a.pod.split("/")[0]) for a in topo.foreign_attempts}
    assert ("tenant-a", "tenant-b") in tried and ("tenant-b", "ingress-nginx") in tried
    assert all(a.refusal and "AB304" in a.refusal for a in topo.foreign_attempts)
