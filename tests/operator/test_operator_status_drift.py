"""Conditions, drift detection, the restart brakes and event naming — the pure parts."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from opkit import KUBERNETES_SVC, base_objects, bridge, pod, run, with_uid, world

from apibridge.kubeovn import rules
from apibridge.operator import kube
from apibridge.operator.drift import (
    TokenBucket,
    find_drift,
    parse_rate,
    resolve_owner,
    restart_marker,
    restart_patch,
)
from apibridge.operator.events import make_event
from apibridge.operator.reconcile import BridgeDecision
from apibridge.operator.status import ApplyOutcome, conditions, desired_status, merge_conditions, status_patch
from apibridge.plan.mutation import pod_mutation
from apibridge.plan.planner import plan


def by_type(conds: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in conds}


def decision(*extra: dict[str, Any], name: str = "tenant-a") -> BridgeDecision:
    return run(world(*extra)).bridges[name]


def test_conditions_for_a_healthy_bridge() -> None:
    d = decision(with_uid(bridge("tenant-a")))
    assert by_type(conditions(d, ApplyOutcome(), 1)) == {
        "Ready": ("True", "Reconciled"),
        "Validated": ("True", "Valid"),
        "Degraded": ("False", "AsExpected"),
    }


def test_conditions_name_the_problem() -> None:
    b = with_uid(bridge("tenant-a"))
    assert by_type(conditions(decision(b), ApplyOutcome(apply_errors=["create Subnet/x: denied"]), 1))["Ready"] == (
        "False",
        "ApplyFailed",
    )
    assert by_type(conditions(decision(b), ApplyOutcome(retrying=True), 1))["Ready"] == ("False", "Progressing")
    pending = by_type(conditions(decision(b), ApplyOutcome(pods_pending=["ns/p"]), 1))
    assert pending["Degraded"] == ("True", "PodsPendingRestart") and pending["Ready"] == ("True", "Reconciled")
    bad = with_uid(bridge("tenant-a", cidrBlock="100.100.5.0/24,100.100.6.0/24"))
    assert by_type(conditions(decision(bad), ApplyOutcome(), 1)) == {
        "Ready": ("False", "InvalidSpec"),
        "Validated": ("False", "InvalidSpec"),
        "Degraded": ("False", "AsExpected"),
    }


def test_transition_time_moves_only_on_a_flip() -> None:
    old = [
        {"type": "Ready", "status": "True", "lastTransitionTime": "t0"},
        {"type": "Degraded", "status": "False", "lastTransitionTime": "t0"},
    ]
    new = [
        {"type": "Ready", "status": "True"},
        {"type": "Degraded", "status": "True"},
        {"type": "Validated", "status": "True"},
    ]
    assert [c["lastTransitionTime"] for c in merge_conditions(old, new, "t1")] == ["t0", "t1", "t1"]


def test_status_is_written_only_when_it_changes() -> None:
    b = with_uid(bridge("tenant-a"))
    d = decision(b)
    status = desired_status(d, ApplyOutcome(pods_injected=2), "t0")
    assert status["nad"] == "kube-system/apibridge-tenant-a" and status["podsInjected"] == 2
    assert status["routes"] == [{"dst": "10.96.0.1/32", "gw": str(d.plan.gateways[0])}]  # type: ignore[union-attr]
    assert status_patch(None, status) == {"status": status}
    b2 = copy.deepcopy(b)
    b2["status"] = status
    again = desired_status(decision(b2), ApplyOutcome(pods_injected=2), "t9")  # later clock, same facts
    assert status_patch(status, again) is None


def mutated(name: str, bp: Any, **kw: Any) -> dict[str, Any]:
    return pod(name, annotations=pod_mutation({}, "ingress-nginx", bp), **kw)


def test_drift_finds_selected_pods_without_the_mutation() -> None:
    labels = {"app.kubernetes.io/name": "ingress-nginx"}
    b = with_uid(bridge("tenant-a", podSelector={"matchLabels": labels}))
    cluster, _ = kube.build_cluster(world(b))
    bp = plan(cluster).bridges["tenant-a"]
    old_routes = {
        rules.NETWORKS_ANNOTATION: f"kube-system/{bp.nad_name}",
        rules.provider_key(bp.provider, rules.ROUTES): '[{"dst":"10.96.0.9/32","gw":"100.100.0.1"}]',
    }
    finished = pod("done", labels=labels)
    finished["status"] = {"phase": "Succeeded"}
    leaving = pod("leaving", labels=labels)
    leaving["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    owned = pod(
        "owned",
        labels=labels,
        owner={"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "r", "controller": True},
    )
    objs = [
        *base_objects(),
        KUBERNETES_SVC,
        b,
        mutated("good", bp, labels=labels),
        pod("bare", labels=labels),
        owned,
        pod("other-app", labels={"app": "x"}),
        pod("stale-route", labels=labels, annotations=old_routes),
        pod("opted-out", labels=labels, annotations={rules.INJECT_ANNOTATION: "false"}),
        pod("tenant-b-pod", ns="tenant-b", labels=labels),
        finished,
        leaving,
    ]
    for o in objs:
        o["metadata"].setdefault("uid", f"uid-{o['metadata']['name']}")
    cluster, _ = kube.build_cluster(objs)
    drift = find_drift(cluster, plan(cluster))["tenant-a"]
    assert drift.injected == ["ingress-nginx/good"]
    assert [p.key for p in drift.pending] == ["ingress-nginx/bare", "ingress-nginx/owned", "ingress-nginx/stale-route"]
    bare, owned_drift, stale = drift.pending
    assert bare.owner is None and owned_drift.owner == ("ReplicaSet", "rs")
    assert any("lacks kube-system/apibridge-tenant-a" in m for m in bare.missing)
    assert stale.missing == (
        f"{rules.provider_key(bp.provider, rules.ROUTES)} lacks 10.96.0.1/32 via {bp.gateways[0]}",
    )


@pytest.mark.parametrize(
    ("text", "rate"),
    [("1/10s", (1, 10)), ("2/1m", (2, 60)), ("1/s", (1, 1)), ("3 / 1h", (3, 3600)), ("0.5/2", (0.5, 2))],
)
def test_parse_rate(text: str, rate: tuple[float, float]) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["fast", "0/10s", "1/0s", "-1/s", "1/10d"])
def test_parse_rate_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


def test_token_bucket_bounds_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(1, 10, clock=lambda: now[0])
    assert bucket.try_take() and not bucket.try_take()
    assert bucket.wait_time() == pytest.approx(10)
    now[0] = 9.0
    assert not bucket.try_take()
    now[0] = 10.0
    assert bucket.try_take()
    now[0] = 1000.0  # idle time does not bank more than the capacity
    assert bucket.try_take() and not bucket.try_take()


def test_restart_patch_is_kubectls_plus_our_marker() -> None:
    b = with_uid(bridge("tenant-a"), generation=3)
    marker = restart_marker(b)
    assert marker == "tenant-a/uid-1/3"
    assert restart_patch(marker, "2026-01-01T00:00:00Z") == {
        "metadata": {"annotations": {rules.RESTARTED_FOR_ANNOTATION: marker}},
        "spec": {"template": {"metadata": {"annotations": {rules.ROLLOUT_RESTART_ANNOTATION: "2026-01-01T00:00:00Z"}}}},
    }


def test_event_names_are_deterministic_per_fact() -> None:
    b = with_uid(bridge("tenant-a"))
    e1 = make_event(b, reason="PodPendingRestart", message="m", key="k1", now="t1")
    e2 = make_event(b, reason="PodPendingRestart", message="other words", key="k1", now="t2")
    e3 = make_event(b, reason="PodPendingRestart", message="m", key="k2", now="t1")
    assert e1["metadata"] == e2["metadata"] != e3["metadata"]
    assert e1["metadata"]["namespace"] == "default"  # cluster-scoped object
    assert e1["involvedObject"] == {
        "apiVersion": rules.APIBRIDGE_API,
        "kind": "ApiBridge",
        "name": "tenant-a",
        "uid": "uid-1",
    }
    p = make_event(pod("x"), reason="R", message="m", key="k", now="t")
    assert p["metadata"]["namespace"] == "ingress-nginx" and p["involvedObject"]["namespace"] == "ingress-nginx"


class _FakeClient:
    def __init__(self, objects: dict[tuple[str, str, str], dict[str, Any]]) -> None:
        self.objects = objects

    async def get(self, kind: kube.Kind, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        return self.objects.get((kind.kind, namespace or "", name))


async def test_owner_resolution_walks_replicasets_to_deployments() -> None:
    rs = {"metadata": {"ownerReferences": [{"kind": "Deployment", "name": "web", "controller": True}]}}
    orphan_rs = {"metadata": {}}
    client: Any = _FakeClient({("ReplicaSet", "ns", "web-1"): rs, ("ReplicaSet", "ns", "lonely"): orphan_rs})
    assert await resolve_owner(client, "ns", ("ReplicaSet", "web-1")) == ("Deployment", "web")
    assert await resolve_owner(client, "ns", ("ReplicaSet", "lonely")) is None
    assert await resolve_owner(client, "ns", ("ReplicaSet", "missing")) is None
    assert await resolve_owner(client, "ns", ("StatefulSet", "db")) == ("StatefulSet", "db")
    assert await resolve_owner(client, "ns", ("DaemonSet", "agent")) == ("DaemonSet", "agent")
    assert await resolve_owner(client, "ns", ("Job", "once")) is None
    assert await resolve_owner(client, "ns", None) is None


def test_restarts_are_retried_with_backoff_and_bounded() -> None:
    from apibridge.operator.drift import RESTART_ATTEMPTS, restart_due, restart_patch

    def workload(recorded: str | None, restarted_at: str | None) -> dict[str, Any]:
        md: dict[str, Any] = {"annotations": {rules.RESTARTED_FOR_ANNOTATION: recorded} if recorded else {}}
        tmpl: dict[str, Any] = {"annotations": {rules.ROLLOUT_RESTART_ANNOTATION: restarted_at} if restarted_at else {}}
        return {"metadata": md, "spec": {"template": {"metadata": tmpl}}}

    t0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
    stamp = "2027-01-15T08:00:00Z"
    assert restart_due(workload(None, None), "b/u/1", 60, t0) == (1, 0.0)
    assert restart_due(workload("b/u/0", stamp), "b/u/1", 60, t0) == (1, 0.0)  # an older generation's restart
    assert restart_due(workload("b/u/1", stamp), "b/u/1", 60, t0 + 10) == (2, 50.0)
    assert restart_due(workload("b/u/1#2", stamp), "b/u/1", 60, t0 + 200) == (3, 0.0)  # waited 120 s > 2 x 60
    assert restart_due(workload(f"b/u/1#{RESTART_ATTEMPTS}", stamp), "b/u/1", 60, t0 + 1e6) == (None, 0.0)
    patch = restart_patch("b/u/1", stamp, 3)
    assert patch["metadata"]["annotations"][rules.RESTARTED_FOR_ANNOTATION] == "b/u/1#3"
