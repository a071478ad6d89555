"""Prometheus metrics of the webhook, on a registry of its own.

A registry per server (not prometheus-client's global one) lets tests and the benchmark run several
servers in one process. Label values are a fixed set (review results): no pod, namespace or bridge
names, so the series count is bounded and ``/metrics`` reveals nothing about tenants.

``pods_injected_total`` counts patches that added an attachment, excluding ``dryRun`` reviews
(a dry run creates no pod); ``reviews_total`` counts every review answered, dry or not, because it
measures the webhook's work rather than the cluster's state.

The per-review figures are plain integers, exported by a collector at scrape time: prometheus-client's
``Counter.inc`` and ``Histogram.observe`` take a lock and walk the buckets on every call, a cost the
review path paid for thread safety it does not need (reviews and scrapes run on the one event loop).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

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


class WebhookMetrics(Collector):
    """Review counts and latencies as plain numbers, read by the registry at scrape time.

    ``record`` is the one call on the review path: no lock, one bisect. Not thread-safe by design: the
    server records and scrapes on its single event loop.
    """

    def __init__(
        self,
        snapshot: Callable[[], Snapshot | None],
        tls_reloads: Callable[[], int],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.reviews: dict[Result, int] = dict.fromkeys(RESULTS, 0)
        self.injected = 0
        self._buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one: above every bound (+Inf)
        self._latency_sum = 0.0
        self.registry.register(self)
        self.registry.register(_StateCollector(snapshot, tls_reloads))
        ProcessCollector(registry=self.registry)  # CPU, memory, open files of the webhook process

    def record(self, result: Result, injected: bool, seconds: float | None) -> None:
        """One review answered with ``result``; ``seconds`` to answer it (``None``: refused unread, not timed)."""
        self.reviews[result] += 1
        if injected:
            self.injected += 1
        if seconds is not None:
            self._buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self._latency_sum += seconds

    def collect(self) -> Iterator[Metric]:
        reviews = CounterMetricFamily(
            f"{NAMESPACE}_reviews", "admission reviews answered, by result", labels=["result"]
        )
        for result, count in self.reviews.items():
            reviews.add_metric([result], count)
        yield reviews
        yield CounterMetricFamily(
            f"{NAMESPACE}_pods_injected", "pods given the API attachment (dry runs excluded)", value=self.injected
        )
        cumulative, buckets = 0, []
        for bound, count in zip((*map(floatToGoString, LATENCY_BUCKETS), "+Inf"), self._buckets, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(
            f"{NAMESPACE}_review_duration_seconds",
            "time to answer one review",
            buckets=buckets,
            sum_value=self._latency_sum,
        )
