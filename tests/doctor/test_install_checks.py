"""The install checks (``apibridge.operator.diagnose.install``) on hand-made cluster states: each check is first fed the
state that must make it fail. The same checks on a live install run in tests/twin_lab/test_kube_lab.py."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from apibridge.base.certs import CertificateAuthority
from apibridge.operator.diagnose.install import InstallReport, render_text, run_checks

NOW = dt.datetime.now(dt.UTC)
NS = "apibridge-system"
SLICE_SELECTOR = "kubernetes.io%2Fservice-name%3Dapibridge-webhook"


class FakeApi:
    """GET answers from a dict of paths; dry-run creates answered by ``injects``."""

    def __init__(self, objects: dict[str, Any], *, injects: bool = True) -> None:
        self.objects = objects
        self.injects = injects
        self.dry_runs: list[str] = []

    def get(self, path: str) -> dict[str, Any] | None:
        return self.objects.get(path)

    def dry_run_create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.dry_runs.append(path)
        out = {**body, "metadata": {**body["metadata"], "annotations": {}}}
        if self.injects:
            out["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"] = "kube-system/apibridge-tenant-a"
        return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def healthy(
    *, ca_days: int = 3650, cert_days: int = 365, lease_age: float = 2.0, at: dt.datetime | None = None
) -> dict[str, Any]:
    ca = CertificateAuthority.create("test", valid_for=dt.timedelta(days=ca_days))
    serving = ca.issue(["apibridge-webhook.apibridge-system.svc"])
    if cert_days <= 0:  # a certificate that has already expired
        serving = CertificateAuthority.create("other").issue(["apibridge-webhook.apibridge-system.svc"])
    crd = {
        "spec": {"versions": [{"name": "v1alpha1", "served": True, "storage": True}]},
        "status": {"conditions": [{"type": "Established", "status": "True"}]},
    }
    webhook = {
        "metadata": {"name": "apibridge"},
        "webhooks": [
            {
                "name": "pods.apibridge.dev",
                "failurePolicy": "Ignore",
                "clientConfig": {
                    "caBundle": _b64(ca.cert_pem()),
                    "service": {"namespace": NS, "name": "apibridge-webhook", "port": 443, "path": "/mutate-pods"},
                },
            }
        ],
    }
    at = at or dt.datetime.now(dt.UTC)  # now, not at collection: the certificates are made now
    renew = (at - dt.timedelta(seconds=lease_age)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    bridge = {
        "apiVersion": "apibridge.dev/v1alpha1",
        "kind": "ApiBridge",
        "metadata": {"name": "tenant-a"},
        "spec": {"vpc": "tenant-a", "podSelector": {"matchLabels": {"app": "x"}}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Validated", "status": "True"}]},
    }
    subnet = {
        "metadata": {"name": "apibridge-tenant-a"},
        "spec": {"vpc": "ovn-cluster", "cidrBlock": "100.100.0.0/24", "provider": "apibridge-tenant-a.kube-system.ovn"},
    }
    tenant = {"metadata": {"name": "tenant-a-subnet"}, "spec": {"vpc": "tenant-a", "cidrBlock": "10.0.1.0/24",
                                                               "namespaces": ["ingress-nginx"]}}  # fmt: skip
    return {
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/apibridges.apibridge.dev": crd,
        "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations": {"items": [webhook]},
        f"/api/v1/namespaces/{NS}/services/apibridge-webhook": {"metadata": {"name": "apibridge-webhook"}},
        f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices?labelSelector={SLICE_SELECTOR}": {
            "items": [{"endpoints": [{"addresses": ["198.18.0.1"], "conditions": {"ready": True}}]}]
        },
        f"/api/v1/namespaces/{NS}/secrets/apibridge-webhook-tls": {"data": {"tls.crt": _b64(serving.cert_pem())}},
        f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/apibridge-operator": {
            "spec": {"holderIdentity": "op-1", "renewTime": renew, "leaseDurationSeconds": 15}
        },
        "/api/v1/namespaces": {"items": [{"metadata": {"name": "ingress-nginx"}}]},
        "/apis/kubeovn.io/v1/vpcs": {
            "items": [{"metadata": {"name": "tenant-a"}, "spec": {"namespaces": ["ingress-nginx"]}}]
        },
        "/apis/kubeovn.io/v1/subnets": {"items": [subnet, tenant]},
        "/apis/apibridge.dev/v1alpha1/apibridges": {"items": [bridge]},
        "/apis/k8s.cni.cncf.io/v1/namespaces/kube-system/network-attachment-definitions/apibridge-tenant-a": {},
        "/apis/kubeovn.io/v1/subnets/apibridge-tenant-a": subnet,
    }


def failures(report: InstallReport) -> list[str]:
    return [c.message for c in report.checks if not c.ok]


def check(objects: dict[str, Any], *, at: dt.datetime | None = None, **kwargs: Any) -> InstallReport:
    when = at or dt.datetime.now(dt.UTC)
    return run_checks(FakeApi(objects, **kwargs), now=lambda: when)


def test_a_healthy_install_passes_every_check() -> None:
    report = check(healthy())
    assert failures(report) == [], render_text(report)
    assert "Status check results are √" in render_text(report)


def test_a_missing_crd_is_named_with_the_fix() -> None:
    objects = healthy()
    del objects["/apis/apiextensions.k8s.io/v1/customresourcedefinitions/apibridges.apibridge.dev"]
    report = check(objects)
    assert any("apibridges.apibridge.dev is missing" in m for m in failures(report))
    assert "helm upgrade --install" in render_text(report)


def test_an_expired_certificate_fails() -> None:
    later = NOW + dt.timedelta(days=40)  # the CA is valid for 30 days
    report = check(healthy(ca_days=30, at=later), at=later)
    assert any("caBundle" in m and "expired" in m for m in failures(report)), render_text(report)


def test_a_serving_certificate_from_another_ca_fails() -> None:
    report = check(healthy(cert_days=0))
    assert any("not signed by" in m for m in failures(report)), render_text(report)


def test_a_webhook_the_api_server_cannot_reach_fails() -> None:
    report = check(healthy(), injects=False)
    assert any("did not get the attachment" in m for m in failures(report)), render_text(report)


def test_a_webhook_service_without_endpoints_fails() -> None:
    objects = healthy()
    key = next(k for k in objects if "endpointslices" in k)
    objects[key] = {"items": []}
    assert any("no ready endpoint" in m for m in failures(check(objects)))


def test_an_operator_whose_lease_expired_fails() -> None:
    report = check(healthy(lease_age=60))
    assert any("expired" in m and "op-1" in m for m in failures(report)), render_text(report)


def test_a_bridge_without_its_subnet_fails() -> None:
    objects = healthy()
    del objects["/apis/kubeovn.io/v1/subnets/apibridge-tenant-a"]
    report = check(objects)
    assert any("lacks its Subnet apibridge-tenant-a" in m for m in failures(report)), render_text(report)


def test_a_selected_pod_without_the_attachment_fails() -> None:
    objects = healthy()
    pod = {"metadata": {"name": "p", "namespace": "ingress-nginx", "labels": {"app": "x"}}, "spec": {"containers": []}}
    objects["/api/v1/pods"] = {"items": [pod]}
    report = check(objects)
    assert any("ingress-nginx/p (bridge tenant-a)" in m for m in failures(report)), render_text(report)


def test_a_bridge_degraded_by_a_tenant_policy_fails_naming_it() -> None:
    """The operator's Degraded/NetworkPolicyDropsApi (check's AB310 through the verdict) is a failed bridge line."""
    objects = healthy()
    bridge = objects["/apis/apibridge.dev/v1alpha1/apibridges"]["items"][0]
    message = "NetworkPolicy/ingress-nginx/deny: AB310 (spec.egress): isolates the egress of Pod/ingress-nginx/p"
    bridge["status"]["conditions"].append(
        {"type": "Degraded", "status": "True", "reason": "NetworkPolicyDropsApi", "message": message}
    )
    report = check(objects)
    assert any("NetworkPolicy/ingress-nginx/deny" in m and "tenant-a" in m for m in failures(report)), render_text(
        report
    )
