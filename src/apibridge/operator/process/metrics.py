"""Prometheus metrics of the operator, on a registry of its own.

kopf has no metrics. These answer the operational questions: is this replica the leader, do
reconciles succeed and how long do they take, how many bridges are Ready, and how many selected pods
still run without the attachment. A private ``CollectorRegistry`` (not the global default) keeps tests
and several controllers in one process from colliding.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            "apibridge_reconciles_total",
            "Reconcile passes by result (success, error)",
            ["result"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "apibridge_reconcile_duration_seconds",
            "Duration of one reconcile pass",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.bridges = Gauge("apibridge_bridges", "ApiBridges known to the controller", registry=self.registry)
        self.bridges_ready = Gauge(
            "apibridge_bridges_ready", "ApiBridges whose Ready condition is True", registry=self.registry
        )
        self.pods_pending = Gauge(
            "apibridge_pods_pending_restart",
            "Selected pods running without the attachment, per bridge",
            ["bridge"],
            registry=self.registry,
        )
        self.restarts = Counter(
            "apibridge_owner_restarts_total", "Workloads restarted for spec.rollout: restart", registry=self.registry
        )
        self.writes = Counter(
            "apibridge_writes_total", "Object writes by operation and kind", ["op", "kind"], registry=self.registry
        )
        self.leader = Gauge("apibridge_leader", "1 while this replica holds the leader Lease", registry=self.registry)
        for result in ("success", "error"):
            self.reconciles.labels(result)  # export zeros before the first pass
        self._pending_bridges: set[str] = set()

    def set_pending(self, per_bridge: dict[str, int]) -> None:
        """Set the per-bridge gauge and drop series of bridges that no longer exist."""
        for gone in self._pending_bridges - set(per_bridge):
            self.pods_pending.remove(gone)
        for bridge, count in per_bridge.items():
            self.pods_pending.labels(bridge).set(count)
        self._pending_bridges = set(per_bridge)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
