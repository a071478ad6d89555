"""The seed scenario end to end: the ingress controller of a custom VPC gets exactly the seed's two
annotations, pointing at the bridge's own NAD and at the gateway of its allocated subnet.

Seed document: ``k8s.v1.cni.cncf.io/networks: kube-system/api-ovn-nad`` and
``api-ovn-nad.kube-system.ovn.kubernetes.io/routes: '[{"dst":"10.96.0.1/32","gw":"100.100.100.1"}]'``.
"""

from __future__ import annotations

import ipaddress

from apibridge.model.load import Document
from apibridge.plan import planner
from apibridge.plan.mutation import inject_documents, mutate_annotations

from .plan_kit import bridge, cluster, seed_cluster, workload

CONTROLLER_LABELS = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}


def test_seed_ingress_controller_gets_the_seed_annotations_for_its_bridge() -> None:
    name = "tenant-a"
    controller = workload("Deployment", "ingress-nginx-controller", "ingress-nginx", labels=CONTROLLER_LABELS)
    bodies = [
        *seed_cluster(),
        bridge(name, "tenant-a", podSelector={"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}}),
        controller,
    ]
    c = cluster(*bodies)
    p = planner.plan(c)
    assert not p.problems
    bp = p.bridges[name]
    (cidr,) = bp.cidrs
    assert cidr.prefixlen == 24 and cidr.subnet_of(ipaddress.ip_network("100.100.0.0/16"))  # the default pool
    gateway = cidr.network_address + 1
    (pod,) = c.pods
    _, changes = mutate_annotations(c, p, pod)
    provider = f"apibridge-{name}.kube-system.ovn"
    assert changes == {
        "k8s.v1.cni.cncf.io/networks": f"kube-system/apibridge-{name}",
        f"{provider}.kubernetes.io/routes": f'[{{"dst":"10.96.0.1/32","gw":"{gateway}"}}]',
        f"{provider}.kubernetes.io/logical_switch": f"apibridge-{name}",
        f"{provider}.kubernetes.io/port_security": "true",
    }
    # and inject writes them into the Deployment's pod template, nowhere else
    docs = [Document(b, "seed.yaml", i) for i, b in enumerate(bodies)]
    out = inject_documents(c, p, docs)
    assert out[-1]["spec"]["template"]["metadata"]["annotations"] == changes
    assert "annotations" not in out[-1]["metadata"]


def test_seed_hand_written_attachment_is_kept_and_the_bridge_appended() -> None:
    seed_annotations = {
        "k8s.v1.cni.cncf.io/networks": "kube-system/api-ovn-nad",
        "api-ovn-nad.kube-system.ovn.kubernetes.io/routes": '[{"dst":"10.96.0.1/32","gw":"100.100.100.1"}]',
    }
    controller = workload(
        "Deployment",
        "ingress-nginx-controller",
        "ingress-nginx",
        labels=CONTROLLER_LABELS,
        annotations=seed_annotations,
    )
    c = cluster(*seed_cluster(), bridge("tenant-a", "tenant-a"), controller)
    p = planner.plan(c)
    (pod,) = c.pods
    _, changes = mutate_annotations(c, p, pod)
    assert changes["k8s.v1.cni.cncf.io/networks"] == "kube-system/api-ovn-nad,kube-system/apibridge-tenant-a"
    assert "api-ovn-nad.kube-system.ovn.kubernetes.io/routes" not in changes  # another provider's: untouched
