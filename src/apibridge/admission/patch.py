"""RFC 6902 JSON Patch for pod annotations: touch our keys, nothing else.

Mutating webhooks run in sequence and may be re-invoked; a patch that replaced the whole
``metadata.annotations`` map (as Cozystack's and NRI's webhooks do, ecosystem.md §3.2/§3.3) would
silently drop what another webhook added between our two calls. So each of our keys is its own
operation — ``add`` when the key is new, ``replace`` when it exists — and the whole map is added
only when the pod has no ``metadata.annotations`` at all (RFC 6902 cannot add a member to a missing
parent). Annotation keys contain ``/`` (``k8s.v1.cni.cncf.io/networks``), which RFC 6901 spells
``~1`` inside a JSON pointer; ``~`` itself becomes ``~0`` and is escaped first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apibridge.admission.review import JSONPatchOp


def escape(token: str) -> str:
    """One JSON-pointer reference token (RFC 6901 §3): ``~`` -> ``~0``, then ``/`` -> ``~1``."""
    return token.replace("~", "~0").replace("/", "~1")


def annotation_patch(
    metadata: Mapping[str, Any], changes: Mapping[str, str], prefix: str = "/metadata"
) -> list[JSONPatchOp]:
    """Operations that set ``changes`` on ``metadata.annotations`` of the object at ``prefix``.

    ``metadata`` is the object's current metadata. A missing or ``null`` annotations map is added
    whole, containing only ``changes``; otherwise one ``add``/``replace`` per key, in ``changes`` order.
    """
    if not changes:
        return []
    current = metadata.get("annotations")
    if not isinstance(current, Mapping):
        return [{"op": "add", "path": f"{prefix}/annotations", "value": dict(changes)}]
    return [
        {"op": "replace" if key in current else "add", "path": f"{prefix}/annotations/{escape(key)}", "value": value}
        for key, value in changes.items()
    ]
