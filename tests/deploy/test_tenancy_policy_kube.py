"""The chart's tenancy policy on a real kube-apiserver: no cross-tenant attachment, port security on.

The chart's ValidatingAdmissionPolicy and binding (rendered by the real Helm) and a bridge Subnet as the
planner writes it are applied to the real API server (``kube`` fixture); then every case of
``tests/check/tenancy_cases.py`` — the table ``check`` is judged by — is created as a pod (server-side dry
run: admission runs in full, nothing is stored). Every pod opts out of the mutating webhook
(``apibridge.dev/inject: "false"``) and no webhook runs at all: the policy must hold without either.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from apibridge.kubeovn import rules
from apibridge.model.cluster import Cluster
from apibridge.model.load import parse_text
from apibridge.plan.planner import plan
from check.tenancy_cases import BRIDGE, CASES, NAD, NAD_NS, NETWORKS, PS, SUBNET, Case
from kube.cluster import KubeCluster, KubeError

from .helm import template

TLS = {"webhook": {"tls": {"cert": "x", "key": "x", "caBundle": "x"}}, "networkPolicy": {"webhookFromAnywhere": True}}
# Kube-OVN's namespace controller writes the namespace's subnets into this annotation
NAMESPACES = {"ns1": "vpc1-net", "ns2": "vpc2-net", "ns3": "vpc1-net,vpc2-net"}
MANIFESTS = f"""
apiVersion: v1
kind: Service
metadata: {{name: kubernetes, namespace: default}}
spec: {{clusterIP: 10.96.0.1, clusterIPs: [10.96.0.1], ports: [{{name: https, port: 443, protocol: TCP}}]}}
---
apiVersion: kubeovn.io/v1
kind: Vpc
metadata: {{name: vpc1}}
spec: {{namespaces: [ns1]}}
---
apiVersion: kubeovn.io/v1
kind: Subnet
metadata: {{name: vpc1-net}}
spec: {{vpc: vpc1, cidrBlock: 10.0.1.0/24, namespaces: [ns1]}}
---
apiVersion: kubeovn.io/v1
kind: Vpc
metadata: {{name: vpc2}}
spec: {{namespaces: [ns2]}}
---
apiVersion: kubeovn.io/v1
kind: Subnet
metadata: {{name: vpc2-net}}
spec: {{vpc: vpc2, cidrBlock: 10.0.2.0/24, namespaces: [ns2]}}
---
apiVersion: apibridge.dev/v1alpha1
kind: ApiBridge
metadata: {{name: {BRIDGE}}}
spec: {{vpc: vpc1}}
"""


def bridge_subnet() -> dict[str, Any]:
    """The bridge's Subnet exactly as the planner (and so the operator and ``render``) writes it."""
    cluster = Cluster.from_documents(parse_text(MANIFESTS, "tenancy.yaml"))
    bp = plan(cluster).bridges[BRIDGE]
    assert (bp.nad_namespace, bp.nad_name, bp.subnet_name) == (NAD_NS, NAD, SUBNET)
    return copy.deepcopy(bp.subnet)


def chart_policy() -> list[dict[str, Any]]:
    docs = template("helm3", TLS)
    return [d for d in docs if d["kind"].startswith("ValidatingAdmissionPolicy") and "tenancy" in d["metadata"]["name"]]


def pod(name: str, namespace: str, annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        "spec": {"containers": [{"name": "c", "image": "registry.invalid/none"}]},
    }


def create(kube: KubeCluster, body: dict[str, Any], *, dry_run: bool = True) -> str | None:
    """None when admitted, else the API server's refusal message."""
    ns = body["metadata"]["namespace"]
    try:
        kube.request("POST", f"/api/v1/namespaces/{ns}/pods", body, params={"dryRun": "All"} if dry_run else None)
    except KubeError as exc:
        assert exc.status in (403, 422), exc.body
        return str(exc.body.get("message") if isinstance(exc.body, dict) else exc.body)
    return None


def patch(kube: KubeCluster, ns: str, name: str, annotations: dict[str, str | None]) -> str | None:
    try:
        kube.request(
            "PATCH",
            f"/api/v1/namespaces/{ns}/pods/{name}",
            {"metadata": {"annotations": annotations}},
            content_type="application/merge-patch+json",
        )
    except KubeError as exc:
        assert exc.status in (403, 422), exc.body
        return str(exc.body.get("message") if isinstance(exc.body, dict) else exc.body)
    return None


@pytest.fixture(scope="module")
def policy(kube: KubeCluster) -> Iterator[KubeCluster]:
    for ns, subnets in NAMESPACES.items():
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "annotations": {rules.PRIMARY_LOGICAL_SWITCH_ANNOTATION: subnets}},
            }
        )
    kube.wait(lambda: kube.get("v1", "serviceaccounts", "default", "ns2"), what="default ServiceAccounts")
    subnet = kube.apply(bridge_subnet())
    docs = yaml.safe_dump_all(chart_policy())
    kube.kubectl("apply", "--server-side", "-f", "-", input=docs)
    probe = pod("probe", "ns2", {NETWORKS: f"{NAD_NS}/{NAD}"})
    kube.wait(lambda: create(kube, probe) is not None, what="the tenancy policy to be enforced")
    yield kube
    kube.kubectl("delete", "-f", "-", input=docs)
    kube.request("DELETE", f"/apis/kubeovn.io/v1/subnets/{subnet['metadata']['name']}")
    for ns in NAMESPACES:
        kube.delete_all("v1", "pods", [ns])


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_api_server_judges_every_case_as_check_does(policy: KubeCluster, case: Case) -> None:
    refused = create(policy, pod(f"c-{case.id}", case.namespace, case.annotations))
    if case.verdict == "ok":
        assert refused is None
    else:
        assert refused is not None, f"{case.id} admitted"
        code = "AB304" if case.verdict == "foreign" else "AB305"
        assert code in refused and f"ApiBridge {BRIDGE}" in refused and f"{NAD_NS}/{NAD}" in refused, refused


def test_a_namespace_that_is_only_partly_in_the_vpc_is_refused(policy: KubeCluster) -> None:
    refused = create(policy, pod("partly", "ns3", {NETWORKS: f"{NAD_NS}/{NAD}", PS: "true"}))
    assert refused is not None and "AB304" in refused


def test_updates_cannot_add_a_reference_or_turn_port_security_off(policy: KubeCluster) -> None:
    assert create(policy, pod("u-own", "ns1", {NETWORKS: f"{NAD_NS}/{NAD}", PS: "true"}), dry_run=False) is None
    assert create(policy, pod("u-foreign", "ns2", {"team": "x"}), dry_run=False) is None
    refused = patch(policy, "ns1", "u-own", {PS: "false"})
    assert refused is not None and "AB305" in refused
    refused = patch(policy, "ns2", "u-foreign", {NETWORKS: f"{NAD_NS}/{NAD}"})
    assert refused is not None and "AB304" in refused
    refused = patch(policy, "ns2", "u-foreign", {"ovn.kubernetes.io/logical_switch": SUBNET})
    assert refused is not None and "AB304" in refused
    assert patch(policy, "ns1", "u-own", {"team": "y"}) is None  # unrelated changes go through


def test_without_the_subnets_list_nothing_is_let_through(policy: KubeCluster) -> None:
    """A bridge Subnet without the VPC list (an older controller) admits no attachment rather than every one."""
    subnet = bridge_subnet()
    subnet["metadata"]["name"] = "apibridge-b2"
    subnet["metadata"]["labels"][rules.BRIDGE_LABEL] = "b2"
    subnet["metadata"]["annotations"] = {}
    subnet["spec"]["provider"] = "apibridge-b2.kube-system.ovn"
    subnet["spec"]["cidrBlock"] = "100.100.77.0/24"
    subnet["spec"]["gateway"] = "100.100.77.1"
    subnet["spec"]["excludeIps"] = ["100.100.77.1"]
    subnet.pop("status", None)
    policy.apply(subnet)
    try:
        body = pod(
            "b2",
            "ns1",
            {NETWORKS: "kube-system/apibridge-b2", "apibridge-b2.kube-system.ovn.kubernetes.io/port_security": "true"},
        )
        policy.wait(lambda: create(policy, body) is not None, what="the second bridge's Subnet as a parameter")
    finally:
        policy.request("DELETE", "/apis/kubeovn.io/v1/subnets/apibridge-b2")
