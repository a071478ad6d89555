"""Leader election on a ``coordination.k8s.io/v1`` Lease, the way client-go's ``leaderelection`` does it.

Why not kopf peering: peering is priority-based, and replicas of one Deployment have equal priority —
kopf then "issues a warning and freezes, leaving the cluster unserved" (its docs). A Lease is what
Kubernetes' own controllers use, ``kubectl get lease`` shows who leads, and it needs no CRD of kopf's.

The algorithm is client-go's:

* A candidate reads the Lease every ``retry_period``. It takes it when there is none, when it is
  released (empty holder), when it already names this identity (a restarted container of the same pod
  picks its leadership straight back up), or when the record has not changed for ``leaseDurationSeconds``
  *as measured by the candidate's own clock since it last saw it change* — never by comparing
  timestamps written by another machine's clock.
* Writes are ``PUT`` with the ``resourceVersion`` just read: two candidates racing for an expired Lease
  cannot both win; the loser gets 409.
* The leader renews every ``retry_period``. If it has not renewed successfully for ``renew_deadline``
  (shorter than the lease duration), it considers itself deposed *before* anyone else may take over, so
  two leaders never write at the same time as long as clocks run at the same rate.
* On a clean shutdown the leader releases the Lease (empty holder, duration 1 s) so a standby takes over
  at once instead of after a full lease duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from apibridge.base.kubeclient import AlreadyExistsError, ApiError, Client, ConflictError, UnreachableError
from apibridge.operator import kube

log = logging.getLogger(__name__)

DEFAULT_LEASE_NAME = "apibridge-operator"


def default_identity() -> str:
    """The pod name in a cluster (stable across container restarts), else ``host-pid`` for local runs."""
    pod = os.environ.get("POD_NAME")
    return pod if pod else f"{socket.gethostname()}-{os.getpid()}"


def micro_time(now: dt.datetime | None = None) -> str:
    """A ``metav1.MicroTime``: RFC 3339 with microseconds, UTC."""
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaseConfig:
    namespace: str
    identity: str
    name: str = DEFAULT_LEASE_NAME
    duration: float = 15.0  # leaseDurationSeconds
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    @classmethod
    def scaled(cls, namespace: str, identity: str, duration: float, name: str = DEFAULT_LEASE_NAME) -> LeaseConfig:
        """client-go's ratios (15 s / 10 s / 2 s) for another lease duration."""
        return cls(namespace, identity, name, duration, duration * 2 / 3, max(duration * 2 / 15, 0.2))


class LeaderElector:
    """Run :meth:`run` as a task; ``leading``/``lost`` tell the rest of the process what happened."""

    def __init__(
        self,
        client: Client,
        config: LeaseConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self._clock = clock
        self._on_change = on_change
        self.leading = asyncio.Event()  # set once leadership was acquired
        self.lost = asyncio.Event()  # set once held leadership was lost
        self._last_renew: float | None = None
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self.last_contact: float | None = None  # last successful round-trip, for the liveness probe
        self.holder: str | None = None

    def is_leading(self) -> bool:
        """True while leadership is held and was renewed within ``renew_deadline``."""
        return (
            self.leading.is_set()
            and not self.lost.is_set()
            and self._last_renew is not None
            and self._clock() - self._last_renew < self.config.renew_deadline
        )

    def _record(self, holder: str, transitions: int, *, acquire: str | None, duration: float) -> dict[str, Any]:
        now = micro_time()
        return {
            "holderIdentity": holder,
            "leaseDurationSeconds": max(round(duration), 1),
            "acquireTime": acquire or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    async def try_acquire_or_renew(self) -> bool:
        """One round; True if this identity holds the Lease afterwards."""
        cfg = self.config
        lease = await self.client.get(kube.LEASE, cfg.name, cfg.namespace)
        self.last_contact = self._clock()
        if lease is None:
            body = {
                "apiVersion": kube.LEASE.api_version,
                "kind": kube.LEASE.kind,
                "metadata": {"name": cfg.name, "namespace": cfg.namespace},
                "spec": self._record(cfg.identity, 0, acquire=None, duration=cfg.duration),
            }
            try:
                await self.client.create(kube.LEASE, body)
            except AlreadyExistsError:
                return False
            self.holder = cfg.identity
            return True
        spec: Mapping[str, Any] = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        self.holder = holder or None
        record = (holder, spec.get("renewTime"), spec.get("leaseDurationSeconds"), spec.get("leaseTransitions"))
        now = self._clock()
        if record != self._observed:
            self._observed, self._observed_at = record, now
        duration = float(spec.get("leaseDurationSeconds") or cfg.duration)
        mine = holder == cfg.identity
        if holder and not mine and now < self._observed_at + duration:
            return False  # someone else holds a lease that has not expired by our clock
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
        new = dict(lease)
        new["spec"] = self._record(
            cfg.identity, transitions, acquire=spec.get("acquireTime") if mine else None, duration=cfg.duration
        )
        try:
            await self.client.replace(kube.LEASE, new)
        except ConflictError:
            return False
        self.holder = cfg.identity
        return True

    async def run(self) -> None:
        """Acquire, then renew until leadership is lost (sets ``lost`` and returns) or the task is cancelled."""
        cfg = self.config
        while True:
            try:
                ok = await asyncio.wait_for(self.try_acquire_or_renew(), timeout=cfg.renew_deadline)
            except (ApiError, UnreachableError, TimeoutError) as exc:
                log.warning("lease %s/%s: %s", cfg.namespace, cfg.name, exc)
                ok = False
            now = self._clock()
            if ok:
                self._last_renew = now
                if not self.leading.is_set():
                    log.info("became leader (lease %s/%s, identity %s)", cfg.namespace, cfg.name, cfg.identity)
                    self.leading.set()
                    if self._on_change:
                        self._on_change(True)
            elif self.leading.is_set():
                expired = self._last_renew is None or now - self._last_renew >= cfg.renew_deadline
                if self.holder not in (None, cfg.identity) or expired:
                    if self.holder not in (None, cfg.identity):
                        log.error("lost leadership: the lease is now held by %s", self.holder)
                    else:
                        log.error("lost leadership: could not renew the lease within %.0f s", cfg.renew_deadline)
                    self.lost.set()
                    if self._on_change:
                        self._on_change(False)
                    return
            delay = cfg.retry_period if self.leading.is_set() else cfg.retry_period * (1 + random.random() * 0.2)
            await asyncio.sleep(delay)

    async def release(self) -> None:
        """Give the Lease up if we hold it, so a standby need not wait for it to expire."""
        if not self.leading.is_set() or self.lost.is_set():
            return
        cfg = self.config
        with contextlib.suppress(ApiError, UnreachableError, TimeoutError):
            lease = await asyncio.wait_for(self.client.get(kube.LEASE, cfg.name, cfg.namespace), timeout=3)
            if lease and (lease.get("spec") or {}).get("holderIdentity") == cfg.identity:
                spec = dict(lease.get("spec") or {})
                spec.update({"holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": micro_time()})
                await asyncio.wait_for(self.client.replace(kube.LEASE, {**lease, "spec": spec}), timeout=3)
                log.info("released lease %s/%s", cfg.namespace, cfg.name)
        self.lost.set()
