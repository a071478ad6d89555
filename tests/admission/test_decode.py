"""``review.decode`` (members the webhook reads, the pod's spec skipped) decides exactly as a full decode does."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings

from apibridge.admission.mutate import admit
from apibridge.admission.review import decode
from apibridge.admission.snapshot import Snapshot

from .support import INGRESS, REVIEW_BODIES, pod, review


def _same_decision(snapshot: Snapshot, body: bytes) -> None:
    try:
        full = orjson.loads(body)
    except (ValueError, RecursionError):
        return  # not JSON: decode may answer where a full decode refused (it skips the spec unchecked)
    assert decode(body) == (_reduced(full) if isinstance(full, dict) else full)
    assert admit(snapshot, decode(body)) == admit(snapshot, full)


def _reduced(full: dict[str, Any]) -> Any:
    """What decode keeps of a well-shaped review, or ``full`` itself when a kept member has another shape."""
    keep = {"apiVersion", "kind", "request"}
    out = {k: v for k, v in full.items() if k in keep}
    request = out.get("request")
    if "request" in out and not isinstance(request, dict):
        return full
    if isinstance(request, dict):
        req = {
            k: v
            for k, v in request.items()
            if k in {"uid", "kind", "operation", "namespace", "subResource", "dryRun", "object"}
        }
        out["request"] = req
        if "kind" in req:
            if not isinstance(req["kind"], dict):
                return full
            req["kind"] = {k: v for k, v in req["kind"].items() if k in {"group", "kind"}}
        obj = req.get("object")
        if "object" in req and obj is not None:
            if not isinstance(obj, dict):
                return full
            req["object"] = {k: v for k, v in obj.items() if k == "metadata"}
            if "metadata" in obj:
                if not isinstance(obj["metadata"], dict):
                    return full
                names = {"name", "generateName", "namespace", "labels", "annotations"}
                req["object"]["metadata"] = {k: v for k, v in obj["metadata"].items() if k in names}
    return out


@settings(max_examples=400, deadline=None)
@given(body=REVIEW_BODIES)
def test_decode_decides_as_a_full_decode(snapshot: Snapshot, body: bytes) -> None:
    _same_decision(snapshot, body)


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(review(pod(labels=INGRESS))).encode(),
        json.dumps(review(pod(labels=INGRESS), dry_run=True)).encode(),
        json.dumps(review(None)).encode(),
        json.dumps(review(pod("default"), namespace="default")).encode(),
        # duplicate members: the last one counts, in both
        b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a","uid":"b",'
        b'"kind":{"group":"","kind":"Pod"},"operation":"CREATE","object":{"metadata":1,"metadata":{}}}}',
    ],
)
def test_decode_of_ordinary_reviews(snapshot: Snapshot, body: bytes) -> None:
    _same_decision(snapshot, body)


def test_deep_nesting_in_the_skipped_spec_is_refused_not_crashed() -> None:
    deep = b'{"request":{"uid":"x","object":{"spec":' + b"[" * 200_000 + b"]" * 200_000 + b"}}}"
    with pytest.raises((ValueError, RecursionError)):
        decode(deep)
