"""What the in-cluster tests share on the real API server: a clean slate between tests, the chart's
ServiceAccounts and RBAC (rendered by the real Helm), and kubeconfigs holding those accounts' tokens.

The operator and the webhook run as host processes, but as the chart's ServiceAccounts: their tokens come
from the TokenRequest API and RBAC is the chart's, so a call the chart does not grant fails here as it
would in a cluster.

One control plane serves the whole session (starting one takes seconds, a test takes less); ``reset``
deletes what tests create, so each test starts from the same objects. Namespaces are kept (the namespace
controller would take seconds per deletion); their labels are applied again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .cluster import ADMIN_TOKEN, KubeCluster, KubeError, resource_path

RELEASE = "apibridge"
CHART_NAMESPACE = "apibridge-system"
CONTROLLER_ACCOUNT = f"{RELEASE}-controller"
WEBHOOK_ACCOUNT = f"{RELEASE}-webhook"
RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}

# (apiVersion, plural) of everything tests create; namespaced ones are cleared in every namespace
CLUSTER_KINDS = [
    ("apibridge.dev/v1alpha1", "apibridges"),
    ("kubeovn.io/v1", "subnets"),
    ("kubeovn.io/v1", "vpcs"),
    ("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations"),
    ("v1", "nodes"),
]
NAMESPACED_KINDS = [
    ("k8s.cni.cncf.io/v1", "network-attachment-definitions"),
    ("v1", "pods"),
    ("apps/v1", "deployments"),
    ("apps/v1", "replicasets"),
    ("apps/v1", "statefulsets"),
    ("apps/v1", "daemonsets"),
    ("v1", "events"),
    ("events.k8s.io/v1", "events"),
    ("coordination.k8s.io/v1", "leases"),
    ("networking.k8s.io/v1", "networkpolicies"),
]
KEEP = {("coordination.k8s.io/v1", "leases", "kube-system"), ("coordination.k8s.io/v1", "leases", "kube-node-lease")}


def namespaces(kube: KubeCluster) -> list[str]:
    return [n["metadata"]["name"] for n in kube.request("GET", "/api/v1/namespaces")["items"]]


def _drop_finalizers(kube: KubeCluster, api_version: str, plural: str, ns: str | None) -> None:
    for obj in kube.request("GET", resource_path(api_version, plural, ns))["items"]:
        if obj["metadata"].get("finalizers"):
            with contextlib.suppress(KubeError):
                kube.request(
                    "PATCH",
                    resource_path(api_version, plural, ns) + "/" + obj["metadata"]["name"],
                    {"metadata": {"finalizers": None}},
                    content_type="application/merge-patch+json",
                )


def reset(kube: KubeCluster) -> None:
    """Delete every object of the kinds tests create (immediately, finalizers dropped)."""
    all_ns = namespaces(kube)
    for api_version, plural in CLUSTER_KINDS:
        kube.delete_all(api_version, plural)
        _drop_finalizers(kube, api_version, plural, None)
    for api_version, plural in NAMESPACED_KINDS:
        for ns in all_ns:
            if (api_version, plural, ns) in KEEP:
                continue
            kube.delete_all(api_version, plural, [ns])
            _drop_finalizers(kube, api_version, plural, ns)
    # Services but the API server's own (Services have no deletecollection)
    for ns in all_ns:
        for svc in kube.request("GET", f"/api/v1/namespaces/{ns}/services")["items"]:
            if (ns, svc["metadata"]["name"]) != ("default", "kubernetes"):
                with contextlib.suppress(KubeError):
                    kube.request("DELETE", f"/api/v1/namespaces/{ns}/services/{svc['metadata']['name']}")
    # the EndpointSlices tests add for the kubernetes Service (the API server does not reconcile them here)
    for ns in all_ns:
        for eps in kube.request("GET", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices")["items"]:
            with contextlib.suppress(KubeError):
                kube.request(
                    "DELETE", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices/{eps['metadata']['name']}"
                )


def api_endpoint_slice(name: str = "kubernetes", address: str = "172.18.0.2") -> dict[str, Any]:
    """An EndpointSlice of the ``default/kubernetes`` Service with one ready endpoint on 6443 (the kind node's
    address by default): what a live cluster lists for its API server."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
    }


def apply_all(kube: KubeCluster, objects: Iterable[dict[str, Any]]) -> None:
    """Server-side apply each object; a ``status`` (Node addresses, …) goes through the status subresource,
    as the kubelet or a controller would write it."""
    for obj in objects:
        status = obj.get("status")
        body = {k: v for k, v in obj.items() if k != "status"}
        kube.apply(body)
        if status:
            from .cluster import object_path

            kube.request(
                "PATCH", object_path(obj) + "/status", {"status": status}, content_type="application/merge-patch+json"
            )


def install_chart_rbac(kube: KubeCluster) -> None:
    """The chart's ServiceAccounts, Roles and bindings (rendered by Helm 4), with controller.restarts.enabled:
    the operator tests exercise ``rollout: restart``. (Restarts are off by default; what the controller may
    then write is proven in tests/deploy/test_controller_policy_kube.py.)"""
    from deploy.helm import template  # tests/ is on sys.path
    from deploy.test_chart import SCENARIOS

    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CHART_NAMESPACE}})
    for doc in template("helm4", SCENARIOS["restarts-on"]):
        if doc["kind"] in RBAC_KINDS:
            kube.apply(doc)


def account_kubeconfig(kube: KubeCluster, account: str, path: Path) -> Path:
    """A kubeconfig that authenticates as the chart's ServiceAccount ``account`` (a bound token)."""
    token = kube.service_account_token(CHART_NAMESPACE, account)
    return kube.write_kubeconfig(path, token, namespace=CHART_NAMESPACE)


def admin_kubeconfig(kube: KubeCluster, path: Path) -> Path:
    return kube.write_kubeconfig(path, ADMIN_TOKEN)
