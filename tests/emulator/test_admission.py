"""Admission webhooks called over real HTTPS, exactly as kube-apiserver calls them."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from apibridge.base.certs import BundlePaths, CertificateAuthority
from apibridge.emulator import Emulator

from .support import CM, PODS, Api, cm, pod

MWC = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
VWC = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
Behaviour = Callable[[dict[str, Any]], Any]


@dataclass
class Webhook:
    """A small real HTTPS webhook: records every AdmissionReview and answers with ``behaviour``."""

    port: int
    ca_pem: str
    behaviour: Behaviour
    reviews: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/mutate"

    @property
    def ca_bundle(self) -> str:
        return base64.b64encode(self.ca_pem.encode()).decode()


def allow(review: dict[str, Any], patch: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": review["request"]["uid"], "allowed": True, **extra}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


@contextlib.asynccontextmanager
async def webhook_server(bundle: BundlePaths, behaviour: Behaviour) -> AsyncIterator[Webhook]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(bundle.cert, bundle.key)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    hook = Webhook(sock.getsockname()[1], bundle.ca_cert.read_text(), behaviour)

    async def handle(request: web.Request) -> web.Response:
        review = await request.json()
        review["_query"] = dict(request.query)
        hook.reviews.append(review)
        answer = hook.behaviour(review)
        if asyncio.iscoroutine(answer):
            answer = await answer
        return web.json_response(answer)

    app = web.Application()
    app.router.add_post("/mutate", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.SockSite(runner, sock, ssl_context=ctx).start()
    try:
        yield hook
    finally:
        await runner.cleanup()
        sock.close()


def config(
    hook: Webhook | None,
    name: str = "pods.example.com",
    *,
    url: str | None = None,
    rules: list[dict[str, Any]] | None = None,
    kind: str = "MutatingWebhookConfiguration",
    **settings: Any,
) -> dict[str, Any]:
    client: dict[str, Any] = {"url": url or (hook.url if hook else "https://127.0.0.1:1/mutate")}
    if hook:
        client["caBundle"] = hook.ca_bundle
    webhook: dict[str, Any] = {
        "name": name,
        "clientConfig": client,
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "rules": rules or [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
        **settings,
    }
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name.split(".")[0]},
        "webhooks": [webhook],
    }


@pytest.fixture
def services() -> dict[tuple[str, str, int], str]:
    return {}


@pytest.fixture
def emulator(services: dict[tuple[str, str, int], str]) -> Emulator:
    return Emulator(
        history_window=100, bookmark_interval=0.2, service_resolver=lambda ns, name, port: services[(ns, name, port)]
    )


@pytest.fixture
def localhost(tls_bundle: Callable[[list[str]], BundlePaths]) -> BundlePaths:
    return tls_bundle(["127.0.0.1", "localhost"])


async def test_pod_create_calls_the_webhook_and_applies_its_patch(api: Api, localhost: BundlePaths) -> None:
    patch = [
        {"op": "add", "path": "/metadata/annotations", "value": {"example.com/injected": "yes"}},
        {"op": "add", "path": "/metadata/labels/example.com~1role", "value": "edge"},
    ]
    async with webhook_server(localhost, lambda r: allow(r, patch, warnings=["be careful"])) as hook:
        made = await api.post(MWC, config(hook))
        assert made.status == 201
        webhook = made.body["webhooks"][0]  # server-side defaults, as on a real cluster
        assert (webhook["failurePolicy"], webhook["timeoutSeconds"], webhook["reinvocationPolicy"]) == (
            "Fail",
            10,
            "Never",
        )
        created = await api.post(PODS, pod("web", {"app": "web"}))
        assert created.status == 201, created.body
        assert created.body["metadata"]["annotations"] == {"example.com/injected": "yes"}
        assert created.body["metadata"]["labels"] == {"app": "web", "example.com/role": "edge"}
        assert created.headers.getall("Warning") == ['299 - "be careful"']
        stored = (await api.get(f"{PODS}/web")).body
        assert stored["metadata"]["labels"]["example.com/role"] == "edge"

    [review] = hook.reviews
    assert review["apiVersion"] == "admission.k8s.io/v1" and review["kind"] == "AdmissionReview"
    assert review["_query"] == {"timeout": "10s"}
    req = review["request"]
    assert req["kind"] == req["requestKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert req["resource"] == req["requestResource"] == {"group": "", "version": "v1", "resource": "pods"}
    assert (req["operation"], req["namespace"], req["name"], req["dryRun"]) == ("CREATE", "default", "web", False)
    assert req["oldObject"] is None and req["options"]["kind"] == "CreateOptions"
    assert "system:masters" in req["userInfo"]["groups"]
    obj = req["object"]
    assert obj["spec"]["serviceAccountName"] == "default"  # after defaulting and the ServiceAccount plugin
    assert obj["spec"]["volumes"][0]["name"].startswith("kube-api-access-")
    assert "uid" not in obj["metadata"] and "resourceVersion" not in obj["metadata"]


async def test_denials_carry_the_webhooks_status(api: Api, localhost: BundlePaths) -> None:
    def deny(review: dict[str, Any]) -> dict[str, Any]:
        body = allow(review)
        body["response"].update(allowed=False, status={"code": 403, "reason": "Forbidden", "message": "no pods today"})
        return body

    async with webhook_server(localhost, deny) as hook:
        await api.post(MWC, config(hook))
        refused = await api.post(PODS, pod("no"))
    assert refused.status == 403
    assert refused.body["message"] == 'admission webhook "pods.example.com" denied the request: no pods today'
    assert (await api.get(f"{PODS}/no")).status == 404


async def test_failure_policy_fail_and_ignore_with_the_webhook_down(api: Api) -> None:
    await api.post(MWC, config(None, "strict.example.com", url="https://127.0.0.1:1/mutate"))
    refused = await api.post(PODS, pod("down"))
    assert refused.status == 500 and refused.body["reason"] == "InternalError"
    assert refused.body["message"].startswith(
        'Internal error occurred: failed calling webhook "strict.example.com": failed to call webhook: '
        'Post "https://127.0.0.1:1/mutate?timeout=10s": '
    )
    await api.delete(f"{MWC}/strict")
    await api.post(MWC, config(None, "lenient.example.com", url="https://127.0.0.1:1/mutate", failurePolicy="Ignore"))
    assert (await api.post(PODS, pod("down"))).status == 201


async def test_timeout_seconds_is_enforced(api: Api, localhost: BundlePaths) -> None:
    async def slow(review: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(5)
        return allow(review)

    async with webhook_server(localhost, slow) as hook:
        await api.post(MWC, config(hook, timeoutSeconds=1))
        started = time.monotonic()
        refused = await api.post(PODS, pod("slow"))
        assert time.monotonic() - started < 3
    assert refused.status == 500 and "context deadline exceeded" in refused.body["message"]
    assert hook.reviews[0]["_query"] == {"timeout": "1s"}


async def test_bad_responses_and_untrusted_certificates_are_call_failures(api: Api, localhost: BundlePaths) -> None:
    def wrong_uid(review: dict[str, Any]) -> dict[str, Any]:
        body = allow(review)
        body["response"]["uid"] = "something-else"
        return body

    async with webhook_server(localhost, wrong_uid) as hook:
        await api.post(MWC, config(hook))
        reply = await api.post(PODS, pod("uid"))
        assert reply.status == 500 and 'expected response.uid="' in reply.body["message"]
        await api.delete(f"{MWC}/pods")
        hook.behaviour = lambda review: {"response": {"uid": review["request"]["uid"], "allowed": True}}
        await api.post(MWC, config(hook))
        reply = await api.post(PODS, pod("kind"))
        assert reply.status == 500 and "expected webhook response of admission.k8s.io/v1" in reply.body["message"]
        await api.delete(f"{MWC}/pods")
        other_ca = config(hook)
        stranger = CertificateAuthority.create("stranger")  # a CA that never signed the webhook's certificate
        other_ca["webhooks"][0]["clientConfig"]["caBundle"] = base64.b64encode(stranger.cert_pem()).decode()
        await api.post(MWC, other_ca)
        reply = await api.post(PODS, pod("ca"))
        assert reply.status == 500 and "certificate verify failed" in reply.body["message"]


async def test_selectors_and_rules_decide_who_is_called(api: Api, localhost: BundlePaths) -> None:
    async with webhook_server(localhost, allow) as hook:
        await api.post(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "injected", "labels": {"inject": "on"}}},
        )
        await api.post(
            MWC,
            config(
                hook,
                namespaceSelector={"matchLabels": {"inject": "on"}},
                objectSelector={"matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}]},
                rules=[
                    {
                        "operations": ["CREATE", "UPDATE"],
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "resources": ["pods", "configmaps"],
                        "scope": "Namespaced",
                    }
                ],
            ),
        )
        await api.post(PODS, pod("outside"))  # default namespace has no inject label
        await api.post("/api/v1/namespaces/injected/pods", pod("skipped", {"skip": "yes"}))
        await api.post("/api/v1/namespaces/injected/pods", pod("inside"))
        await api.post("/api/v1/namespaces/injected/configmaps", cm("c"))
        await api.patch("/api/v1/namespaces/injected/configmaps/c", {"data": {"a": "b"}})
        await api.patch("/api/v1/namespaces/injected/pods/inside/status", {"status": {"phase": "Running"}})
    calls = [
        (r["request"]["operation"], r["request"]["resource"]["resource"], r["request"]["name"]) for r in hook.reviews
    ]
    assert calls == [("CREATE", "pods", "inside"), ("CREATE", "configmaps", "c"), ("UPDATE", "configmaps", "c")]
    update = hook.reviews[-1]["request"]
    assert update["oldObject"]["data"] == {}
    assert update["object"]["data"] == {"a": "b"} and update["options"]["kind"] == "PatchOptions"


async def test_service_references_go_through_the_resolver_and_check_the_service_name(
    api: Api, services: dict[tuple[str, str, int], str], tls_bundle: Callable[[list[str]], BundlePaths]
) -> None:
    good = tls_bundle(["apibridge.webhooks.svc"])
    async with webhook_server(good, allow) as hook:
        services[("webhooks", "apibridge", 443)] = f"https://127.0.0.1:{hook.port}"
        svc = config(hook)
        svc["webhooks"][0]["clientConfig"] = {
            "service": {"namespace": "webhooks", "name": "apibridge", "path": "/mutate"},
            "caBundle": hook.ca_bundle,
        }
        await api.post(MWC, svc)
        assert (await api.post(PODS, pod("via-svc"))).status == 201
        assert len(hook.reviews) == 1
    wrong_name = tls_bundle(["127.0.0.1"])
    async with webhook_server(wrong_name, allow) as hook:
        services[("webhooks", "apibridge", 443)] = f"https://127.0.0.1:{hook.port}"
        reply = await api.post(PODS, pod("bad-san"))
    assert reply.status == 500 and "apibridge.webhooks.svc" in reply.body["message"]


async def test_dry_run_calls_webhooks_but_stores_nothing(api: Api, localhost: BundlePaths) -> None:
    patch = [{"op": "add", "path": "/metadata/labels", "value": {"seen": "yes"}}]
    async with webhook_server(localhost, lambda r: allow(r, patch)) as hook:
        await api.post(MWC, config(hook))
        dry = await api.post(PODS, pod("dry"), dryRun="All")
    assert dry.status == 201 and dry.body["metadata"]["labels"] == {"seen": "yes"}
    assert hook.reviews[0]["request"]["dryRun"] is True
    assert (await api.get(f"{PODS}/dry")).status == 404


async def test_reinvocation_if_needed(api: Api, localhost: BundlePaths) -> None:
    def first(review: dict[str, Any]) -> dict[str, Any]:
        return allow(review)

    def second(review: dict[str, Any]) -> dict[str, Any]:
        labels = review["request"]["object"]["metadata"].get("labels") or {}
        return allow(review, [{"op": "add", "path": "/metadata/labels", "value": {**labels, "b": "1"}}])

    async with webhook_server(localhost, first) as a, webhook_server(localhost, second) as b:
        await api.post(MWC, config(a, "a.example.com", reinvocationPolicy="IfNeeded"))
        await api.post(MWC, config(b, "b.example.com"))
        made = await api.post(PODS, pod("again"))
    assert made.status == 201 and made.body["metadata"]["labels"] == {"b": "1"}
    assert len(a.reviews) == 2 and len(b.reviews) == 1
    assert a.reviews[1]["request"]["object"]["metadata"]["labels"] == {"b": "1"}


async def test_validating_webhooks_see_the_mutated_object_and_can_deny(api: Api, localhost: BundlePaths) -> None:
    def deny(review: dict[str, Any]) -> dict[str, Any]:
        body = allow(review)
        body["response"].update(allowed=False, status={"message": "nope"})
        return body

    async with webhook_server(localhost, deny) as hook:
        await api.post(VWC, config(hook, "check.example.com", kind="ValidatingWebhookConfiguration"))
        refused = await api.post(PODS, pod("v"))
    assert refused.status == 400  # a denial without a code is a 400
    assert refused.body["message"] == 'admission webhook "check.example.com" denied the request: nope'


async def test_webhook_configurations_are_validated(api: Api) -> None:
    bad = config(None)
    bad["webhooks"][0]["sideEffects"] = "Some"
    bad["webhooks"][0]["clientConfig"] = {"url": "http://insecure.example/mutate"}
    bad["webhooks"][0]["name"] = "short"
    reply = await api.post(MWC, bad)
    assert reply.status == 422
    fields = {c["field"] for c in reply.body["details"]["causes"]}
    assert fields == {"webhooks[0].name", "webhooks[0].sideEffects", "webhooks[0].clientConfig.url"}
    assert (await api.post(CM, cm("unaffected"))).status == 201
