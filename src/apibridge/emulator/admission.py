"""Dynamic admission: calling mutating and validating webhooks exactly as kube-apiserver does.

The point of the emulator for this project is to exercise *our* mutating webhook the way a real cluster will:
the same AdmissionReview body (after defaulting and the ServiceAccount plugin), the same TLS verification
against ``clientConfig.caBundle`` — for ``service`` references the certificate must be valid for
``<name>.<namespace>.svc``, there being no cluster DNS the address comes from a resolver given to the
emulator — the same rule/selector matching, the same ``failurePolicy`` handling and error wording
(``Internal error occurred: failed calling webhook "…": …``), the same JSONPatch application, and the same
response checks (``apiVersion``/``kind``/``response.uid`` must be right or the call is a failure).

``matchConditions`` (CEL) are evaluated as kube-apiserver does, last, after rules and selectors
(``matchconditions``): a ``false`` condition skips the webhook; an evaluation error fails the request (403)
under ``failurePolicy: Fail`` and skips the webhook under ``Ignore``. Mutating webhooks are checked one at a
time, just before each is called, so they see the object as the earlier webhooks left it; validating webhooks
are all checked first.

Not emulated: ``matchPolicy: Equivalent`` does not translate between versions (the emulator serves one
version per built-in kind). Validating webhooks are called one after the other, not in parallel.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import logging
import ssl
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import jsonpatch

from apibridge.emulator import errors, matchconditions
from apibridge.emulator.kinds import ResourceType
from apibridge.emulator.selectors import SelectorError, matches, selector_from_object
from apibridge.emulator.wire import AdmissionRequest, AdmissionReviewRequest, Obj, UserInfo

log = logging.getLogger(__name__)

Operation = Literal["CREATE", "UPDATE", "DELETE"]
ServiceResolver = Callable[[str, str, int], str]
"""``(namespace, name, port) -> "https://host:port"``: where a ``clientConfig.service`` really listens."""


@dataclass
class Attributes:
    """What is being admitted (kube-apiserver's ``admission.Attributes``)."""

    rt: ResourceType
    operation: Operation
    namespace: str
    name: str
    subresource: str | None
    obj: Obj | None
    old: Obj | None
    dry_run: bool
    options: Obj
    user: UserInfo
    warnings: list[str] = field(default_factory=list)


class CallError(Exception):
    """The webhook could not be called or answered nonsense: subject to ``failurePolicy``."""


def rule_matches(rule: Mapping[str, Any], a: Attributes) -> bool:
    ops = rule.get("operations") or []
    if "*" not in ops and a.operation not in ops:
        return False
    if not _in(rule.get("apiGroups"), a.rt.group) or not _in(rule.get("apiVersions"), a.rt.version):
        return False
    scope = rule.get("scope") or "*"
    if (scope == "Cluster" and a.rt.namespaced) or (scope == "Namespaced" and not a.rt.namespaced):
        return False
    for res in rule.get("resources") or []:
        if res == "*/*":
            return True
        main, _, sub = str(res).partition("/")
        if main not in ("*", a.rt.plural):
            continue
        if (not sub and not a.subresource) or (sub and a.subresource and sub in ("*", a.subresource)):
            return True
    return False


def _in(allowed: Any, value: str) -> bool:
    allowed = allowed or []
    return "*" in allowed or value in allowed


def _labels(obj: Obj | None) -> dict[str, str]:
    return dict(((obj or {}).get("metadata") or {}).get("labels") or {})


class Dispatcher:
    """Runs the webhooks of the stored configurations against one request."""

    def __init__(self, resolver: ServiceResolver | None = None) -> None:
        self.resolver = resolver
        self.conditions = matchconditions.CompileCache()

    def _applies(self, hook: Mapping[str, Any], a: Attributes, namespace_labels: dict[str, str] | None) -> bool:
        if not any(rule_matches(rule, a) for rule in hook.get("rules") or []):
            return False
        try:
            ns_selector = selector_from_object(hook.get("namespaceSelector", {}))
            obj_selector = selector_from_object(hook.get("objectSelector", {}))
        except SelectorError:
            return False
        if namespace_labels is not None and (ns_selector is None or not matches(ns_selector, namespace_labels)):
            return False
        if obj_selector is None:
            return False
        return (matches(obj_selector, _labels(a.obj)) and a.obj is not None) or (
            a.old is not None and matches(obj_selector, _labels(a.old))
        )

    def _should_call(
        self, config: Obj, hook: Mapping[str, Any], a: Attributes, namespace_labels: dict[str, str] | None
    ) -> bool:
        """``ShouldCallHook``: rules and selectors, then ``matchConditions``; raises 403 when a condition
        fails to evaluate under ``failurePolicy: Fail``."""
        if not self._applies(hook, a, namespace_labels):
            return False
        if not hook.get("matchConditions"):
            return True
        conditions = self.conditions.get(config, hook)
        outcome = matchconditions.evaluate(conditions, matchconditions.activation(a.obj, a.old, self._request("", a)))
        if outcome.false_condition is not None or not outcome.errors:
            return outcome.false_condition is None
        name = str(hook.get("name"))
        if hook.get("failurePolicy", "Fail") == "Ignore":
            log.warning(
                "webhook %s skipped: matchConditions failed to evaluate (failurePolicy: Ignore): %s",
                name,
                outcome.error_message(),
            )
            return False
        log.warning("Failed evaluating match conditions, failing closed %s: %s", name, outcome.error_message())
        raise errors.forbidden(a.rt.plural, a.rt.group, a.name, outcome.error_message())

    @staticmethod
    def _ordered(configs: list[Obj]) -> list[tuple[Obj, dict[str, Any]]]:
        return [
            (config, hook)
            for config in sorted(configs, key=lambda c: c["metadata"]["name"])
            for hook in config.get("webhooks") or []
        ]

    async def mutate(self, configs: list[Obj], a: Attributes, ns_labels: dict[str, str] | None) -> Obj | None:
        """Call every matching mutating webhook in order; return the (possibly patched) object.

        Whether a webhook is called is decided just before calling it, on the object as the webhooks
        before it left it (kube-apiserver's mutating dispatcher does the same)."""
        called: list[tuple[Obj, dict[str, Any]]] = []
        changed_after: dict[int, bool] = {}
        for config, hook in self._ordered(configs):
            if not self._should_call(config, hook, a, ns_labels):
                continue
            before = copy.deepcopy(a.obj)
            await self._invoke(hook, a, mutating=True)
            if a.obj != before:
                for j in changed_after:
                    changed_after[j] = True
            changed_after[len(called)] = False
            called.append((config, hook))
        for i, (config, hook) in enumerate(called):  # reinvocationPolicy: IfNeeded — once more if others changed it
            if (
                hook.get("reinvocationPolicy") == "IfNeeded"
                and changed_after.get(i)
                and self._should_call(config, hook, a, ns_labels)
            ):
                await self._invoke(hook, a, mutating=True)
        return a.obj

    async def validate(self, configs: list[Obj], a: Attributes, ns_labels: dict[str, str] | None) -> None:
        hooks = [hook for config, hook in self._ordered(configs) if self._should_call(config, hook, a, ns_labels)]
        for hook in hooks:
            await self._invoke(hook, a, mutating=False)

    async def _invoke(self, hook: Mapping[str, Any], a: Attributes, *, mutating: bool) -> None:
        name = str(hook.get("name"))
        if a.dry_run and hook.get("sideEffects") not in ("None", "NoneOnDryRun"):
            raise errors.bad_request(f'admission webhook "{name}" does not support dry run')
        try:
            response = await self._call(hook, a)
        except CallError as exc:
            message = f'failed calling webhook "{name}": {exc}'
            if hook.get("failurePolicy", "Fail") == "Ignore":
                log.warning("%s (failurePolicy: Ignore)", message)
                return
            raise errors.internal(message) from None
        a.warnings.extend(str(w) for w in response.get("warnings") or [])
        if not response.get("allowed"):
            raise _rejection(name, response.get("status"))
        patch = response.get("patch")
        if mutating and patch and a.obj is not None:
            if response.get("patchType") != "JSONPatch":
                kind = response.get("patchType")
                raise errors.internal(f'admission webhook "{name}": unsupported patch type {kind!r}')
            try:
                ops = json.loads(base64.b64decode(patch))
                a.obj = jsonpatch.JsonPatch(ops).apply(a.obj)
            except (binascii.Error, ValueError, jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise errors.internal(f'admission webhook "{name}" returned an invalid patch: {exc}') from None

    def _url(self, hook: Mapping[str, Any]) -> tuple[str, str | None]:
        cc = hook.get("clientConfig") or {}
        if cc.get("url"):
            return str(cc["url"]), None
        svc = cc.get("service") or {}
        ns, svc_name, port = str(svc.get("namespace")), str(svc.get("name")), int(svc.get("port") or 443)
        if self.resolver is None:
            raise CallError(
                f"failed to call webhook: service {ns}/{svc_name}:{port}: no service resolver configured "
                "in the emulator (there is no cluster DNS)"
            )
        base = self.resolver(ns, svc_name, port).rstrip("/")
        return base + str(svc.get("path") or ""), f"{svc_name}.{ns}.svc"

    async def _call(self, hook: Mapping[str, Any], a: Attributes) -> dict[str, Any]:
        timeout = int(hook.get("timeoutSeconds") or 10)
        url, server_hostname = self._url(hook)
        url = f"{url}{'&' if '?' in url else '?'}timeout={timeout}s"
        ca_bundle = (hook.get("clientConfig") or {}).get("caBundle")
        try:
            ctx = ssl.create_default_context(cadata=base64.b64decode(ca_bundle).decode() if ca_bundle else None)
            if not ca_bundle:
                ctx.load_default_certs()
        except (ssl.SSLError, ValueError, binascii.Error) as exc:
            raise CallError(f"failed to call webhook: invalid caBundle: {exc}") from None
        uid = str(uuid.uuid4())
        review = self._review(uid, a)
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
                session.post(url, json=review, ssl=ctx, server_hostname=server_hostname) as resp,
            ):
                text = await resp.text()
                if resp.status != 200:
                    raise CallError(
                        f'failed to call webhook: an error on the server ("{text[:200]}") has prevented '
                        f"the request from succeeding (HTTP {resp.status})"
                    )
        except TimeoutError:
            raise CallError(f'failed to call webhook: Post "{url}": context deadline exceeded') from None
        except aiohttp.ClientError as exc:
            raise CallError(f'failed to call webhook: Post "{url}": {exc}') from None
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise CallError(f"received invalid webhook response: {exc}") from None
        if (
            not isinstance(body, dict)
            or body.get("apiVersion") != "admission.k8s.io/v1"
            or (body.get("kind") != "AdmissionReview")
        ):
            got = f"{body.get('apiVersion', '')}, Kind={body.get('kind', '')}" if isinstance(body, dict) else "?"
            raise CallError(
                f"received invalid webhook response: expected webhook response of "
                f"admission.k8s.io/v1, Kind=AdmissionReview, got {got}"
            )
        response = body.get("response")
        if not isinstance(response, dict):
            raise CallError("received invalid webhook response: webhook response was absent")
        if response.get("uid") != uid:
            raise CallError(
                f'received invalid webhook response: expected response.uid="{uid}", got "{response.get("uid", "")}"'
            )
        return response

    def _review(self, uid: str, a: Attributes) -> AdmissionReviewRequest:
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": self._request(uid, a)}

    @staticmethod
    def _request(uid: str, a: Attributes) -> AdmissionRequest:
        gvk = {"group": a.rt.group, "version": a.rt.version, "kind": a.rt.kind}
        gvr = {"group": a.rt.group, "version": a.rt.version, "resource": a.rt.plural}
        request: AdmissionRequest = {
            "uid": uid,
            "kind": gvk,  # type: ignore[typeddict-item]
            "resource": gvr,  # type: ignore[typeddict-item]
            "requestKind": gvk,  # type: ignore[typeddict-item]
            "requestResource": gvr,  # type: ignore[typeddict-item]
            "name": a.name,
            "operation": a.operation,
            "userInfo": a.user,
            "object": a.obj,
            "oldObject": a.old,
            "dryRun": a.dry_run,
            "options": a.options,
        }
        if a.namespace:
            request["namespace"] = a.namespace
        if a.subresource:
            request["subResource"] = a.subresource
            request["requestSubResource"] = a.subresource
        if not a.name:
            del request["name"]
        return request


def _rejection(name: str, status: Any) -> errors.ApiError:
    status = status if isinstance(status, dict) else {}
    code = int(status.get("code") or 0)
    code = code if code >= 400 else 400
    denied = f'admission webhook "{name}" denied the request'
    if status.get("message"):
        message = f"{denied}: {status['message']}"
    elif status.get("reason"):
        message = f"{denied}: {status['reason']}"
    else:
        message = f"{denied} without explanation"
    return errors.ApiError(code, str(status.get("reason") or ""), message, dict(status.get("details") or {}))  # type: ignore[arg-type]
