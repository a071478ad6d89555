"""``doctor`` judges the pod's NetworkPolicies with ``check``'s AB310 (``check.objects.policies.pod_api_drops``).

Pure: the objects a live cluster would hand ``diagnose_objects``, no API server. Before, a tenant's default-deny
egress policy left every link ``ok`` while the pod's API traffic was dropped after the load balancer.
"""

from __future__ import annotations

from typing import Any

from opkit import bridge, deny_egress, pod, world
from test_doctor import LABELS, kube_ovn_and_multus

from apibridge.model.cluster import Cluster
from apibridge.model.load import Document
from apibridge.operator.diagnose.doctor import diagnose_objects
from apibridge.plan.mutation import pod_mutation
from apibridge.plan.planner import plan


def _objects(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    objs = world(bridge("tenant-a", podSelector={"matchLabels": LABELS}))
    bp = plan(Cluster.from_documents([Document(o, "t", i) for i, o in enumerate(objs)])).bridges["tenant-a"]
    ip = str(bp.cidrs[0].network_address + 2)
    annotations = kube_ovn_and_multus(
        pod_mutation({}, "ingress-nginx", bp), bp.provider, f"{bp.nad_namespace}/{bp.nad_name}", bp.subnet_name, ip
    )
    body = pod("ctrl", labels=LABELS, annotations=annotations)
    body["spec"]["nodeName"] = "kind-control-plane"
    return [*objs, bp.nad, bp.subnet, body, *extra]


def test_a_healthy_pod_has_an_ok_policy_link() -> None:
    d = diagnose_objects("ingress-nginx", "ctrl", _objects())
    assert d.healthy, d.to_json()
    assert d.links[-1].key == "netpol.egress" and d.links[-1].status == "ok"


def test_an_egress_policy_that_drops_the_api_endpoints_is_the_broken_link_naming_it() -> None:
    d = diagnose_objects("ingress-nginx", "ctrl", _objects(deny_egress()))
    link = d.broken
    assert link is not None and link.key == "netpol.egress", d.to_json()
    assert "NetworkPolicy/ingress-nginx/deny-egress" in link.detail and "AB310" in link.detail
    assert "172.18.0.2:6443" in link.detail
    assert "ipBlock: {cidr: 172.18.0.2/32}" in link.fix  # check's hint: allow the endpoints, not the VIP


def test_an_allow_for_the_endpoints_keeps_the_link_ok() -> None:
    allow = deny_egress(egress=[{"to": [{"ipBlock": {"cidr": "172.18.0.2/32"}}]}])
    d = diagnose_objects("ingress-nginx", "ctrl", _objects(allow))
    assert d.healthy, d.to_json()
