"""``admission.k8s.io/v1`` AdmissionReview as it crosses the wire, and the defensive reading of it.

kube-apiserver sends an ``AdmissionReview`` with a ``request`` and expects the same envelope back
with a ``response`` whose ``uid`` echoes the request's. The shapes here are ``TypedDict``s so mypy
checks that we emit what the API server parses; the *reading* is defensive instead, because the body
is untrusted JSON: anything can reach the port (see ecosystem.md §3.2, GHSA-g883-q79m-8225), and a
review we cannot use must still get a well-formed answer, never an exception.

``read_request`` turns a decoded body into a ``Request`` (the few fields we act on, checked) or
raises ``Unusable`` saying why — with the uid when there is one, so the caller can still answer it.

``decode`` reads a body into the same dict ``orjson.loads`` would give, but only with the members that
``read_request`` and the mutation read (envelope, request fields, the pod's name, namespace, labels and
annotations): msgspec skips the rest of the pod — its spec is most of a review's bytes — without
building a Python object for it. A pod of 3 KB then costs a quarter of a full decode. A body whose kept
members have another shape than expected (a ``request`` that is a list …) is decoded whole by orjson, so
``read_request`` judges it as before. Parts that are skipped are checked for JSON syntax only: invalid
UTF-8 or an out-of-range number inside the pod's spec no longer makes the body a 400 — harmless either way,
the API server never sends one and the answer never depends on what was skipped.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Final, Literal, NotRequired, TypedDict

import msgspec
import orjson
from msgspec import UNSET, UnsetType

from apibridge.base.kinds import GroupVersionKind, GroupVersionResource

API_VERSION: Final = "admission.k8s.io/v1"
KIND: Final = "AdmissionReview"


class UserInfo(TypedDict, total=False):
    username: str
    uid: str
    groups: list[str]
    extra: dict[str, list[str]]


class AdmissionRequest(TypedDict):
    """What kube-apiserver sends (``k8s.io/api/admission/v1.AdmissionRequest``)."""

    uid: str
    kind: GroupVersionKind
    resource: GroupVersionResource
    subResource: NotRequired[str]
    requestKind: NotRequired[GroupVersionKind]
    requestResource: NotRequired[GroupVersionResource]
    requestSubResource: NotRequired[str]
    name: NotRequired[str]  # empty for CREATE with metadata.generateName: the name is made after admission
    namespace: NotRequired[str]
    operation: Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
    userInfo: UserInfo
    object: dict[str, Any] | None
    oldObject: NotRequired[dict[str, Any] | None]
    dryRun: NotRequired[bool]
    options: NotRequired[dict[str, Any] | None]


class AdmissionReviewRequest(TypedDict):
    apiVersion: Literal["admission.k8s.io/v1"]
    kind: Literal["AdmissionReview"]
    request: AdmissionRequest


class JSONPatchOp(TypedDict):
    """One RFC 6902 operation; we only ever emit ``add`` and ``replace``."""

    op: Literal["add", "replace"]
    path: str
    value: Any


class Status(TypedDict, total=False):
    code: int
    message: str
    reason: str


class AdmissionResponse(TypedDict):
    """What we answer (``k8s.io/api/admission/v1.AdmissionResponse``)."""

    uid: str
    allowed: bool
    patchType: NotRequired[Literal["JSONPatch"]]
    patch: NotRequired[str]  # base64 of the JSON patch document
    warnings: NotRequired[list[str]]
    status: NotRequired[Status]


class AdmissionReviewResponse(TypedDict):
    apiVersion: Literal["admission.k8s.io/v1"]
    kind: Literal["AdmissionReview"]
    response: AdmissionResponse


class Unusable(Exception):  # noqa: N818 - it describes the review, not a failure of ours
    """The body is not a review we can act on. ``uid`` is set when the review named one."""

    def __init__(self, message: str, uid: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.uid = uid


@dataclass(frozen=True)
class Request:
    """The parts of an AdmissionRequest the pod mutation needs, checked for type."""

    uid: str
    operation: str
    namespace: str
    kind: str  # request.kind.kind
    group: str
    sub_resource: str
    dry_run: bool
    obj: dict[str, Any] | None


def read_request(payload: Any) -> Request:
    """Check the envelope and pull out the request; raises ``Unusable`` (with the uid if known).

    Only the envelope and the fields we branch on are checked here; the pod object itself is checked
    by the model's parser, which knows which of its fields matter.
    """
    if not isinstance(payload, dict):
        raise Unusable("the body is not a JSON object")
    request = payload.get("request")
    uid = request.get("uid") if isinstance(request, dict) else None
    uid = uid if isinstance(uid, str) and uid else None
    if payload.get("apiVersion") != API_VERSION or payload.get("kind") != KIND:
        raise Unusable(f"expected apiVersion {API_VERSION} kind {KIND}", uid)
    if not isinstance(request, dict):
        raise Unusable("the review has no request")
    if uid is None:
        raise Unusable("the review's request has no uid")
    kind = request.get("kind")
    kind_name = kind.get("kind") if isinstance(kind, dict) else None
    group = kind.get("group") if isinstance(kind, dict) else None
    operation = request.get("operation")
    namespace = request.get("namespace")
    sub = request.get("subResource")
    dry_run = request.get("dryRun", False)
    obj = request.get("object")
    if not isinstance(kind_name, str) or not isinstance(group, str):
        raise Unusable("request.kind is not a group/version/kind", uid)
    if not isinstance(operation, str):
        raise Unusable("request.operation is missing", uid)
    if namespace is not None and not isinstance(namespace, str):
        raise Unusable("request.namespace is not a string", uid)
    if sub is not None and not isinstance(sub, str):
        raise Unusable("request.subResource is not a string", uid)
    if not isinstance(dry_run, bool):
        raise Unusable("request.dryRun is not a boolean", uid)
    if obj is not None and not isinstance(obj, dict):
        raise Unusable("request.object is not an object", uid)
    return Request(uid, operation, namespace or "", kind_name, group, sub or "", dry_run, obj)


class _Metadata(msgspec.Struct):
    """What ``mutate.pod_of`` reads of the pod's metadata; anything else is skipped unread."""

    name: Any = UNSET
    generateName: Any = UNSET  # noqa: N815 - the wire name
    namespace: Any = UNSET
    labels: Any = UNSET
    annotations: Any = UNSET


class _Object(msgspec.Struct):
    metadata: _Metadata | UnsetType = UNSET


class _Kind(msgspec.Struct):
    group: Any = UNSET
    kind: Any = UNSET


class _Request(msgspec.Struct):
    uid: Any = UNSET
    kind: _Kind | UnsetType = UNSET
    operation: Any = UNSET
    namespace: Any = UNSET
    subResource: Any = UNSET  # noqa: N815 - the wire name
    dryRun: Any = UNSET  # noqa: N815 - the wire name
    object: _Object | UnsetType | None = UNSET


class _Review(msgspec.Struct):
    apiVersion: Any = UNSET  # noqa: N815 - the wire name
    kind: Any = UNSET
    request: _Request | UnsetType = UNSET


_DECODER = msgspec.json.Decoder(_Review)


def decode(body: bytes) -> Any:
    """The decoded review, reduced to what the webhook reads (see the module docstring).

    Raises ``ValueError`` or ``RecursionError`` (orjson's) for a body that is not JSON.
    """
    try:
        return msgspec.to_builtins(_DECODER.decode(body))  # absent members stay absent (UNSET is dropped)
    except (msgspec.DecodeError, RecursionError):  # another shape (ValidationError is a DecodeError) or nesting
        return orjson.loads(body)


def encode_patch(patch: list[JSONPatchOp]) -> str:
    """``response.patch``: the JSON patch document, base64-encoded as the API requires."""
    return base64.b64encode(orjson.dumps(patch)).decode("ascii")


def response(
    uid: str, *, patch: list[JSONPatchOp] | str | None = None, warnings: list[str] | None = None
) -> AdmissionReviewResponse:
    """An ``allowed`` answer, with the patch (operations, or already ``encode_patch``-ed) and warnings.

    The webhook never denies: it only adds an attachment, and refusing a pod is the validator's and
    the API server's business.
    """
    out: AdmissionResponse = {"uid": uid, "allowed": True}
    if patch:
        out["patchType"] = "JSONPatch"
        out["patch"] = patch if isinstance(patch, str) else encode_patch(patch)
    if warnings:
        out["warnings"] = warnings
    return {"apiVersion": API_VERSION, "kind": KIND, "response": out}
