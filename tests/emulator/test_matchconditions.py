"""Admission webhooks' matchConditions (CEL), evaluated by the emulator as kube-apiserver evaluates them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apibridge.base.certs import BundlePaths
from apibridge.emulator import Running
from apibridge.emulator import matchconditions as mc

from .support import CM, PODS, Api, cm, pod
from .test_admission import MWC, VWC, allow, config, webhook_server

OPT_OUT = (
    "!has(object.metadata.annotations) || !('apibridge.dev/inject' in object.metadata.annotations) || "
    "object.metadata.annotations['apibridge.dev/inject'] != 'false'"
)


def conditions(*expressions: str) -> list[dict[str, str]]:
    return [{"name": f"c{i}", "expression": e} for i, e in enumerate(expressions)]


def annotated(name: str, **annotations: str) -> dict[str, Any]:
    body = pod(name)
    body["metadata"]["annotations"] = annotations
    return body


@pytest.fixture
def localhost(tls_bundle: Callable[[list[str]], BundlePaths]) -> BundlePaths:
    return tls_bundle(["127.0.0.1", "localhost"])


# ------------------------------------------------------------------------------------------ true / false / error


@pytest.mark.parametrize("policy", ["Fail", "Ignore"])
async def test_true_calls_and_false_skips_whatever_the_failure_policy(
    api: Api, localhost: BundlePaths, policy: str
) -> None:
    async with webhook_server(localhost, allow) as hook:
        assert (
            await api.post(
                MWC,
                config(hook, failurePolicy=policy, matchConditions=[{"name": "not-opted-out", "expression": OPT_OUT}]),
            )
        ).status == 201
        assert (await api.post(PODS, pod("plain"))).status == 201  # no annotations at all
        assert (await api.post(PODS, annotated("other", team="edge"))).status == 201
        assert (await api.post(PODS, annotated("opted-in", **{"apibridge.dev/inject": "true"}))).status == 201
        skipped = await api.post(PODS, annotated("opted-out", **{"apibridge.dev/inject": "false"}))
    assert skipped.status == 201 and (await api.get(f"{PODS}/opted-out")).status == 200
    assert [r["request"]["name"] for r in hook.reviews] == ["plain", "other", "opted-in"]


async def test_evaluation_error_with_fail_rejects_the_request_naming_the_expression(
    api: Api, localhost: BundlePaths
) -> None:
    async with webhook_server(localhost, allow) as hook:
        await api.post(
            MWC,
            config(
                hook,
                failurePolicy="Fail",
                matchConditions=[{"name": "needs-team", "expression": "object.metadata.annotations['team'] == 'edge'"}],
            ),
        )
        refused = await api.post(PODS, pod("no-annotations"))
    assert refused.status == 403 and refused.body["reason"] == "Forbidden"
    assert refused.body["message"].startswith(
        "pods \"no-annotations\" is forbidden: expression 'object.metadata.annotations['team'] == 'edge'' "
        "resulted in error: "
    )
    assert hook.reviews == []
    assert (await api.get(f"{PODS}/no-annotations")).status == 404


async def test_evaluation_error_with_ignore_skips_the_webhook(api: Api, localhost: BundlePaths) -> None:
    async with webhook_server(localhost, allow) as hook:
        await api.post(
            MWC,
            config(
                hook,
                failurePolicy="Ignore",
                matchConditions=conditions("object.metadata.annotations['team'] == 'edge'"),
            ),
        )
        assert (await api.post(PODS, pod("no-annotations"))).status == 201
        assert (await api.post(PODS, annotated("edge", team="edge"))).status == 201
    assert [r["request"]["name"] for r in hook.reviews] == ["edge"]


async def test_authorizer_is_unsupported_and_fails_like_an_evaluation_error(api: Api, localhost: BundlePaths) -> None:
    async with webhook_server(localhost, allow) as hook:
        await api.post(
            MWC,
            config(hook, matchConditions=conditions("authorizer.group('').resource('pods').check('create').allowed()")),
        )
        refused = await api.post(PODS, pod("authz"))
    assert refused.status == 403 and "does not support the variable 'authorizer'" in refused.body["message"]
    assert hook.reviews == []


# ------------------------------------------------------------------------------------------ several conditions


async def test_every_condition_must_hold_and_false_beats_errors(api: Api, localhost: BundlePaths) -> None:
    async with webhook_server(localhost, allow) as hook:
        await api.post(
            MWC,
            config(
                hook,
                failurePolicy="Fail",
                matchConditions=conditions(
                    "object.metadata.name.startsWith('x')",
                    "request.namespace != 'kube-system'",
                    "object.metadata.annotations['team'] == 'edge'",  # an error when the pod has no annotations
                ),
            ),
        )
        assert (await api.post(PODS, annotated("x-all", team="edge"))).status == 201
        assert (await api.post(PODS, annotated("x-one-false", team="core"))).status == 201
        assert (await api.post(PODS, pod("y-false-and-error"))).status == 201  # false wins over the error
        assert (await api.post("/api/v1/namespaces/kube-system/pods", annotated("x-ks", team="edge"))).status == 201
        refused = await api.post(PODS, pod("x-true-and-error"))
    assert refused.status == 403 and "resulted in error" in refused.body["message"]
    assert [r["request"]["name"] for r in hook.reviews] == ["x-all"]


async def test_more_than_64_conditions_duplicates_and_syntax_errors_are_invalid(api: Api) -> None:
    too_many = config(None, matchConditions=conditions(*["true"] * 65))
    reply = await api.post(MWC, too_many)
    assert reply.status == 422
    assert reply.body["details"]["causes"] == [
        {
            "reason": "FieldValueTooMany",
            "field": "webhooks[0].matchConditions",
            "message": "Too many: 65: must have at most 64 items",
        }
    ]
    bad = config(
        None,
        matchConditions=[
            {"name": "a", "expression": "true"},
            {"name": "a", "expression": "1 +"},
            {"name": "-b", "expression": ""},
        ],
    )
    reply = await api.post(MWC, bad)
    assert reply.status == 422
    assert {c["field"]: c["reason"] for c in reply.body["details"]["causes"]} == {
        "webhooks[0].matchConditions[1].name": "FieldValueDuplicate",
        "webhooks[0].matchConditions[1].expression": "FieldValueInvalid",
        "webhooks[0].matchConditions[2].name": "FieldValueInvalid",
        "webhooks[0].matchConditions[2].expression": "FieldValueRequired",
    }
    assert (await api.post(MWC, config(None, matchConditions=conditions(*["true"] * 64)))).status == 201


# ------------------------------------------------------------------------------------------ variables


async def test_old_object_is_null_on_create_and_object_is_null_on_delete(api: Api, localhost: BundlePaths) -> None:
    rules = [{"operations": ["*"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}]
    async with webhook_server(localhost, allow) as hook:
        await api.post(
            VWC,
            config(
                hook,
                "first.example.com",
                kind="ValidatingWebhookConfiguration",
                rules=rules,
                matchConditions=conditions("oldObject == null", "object.metadata.name == 'c'"),
            ),
        )
        await api.post(
            VWC,
            config(
                hook,
                "changes.example.com",
                kind="ValidatingWebhookConfiguration",
                rules=rules,
                matchConditions=conditions("oldObject != null && object != null", "oldObject.data != object.data"),
            ),
        )
        await api.post(
            VWC,
            config(
                hook,
                "gone.example.com",
                kind="ValidatingWebhookConfiguration",
                rules=rules,
                matchConditions=conditions("object == null", "oldObject.metadata.name == 'c'"),
            ),
        )
        assert (await api.post(CM, cm("c", a="1"))).status == 201
        assert (await api.patch(f"{CM}/c", {"data": {"a": "2"}})).status == 200
        assert (await api.patch(f"{CM}/c", {"metadata": {"labels": {"x": "y"}}})).status == 200  # data unchanged
        assert (await api.delete(f"{CM}/c")).status == 200
    assert [r["request"]["operation"] for r in hook.reviews] == ["CREATE", "UPDATE", "DELETE"]


async def test_request_variables(api: Api, localhost: BundlePaths) -> None:
    expressions = (
        "request.kind == {'group': '', 'version': 'v1', 'kind': 'Pod'}",
        "request.resource.resource == 'pods' && request.requestResource.version == 'v1'",
        "request.namespace == 'default' && request.name == 'web'",
        "request.operation == 'CREATE' && request.dryRun == false",
        "request.userInfo.username == 'kubernetes-admin' && 'system:masters' in request.userInfo.groups",
        "request.options.kind == 'CreateOptions'",
        "!has(request.object) && !has(request.oldObject)",  # not on request: they are variables of their own
    )
    async with webhook_server(localhost, allow) as hook:
        await api.post(MWC, config(hook, matchConditions=conditions(*expressions)))
        assert (await api.post(PODS, pod("web"))).status == 201
        assert (await api.post(PODS, pod("other"))).status == 201
        assert (await api.delete(f"{PODS}/web")).status == 200
        assert (await api.post(PODS, pod("web"), dryRun="All")).status == 201  # request.dryRun is true: skipped
    assert [(r["request"]["name"], r["request"]["dryRun"]) for r in hook.reviews] == [("web", False)]


async def test_mutating_conditions_see_what_earlier_webhooks_did(api: Api, localhost: BundlePaths) -> None:
    patch = [{"op": "add", "path": "/metadata/labels", "value": {"tagged": "yes"}}]
    async with (
        webhook_server(localhost, lambda r: allow(r, patch)) as first,
        webhook_server(localhost, allow) as second,
    ):
        await api.post(MWC, config(first, "a.example.com"))
        await api.post(
            MWC,
            config(
                second,
                "b.example.com",
                matchConditions=conditions("has(object.metadata.labels) && object.metadata.labels['tagged'] == 'yes'"),
            ),
        )
        assert (await api.post(PODS, pod("p"))).status == 201
    assert len(first.reviews) == 1 and len(second.reviews) == 1


# ------------------------------------------------------------------------------------------ compile cache


async def test_conditions_are_compiled_once_per_configuration_version(
    api: Api, running: Running, localhost: BundlePaths
) -> None:
    cache = running.emulator.cluster.webhooks.conditions
    async with webhook_server(localhost, allow) as hook:
        await api.post(MWC, config(hook, matchConditions=conditions("object.metadata.name.startsWith('x')")))
        for name in ("x1", "x2", "y3", "x4"):
            assert (await api.post(PODS, pod(name))).status == 201
        assert cache.compilations == 1
        changed = {
            "webhooks": [
                {
                    **(await api.get(f"{MWC}/pods")).body["webhooks"][0],
                    "matchConditions": conditions("object.metadata.name.startsWith('y')"),
                }
            ]
        }
        assert (await api.patch(f"{MWC}/pods", changed)).status == 200
        for name in ("x5", "y6", "y7"):
            assert (await api.post(PODS, pod(name))).status == 201
        assert cache.compilations == 2
    assert [r["request"]["name"] for r in hook.reviews] == ["x1", "x2", "x4", "y6", "y7"]


def test_cache_keys_on_uid_and_resource_version() -> None:
    cache = mc.CompileCache()
    hook = {"name": "a.example.com", "matchConditions": conditions("true")}
    v1 = {"metadata": {"uid": "u", "resourceVersion": "1"}}
    first = cache.get(v1, hook)
    assert cache.get(v1, hook) is first and cache.compilations == 1
    assert cache.get({"metadata": {"uid": "u", "resourceVersion": "2"}}, hook) is not first
    assert cache.get({"metadata": {"uid": "other", "resourceVersion": "1"}}, hook) is not first
    assert cache.compilations == 3


# ------------------------------------------------------------------------------------------ the CEL itself


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("' False '.trim().lowerAscii() == 'false'", True),
        ("'abc'.upperAscii() == 'ABC'", True),
        ("'abc'.charAt(1) == 'b'", True),
        ("'a,b,c'.split(',') == ['a', 'b', 'c']", True),
        ("'hello'.indexOf('l') == 2 && 'hello'.lastIndexOf('l') == 3", True),
        ("'abcdef'.substring(1, 3) == 'bc' && 'abc'.substring(1) == 'bc'", True),
        ("'aaa'.replace('a', 'b', 2) == 'bba'", True),
        ("['a', 'b'].join('-') == 'a-b'", True),
        ("'img:1.2'.find('[0-9.]+$') == '1.2' && 'a1b2'.findAll('[0-9]') == ['1', '2']", True),
        ("[1, 2, 3].isSorted() && [1, 2, 3].sum() == 6 && [1, 2, 3].indexOf(2) == 1", True),
        ("object.metadata.name.startsWith('x')", False),
        ("'abc'.charAt(1) == 'c'", False),
        ("object.metadata.name.endsWith('b') && object.metadata.name.matches('^w')", True),
        ("object != null && oldObject == null && object.metadata != null", True),  # heterogeneous equality
        ("object.metadata.name == 1", False),
        ("1 == 1.0", True),
    ],
)
def test_kubernetes_cel_library(expression: str, expected: bool) -> None:
    outcome = mc.evaluate(
        [mc.compile_condition("c", expression)],
        mc.activation({"metadata": {"name": "web"}}, None, {"namespace": "default"}),
    )
    assert outcome.errors == []
    assert outcome.matches is expected


def test_errors_are_aggregated_like_kube_apiserver() -> None:
    variables = mc.activation({"metadata": {}}, None, {})
    one = mc.evaluate([mc.compile_condition("a", "object.spec.x == 1")], variables)
    assert not one.matches and one.error_message().startswith("expression 'object.spec.x == 1' resulted in error: ")
    two = mc.evaluate([mc.compile_condition("a", "object.spec.x == 1"), mc.compile_condition("b", "1 +")], variables)
    message = two.error_message()
    assert message.startswith("[expression 'object.spec.x == 1'") and message.endswith(
        "expression '1 +' resulted in error: compilation failed: ERROR: <input>:1:3: Syntax error]"
    )
