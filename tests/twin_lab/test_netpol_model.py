"""The NB rows the twin derives from NetworkPolicies, without daemons: Kube-OVN v1.16.2's names, port
group members (the attachment included, or left out by the release-1.16 opt-out), stages and matches."""

from __future__ import annotations

from typing import Any

import yaml

from apibridge.model.cluster import Cluster
from apibridge.model.load import load_documents, parse_text
from apibridge.plan.planner import plan
from apibridge.plan.settings import Settings
from apibridge.twin.lab import LAB_NODE
from apibridge.twin.ovn.topology import PortGroup, Topology, build_topology

from .conftest import example

ATTACHMENT = "operator.tenant-b.apibridge-tenant-b.kube-system.ovn"


def _topo(*policies: dict[str, Any], version: str = "v1.16.2") -> Topology:
    docs = load_documents([example("demo", "cluster.yaml"), example("demo", "3-bridges.yaml")])
    extra = parse_text("\n---\n".join(yaml.safe_dump(p) for p in policies), "np.yaml") if policies else []
    cluster = Cluster.from_documents([*docs, *extra], assume_node=LAB_NODE)
    return build_topology(cluster, plan(cluster, config=Settings(kubeovn_version=version)))


def _np(name: str, annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": "tenant-b", "annotations": annotations or {}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": md,
        "spec": {"podSelector": {}, **spec},
    }


def _pg(topo: Topology, name: str) -> PortGroup:
    return next(pg for pg in topo.port_groups if pg.name == name)


def test_the_attachment_joins_the_port_group_unless_opted_out() -> None:
    assert ATTACHMENT in _pg(_topo(_np("1deny", policyTypes=["Egress"])), "np1deny.tenant.b").ports
    opted = _np("deny", {"ovn.kubernetes.io/network_policy_for": "ovn"}, policyTypes=["Egress"])
    assert _pg(_topo(opted), "deny.tenant.b").ports == ("operator.tenant-b",)
    assert ATTACHMENT in _pg(_topo(opted, version="v1.15.9"), "deny.tenant.b").ports  # ignored before 1.16


def test_stages_priorities_and_matches() -> None:
    spec: dict[str, Any] = {
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"ports": [{"port": 8000, "endPort": 8080}, {"protocol": "UDP"}]}],
        "egress": [{"to": [{"ipBlock": {"cidr": "172.18.0.0/16", "except": ["172.18.0.9/32", "172.18.1.0/24"]}}]}],
    }
    acls = {(a.direction, a.priority, a.match): a for a in _pg(_topo(_np("p", **spec)), "p.tenant.b").acls}
    drop_in = acls[("to-lport", 2000, "outport == @p.tenant.b && ip")]
    drop_out = acls[("from-lport", 2000, "inport == @p.tenant.b && ip")]
    assert drop_in.action == drop_out.action == "drop"
    assert not drop_in.apply_after_lb and drop_out.apply_after_lb  # egress after the load balancer
    sets = "ip4.src == $p.tenant.b.ingress.allow.IPv4.0 && ip4.src != $p.tenant.b.ingress.except.IPv4.0"
    base = f"outport == @p.tenant.b && ip && {sets}"
    assert ("to-lport", 2001, f"{base} && 8000 <= tcp.dst <= 8080") in acls
    assert ("to-lport", 2001, f"{base} && udp") in acls
    block = "inport == @p.tenant.b && ip && (ip4.dst == 172.18.0.0/16 && ip4.dst != {172.18.0.9/32, 172.18.1.0/24})"
    assert acls[("from-lport", 2001, block)].name == "np/p.tenant-b/egress/IPv4/0/ipBlock"


def test_admin_policies_are_noted_not_programmed() -> None:
    anp = {
        "apiVersion": "policy.networking.k8s.io/v1alpha1",
        "kind": "AdminNetworkPolicy",
        "metadata": {"name": "a"},
        "spec": {
            "priority": 1,
            "subject": {"namespaces": {}},
            "ingress": [{"action": "Allow", "from": [{"namespaces": {}}]}],
        },
    }
    topo = _topo(anp)
    assert any(n.startswith("AdminNetworkPolicy/a: not programmed") for n in topo.notes)
    assert not [pg for pg in topo.port_groups if pg.acls]
