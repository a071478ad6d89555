"""The webhook's decision for one AdmissionReview, as a pure function (no I/O, no clock, no metrics).

``admit(snapshot, payload)`` takes the decoded request body and returns an ``ReviewAnswer``: the review to
send back (or ``None`` when the body is not a review at all — the server answers 400) and a result
label for metrics. It produces exactly what ``apibridge inject`` writes for the same pod: the bridge
is the one ``plan.mutation.bridge_for`` chooses and the changes are ``plan.mutation.pod_mutation``'s,
looked up through the snapshot's per-namespace index and memo (the tests hold both equal to the
planner's functions, and the applied patch equal to ``apply_to_body``). Pods of one workload arrive
alike, so the whole answer but the uid is remembered per (namespace, labels, annotations) in the
snapshot's bounded ``decisions`` (tests hold a remembered answer equal to a fresh one).

Rules:
* Never deny. The webhook only adds an attachment; an answer it cannot compute is ``allowed`` with a
  warning, so a broken webhook never stops a pod that did not need it (and ``failurePolicy`` decides
  what happens when it is unreachable).
* Warnings speak only of the pod under review: its own annotations and whether its attachment is
  ready — never of other namespaces, tenants or bridges.
* ``dryRun`` gets the same answer: the decision has no side effects to skip. The server only keeps
  dry runs out of the injected-pods counter.
* Idempotent under reinvocation: the mutation is append-only, so a pod that already carries it gets
  no patch (result ``unchanged``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, cast

from apibridge.admission.lru import BoundedLRU
from apibridge.admission.patch import annotation_patch
from apibridge.admission.review import (
    AdmissionReviewResponse,
    Request,
    Unusable,
    encode_patch,
    read_request,
    response,
)
from apibridge.admission.snapshot import Snapshot
from apibridge.base.errors import InputError, Location
from apibridge.kubeovn import networks, routes, rules
from apibridge.model.objects import Meta, PodLike
from apibridge.plan import mutation

Result = Literal[
    "mutated", "unchanged", "not_selected", "opted_out", "skipped", "invalid", "not_ready", "refused", "rejected"
]
RESULTS: tuple[Result, ...] = (
    "mutated",
    "unchanged",
    "not_selected",
    "opted_out",
    "skipped",
    "invalid",
    "not_ready",
    "refused",
    "rejected",
)

# What a pod under review may carry before the webhook reads none of it (the pod is admitted unchanged, with
# a warning naming the bound). The API server itself refuses annotations over 256 KiB together, after
# admission; the counts keep the per-entry checks of a hostile body cheap.
MAX_ANNOTATIONS = 1024
MAX_LABELS = 1024
PATCH_CACHE_ENTRIES = 4096
PATCH_CACHE_BYTES = 4 * 1024 * 1024
WARNING_PREFIX = "apibridge: "
MAX_WARNING = 256  # the API server may truncate longer warnings; keep ours whole
SOURCE = "admission review"


@dataclass(frozen=True)
class ReviewAnswer:
    """What to answer and how to count it. ``review is None`` means HTTP 400 with ``error``."""

    review: AdmissionReviewResponse | None
    result: Result
    dry_run: bool = False
    error: str = ""

    @property
    def injected(self) -> bool:
        return self.result == "mutated"


def _warning(text: str) -> str:
    text = WARNING_PREFIX + " ".join(text.split())
    return text if len(text) <= MAX_WARNING else text[: MAX_WARNING - 1] + "…"


def _allowed(req: Request, result: Result, warning: str | None = None) -> ReviewAnswer:
    return ReviewAnswer(response(req.uid, warnings=[_warning(warning)] if warning else None), result, req.dry_run)


def _str_map(value: Any, field: str, max_entries: int, max_bytes: int | None = None) -> dict[str, str]:
    """Labels or annotations, checked like ``Fields.str_map``: a mapping of strings to strings — of at most
    ``max_entries`` entries and ``max_bytes`` characters of keys and values together."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"expected a mapping, got {type(value).__name__}", Location(SOURCE, None, None, field))
    if len(value) > max_entries:
        raise InputError(f"{len(value)} entries; at most {max_entries} are read", Location(SOURCE, None, None, field))
    values = value.values()
    if not all(type(item) is str for item in values):  # the common case costs one pass; the error names the key
        key, item = next((k, v) for k, v in value.items() if type(v) is not str)
        raise InputError(
            f"expected a string value, got {type(item).__name__}", Location(SOURCE, None, None, f"{field}.{key}")
        )
    if max_bytes is not None:
        size = sum(map(len, values)) + sum(map(len, value))
        if size > max_bytes:
            raise InputError(
                f"{size} characters; at most {max_bytes} are read (the API server's limit)",
                Location(SOURCE, None, None, field),
            )
    return value


def pod_of(req: Request) -> PodLike:
    """The pod under review as the model's ``PodLike``. Raises ``InputError`` for a pod it cannot use.

    Only what selection and mutation read is taken — namespace, labels, annotations — with the same
    checks ``parse_podlike`` applies to them (tests hold the two together); container ports and the
    rest of the spec are the API server's to validate, after admission. At CREATE the pod often has no
    name yet (``generateName``: the API server names it after admission) and may leave
    ``metadata.namespace`` to the request, so neither is required.
    """
    obj = req.obj
    if obj is None:
        raise InputError("the review has no object", None)
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        raise InputError("the pod has no metadata", Location(SOURCE, None, None, "metadata"))
    name = metadata.get("name") or metadata.get("generateName") or ""
    namespace = req.namespace or metadata.get("namespace") or "default"
    if not isinstance(name, str) or not isinstance(namespace, str):
        raise InputError("metadata.name and metadata.namespace must be strings", Location(SOURCE))
    labels = _str_map(metadata.get("labels"), "metadata.labels", MAX_LABELS)
    annotations = _str_map(
        metadata.get("annotations"), "metadata.annotations", MAX_ANNOTATIONS, rules.ANNOTATIONS_MAX_BYTES
    )
    meta = Meta("Pod", name, namespace, labels, annotations, Location(SOURCE, None, f"Pod/{namespace}/{name}"))
    return PodLike(meta, namespace, labels, annotations, None, (), (), obj)


def admit(snapshot: Snapshot | None, payload: Any) -> ReviewAnswer:
    """Decide one review. Never raises for any JSON ``payload``."""
    try:
        req = read_request(payload)
    except Unusable as exc:
        if exc.uid is None:
            return ReviewAnswer(None, "rejected", error=exc.message)
        return ReviewAnswer(response(exc.uid, warnings=[_warning(f"review ignored: {exc.message}")]), "invalid")
    if req.kind != "Pod" or req.group != "":
        return _allowed(req, "invalid", f"this webhook reviews pods only, not {req.kind[:40]!r}; left unchanged")
    if req.sub_resource or req.operation != "CREATE":
        return _allowed(req, "skipped")  # CNI annotations are read at sandbox creation: only CREATE matters
    try:
        pod = pod_of(req)
    except InputError as exc:
        where = f" ({exc.location.field})" if exc.location.field else ""
        return _allowed(req, "invalid", f"pod not checked for an API attachment: {exc.message}{where}")
    if snapshot is None:
        if mutation.opted_out(pod.annotations):
            return _allowed(req, "opted_out")
        return _allowed(req, "not_ready", "the cluster view is not loaded yet; the pod is admitted unchanged")
    current = req.obj["metadata"].get("annotations") if req.obj is not None else None
    has_annotations = isinstance(current, dict)
    # Everything from here on reads only the namespace, labels and annotations (and whether the pod has an
    # annotations map at all): pods of one workload share the decision, looked up by those.
    key = (pod.namespace, tuple(pod.labels.items()), tuple(pod.annotations.items()) if has_annotations else None)
    found = cast(PodDecision | None, snapshot.decisions.get(key))
    if found is None:
        found = _decide_pod(snapshot, pod, has_annotations)
        size = sum(map(len, pod.labels)) + sum(map(len, pod.labels.values())) + len(found.patch or "")
        size += sum(map(len, pod.annotations)) + sum(map(len, pod.annotations.values())) + len(pod.namespace)
        snapshot.decisions.put(key, found, size)
    return ReviewAnswer(
        response(req.uid, patch=found.patch, warnings=[found.warning] if found.warning else None),
        found.result,
        req.dry_run,
    )


class PodDecision(NamedTuple):
    """The answer for a pod, apart from the review's uid: a result, the encoded patch, a warning."""

    result: Result
    patch: str | None = None
    warning: str | None = None


def _decided(result: Result, warning: str | None = None) -> PodDecision:
    return PodDecision(result, None, _warning(warning) if warning else None)


def _decide_pod(snapshot: Snapshot, pod: PodLike, has_annotations: bool) -> PodDecision:
    """What ``admit`` answers for ``pod`` (already read and checked) from ``snapshot``."""
    if mutation.opted_out(pod.annotations):
        return _decided("opted_out")
    bridge_plan = snapshot.bridge_for(pod)
    if bridge_plan is None:
        return _decided("not_selected")
    if not snapshot.is_valid(bridge_plan):
        return _decided(
            "refused",
            "the API attachment that selects this pod has plan errors (its ApiBridge status says which); "
            "the pod is admitted without it",
        )
    try:
        changes = snapshot.changes(bridge_plan, pod)
    except networks.NetworksError as exc:
        return _decided(
            "invalid",
            f"annotation {rules.NETWORKS_ANNOTATION} is not valid ({exc}); "
            "the pod is admitted without its API attachment",
        )
    except routes.RoutesError as exc:
        key = rules.provider_key(bridge_plan.provider, rules.ROUTES)
        return _decided(
            "invalid", f"annotation {key} is not valid ({exc}); the pod is admitted without its API attachment"
        )
    if not changes:
        return _decided("unchanged")
    if not snapshot.is_realised(bridge_plan):
        return _decided(
            "not_ready",
            "the API attachment for this pod is not created yet; the pod is admitted "
            "without it and needs a restart once it is ready",
        )
    present = tuple(key in pod.annotations for key in changes) if has_annotations else None
    return PodDecision("mutated", _encoded_patch(tuple(changes.items()), present))


_PATCHES: BoundedLRU[tuple[tuple[tuple[str, str], ...], tuple[bool, ...] | None], str] = BoundedLRU(
    PATCH_CACHE_ENTRIES, PATCH_CACHE_BYTES
)


def _encoded_patch(changes: tuple[tuple[str, str], ...], present: tuple[bool, ...] | None) -> str:
    """The encoded patch for ``changes``, given which of their keys the pod has (``None``: no annotations).

    ``annotation_patch`` looks only at which keys exist, so this is all it depends on; pods of one
    workload share it, and the JSON/base64 work is done once (remembered within entry and byte bounds).
    """
    key = (changes, present)
    found = _PATCHES.get(key)
    if found is None:
        metadata: dict[str, Any] = {}
        if present is not None:
            metadata["annotations"] = {k: "" for (k, _), there in zip(changes, present, strict=True) if there}
        found = encode_patch(annotation_patch(metadata, dict(changes)))
        _PATCHES.put(key, found, 2 * len(found))
    return found
