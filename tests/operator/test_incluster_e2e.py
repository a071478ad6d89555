"""The in-cluster story end to end: the real ``apibridge operator`` and ``apibridge webhook`` processes
against the real kube-apiserver, each as the chart's ServiceAccount (TokenRequest tokens, the chart's RBAC).

The webhook lists and watches the API server (``--watch``); the API server calls it over TLS through the
chart's MutatingWebhookConfiguration on every Pod CREATE. The configuration is the chart's, rendered by
Helm, with one change: ``clientConfig.url`` (https://127.0.0.1:<port>/mutate-pods) instead of
``clientConfig.service``. Why: kube-apiserver reaches a Service-referenced webhook through the Service's
ClusterIP (there is no kube-proxy here) or, with --enable-aggregator-routing, through an endpoint address,
which may not be loopback; a webhook in a network namespace behind a veth would then need the API server
reachable from inside it too, which puts root and namespaces under every test. The Service → port → pod
wiring the URL skips is checked by tests/deploy/test_chart.py. The story:

1. an ApiBridge appears → the operator creates its NAD and Subnet and reports Ready;
2. a pod is created → the stored pod carries the mutation, exactly what ``inject`` produces;
3. the webhook goes down → pods are admitted unmutated (``failurePolicy: Ignore``), the operator
   reports them as pending restart and, with ``rollout: restart``, restarts their Deployment.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opkit import (
    ROOT,
    OperatorProcess,
    bridge,
    free_port,
    operator_logs_on_failure,
    pod,
    wait_condition,
    workload_with_pod,
)

from apibridge.base.certs import CertificateAuthority, write_bundle
from apibridge.base.kubeclient import Client
from apibridge.kubeovn import networks, rules
from apibridge.operator import kube
from deploy.helm import merge, template
from deploy.test_chart import SCENARIOS
from kube.cluster import KubeCluster
from kube.incluster import WEBHOOK_ACCOUNT, account_kubeconfig
from polling import eventually

pytestmark = [pytest.mark.slow, pytest.mark.kube]

LABELS = {"app.kubernetes.io/name": "ingress-nginx"}


class WebhookProcess:
    """``apibridge webhook --watch`` against the API server as the chart's webhook ServiceAccount, with its
    own serving certificate."""

    def __init__(self, api: KubeCluster, workdir: Path) -> None:
        self.port = free_port()
        self.ca = CertificateAuthority.create("e2e-webhook-ca")
        self.bundle = write_bundle(workdir / "webhook-tls", self.ca, self.ca.issue(["127.0.0.1"]))
        kubeconfig = account_kubeconfig(api, WEBHOOK_ACCOUNT, workdir / "webhook.kubeconfig")
        self.argv = [
            sys.executable,
            "-c",
            "from apibridge.cli.main import main; main()",
            "webhook",
            "--watch",
            "--kubeconfig",
            str(kubeconfig),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--tls-cert-file",
            str(self.bundle.cert),
            "--tls-private-key-file",
            str(self.bundle.key),
        ]
        self.log_path = workdir / "webhook.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WebhookProcess:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
            )
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def configuration(self) -> dict[str, Any]:
        """The chart's MutatingWebhookConfiguration (Helm 4), pointed at this process by URL (see above)."""
        values = merge(SCENARIOS["tls-from-values"], {"webhook": {"tls": {"caBundle": self.ca.cert_pem().decode()}}})
        (mwc,) = [d for d in template("helm4", values) if d["kind"] == "MutatingWebhookConfiguration"]
        hook = mwc["webhooks"][0]
        assert hook["clientConfig"]["service"]["path"] == "/mutate-pods"
        del hook["clientConfig"]["service"]
        hook["clientConfig"]["url"] = f"https://127.0.0.1:{self.port}/mutate-pods"
        assert base64.b64decode(hook["clientConfig"]["caBundle"]) == self.ca.cert_pem()
        return dict(mwc)


@pytest.fixture
def webhook(cluster: KubeCluster, tmp_path: Path) -> Iterator[WebhookProcess]:
    process = WebhookProcess(cluster, tmp_path).start()
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
