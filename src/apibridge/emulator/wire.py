"""Wire shapes of the Kubernetes API that the emulator reads and writes.

The emulator stores objects as plain JSON dicts (``Obj``) because that is what clients send and expect
back byte-for-byte; typed models would only get in the way of faithfulness (unknown fields must round-trip).
The shapes that the emulator itself *produces* — Status, watch events, discovery, AdmissionReview — are
``TypedDict``s so that mypy checks we emit what kube-apiserver emits.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from apibridge.base.kinds import GroupVersionKind, GroupVersionResource

Obj = dict[str, Any]
"""One Kubernetes object as JSON: ``apiVersion``, ``kind``, ``metadata``, and whatever else."""


class StatusCause(TypedDict, total=False):
    reason: str
    message: str
    field: str


class StatusDetails(TypedDict, total=False):
    name: str
    group: str
    kind: str
    uid: str
    causes: list[StatusCause]
    retryAfterSeconds: int


class Status(TypedDict):
    """``meta.k8s.io/v1 Status``: the body of every error response (and of some successful deletes)."""

    kind: Literal["Status"]
    apiVersion: Literal["v1"]
    metadata: dict[str, Any]
    status: Literal["Success", "Failure"]
    message: str
    reason: str
    details: StatusDetails
    code: int


WatchEventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]


class WatchEvent(TypedDict):
    """One line of a watch stream."""

    type: WatchEventType
    object: Obj


class APIResource(TypedDict):
    """One entry of an ``APIResourceList`` (discovery of one group/version)."""

    name: str
    singularName: str
    namespaced: bool
    kind: str
    verbs: list[str]
    shortNames: NotRequired[list[str]]
    categories: NotRequired[list[str]]
    storageVersionHash: NotRequired[str]


class GroupVersionForDiscovery(TypedDict):
    groupVersion: str
    version: str


class APIGroup(TypedDict):
    kind: Literal["APIGroup"]
    apiVersion: Literal["v1"]
    name: str
    versions: list[GroupVersionForDiscovery]
    preferredVersion: GroupVersionForDiscovery


class LabelSelectorRequirement(TypedDict):
    key: str
    operator: str
    values: NotRequired[list[str]]


class LabelSelector(TypedDict, total=False):
    """``metav1.LabelSelector`` as used by webhooks' ``namespaceSelector``/``objectSelector``."""

    matchLabels: dict[str, str]
    matchExpressions: list[LabelSelectorRequirement]


class UserInfo(TypedDict):
    username: str
    uid: str
    groups: list[str]


class AdmissionRequest(TypedDict):
    """``admission.k8s.io/v1 AdmissionRequest`` exactly as kube-apiserver sends it."""

    uid: str
    kind: GroupVersionKind
    resource: GroupVersionResource
    subResource: NotRequired[str]
    requestKind: GroupVersionKind
    requestResource: GroupVersionResource
    requestSubResource: NotRequired[str]
    name: NotRequired[str]
    namespace: NotRequired[str]
    operation: Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
    userInfo: UserInfo
    object: Obj | None
    oldObject: Obj | None
    dryRun: bool
    options: Obj | None


class AdmissionReviewRequest(TypedDict):
    apiVersion: Literal["admission.k8s.io/v1"]
    kind: Literal["AdmissionReview"]
    request: AdmissionRequest
