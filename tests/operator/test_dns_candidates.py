"""Issue 11 item 13: the operator keeps every Service that can be the cluster DNS Service, not only kube-dns."""

from __future__ import annotations

from typing import Any

from apibridge.operator import kube
from apibridge.plan.settings import Settings


def svc(ns: str, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"kind": "Service", "metadata": {"name": name, "namespace": ns, "labels": labels or {}}}


def test_dns_service_candidates_pass_the_operators_filter() -> None:
    assert kube.planned_service(svc("default", "kubernetes"))
    assert kube.planned_service(svc("kube-system", "coredns"))  # kubespray
    assert kube.planned_service(svc("kube-system", "anything", {"k8s-app": "kube-dns"}))
    assert kube.planned_service(svc("openshift-dns", "dns-default"))
    assert not kube.planned_service(svc("kube-system", "metrics-server"))
    assert not kube.planned_service(svc("tenant", "coredns"))


def test_a_named_dns_service_is_the_only_dns_candidate() -> None:
    named = Settings(dns_service=("infra", "resolver"))
    assert kube.planned_service(svc("infra", "resolver"), named)
    assert not kube.planned_service(svc("kube-system", "kube-dns", {"k8s-app": "kube-dns"}), named)
    assert kube.planned_service(svc("default", "kubernetes"), named)
