"""The reconcile worker: one loop that plans every bridge from the watch cache and applies the difference.

Why one global loop and not a kopf handler per bridge: ``cidrBlock: auto`` allocates from one pool for all
bridges, and the inputs that matter (the API Service's ClusterIPs, Subnets, Vpcs, Namespaces) are shared,
so a change to any of them can move every bridge's plan. kopf feeds the cache (its indices) and wakes the
loop (``notify``) when the *fingerprint* of a watched object changes; the loop coalesces bursts, takes a
snapshot, and does a full pass — plan, writes, orphan sweep, drift, status — in that order.

A pass writes only while this replica leads (checked before every write), never updates what is already
right, and treats every 409 as "someone moved; look again": it requeues itself instead of reporting an
error. Failures back off exponentially; a periodic resync covers anything a watch might have missed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from apibridge.base.kubeclient import (
    AlreadyExistsError,
    ApiError,
    Client,
    ConflictError,
    NotFoundError,
    UnreachableError,
)
from apibridge.check.objects.tenancy import ForeignAttachment, foreign_attachments
from apibridge.check.verdict import judge
from apibridge.kubeovn import rules
from apibridge.operator import kube
from apibridge.operator.drift import (
    BridgeDrift,
    TokenBucket,
    find_drift,
    resolve_owner,
    restart_due,
    restart_marker,
    restart_patch,
)
from apibridge.operator.events import EventRecorder
from apibridge.operator.process.metrics import Metrics
from apibridge.operator.reconcile import BridgeDecision, Decisions, Write, decide
from apibridge.operator.status import READY, ApplyOutcome, desired_status, status_patch
from apibridge.plan.planner import plan as make_plan
from apibridge.plan.settings import Settings
from apibridge.plan.types import Plan

log = logging.getLogger(__name__)


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Leadership(Protocol):
    def is_leading(self) -> bool: ...


class AlwaysLeading:
    """For a controller that runs without an election (tests, ``--no-leader-election``)."""

    def is_leading(self) -> bool:
        return True


@dataclass
class ControllerConfig:
    rollout_rate: tuple[float, float] = (1.0, 10.0)  # restarts per seconds
    # A restart is only worth it once the webhook can inject: the bridge's NAD and Subnet must have
    # existed this long (the webhook's watch has seen them) before owners are restarted.
    restart_settle: float = 10.0
    # If the pods an owner got from a restart still lack the attachment (the webhook was down), restart
    # it again after this long, doubling each time, at most RESTART_ATTEMPTS times per bridge generation.
    restart_retry: float = 60.0
    # Off (the chart's default): owners are never restarted, whatever a bridge's rollout says; pods are reported.
    restarts: bool = True
    debounce: float = 0.2
    resync_period: float = 300.0
    max_backoff: float = 30.0
    identity: str = ""
    settings: Settings = field(default_factory=Settings)  # the planner's, as the CLI and the webhook use them


@dataclass
class PassResult:
    """What one pass did; ``requeue_after`` asks for another pass even without a watch event."""

    plan: Plan | None = None
    decisions: Decisions | None = None
    outcomes: dict[str, ApplyOutcome] = field(default_factory=dict)
    drift: dict[str, BridgeDrift] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)
    requeue_after: float | None = None


class Controller:
    def __init__(
        self,
        client: Client,
        metrics: Metrics,
        leadership: Leadership | None = None,
        config: ControllerConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.metrics = metrics
        self.leadership = leadership or AlwaysLeading()
        self.config = config or ControllerConfig()
        self.events = EventRecorder(client, self.config.identity)
        self.bucket = TokenBucket(*self.config.rollout_rate, clock=clock)
        self.clock = clock
        self._realised_since: dict[str, float] = {}  # bridge -> when its own NAD and Subnet were first seen
        self._indices: dict[str, Mapping[Any, Iterable[Any]]] = {}
        self._fingerprints: dict[tuple[str, str, str], str] = {}
        self._wake = asyncio.Event()
        self._last_duration = 0.0
        self.ready = asyncio.Event()  # set after the first pass completed
        self.passes = 0
        self.last_error: str | None = None

    # ---- fed by the kopf handlers -------------------------------------------------------------------
    def bind(self, indices: Mapping[str, Mapping[Any, Iterable[Any]]]) -> None:
        """Keep the (live) kopf indices; called from handlers, which kopf runs only once all are populated."""
        if not self._indices:
            self._indices = dict(indices)
            self._wake.set()

    def notify(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A watch event: wake the loop if the object changed in a way a plan or drift can see."""
        key = (str(body.get("kind")), kube.namespace_of(body) or "", kube.name_of(body))
        if event_type == "DELETED":
            if self._fingerprints.pop(key, None) is not None or key[0] == kube.APIBRIDGE.kind:
                self._wake.set()
            return
        digest = kube.fingerprint(kube.slim(body))
        if self._fingerprints.get(key) != digest:
            self._fingerprints[key] = digest
            self._wake.set()

    # ---- the loop ---------------------------------------------------------------------------------------
    async def run(self) -> None:
        backoff = 0.0
        next_resync = time.monotonic() + self.config.resync_period
        requeue: float | None = None
        while True:
            timeout = max(0.0, next_resync - time.monotonic())
            if requeue is not None:
                timeout = min(timeout, requeue)
            if backoff:
                timeout = min(timeout, backoff)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
                # coalesce a burst of events into one pass; under constant churn (pods), at most half the
                # time goes to passes
                await asyncio.sleep(max(self.config.debounce, self._last_duration))
            except TimeoutError:
                pass
            if not self._indices:
                continue
            self._wake.clear()
            if time.monotonic() >= next_resync:
                next_resync = time.monotonic() + self.config.resync_period
            started = time.perf_counter()
            try:
                result = await self.reconcile_once()
            except Exception as exc:
                self.metrics.reconciles.labels("error").inc()
                self.last_error = f"{type(exc).__name__}: {exc}"
                backoff = min(max(backoff * 2, 0.5), self.config.max_backoff)
                log.exception("reconcile pass failed; retrying in %.1fs", backoff)
                requeue = None
                continue
            finally:
                self._last_duration = time.perf_counter() - started
                self.metrics.duration.observe(self._last_duration)
            self.metrics.reconciles.labels("success").inc()
            self.last_error = None
            backoff = 0.0
            requeue = result.requeue_after
            self.passes += 1
            self.ready.set()

    # ---- one pass -------------------------------------------------------------------------------------
    def snapshot(self) -> list[dict[str, Any]]:
        """Every cached object (one list, all kinds)."""
        objects: list[dict[str, Any]] = []
        for index in self._indices.values():
            for store in list(index.values()):
                objects.extend(dict(obj) for obj in store)
        return objects

    async def reconcile_once(self, objects: list[dict[str, Any]] | None = None) -> PassResult:
        objects = self.snapshot() if objects is None else objects
        bridges = {kube.name_of(o): o for o in objects if o.get("kind") == kube.APIBRIDGE.kind}
        nads = {
            (kube.namespace_of(o) or "default", kube.name_of(o)): o for o in objects if o.get("kind") == kube.NAD.kind
        }
        subnets = {kube.name_of(o): o for o in objects if o.get("kind") == kube.SUBNET.kind}
        cluster, rejected = kube.build_cluster(objects)
        plan = make_plan(cluster, config=self.config.settings)
        verdict = judge(cluster, plan)  # the one verdict render, inject and the webhook obey too
        decisions = decide(bridges, cluster, plan, rejected, verdict, nads, subnets)
        result = PassResult(plan=plan, decisions=decisions)
        result.drift = find_drift(cluster, plan)
        foreign: dict[str, list[ForeignAttachment]] = {}  # pods that already attach a bridge from another VPC
        for attachment in foreign_attachments(cluster, plan):
            foreign.setdefault(attachment.bridge, []).append(attachment)
        self._track_realised(decisions, nads, subnets)
        for name, decision in decisions.bridges.items():
            outcome = ApplyOutcome()
            result.outcomes[name] = outcome
            await self._apply(decision, outcome, result)
        await self._sweep(decisions.orphans, result)
        for name, decision in decisions.bridges.items():
            drift = result.drift.get(name)
            outcome = result.outcomes[name]
            if drift is not None and decision.plan is not None and decision.valid:
                outcome.pods_injected = len(drift.injected)
                outcome.pods_pending = [p.key for p in drift.pending]
                await self._handle_drift(decision, drift, result)
            for a in foreign.get(name, []) if self._leading() else []:
                await self.events.record(
                    decision.body,
                    reason="ForeignAttachment",
                    key=f"{name}/{a.pod}",
                    now=now_rfc3339(),
                    message=f"{a.pod} {a.message} (apibridge check AB304; the chart's tenancy policy refuses new ones)",
                )
            outcome.status = desired_status(decision, outcome, now_rfc3339())
            await self._write_status(decision, outcome.status)
        self._update_metrics(decisions, result)
        return result

    def _track_realised(
        self,
        decisions: Decisions,
        nads: Mapping[tuple[str, str], Mapping[str, Any]],
        subnets: Mapping[str, Mapping[str, Any]],
    ) -> None:
        for name, decision in decisions.bridges.items():
            bp = decision.plan
            nad = nads.get((bp.nad_namespace, bp.nad_name)) if bp else None
            subnet = subnets.get(bp.subnet_name) if bp else None
            if (
                nad
                and subnet
                and rules.owned_by_bridge(kube.labels_of(nad), name)
                and rules.owned_by_bridge(kube.labels_of(subnet), name)
            ):
                self._realised_since.setdefault(name, self.clock())
            else:
                self._realised_since.pop(name, None)
        for gone in set(self._realised_since) - set(decisions.bridges):
            del self._realised_since[gone]

    def _leading(self) -> bool:
        if not self.leadership.is_leading():
            log.warning("not leading: skipping writes")
            return False
        return True

    def _requeue(self, result: PassResult, seconds: float) -> None:
        result.requeue_after = seconds if result.requeue_after is None else min(result.requeue_after, seconds)

    async def _apply(self, decision: BridgeDecision, outcome: ApplyOutcome, result: PassResult) -> None:
        create_failed = False
        for write in decision.writes:
            if write.op == "create" and create_failed:
                continue  # both or neither: the pair's first create did not go through
            if not self._leading():
                outcome.retrying = True
                return
            try:
                if write.op == "create":
                    await self.client.create(write.kind, write.body)
                else:
                    await self.client.patch(write.kind, write.name, write.body, write.namespace)
            except (AlreadyExistsError, ConflictError) as exc:
                log.info("%s %s raced (%s); looking again", write.op, write.ref, exc.reason)
                outcome.retrying = True
                create_failed = create_failed or write.op == "create"
                self._requeue(result, 0.5)
                continue
            except (ApiError, UnreachableError) as exc:
                create_failed = create_failed or write.op == "create"
                outcome.apply_errors.append(f"{write.op} {write.ref}: {getattr(exc, 'message', exc)}")
                self._requeue(result, 5.0)
                continue
            self.metrics.writes.labels(write.op, write.kind.kind).inc()
            result.writes.append(f"{write.op} {write.ref}")
            log.info("%s %s for ApiBridge %s", write.op, write.ref, write.bridge)

    async def _sweep(self, orphans: list[Write], result: PassResult) -> None:
        """Delete objects of bridges that are gone — after confirming with the API server that they are."""
        for write in orphans:
            if not self._leading():
                return
            try:
                live = await self.client.get(kube.APIBRIDGE, write.bridge)
                planned = result.plan is not None and write.bridge in result.plan.bridges
                if live is not None and not kube.is_terminating(live) and not planned:
                    continue  # the cache is behind (the bridge exists): the next pass plans it
                deleted = await self.client.delete(write.kind, write.name, write.namespace, uid=write.uid)
            except (ConflictError, NotFoundError):
                continue
            except (ApiError, UnreachableError) as exc:
                log.warning("cannot delete orphan %s: %s", write.ref, exc)
                self._requeue(result, 5.0)
                continue
            if deleted:
                self.metrics.writes.labels("delete", write.kind.kind).inc()
                result.writes.append(f"delete {write.ref}")
                log.info("deleted %s: ApiBridge %s no longer wants it", write.ref, write.bridge)

    async def _handle_drift(self, decision: BridgeDecision, drift: BridgeDrift, result: PassResult) -> None:
        body = decision.body
        generation = kube.meta(body).get("generation") or 1
        bridge_uid = kube.meta(body).get("uid")
        now = now_rfc3339()
        if not self._leading():
            return
        for pod in drift.pending:
            why = "; ".join(pod.missing)
            pod_ref = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
            }
            key = f"{decision.name}/{bridge_uid}/{generation}/{pod.uid}"
            await self.events.record(
                pod_ref,
                reason="ApiBridgeAttachmentMissing",
                key=key,
                now=now,
                message=f"selected by ApiBridge {decision.name} but created without its attachment ({why}); "
                f"it has no route to the API server until it is recreated",
            )
            await self.events.record(
                body,
                reason="PodPendingRestart",
                key=key,
                now=now,
                message=f"pod {pod.key} runs without the attachment ({why}); "
                + (
                    "its owner will be restarted"
                    if decision.plan and decision.plan.bridge.rollout == "restart"
                    else "restart it (or set spec.rollout: restart)"
                ),
            )
        if decision.plan is None or decision.plan.bridge.rollout != "restart" or not self.config.restarts:
            return
        since = self._realised_since.get(decision.name)
        waited = self.clock() - since if since is not None else 0.0
        if since is None or waited < self.config.restart_settle:
            # the webhook may not inject yet: a restart now would give new pods without the attachment
            self._requeue(result, max(self.config.restart_settle - waited, 0.1))
            return
        marker = restart_marker(body)
        owners: dict[tuple[str, str, str], list[str]] = {}
        for pod in drift.pending:
            try:
                owner = await resolve_owner(self.client, pod.namespace, pod.owner)
            except (ApiError, UnreachableError) as exc:
                log.warning("cannot resolve the owner of pod %s: %s", pod.key, exc)
                continue
            if owner is None:
                continue  # bare pods (or Jobs) are reported, never deleted
            owners.setdefault((owner[0], pod.namespace, owner[1]), []).append(pod.key)
        for (kind, namespace, name), pods in sorted(owners.items()):
            workload_kind = kube.WORKLOADS[kind]
            try:
                workload = await self.client.get(workload_kind, name, namespace)
            except (ApiError, UnreachableError) as exc:
                log.warning("cannot read %s %s/%s: %s", kind, namespace, name, exc)
                continue
            if workload is None:
                continue
            attempt, wait = restart_due(workload, marker, self.config.restart_retry, time.time())
            if attempt is None:
                continue  # restarted for this generation as often as is useful
            if wait > 0:
                self._requeue(result, wait)  # restarted recently: give the rollout (and the webhook) time
                continue
            if not self.bucket.try_take():
                self._requeue(result, max(self.bucket.wait_time(), 0.1))
                return
            if not self._leading():
                return
            try:
                await self.client.patch(workload_kind, name, restart_patch(marker, now_rfc3339(), attempt), namespace)
            except (ApiError, UnreachableError) as exc:
                log.warning("cannot restart %s %s/%s: %s", kind, namespace, name, exc)
                continue
            self.metrics.restarts.inc()
            # look again once a retry could be due: if the new pods still lack the attachment, restart again
            self._requeue(result, self.config.restart_retry * 2 ** (attempt - 1))
            result.writes.append(f"restart {kind}/{namespace}/{name}")
            log.info(
                "restarted %s %s/%s for ApiBridge %s (pods %s)", kind, namespace, name, decision.name, ", ".join(pods)
            )
            await self.events.record(
                body,
                reason="RolloutRestart",
                key=f"{marker}/{kind}/{namespace}/{name}",
                now=now_rfc3339(),
                event_type="Normal",
                message=f"restarted {kind} {namespace}/{name}: its pods {', '.join(pods)} ran without the attachment",
            )

    async def _write_status(self, decision: BridgeDecision, desired: Mapping[str, Any]) -> None:
        if kube.is_terminating(decision.body):
            return
        current = decision.body.get("status") if isinstance(decision.body.get("status"), Mapping) else None
        patch = status_patch(current, desired)
        if patch is None or not self._leading():
            return
        try:
            await self.client.patch(kube.APIBRIDGE, decision.name, patch, subresource="status")
        except NotFoundError:
            return  # deleted meanwhile
        except (ApiError, UnreachableError) as exc:
            log.warning("cannot write the status of ApiBridge %s: %s", decision.name, exc)

    def _update_metrics(self, decisions: Decisions, result: PassResult) -> None:
        self.metrics.bridges.set(len(decisions.bridges))
        ready = 0
        for name in decisions.bridges:
            status = result.outcomes[name].status  # set in reconcile_once before the status write
            if status is not None and any(c["type"] == READY and c["status"] == "True" for c in status["conditions"]):
                ready += 1
        self.metrics.bridges_ready.set(ready)
        self.metrics.set_pending({name: len(result.outcomes[name].pods_pending) for name in decisions.bridges})
