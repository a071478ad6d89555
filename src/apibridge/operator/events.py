"""Kubernetes Events for what a human should notice: pods without the attachment, owners restarted.

Events are written by the controller's worker, outside any kopf handler (kopf's own event helpers only
work inside one), as ``v1`` Events. Each one has a *deterministic* name derived from what it reports
(bridge incarnation and generation, pod uid, reason), so a level-based controller that sees the same
drift on every pass — or after a restart — creates it once; the API server answers AlreadyExistsError and
the repeat costs nothing. Events of the cluster-scoped ApiBridge go to the ``default`` namespace, as
kube-apiserver does for cluster-scoped objects.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from apibridge.base.kubeclient import AlreadyExistsError, ApiError, Client, UnreachableError
from apibridge.operator import kube

log = logging.getLogger(__name__)

COMPONENT = "apibridge-operator"
EVENT_NAMESPACE_FOR_CLUSTER_SCOPED = "default"
MEMORY_LIMIT = 10_000  # event names remembered per process


def make_event(
    involved: Mapping[str, Any],
    *,
    reason: str,
    message: str,
    key: str,
    now: str,
    event_type: str = "Warning",
    instance: str = "",
) -> dict[str, Any]:
    """A ``v1`` Event about ``involved``; ``key`` identifies the fact, so equal facts give equal names."""
    md = kube.meta(involved)
    namespace = kube.namespace_of(involved)
    digest = hashlib.sha256(f"{reason}|{key}".encode()).hexdigest()[:16]
    ref: dict[str, Any] = {
        "apiVersion": involved.get("apiVersion"),
        "kind": involved.get("kind"),
        "name": md.get("name"),
        "uid": md.get("uid"),
    }
    if namespace:
        ref["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{str(md.get('name'))[:200]}.{digest}",
            "namespace": namespace or EVENT_NAMESPACE_FOR_CLUSTER_SCOPED,
        },
        "involvedObject": ref,
        "reason": reason,
        "message": message[:1024],
        "type": event_type,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance or COMPONENT,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


class EventRecorder:
    """Posts events once per name per process (and once per cluster, thanks to the names)."""

    def __init__(self, client: Client, instance: str) -> None:
        self._client = client
        self._instance = instance
        self._posted: set[tuple[str, str]] = set()

    async def record(
        self, involved: Mapping[str, Any], *, reason: str, message: str, key: str, now: str, event_type: str = "Warning"
    ) -> bool:
        """True when a new event was created."""
        event = make_event(
            involved, reason=reason, message=message, key=key, now=now, event_type=event_type, instance=self._instance
        )
        ident = (event["metadata"]["namespace"], event["metadata"]["name"])
        if ident in self._posted:
            return False
        if len(self._posted) > MEMORY_LIMIT:
            self._posted.clear()  # the deterministic names keep repeats out anyway; this saves API calls
        try:
            await self._client.create(kube.EVENT, event)
        except AlreadyExistsError:
            self._posted.add(ident)
            return False
        except (ApiError, UnreachableError) as exc:  # events are best effort; the status says it too
            log.warning("cannot post event %s on %s: %s", reason, kube.ref(involved), exc)
            return False
        self._posted.add(ident)
        return True
