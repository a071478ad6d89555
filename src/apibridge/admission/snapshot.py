"""The webhook's view of the cluster: a ``Cluster`` and its ``Plan``, held in memory and swapped whole.

Every peer incident in ecosystem.md §4.2 (Flux, kubeflow, Gatekeeper, NRI) is an API call or a
client-side rate limiter on the admission path. So the webhook never calls the API server while a
review waits: it answers from a ``Snapshot`` that a ``SnapshotSource`` rebuilds in the background
(from files, or from watches in cluster) and replaces atomically — a review sees one snapshot from
start to end.

The snapshot also precomputes, per namespace, which bridges can select pods there (VPC and
namespace selector). What is left per pod is the pod selector, which is the same decision as
``plan.mutation.bridge_for`` (tests check the two agree); pods that pin their own subnet through
``ovn.kubernetes.io/logical_switch`` take the general path.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from apibridge.admission.lru import BoundedLRU
from apibridge.check.verdict import judge
from apibridge.kubeovn import rules
from apibridge.model.cluster import Cluster, load_cluster
from apibridge.model.objects import PodLike
from apibridge.plan import mutation
from apibridge.plan.planner import plan
from apibridge.plan.settings import Settings
from apibridge.plan.types import BridgePlan, Plan

# The per-shape mutation memo: entries and bytes (a review's annotation values are tenant input; an entry over
# MEMO_ENTRY_BYTES is recomputed each time rather than remembered).
MEMO_ENTRIES = 4096
MEMO_BYTES = 4 * 1024 * 1024
MEMO_ENTRY_BYTES = 16 * 1024
# The whole-answer memo (``decisions``) keeps the pod's labels and annotations as its key: smaller bounds, so a
# flood of distinct heavy pods (bench/hostile.py: 20,000 namespaces, ~10 KB each) costs it at most ~1 MiB of
# estimate; a workload's pod shape is typically well under 4 KiB.
DECISION_BYTES = 1024 * 1024
DECISION_ENTRY_BYTES = 4 * 1024


@dataclass
class Snapshot:
    """One consistent cluster view. Immutable once published, except for its memo of namespaces.

    ``realised_only``: inject only for bridges whose NAD and Subnet exist in the snapshot. In cluster
    a pod pointing at a NAD that does not exist yet would fail its sandbox (Multus cannot find the
    attachment), so the watch-fed webhook waits for the controller; snapshots from files (``inject``
    style, where the NAD is part of the plan's output) do not.
    """

    cluster: Cluster
    plan: Plan
    generation: int = 1
    realised_only: bool = False
    built_at: float = field(default_factory=time.time)
    _index: mutation.BridgeIndex = field(init=False, repr=False)
    _realised: frozenset[str] = field(default=frozenset(), repr=False)
    _valid: frozenset[str] = field(default=frozenset(), repr=False)
    _tenancy: BoundedLRU[tuple[str, str], bool] = field(
        default_factory=lambda: BoundedLRU(MEMO_ENTRIES, MEMO_BYTES, MEMO_ENTRY_BYTES), repr=False
    )
    _changes: BoundedLRU[tuple[str | None, ...], dict[str, str]] = field(
        default_factory=lambda: BoundedLRU(MEMO_ENTRIES, MEMO_BYTES, MEMO_ENTRY_BYTES), repr=False
    )
    # admission.mutate's whole answer per (namespace, labels, annotations): what a review's pod is read for
    decisions: BoundedLRU[tuple[object, ...], object] = field(
        default_factory=lambda: BoundedLRU(MEMO_ENTRIES, DECISION_BYTES, DECISION_ENTRY_BYTES), repr=False
    )

    @classmethod
    def build(
        cls, cluster: Cluster, *, generation: int = 1, realised_only: bool = False, config: Settings | None = None
    ) -> Snapshot:
        """Plan ``cluster``, judge the plan and precompute the per-namespace candidate bridges."""
        snap = cls(cluster, plan(cluster, config=config), generation, realised_only)
        verdict = judge(cluster, snap.plan)  # the one verdict: a bridge render or the operator refuses injects nothing
        snap._valid = frozenset(name for name in snap.plan.bridges if verdict.ok(name))

        def ours(name: str, bp: BridgePlan) -> bool:  # a foreign object holding the name does not count
            nad, subnet = cluster.nad(bp.nad_namespace, bp.nad_name), cluster.subnets.get(bp.subnet_name)
            return (
                nad is not None
                and subnet is not None
                and rules.owned_by_bridge(nad.meta.labels, name)
                and rules.owned_by_bridge(subnet.meta.labels, name)
            )

        snap._realised = frozenset(name for name, bp in snap.plan.bridges.items() if ours(name, bp))
        snap._index = mutation.BridgeIndex(cluster, snap.plan)
        return snap

    def candidates(self, namespace: str) -> list[BridgePlan]:
        return self._index.namespace_bridges(namespace)

    def bridge_for(self, pod: PodLike) -> BridgePlan | None:
        """The bridge that selects ``pod``: ``plan.mutation.BridgeIndex``, built once per snapshot — and only
        one of the VPC of the pod's *namespace*. A pod that pins a subnet of another tenant's VPC
        (``logical_switch``) gets no bridge here, so no answer names another tenant's objects."""
        found = self._index.bridge_for(pod)
        return found if found is not None and self.same_tenant(pod.namespace, found) else None

    def same_tenant(self, namespace: str, bridge_plan: BridgePlan) -> bool:
        """Whether pods of ``namespace`` may get ``bridge_plan``'s attachment: the namespace is not bound to
        another custom VPC, and the bridge's VPC admits it when it lists namespaces (Vpc ``spec.namespaces``).
        A pod that pins a subnet of another tenant (``logical_switch``) fails this: the webhook names nothing
        of that tenant in its answer (``check`` and the chart's admission policy report and refuse the pin)."""
        vpc = bridge_plan.bridge.vpc
        key = (namespace, vpc)
        known = self._tenancy.get(key)
        if known is None:
            subnet = self.cluster.namespace_subnet(namespace)
            listed = self.cluster.vpcs.get(vpc)
            known = (subnet is None or subnet.vpc in (vpc, rules.DEFAULT_VPC)) and (
                listed is None or not listed.namespaces or namespace in listed.namespaces
            )
            self._tenancy.put(key, known, len(namespace) + len(vpc))
        return known

    def is_valid(self, bridge_plan: BridgePlan) -> bool:
        """The plan's verdict on the bridge (``check.verdict``): False means it injects nothing."""
        return bridge_plan.bridge.name in self._valid

    def is_realised(self, bridge_plan: BridgePlan) -> bool:
        return not self.realised_only or bridge_plan.bridge.name in self._realised

    def changes(self, bridge_plan: BridgePlan, pod: PodLike) -> dict[str, str]:
        """``plan.mutation.pod_mutation`` for this pod, memoised on the only inputs it reads.

        Most pods of a workload arrive with the same (usually no) networks/routes/logical_switch values,
        so the parse-and-format work is done once per distinct shape. Raises ``NetworksError`` /
        ``RoutesError`` (not memoised) for values Multus or kube-ovn-cni would reject. Callers must not
        modify the returned dict.
        """
        ann = pod.annotations
        provider = bridge_plan.provider
        key = (bridge_plan.bridge.name, pod.namespace, *(ann.get(k) for k in rules.mutation_keys(provider)))
        found = self._changes.get(key)
        if found is None:
            found = mutation.pod_mutation(ann, pod.namespace, bridge_plan)
            size = sum(len(k) for k in key if k) + sum(len(k) + len(v) for k, v in found.items())
            self._changes.put(key, found, size)
        return found

    def mutation(self, pod: PodLike) -> tuple[BridgePlan | None, dict[str, str]]:
        """Like ``plan.mutation.mutate_annotations``: the selecting bridge and the annotation changes.

        Raises ``NetworksError``/``RoutesError`` for pod annotations Multus or kube-ovn-cni would reject.
        """
        bridge_plan = self.bridge_for(pod)
        if bridge_plan is None:
            return None, {}
        return bridge_plan, self.changes(bridge_plan, pod)

    @property
    def age(self) -> float:
        return time.time() - self.built_at


def settle_heap() -> None:
    """Take the live heap — above all the snapshot just published — out of the cyclic GC's full scans.

    A snapshot of a real cluster is tens of thousands of objects that live until the next rebuild. Every
    few thousand reviews the request garbage triggers a full collection, which walks all of them: about
    10-20 ms with the whole loop stopped, landing straight in the p99. ``gc.freeze`` moves what is
    alive now to a permanent generation those scans skip. The previous snapshot's objects are unfrozen
    and collected first, so the few reference cycles in a dropped snapshot do not accumulate.
    Process-wide: call it from the process that serves reviews, after publishing a snapshot.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class SnapshotSource(Protocol):
    """Something that keeps a current ``Snapshot``: the webhook reads ``current`` on every review.

    ``start`` begins feeding (it may return before the first snapshot exists: ``/readyz`` says so);
    ``stop`` ends every background task it started.
    """

    @property
    def current(self) -> Snapshot | None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class StaticSource:
    """A snapshot built once from manifests (``apibridge webhook --snapshot FILE...``) or a ``Cluster``.

    Loading happens in the constructor so that a bad file stops the command with its ``InputError``
    before the server listens.
    """

    def __init__(self, cluster: Cluster, *, realised_only: bool = False, settings: Settings | None = None) -> None:
        self._snapshot = Snapshot.build(cluster, realised_only=realised_only, config=settings)
        settle_heap()

    @classmethod
    def from_files(cls, paths: Iterable[str], settings: Settings | None = None) -> StaticSource:
        return cls(load_cluster(list(paths)), settings=settings)

    @property
    def current(self) -> Snapshot | None:
        return self._snapshot

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


async def cancel_all(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks``, wait until each has finished, and empty the list (server and watch shutdown)."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    tasks.clear()
