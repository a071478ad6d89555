"""An emulated cluster for the webhook: the emulator, the CRDs, the example tenants, a raw API client.

The webhook in these tests is fed by ``WatchSource`` from the emulator and called *by* the emulator
through a MutatingWebhookConfiguration rendered from the Helm chart, so the path from chart to pod is
the one a real cluster takes.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from apibridge.base.kubeclient import KubeConfig
from apibridge.emulator import Emulator, Running, serve
from apibridge.model.load import load_documents

from .support import EXAMPLES, REPO

TOKEN = "webhook-test-token"
FIXTURES = Path(__file__).parent / "fixtures"
RELEASE_NAMESPACE = "apibridge"
BOOTSTRAPPED = {
    ("Namespace", "default"),
    ("Namespace", "kube-system"),
    ("Service", "kubernetes"),
    ("Endpoints", "kubernetes"),
    ("Node", "kind-control-plane"),
}


def crds(*, nad: bool = True) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all((FIXTURES / "thirdparty-crds.yaml").read_text()) if d]
    if not nad:
        docs = [d for d in docs if d["spec"]["group"] != "k8s.cni.cncf.io"]
    docs.append(yaml.safe_load((REPO / "deploy/chart/crds/apibridges.apibridge.dev.yaml").read_text()))
    return docs


def tenants() -> list[dict[str, Any]]:
    """examples/apibridge, minus what the emulator already has (bootstrap namespaces, the API Service)."""
    docs = load_documents([str(EXAMPLES / "cluster.yaml"), str(EXAMPLES / "bridges.yaml")])
    return [d.body for d in docs if (d.body["kind"], d.body["metadata"]["name"]) not in BOOTSTRAPPED]


@dataclass
class Emulated:
    running: Running
    ca_file: Path
    session: aiohttp.ClientSession
    services: dict[tuple[str, str, int], str] = field(default_factory=dict)

    def connection(self) -> KubeConfig:
        """A kubeconfig for the emulator (with the token), as ``WatchSource`` and ``--kubeconfig`` take it."""
        return KubeConfig(str(self.running.write_kubeconfig(self.ca_file.parent / "emulator-kubeconfig")))

    async def call(self, method: str, path: str, body: Any = None, **params: str) -> tuple[int, Any]:
        headers = {"Content-Type": "application/merge-patch+json" if method == "PATCH" else "application/json"}
        data = None if body is None else json.dumps(body)
        async with self.session.request(method, path, data=data, params=params or None, headers=headers) as resp:
            text = await resp.text()
            return resp.status, (json.loads(text) if text else None)

    async def create(self, obj: dict[str, Any], **params: str) -> tuple[int, Any]:
        return await self.call("POST", collection(obj), obj, **params)

    async def must_create(self, obj: dict[str, Any]) -> dict[str, Any]:
        status, body = await self.create(obj)
        assert status == 201, body
        created: dict[str, Any] = body
        return created


def collection(obj: dict[str, Any]) -> str:
    """The collection path an object is created in (enough for the kinds these tests use)."""
    api = obj["apiVersion"]
    root = "/api/v1" if api == "v1" else f"/apis/{api}"
    plural = {
        "Namespace": "namespaces",
        "Pod": "pods",
        "Service": "services",
        "Vpc": "vpcs",
        "Subnet": "subnets",
        "NetworkAttachmentDefinition": "network-attachment-definitions",
        "ApiBridge": "apibridges",
        "CustomResourceDefinition": "customresourcedefinitions",
        "MutatingWebhookConfiguration": "mutatingwebhookconfigurations",
    }[obj["kind"]]
    namespaced = obj["kind"] in ("Pod", "Service", "NetworkAttachmentDefinition")
    ns = obj["metadata"].get("namespace") or "default"
    return f"{root}/namespaces/{ns}/{plural}" if namespaced else f"{root}/{plural}"


@asynccontextmanager
async def emulated(tmp_path: Path, *, nad_crd: bool = True, history_window: int = 1000) -> AsyncIterator[Emulated]:
    services: dict[tuple[str, str, int], str] = {}

    def resolve(namespace: str, name: str, port: int) -> str:
        return services[(namespace, name, port)]

    emulator = Emulator(token=TOKEN, bookmark_interval=0.2, history_window=history_window, service_resolver=resolve)
    async with serve(emulator, self_signed_tls=True) as running:
        assert running.ca_pem
        ca_file = tmp_path / "emulator-ca.crt"
        ca_file.write_text(running.ca_pem)
        ctx_headers = {"Authorization": f"Bearer {TOKEN}"}
        ssl_ctx = ssl.create_default_context(cafile=str(ca_file))
        async with aiohttp.ClientSession(
            running.url, headers=ctx_headers, connector=aiohttp.TCPConnector(ssl=ssl_ctx)
        ) as session:
            env = Emulated(running, ca_file, session, services)
            for crd in crds(nad=nad_crd):
                await env.must_create(crd)
            for obj in tenants():
                await env.must_create(obj)
            yield env


async def eventually(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
