"""End to end: the real kube-apiserver calls the webhook through the chart's MutatingWebhookConfiguration.

The webhook is fed by list+watch from the same API server, as the chart's webhook ServiceAccount; the API
server sends real AdmissionReviews over TLS, verifies the serving certificate against the chart's
``caBundle``, evaluates the chart's CEL ``matchConditions``, applies the JSON patch and stores the pod.
The configuration is the chart's as Helm renders it, with ``clientConfig.url`` (https://127.0.0.1) for
``clientConfig.service``: see tests/kube/webhook.py for why.
"""

from __future__ import annotations

import base64
import copy
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from apibridge.admission.mutate import RESULTS
from apibridge.admission.server import ServerConfig, WebhookServer
from apibridge.admission.tls import ReloadingContext
from apibridge.admission.watch import WatchSource
from apibridge.base.certs import BundlePaths, CertificateAuthority, write_bundle
from apibridge.kubeovn import rules
from apibridge.model.load import Document
from apibridge.plan.mutation import inject_documents
from kube.cluster import KubeCluster
from kube.webhook import chart_webhook_configuration
from polling import eventually

from .oncluster import OnCluster, on_cluster
from .support import INGRESS, pod

pytestmark = pytest.mark.kube


@dataclass
class Stack:
    env: OnCluster
    server: WebhookServer
    source: WatchSource
    bundle: BundlePaths


@pytest.fixture
async def stack(tmp_path: Path, ca: CertificateAuthority, kube: KubeCluster) -> AsyncIterator[Stack]:
    bundle = write_bundle(tmp_path / "webhook-tls", ca, ca.issue(["127.0.0.1"]))
    async with on_cluster(kube) as env:
        source = WatchSource(env.connection(), debounce=0.02)
        server = WebhookServer(
            source, ReloadingContext(bundle.cert, bundle.key), ServerConfig(host="127.0.0.1", port=0, metrics_port=0)
        )
        await server.start()
        try:
            await env.must_create(chart_webhook_configuration(ca.cert_pem(), server.port))
            await eventually(lambda: source.current is not None, what="the webhook's first snapshot")
            snap = source.current
            assert snap is not None
            for bp in snap.plan.bridges.values():  # what the controller would create
                await env.must_create(bp.nad)
                await env.must_create(bp.subnet)
            await eventually(
                lambda: (
                    bool(source.current)
                    and all(source.current.is_realised(bp) for bp in source.current.plan.bridges.values())
                    if source.current
                    else False
                ),
                what="both bridges realised",
            )
            yield Stack(env, server, source, bundle)
        finally:
            await server.stop()


def injected_as_inject_would(stack: Stack, obj: dict[str, Any], namespace: str) -> dict[str, str]:
    snap = stack.source.current
    assert snap is not None
    body = copy.deepcopy(obj)
    body["metadata"].setdefault("name", "x")
    body["metadata"]["namespace"] = namespace
    out = inject_documents(snap.cluster, snap.plan, [Document(body, "test", 0)])[0]
    annotations: dict[str, str] = out["metadata"].get("annotations") or {}
    return annotations


def metric(stack: Stack, name: str, **labels: str) -> float:
    value = stack.server.metrics.registry.get_sample_value(name, labels or None)
    return value or 0.0


async def test_created_pod_is_stored_with_the_mutation(stack: Stack) -> None:
    obj = pod(None, name=None, generate_name="ingress-nginx-controller-", labels=INGRESS, annotations={"team": "edge"})
    stored = await stack.env.must_create({**obj, "metadata": {**obj["metadata"], "namespace": "ingress-nginx"}})
    annotations = stored["metadata"]["annotations"]
    assert stored["metadata"]["name"].startswith("ingress-nginx-controller-")
    assert annotations == injected_as_inject_would(stack, obj, "ingress-nginx")
    assert annotations["team"] == "edge"
    assert annotations[rules.NETWORKS_ANNOTATION] == "kube-system/apibridge-tenant-a"
    assert metric(stack, "apibridge_webhook_pods_injected_total") == 1
    # read back from the API server: what etcd holds, not only what the create answered
    status, read = await stack.env.call("GET", f"/api/v1/namespaces/ingress-nginx/pods/{stored['metadata']['name']}")
    assert status == 200 and read["metadata"]["annotations"] == annotations


async def test_json_networks_and_namespace_selector(stack: Stack) -> None:
    value = json.dumps([{"name": "macvlan", "interface": "net7"}])
    obj = pod("tenant-b", annotations={rules.NETWORKS_ANNOTATION: value})
    stored = await stack.env.must_create(obj)
    assert json.loads(stored["metadata"]["annotations"][rules.NETWORKS_ANNOTATION]) == [
        {"name": "macvlan", "interface": "net7"},
        {"name": "apibridge-tenant-b", "namespace": "kube-system"},
    ]
    assert stored["metadata"]["annotations"] == injected_as_inject_would(stack, obj, "tenant-b")


async def test_unselected_pods_are_stored_unchanged(stack: Stack) -> None:
    plain = await stack.env.must_create(pod("default", labels=INGRESS))
    assert not plain["metadata"].get("annotations")
    assert metric(stack, "apibridge_webhook_reviews_total", result="not_selected") == 1


def reviews(stack: Stack) -> float:
    return sum(metric(stack, "apibridge_webhook_reviews_total", result=r) for r in RESULTS)


async def test_chart_match_condition_keeps_opted_out_pods_from_the_webhook(stack: Stack) -> None:
    """The chart's ``not-opted-out`` matchCondition (CEL) is evaluated by kube-apiserver:
    an opted-out pod never reaches the webhook (no review at all), an ordinary selected pod is mutated."""
    [condition] = _hook(await _mwc(stack))["matchConditions"]
    assert condition["name"] == "not-opted-out" and "lowerAscii()" in condition["expression"]

    for name, value in (("opted", "false"), ("opted-loudly", " FALSE ")):  # trim().lowerAscii() in the chart
        opted = await stack.env.must_create(
            pod("ingress-nginx", name=name, labels=INGRESS, annotations={rules.INJECT_ANNOTATION: value})
        )
        assert opted["metadata"]["annotations"] == {rules.INJECT_ANNOTATION: value}
    assert reviews(stack) == 0  # not even an "opted_out" answer: the webhook was never called

    ordinary = await stack.env.must_create(
        pod("ingress-nginx", name="ordinary", labels=INGRESS, annotations={rules.INJECT_ANNOTATION: "true"})
    )
    assert ordinary["metadata"]["annotations"][rules.NETWORKS_ANNOTATION] == "kube-system/apibridge-tenant-a"
    assert reviews(stack) == 1 and metric(stack, "apibridge_webhook_reviews_total", result="mutated") == 1


async def test_dry_run_returns_the_mutation_and_stores_nothing(stack: Stack) -> None:
    status, body = await stack.env.create(pod("ingress-nginx", name="dry", labels=INGRESS), dryRun="All")
    assert status == 201, body
    assert body["metadata"]["annotations"][rules.NETWORKS_ANNOTATION] == "kube-system/apibridge-tenant-a"
    status, _ = await stack.env.call("GET", "/api/v1/namespaces/ingress-nginx/pods/dry")
    assert status == 404
    assert metric(stack, "apibridge_webhook_reviews_total", result="mutated") == 1
    assert metric(stack, "apibridge_webhook_pods_injected_total") == 0


async def test_reinvoked_after_another_webhook_gives_no_second_patch(
    stack: Stack, ca: CertificateAuthority, tmp_path: Path
) -> None:
    """A second mutating webhook (ordered after ours) adds an annotation; ours is called again and is a no-op."""
    other = write_bundle(tmp_path / "other", ca, ca.issue(["127.0.0.1"]))

    async def add_label(request: web.Request) -> web.Response:
        review = await request.json()
        ops = [{"op": "add", "path": "/metadata/annotations/other.example~1seen", "value": "yes"}]
        patch = base64.b64encode(json.dumps(ops).encode()).decode()
        return web.json_response(
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": {
                    "uid": review["request"]["uid"],
                    "allowed": True,
                    "patchType": "JSONPatch",
                    "patch": patch,
                },
            }
        )

    app = web.Application()
    app.router.add_post("/", add_label)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(other.cert, other.key)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await stack.env.must_create(
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "MutatingWebhookConfiguration",
                "metadata": {"name": "zz-other"},
                "webhooks": [
                    {
                        "name": "other.example.com",
                        "admissionReviewVersions": ["v1"],
                        "sideEffects": "None",
                        "clientConfig": {
                            "url": f"https://127.0.0.1:{port}/",
                            "caBundle": base64.b64encode(ca.cert_pem()).decode(),
                        },
                        "rules": [
                            {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}
                        ],
                    }
                ],
            }
        )
        stored = await stack.env.must_create(pod("ingress-nginx", name="twice", labels=INGRESS))
        annotations = stored["metadata"]["annotations"]
        assert annotations["other.example/seen"] == "yes"
        assert annotations[rules.NETWORKS_ANNOTATION] == "kube-system/apibridge-tenant-a"
        assert metric(stack, "apibridge_webhook_reviews_total", result="mutated") == 1
        assert metric(stack, "apibridge_webhook_reviews_total", result="unchanged") == 1
    finally:
        await runner.cleanup()


async def test_webhook_down_failure_policy_decides(stack: Stack) -> None:
    await stack.server.stop()
    ignored = await stack.env.must_create(pod("ingress-nginx", name="while-down", labels=INGRESS))
    assert not ignored["metadata"].get("annotations")  # failurePolicy: Ignore (the chart default)

    status, _ = await stack.env.call(
        "PATCH",
        "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/apibridge",
        {"webhooks": [{**_hook(await _mwc(stack)), "failurePolicy": "Fail"}]},
    )
    assert status == 200
    # The API server reads webhook configurations through an informer: a create right after the
    # PATCH may still see "Ignore" (seen at load 8: the pod was created). Each try is a new pod.
    tries = iter(range(1000))

    async def refused() -> bool:
        status, body = await stack.env.create(pod("ingress-nginx", name=f"refused-{next(tries)}", labels=INGRESS))
        assert status == 500, status
        return "failed calling webhook" in body["message"]

    await eventually(refused, timeout=20, interval=0.2, what="failurePolicy: Fail to refuse a pod")


async def _mwc(stack: Stack) -> dict[str, Any]:
    status, body = await stack.env.call(
        "GET", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/apibridge"
    )
    assert status == 200
    mwc: dict[str, Any] = body
    return mwc


def _hook(mwc: dict[str, Any]) -> dict[str, Any]:
    hook: dict[str, Any] = mwc["webhooks"][0]
    return hook
