"""Pods a bridge selects but that run without its mutation, and the bounded restart of their owners.

The webhook can only mutate pods at creation. Pods that existed before the bridge, were created while
the webhook was down (``failurePolicy: Ignore``) or predate a ClusterIP change lack the NAD in
``k8s.v1.cni.cncf.io/networks`` or a route in ``<provider>.kubernetes.io/routes`` — and kube-ovn-cni reads
those only at CNI ADD, so only a new pod fixes them. ``find_drift`` asks the same question the webhook
answers (``pod_mutation`` would still change something) instead of re-implementing it.

``spec.rollout: restart`` restarts the owning Deployment/StatefulSet/DaemonSet the way
``kubectl rollout restart`` does (pod template annotation ``kubectl.kubernetes.io/restartedAt``), with two
brakes: a token bucket (a bridge selecting a hundred Deployments must not restart them all at once), and
a marker annotation on the workload recording the bridge generation it was restarted for. If the new pods
still come up without the mutation (webhook still down), the owner is not restarted again until the
bridge's spec changes — a restart loop would be worse than the drift. Bare pods are reported, never deleted.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apibridge.base.kubeclient import Client
from apibridge.kubeovn import networks, routes, rules
from apibridge.model.cluster import Cluster
from apibridge.operator import kube
from apibridge.plan.mutation import BridgeIndex, pod_mutation
from apibridge.plan.types import BridgePlan, Plan

# Our own key; it belongs next to the other apibridge keys in ``apibridge.kubeovn.rules``.
FINISHED_PHASES = ("Succeeded", "Failed")


@dataclass(frozen=True)
class PodDrift:
    namespace: str
    name: str
    uid: str
    owner: tuple[str, str] | None  # (kind, name) of the controlling owner, if any
    missing: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class BridgeDrift:
    injected: list[str] = field(default_factory=list)
    pending: list[PodDrift] = field(default_factory=list)


def _controller_owner(body: Mapping[str, Any]) -> tuple[str, str] | None:
    for ref in kube.meta(body).get("ownerReferences") or []:
        if isinstance(ref, Mapping) and ref.get("controller"):
            return str(ref.get("kind")), str(ref.get("name"))
    return None


def missing_parts(annotations: Mapping[str, str], namespace: str, bridge_plan: BridgePlan) -> tuple[str, ...]:
    """What the pod lacks of the bridge's mutation, in words; empty when it has all of it."""
    try:
        changes = pod_mutation(annotations, namespace, bridge_plan)
    except (networks.NetworksError, routes.RoutesError) as exc:
        return (f"its annotations cannot be parsed ({exc})",)
    missing: list[str] = []
    if rules.NETWORKS_ANNOTATION in changes:
        missing.append(f"{rules.NETWORKS_ANNOTATION} lacks {bridge_plan.nad_namespace}/{bridge_plan.nad_name}")
    routes_key = rules.provider_key(bridge_plan.provider, rules.ROUTES)
    if routes_key in changes:
        have = {r.dst for r in routes.parse(annotations.get(routes_key))}
        lacking = [f"{r.dst} via {r.gw}" for r in bridge_plan.routes if r.dst not in have]
        missing.append(f"{routes_key} lacks {', '.join(lacking)}")
    return tuple(missing)


def find_drift(cluster: Cluster, plan: Plan) -> dict[str, BridgeDrift]:
    """Per planned bridge: the selected pods that carry its mutation and the ones that do not."""
    out = {name: BridgeDrift() for name in plan.bridges}
    index = BridgeIndex(cluster, plan)
    for pod in cluster.pods:
        if pod.is_template or pod.meta.kind != "Pod":
            continue
        raw = pod.raw
        if kube.is_terminating(raw) or (raw.get("status") or {}).get("phase") in FINISHED_PHASES:
            continue
        bridge_plan = index.bridge_for(pod)
        if bridge_plan is None:
            continue
        entry = out[bridge_plan.bridge.name]
        missing = missing_parts(pod.annotations, pod.namespace, bridge_plan)
        key = f"{pod.namespace}/{pod.pod_name}"
        if not missing:
            entry.injected.append(key)
            continue
        entry.pending.append(PodDrift(pod.namespace, pod.pod_name, pod.meta.uid or "", _controller_owner(raw), missing))
    for entry in out.values():
        entry.injected.sort()
        entry.pending.sort(key=lambda p: p.key)
    return out


# --- rate limiting ------------------------------------------------------------------------------------
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)?\s*(s|sec|m|min|h)?\s*$")
_UNITS = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_rate(text: str) -> tuple[float, float]:
    """``"1/10s"`` -> (1 restart, per 10 seconds). Also ``2/1m``, ``1/s``, ``3/1h``. Raises ``ValueError``."""
    match = _RATE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a rate like 1/10s (restarts per duration; units s, m, h)")
    count = float(match.group(1))
    period = float(match.group(2) or 1) * _UNITS[match.group(3)]
    if count <= 0 or period <= 0:
        raise ValueError(f"{text!r}: count and duration must be positive")
    return count, period


class TokenBucket:
    """``capacity`` tokens, refilled continuously at ``capacity / period`` per second."""

    def __init__(self, capacity: float, period: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = max(capacity, 1.0)
        self.rate = capacity / period
        self._clock = clock
        self._tokens = self.capacity
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_take(self) -> bool:
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def wait_time(self) -> float:
        """Seconds until a token is available (0 if one is)."""
        self._refill()
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate


# --- owners ---------------------------------------------------------------------------------------------
async def resolve_owner(client: Client, namespace: str, owner: tuple[str, str] | None) -> tuple[str, str] | None:
    """The restartable workload behind a pod's owner: a ReplicaSet's Deployment, or a StatefulSet/DaemonSet."""
    if owner is None:
        return None
    kind, name = owner
    if kind in ("StatefulSet", "DaemonSet", "Deployment"):
        return owner
    if kind == "ReplicaSet":
        rs = await client.get(kube.REPLICASET, name, namespace)
        parent = _controller_owner(rs) if rs else None
        return parent if parent and parent[0] == "Deployment" else None
    return None


def restart_marker(bridge: Mapping[str, Any]) -> str:
    """The value recorded on a workload restarted for this bridge generation."""
    md = kube.meta(bridge)
    return f"{md.get('name')}/{md.get('uid')}/{md.get('generation') or 1}"


RESTART_ATTEMPTS = 5  # per owner and bridge generation


def restart_due(workload: Mapping[str, Any], marker: str, retry: float, now: float) -> tuple[int | None, float]:
    """(attempt number to restart with, seconds to wait first) for an owner whose pods still lack the
    attachment; attempt ``None`` when it was already restarted ``RESTART_ATTEMPTS`` times for ``marker``.

    The record lives on the workload (``<marker>#<attempt>`` in ``apibridge.dev/restarted-for``, and the
    template's ``restartedAt``), so it survives operator restarts and leader changes. The wait doubles
    with each attempt: a restart whose new pods still miss the attachment (the webhook was down) is
    retried, but never in a tight loop.
    """
    recorded = kube.annotations_of(workload).get(rules.RESTARTED_FOR_ANNOTATION, "")
    base, _, count = recorded.partition("#")
    if base != marker:
        return 1, 0.0
    done = int(count) if count.isdigit() else 1
    if done >= RESTART_ATTEMPTS:
        return None, 0.0
    template = (workload.get("spec") or {}).get("template") or {}
    stamp = ((template.get("metadata") or {}).get("annotations") or {}).get(rules.ROLLOUT_RESTART_ANNOTATION, "")
    try:
        last = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        last = 0.0
    return done + 1, max(0.0, last + retry * 2 ** (done - 1) - now)


def restart_patch(marker: str, now: str, attempt: int = 1) -> dict[str, Any]:
    """What ``kubectl rollout restart`` patches, plus our marker (with the attempt) on the workload itself."""
    recorded = marker if attempt == 1 else f"{marker}#{attempt}"
    return {
        "metadata": {"annotations": {rules.RESTARTED_FOR_ANNOTATION: recorded}},
        "spec": {"template": {"metadata": {"annotations": {rules.ROLLOUT_RESTART_ANNOTATION: now}}}},
    }
