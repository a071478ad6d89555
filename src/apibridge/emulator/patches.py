"""PATCH bodies by content type, applied the way kube-apiserver applies them.

* ``application/json-patch+json`` — RFC 6902 via the ``jsonpatch`` library (``test`` ops, ``~0``/``~1``).
  A failing op is a 422, which kopf relies on for its optimistic ``test /metadata/resourceVersion``.
* ``application/merge-patch+json`` — RFC 7386: objects merge recursively, ``null`` deletes, lists replace.
* ``application/strategic-merge-patch+json`` — **treated as a merge patch**. Real SMP merges lists by patch
  keys (containers by ``name``…) and knows ``$patch`` directives; the emulator has no Go struct tags to read
  them from, so lists are replaced whole. Our clients (kopf, kr8s) never send SMP.
* ``application/apply-patch+yaml`` (server-side apply) — not supported: 415, so a client never silently gets
  different semantics from what it asked for.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch

from apibridge.emulator import errors
from apibridge.emulator.wire import Obj

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
SUPPORTED = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch(target, patch)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: dict[str, Any] = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def apply_patch(content_type: str, body: bytes, current: Obj) -> Obj:
    """Return the patched copy of ``current``; raise ``ApiError`` with the server's code on failure."""
    media = content_type.split(";")[0].strip().lower()
    if media == APPLY_PATCH:
        raise errors.unsupported_media_type(f"{media} (server-side apply is not emulated)")
    if media not in SUPPORTED:
        raise errors.unsupported_media_type(media)
    try:
        doc = json.loads(body or b"null")
    except ValueError as exc:
        raise errors.bad_request(f"error decoding patch: {exc}") from None
    if media == JSON_PATCH:
        if not isinstance(doc, list):
            raise errors.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        try:
            patch = jsonpatch.JsonPatch(doc)
            result = patch.apply(current)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, KeyError, IndexError, TypeError) as exc:
            # a failed ``test`` op included: kube-apiserver answers 422 for any op that cannot be applied
            raise errors.unprocessable(f"jsonpatch: {exc}") from None
    else:
        if not isinstance(doc, dict):
            raise errors.bad_request("json: cannot unmarshal non-object into Go value of type map[string]interface {}")
        result = merge_patch(current, doc)
    if not isinstance(result, dict):
        raise errors.unprocessable("the patched document is not an object")
    return result
