"""The webhook's tests on the real kube-apiserver (``tests/kube``): the example tenants, a raw admin client,
and a connection for the webhook that authenticates as the chart's webhook ServiceAccount.

The webhook in these tests is fed by ``WatchSource`` from the API server, under the chart's RBAC, and called
*by* the API server through the chart's MutatingWebhookConfiguration (rendered by Helm; ``clientConfig.url``
instead of the Service — see tests/kube/webhook.py for why), so the path from chart to stored
pod is the one a real cluster takes.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from apibridge.base.kubeclient import KubeConfig
from apibridge.model.load import load_documents
from kube.cluster import ADMIN_TOKEN, KubeCluster, install_crds, object_path, third_party_crds
from kube.incluster import CHART_NAMESPACE, WEBHOOK_ACCOUNT, apply_all, install_chart_rbac, reset

from .support import EXAMPLES

RELEASE_NAMESPACE = CHART_NAMESPACE
# what every API server has already: its namespaces and the kubernetes Service (10.96.0.1 here too)
BOOTSTRAPPED = {("Namespace", "default"), ("Namespace", "kube-system"), ("Service", "kubernetes")}
NAD_CRD = "network-attachment-definitions.k8s.cni.cncf.io"


def tenants() -> list[dict[str, Any]]:
    """examples/apibridge, minus what the API server already has."""
    docs = load_documents([str(EXAMPLES / "cluster.yaml"), str(EXAMPLES / "bridges.yaml")])
    return [d.body for d in docs if (d.body["kind"], d.body["metadata"]["name"]) not in BOOTSTRAPPED]


def nad_crd() -> dict[str, Any]:
    return next(c for c in third_party_crds() if c["metadata"]["name"] == NAD_CRD)


@dataclass
class OnCluster:
    kube: KubeCluster
    session: aiohttp.ClientSession
    webhook_token: str
    webhook_kubeconfig: Path

    def connection(self) -> KubeConfig:
        """How the webhook reaches the API server: as the chart's webhook ServiceAccount."""
        return KubeConfig(kubeconfig=str(self.webhook_kubeconfig))

    async def call(self, method: str, path: str, body: Any = None, **params: str) -> tuple[int, Any]:
        headers = {"Content-Type": "application/merge-patch+json" if method == "PATCH" else "application/json"}
        data = None if body is None else json.dumps(body)
        async with self.session.request(method, path, data=data, params=params or None, headers=headers) as resp:
            text = await resp.text()
            return resp.status, (json.loads(text) if text else None)

    async def create(self, obj: dict[str, Any], **params: str) -> tuple[int, Any]:
        return await self.call("POST", object_path(obj, collection=True), obj, **params)

    async def must_create(self, obj: dict[str, Any]) -> dict[str, Any]:
        status, body = await self.create(obj)
        assert status == 201, body
        created: dict[str, Any] = body
        return created


_PREPARED: set[int] = set()


@asynccontextmanager
async def on_cluster(kube: KubeCluster, *, nad_crd_installed: bool = True) -> AsyncIterator[OnCluster]:
    """The session's API server reset to the example tenants; ``nad_crd_installed=False`` removes Multus' CRD
    for the block (and puts it back after)."""
    if id(kube) not in _PREPARED:
        install_chart_rbac(kube)
        _PREPARED.add(id(kube))
    await asyncio.to_thread(reset, kube)
    await asyncio.to_thread(apply_all, kube, tenants())
    if not nad_crd_installed:
        await asyncio.to_thread(kube.kubectl, "delete", "crd", NAD_CRD, "--wait=true", "--timeout=60s")
    token = await asyncio.to_thread(kube.service_account_token, CHART_NAMESPACE, WEBHOOK_ACCOUNT)
    kubeconfig = kube.write_kubeconfig(kube.workdir / "webhook.kubeconfig", token, namespace=CHART_NAMESPACE)
    ssl_ctx = ssl.create_default_context(cafile=str(kube.ca_file))
    try:
        async with aiohttp.ClientSession(
            kube.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, connector=aiohttp.TCPConnector(ssl=ssl_ctx)
        ) as session:
            yield OnCluster(kube, session, token, kubeconfig)
    finally:
        await asyncio.to_thread(install_crds, kube, [nad_crd()])
