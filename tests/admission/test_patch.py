"""The JSON patch touches only our keys, escapes RFC 6901 pointers, and lands exactly on ``apply_to_body``."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
from hypothesis import given
from hypothesis import strategies as st

from apibridge.admission.patch import annotation_patch, escape
from apibridge.plan.mutation import apply_to_body


def test_escape_tilde_before_slash() -> None:
    assert escape("k8s.v1.cni.cncf.io/networks") == "k8s.v1.cni.cncf.io~1networks"
    assert escape("a~/b") == "a~0~1b"  # "~" first, or "/" -> "~1" -> "~01" would be wrong
    assert escape("~1") == "~01"


def test_missing_annotations_are_added_whole_with_only_our_keys() -> None:
    ops = annotation_patch({"name": "p"}, {"a/b": "1", "c": "2"})
    assert ops == [{"op": "add", "path": "/metadata/annotations", "value": {"a/b": "1", "c": "2"}}]


def test_null_annotations_are_added_whole() -> None:
    assert annotation_patch({"annotations": None}, {"k": "v"})[0]["path"] == "/metadata/annotations"


def test_existing_annotations_get_one_op_per_key_never_the_whole_map() -> None:
    ops = annotation_patch({"annotations": {"keep": "me", "a/b": "old"}}, {"a/b": "new", "x~y": "1"})
    assert ops == [
        {"op": "replace", "path": "/metadata/annotations/a~1b", "value": "new"},
        {"op": "add", "path": "/metadata/annotations/x~0y", "value": "1"},
    ]
    assert all(op["path"] != "/metadata/annotations" for op in ops)


def test_no_changes_no_ops() -> None:
    assert annotation_patch({"annotations": {"a": "b"}}, {}) == []


_keys = st.text(alphabet="ab~/.-_1", min_size=1, max_size=12)
_values = st.text(max_size=20)


@given(
    existing=st.one_of(st.none(), st.dictionaries(_keys, _values, max_size=5)),
    changes=st.dictionaries(_keys, _values, min_size=1, max_size=5),
    labels=st.dictionaries(_keys, _values, max_size=3),
)
def test_patch_applies_to_exactly_what_apply_to_body_makes(
    existing: dict[str, str] | None, changes: dict[str, str], labels: dict[str, str]
) -> None:
    metadata: dict[str, Any] = {"generateName": "web-", "labels": labels}
    if existing is not None:
        metadata["annotations"] = existing
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": {"containers": []}}
    before = copy.deepcopy(body)
    patched = jsonpatch.apply_patch(body, annotation_patch(metadata, changes))
    assert patched == apply_to_body(body, (), changes)
    assert body == before  # the review's object is never modified
