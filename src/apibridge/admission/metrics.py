"""Prometheus metrics of the webhook, on a registry of its own.

A registry per server (not prometheus-client's global one) lets tests and the benchmark run several
servers in one process. Label values are a fixed set (review results): no pod, namespace or bridge
names, so the series count is bounded and ``/metrics`` reveals nothing about tenants.

``pods_injected_total`` counts patches that added an attachment, excluding ``dryRun`` reviews
(a dry run creates no pod); ``reviews_total`` counts every review answered, dry or not, because it
measures the webhook's work rather than the cluster's state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from apibridge.admission.mutate import RESULTS, Result
from apibridge.admission.snapshot import Snapshot

NAMESPACE = "apibridge_webhook"
# Reviews take tens of microseconds to a few milliseconds; the SLO that matters is timeoutSeconds (5 s).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _StateCollector(Collector):
    """Values read at scrape time: snapshot readiness, generation and age, certificate reloads."""

    def __init__(self, snapshot: Callable[[], Snapshot | None], tls_reloads: Callable[[], int]) -> None:
        self._snapshot = snapshot
        self._tls_reloads = tls_reloads

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot()
        yield GaugeMetricFamily(
            f"{NAMESPACE}_snapshot_ready", "1 when a cluster snapshot is loaded", value=1 if snap is not None else 0
        )
        yield GaugeMetricFamily(
            f"{NAMESPACE}_snapshot_generation",
            "rebuilds of the cluster snapshot so far",
            value=snap.generation if snap is not None else 0,
        )
        yield GaugeMetricFamily(
            f"{NAMESPACE}_snapshot_age_seconds",
            "seconds since the snapshot was built",
            value=snap.age if snap is not None else 0,
        )
        yield CounterMetricFamily(f"{NAMESPACE}_tls_reloads", "serving certificate reloads", value=self._tls_reloads())


class WebhookMetrics:
    def __init__(
        self,
        snapshot: Callable[[], Snapshot | None],
        tls_reloads: Callable[[], int],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        reviews = Counter(
            f"{NAMESPACE}_reviews", "admission reviews answered, by result", ["result"], registry=self.registry
        )
        # Children bound once: .labels() on the hot path costs a lock and a dict lookup per call.
        self.reviews: dict[Result, Counter] = {r: reviews.labels(result=r) for r in RESULTS}
        self.latency = Histogram(
            f"{NAMESPACE}_review_duration_seconds",
            "time to answer one review",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.injected = Counter(
            f"{NAMESPACE}_pods_injected", "pods given the API attachment (dry runs excluded)", registry=self.registry
        )
        self.registry.register(_StateCollector(snapshot, tls_reloads))
        ProcessCollector(registry=self.registry)  # CPU, memory, open files of the webhook process
