"""``review.decode`` (members the webhook reads, the pod's spec skipped) decides exactly as a full decode does."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apibridge.admission.mutate import admit
from apibridge.admission.review import decode
from apibridge.admission.snapshot import Snapshot
from apibridge.kubeovn import rules

from .support import INGRESS, pod, review

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
# every member decode keeps, and some it skips, at any depth: a value of another shape anywhere
_paths = st.lists(
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


def _poke(payload: Any, path: list[str], value: Any) -> Any:
    node: Any = payload
    for key in path[:-1]:
        if not isinstance(node, dict):
            return payload
        node = node.setdefault(key, {})
    if isinstance(node, dict):
        node[path[-1]] = value
    return payload


def _drop(payload: Any, path: list[str]) -> Any:
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
        _drop(payload, path)
    return json.dumps(payload).encode()


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
@given(
    body=st.one_of(
        _json.map(lambda v: json.dumps(v).encode()),
        st.builds(
            lambda p, v, ann: json.dumps(_poke(review(pod(labels=INGRESS, annotations=ann)), p, v)).encode(),
            _paths,
            _json,
            st.dictionaries(
                st.sampled_from([rules.NETWORKS_ANNOTATION, rules.INJECT_ANNOTATION, "x/y"]),
                st.text(max_size=30),
                max_size=3,
            ),
        ),
        st.lists(_paths, min_size=1, max_size=3).map(_without),
        st.binary(max_size=64),
    )
)
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
