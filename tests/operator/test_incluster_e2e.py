"""The in-cluster story end to end: the real ``apibridge operator`` and ``apibridge webhook`` processes
against the real kube-apiserver, each as the chart's ServiceAccount (TokenRequest tokens, the chart's RBAC).

The webhook lists and watches the API server (``--watch``); the API server calls it over TLS through the
chart's MutatingWebhookConfiguration on every Pod CREATE. The configuration is the chart's, rendered by
Helm, with ``clientConfig.url`` instead of ``clientConfig.service`` (why: tests/kube/webhook.py). The story:

1. an ApiBridge appears → the operator creates its NAD and Subnet and reports Ready;
2. a pod is created → the stored pod carries the mutation, exactly what ``inject`` produces;
3. the webhook goes down → pods are admitted unmutated (``failurePolicy: Ignore``), the operator
   reports them as pending restart and, with ``rollout: restart``, restarts their Deployment.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opkit import (
    OperatorProcess,
    bridge,
    operator_logs_on_failure,
    pod,
    wait_condition,
    workload_with_pod,
)

from apibridge.base.certs import CertificateAuthority, write_bundle
from apibridge.base.kubeclient import Client
from apibridge.kubeovn import networks, rules
from apibridge.operator import kube
from kube.cluster import KubeCluster
from kube.incluster import account_kubeconfig
from kube.webhook import WebhookProcess
from polling import eventually

pytestmark = [pytest.mark.slow, pytest.mark.kube]

LABELS = {"app.kubernetes.io/name": "ingress-nginx"}


@pytest.fixture
def webhook(cluster: KubeCluster, tmp_path: Path) -> Iterator[WebhookProcess]:
    ca = CertificateAuthority.create("e2e-webhook-ca")
    bundle = write_bundle(tmp_path / "webhook-tls", ca, ca.issue(["127.0.0.1"]))
    process = WebhookProcess(cluster, tmp_path, ca.cert_pem(), bundle.cert, bundle.key).start()
    try:
        yield process
    finally:
        process.kill()


def attached(stored: dict[str, Any], nad: str) -> bool:
    annotations = stored["metadata"].get("annotations") or {}
    selections = networks.parse(annotations.get(rules.NETWORKS_ANNOTATION)).selections
    return any(s.ref(stored["metadata"]["namespace"]) == ("kube-system", nad) for s in selections)


async def test_operator_and_webhook_processes_together(
    cluster: KubeCluster, webhook: WebhookProcess, client: Client, tmp_path: Path
) -> None:
    operator_kubeconfig = account_kubeconfig(cluster, "apibridge-controller", tmp_path / "operator.kubeconfig")
    operator = OperatorProcess(
        operator_kubeconfig, tmp_path, rollout_rate="10/1s", restart_settle=2.0, restart_retry=1.0
    ).start()
    with operator_logs_on_failure(operator):
        try:
            await client.create(
                kube.Kind(
                    "admissionregistration.k8s.io/v1",
                    "MutatingWebhookConfiguration",
                    "mutatingwebhookconfigurations",
                    False,
                ),
                webhook.configuration(),
            )
            await client.create(
                kube.APIBRIDGE, bridge("tenant-a", podSelector={"matchLabels": LABELS}, rollout="restart")
            )
            await wait_condition(client, "tenant-a", "Ready", "True", timeout=30)
            status = (await client.get(kube.APIBRIDGE, "tenant-a") or {}).get("status", {})
            nad, subnet = status["nad"].split("/")[1], status["subnet"]
            assert await client.get(kube.NAD, nad, "kube-system") is not None
            assert await client.get(kube.SUBNET, subnet) is not None

            # 2. the webhook injects once its watch has seen the bridge's NAD and Subnet
            attempt = 0

            async def created_mutated() -> dict[str, Any] | None:
                nonlocal attempt
                attempt += 1
                stored = await client.create(kube.POD, pod(f"ctrl-{attempt}", labels=LABELS))
                return stored if attached(stored, nad) else None

            stored = await eventually(created_mutated, timeout=30, interval=0.3, what="a mutated pod")
            annotations = stored["metadata"]["annotations"]
            routes_key = rules.provider_key(status["provider"], rules.ROUTES)
            assert routes_key in annotations and status["routes"][0]["dst"] in annotations[routes_key]
            # only pods the bridge selects are touched
            other = await client.create(kube.POD, pod("not-selected", labels={"app": "other"}))
            assert not attached(other, nad)
            for i in range(1, attempt + 1):  # the early, unmutated attempts would count as drift below
                await client.delete(kube.POD, f"ctrl-{i}", "ingress-nginx")
            await client.delete(kube.POD, "not-selected", "ingress-nginx")

            # 3. webhook down: admitted unmutated, reported, and the owner restarted (rate-limited)
            webhook.kill()
            deployment = await workload_with_pod(client, "controller", labels=LABELS)
            pods = await client.list(kube.POD, "ingress-nginx")
            assert any(not attached(p, nad) for p in pods), "with the webhook down the pod is stored unmutated"

            async def restarted() -> dict[str, Any] | None:
                dep = await client.get(kube.DEPLOYMENT, deployment["metadata"]["name"], "ingress-nginx")
                template = (dep or {}).get("spec", {}).get("template", {}).get("metadata") or {}
                return dep if rules.ROLLOUT_RESTART_ANNOTATION in (template.get("annotations") or {}) else None

            await eventually(restarted, timeout=30, what="the Deployment restarted by the operator")
            status = (await client.get(kube.APIBRIDGE, "tenant-a") or {}).get("status", {})
            assert status.get("podsPendingRestart", 0) >= 1

            # the restart's pods still lack the attachment (webhook still down): restarted again, with backoff
            async def retried() -> bool:
                dep = await client.get(kube.DEPLOYMENT, deployment["metadata"]["name"], "ingress-nginx") or {}
                return kube.annotations_of(dep).get(rules.RESTARTED_FOR_ANNOTATION, "").endswith("#2")

            await eventually(retried, timeout=30, what="a second restart of the Deployment")
            events = await client.list(kube.EVENT, "ingress-nginx")
            assert any(e.get("involvedObject", {}).get("kind") == "Pod" for e in events)
        finally:
            await operator.stop()
