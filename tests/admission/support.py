"""Builders for AdmissionReviews and pods, the test cluster, and an HTTPS server running in a thread.

The server runs on its own event loop in a background thread so that tests (and hypothesis, which
is synchronous) talk to it with plain blocking clients over real TLS, as the API server would.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import ssl
import threading
import uuid
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from apibridge.admission.guard import Limits
from apibridge.admission.server import MUTATE_PATH, ServerConfig, WebhookServer
from apibridge.admission.snapshot import SnapshotSource
from apibridge.admission.tls import ReloadingContext
from apibridge.kubeovn import rules
from apibridge.model.cluster import Cluster
from apibridge.model.load import load_documents, parse_text

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "apibridge"

# Beyond the example: a namespace in tenant-b's VPC that its namespaceSelector does not select, an
# opted-in pod label for tenant-a, and a namespace whose name needs no escaping tricks.
EXTRA = """
apiVersion: v1
kind: Namespace
metadata:
  name: tenant-b-sandbox
---
apiVersion: kubeovn.io/v1
kind: Vpc
metadata:
  name: tenant-b
spec:
  namespaces: [tenant-b, tenant-b-sandbox]
"""


def make_cluster() -> Cluster:
    """examples/apibridge (tenant-a selects ingress-nginx pods, tenant-b selects namespaces labelled
    tenant=tenant-b) plus a tenant-b namespace the selector leaves out."""
    docs = [
        d
        for d in load_documents([str(EXAMPLES / "cluster.yaml"), str(EXAMPLES / "bridges.yaml")])
        if not (d.body.get("kind") == "Vpc" and d.body["metadata"]["name"] == "tenant-b")
    ]
    return Cluster.from_documents([*docs, *parse_text(EXTRA, "extra")])


def pod(
    namespace: str | None = "ingress-nginx",
    *,
    name: str | None = "web-0",
    generate_name: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if name:
        metadata["name"] = name
    if generate_name:
        metadata["generateName"] = generate_name
    if namespace:
        metadata["namespace"] = namespace
    if labels is not None:
        metadata["labels"] = labels
    if annotations is not None:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example/app:1",
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                }
            ]
        },
    }


INGRESS = {"app.kubernetes.io/name": "ingress-nginx"}


def review(
    obj: dict[str, Any] | None,
    *,
    namespace: str = "ingress-nginx",
    dry_run: bool = False,
    operation: str = "CREATE",
    kind: str = "Pod",
    uid: str | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid or str(uuid.uuid4()),
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": kind},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "name": (obj or {}).get("metadata", {}).get("name", ""),
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": obj,
            "oldObject": None,
            "dryRun": dry_run,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }


def patch_of(answer: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The decoded JSON patch of an AdmissionReview answer (None: no patch)."""
    resp = answer["response"]
    if "patch" not in resp:
        assert "patchType" not in resp
        return None
    assert resp["patchType"] == "JSONPatch"
    decoded: list[dict[str, Any]] = json.loads(base64.b64decode(resp["patch"]))
    return decoded


class RunningServer:
    """A ``WebhookServer`` on 127.0.0.1, any free port, in a background thread."""

    def __init__(
        self,
        source: SnapshotSource,
        tls: ReloadingContext | None,
        *,
        metrics_port: bool = False,
        limits: Limits | None = None,
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        config = ServerConfig(
            host="127.0.0.1", port=0, metrics_port=0 if metrics_port else None, limits=limits or Limits()
        )
        self.server = WebhookServer(source, tls, config)
        self.run(self.server.start())

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    @property
    def port(self) -> int:
        return self.server.port

    def close(self) -> None:
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


class Client:
    """A keep-alive HTTPS client that trusts only ``ca_file``, like the API server with a caBundle."""

    def __init__(self, port: int, ca_file: Path, host: str = "127.0.0.1") -> None:
        self.context = ssl.create_default_context(cafile=str(ca_file))
        self.port = port
        self.host = host
        self.conn = http.client.HTTPSConnection(host, port, context=self.context, timeout=10)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            resp = self.conn.getresponse()
            return resp.status, resp.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=10)
            raise

    def post(self, payload: Any) -> tuple[int, bytes]:
        return self.request("POST", MUTATE_PATH, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    def review(self, payload: dict[str, Any]) -> dict[str, Any]:
        status, body = self.post(payload)
        assert status == 200, body
        answer: dict[str, Any] = json.loads(body)
        return answer

    def close(self) -> None:
        self.conn.close()


# ---- fuzzing reviews: any JSON value, poked at (or removed from) the members the webhook reads --------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
REVIEW_PATHS = st.lists(
    st.sampled_from(
        [
            "apiVersion",
            "kind",
            "request",
            "uid",
            "group",
            "operation",
            "namespace",
            "subResource",
            "dryRun",
            "object",
            "metadata",
            "name",
            "generateName",
            "labels",
            "annotations",
            "spec",
            "containers",
            rules.NETWORKS_ANNOTATION,
            rules.INJECT_ANNOTATION,
        ]
    ),
    min_size=1,
    max_size=4,
)


def poke(payload: Any, path: list[str], value: Any) -> Any:
    """``payload`` with ``value`` at ``path`` (missing members made on the way; a non-object stops it)."""
    node: Any = payload
    for key in path[:-1]:
        if not isinstance(node, dict):
            return payload
        node = node.setdefault(key, {})
    if isinstance(node, dict):
        node[path[-1]] = value
    return payload


def drop(payload: Any, path: list[str]) -> Any:
    """``payload`` without the member at ``path`` (if it is there)."""
    node: Any = payload
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)
    return payload


def _without(paths: list[list[str]]) -> bytes:
    """A review of a selected pod with members removed (absent is not null: ``dryRun`` absent is false)."""
    payload = review(pod(labels=INGRESS, annotations={}))
    for path in paths:
        drop(payload, path)
    return json.dumps(payload).encode()


# review bodies a fuzzer sends: any JSON, reviews with any value at a member the webhook reads, reviews
# missing such members, and bytes that are not JSON
REVIEW_BODIES = st.one_of(
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda p, v, ann: json.dumps(poke(review(pod(labels=INGRESS, annotations=ann)), p, v)).encode(),
        REVIEW_PATHS,
        JSON_VALUES,
        st.dictionaries(
            st.sampled_from([rules.NETWORKS_ANNOTATION, rules.INJECT_ANNOTATION, "x/y"]),
            st.text(max_size=30),
            max_size=3,
        ),
    ),
    st.lists(REVIEW_PATHS, min_size=1, max_size=3).map(_without),
    st.binary(max_size=64),
)
