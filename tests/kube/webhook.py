"""The real ``apibridge webhook --watch`` process on the test API server, and the chart's configuration for it.

Shared by the in-cluster end-to-end test, the doctor's install test, the on-cluster webhook tests and
``bench/admission.py``, so that all of them run the webhook the same way: its own process, as the chart's
webhook ServiceAccount (a TokenRequest token, the chart's RBAC), serving TLS on a loopback port.

The MutatingWebhookConfiguration is the chart's as Helm renders it, with one change: ``clientConfig.url``
(https://127.0.0.1:<port><path>) instead of ``clientConfig.service``. Why: kube-apiserver reaches a
Service-referenced webhook through the Service's ClusterIP (there is no kube-proxy here) or, with
--enable-aggregator-routing, through an endpoint address, which may not be loopback; a webhook in a network
namespace behind a veth would then need the API server reachable from inside it too, which puts root and
namespaces under every test. The Service → port → pod wiring the URL skips is checked by
tests/deploy/test_chart.py.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from deploy.helm import merge, template
from deploy.test_chart import SCENARIOS

from .cluster import KubeCluster, free_port
from .incluster import WEBHOOK_ACCOUNT, account_kubeconfig

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_PATH = "/mutate-pods"


def chart_webhook_configuration(ca_pem: bytes, port: int) -> dict[str, Any]:
    """The chart's MutatingWebhookConfiguration (Helm 4) trusting ``ca_pem``, pointed at ``port`` by URL."""
    values = merge(SCENARIOS["tls-from-values"], {"webhook": {"tls": {"caBundle": ca_pem.decode()}}})
    (mwc,) = [d for d in template("helm4", values) if d["kind"] == "MutatingWebhookConfiguration"]
    client_config = mwc["webhooks"][0]["clientConfig"]
    assert client_config.pop("service")["path"] == WEBHOOK_PATH
    client_config["url"] = f"https://127.0.0.1:{port}{WEBHOOK_PATH}"
    assert base64.b64decode(client_config["caBundle"]) == ca_pem
    return dict(mwc)


class WebhookProcess:
    """``apibridge webhook --watch`` as the chart's webhook ServiceAccount, serving ``cert``/``key`` on a free
    loopback port; ``extra`` arguments go on its command line. Its output goes to ``<workdir>/webhook.log``."""

    def __init__(self, api: KubeCluster, workdir: Path, ca_pem: bytes, cert: Path, key: Path, *extra: str) -> None:
        self.port = free_port()
        self.ca_pem = ca_pem
        kubeconfig = account_kubeconfig(api, WEBHOOK_ACCOUNT, workdir / "webhook.kubeconfig")
        self.argv = [sys.executable, "-c", "from apibridge.cli.main import main; main()", "webhook", "--watch"]
        self.argv += ["--kubeconfig", str(kubeconfig), "--host", "127.0.0.1", "--port", str(self.port)]
        self.argv += ["--tls-cert-file", str(cert), "--tls-private-key-file", str(key), *extra]
        self.log_path = workdir / "webhook.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WebhookProcess:
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
            )
        return self

    def kill(self) -> None:
        """Down at once, as a crashed webhook is (SIGKILL)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """A graceful stop (SIGTERM), SIGKILL after 15 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def configuration(self) -> dict[str, Any]:
        """The chart's MutatingWebhookConfiguration, pointed at this process."""
        return chart_webhook_configuration(self.ca_pem, self.port)
