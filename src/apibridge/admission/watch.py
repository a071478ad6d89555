"""The in-cluster snapshot source: list + watch what the plan depends on, rebuild on change.

The webhook must answer without calling the API server, so it keeps its own copy of the few
resources the pod decision needs — Namespaces (labels, ``logical_switch``), Vpcs and Subnets (which
VPC a namespace is in, whether a bridge's Subnet exists), NetworkAttachmentDefinitions (whether a
bridge's NAD exists), ApiBridges, Nodes (addresses the planner keeps clear) and the Services whose
ClusterIPs become routes (``default/kubernetes``; the cluster DNS Service, found among kube-system's
Services or named by the settings, ``apibridge.plan.dns``) — and rebuilds the
``Cluster`` and ``Plan`` from that copy after changes settle (debounced; built in a worker thread so
reviews keep flowing).

Each resource is a small reflector on the project's one client stack (``apibridge.base.kubeclient``,
configured like the operator and ``doctor``: ``--kubeconfig/--context`` or in cluster): list, then
watch from the list's resourceVersion with bookmarks; on ``410 Gone`` (history compacted) relist — kr8s's
own watch would re-watch from the same version (ecosystem.md §1.1); on a dropped stream rewatch from the
last version seen; on errors back off. A resource whose API is not served (Multus or Kube-OVN CRDs
absent, 404) counts as empty and is listed again later.

Memory is bounded by what the cluster holds, not by what tenants write into it: every object is kept as
the few fields the model reads (``slim``). Namespaces — one per tenant, with whatever metadata its owner
wrote — keep only their name, the ``logical_switch`` annotation and the labels some ApiBridge's
``namespaceSelector`` names; when the bridges start naming other label keys, Namespaces are relisted.

One bad object (say an ApiBridge that slipped past its CRD schema) is skipped, not fatal: the
controller reports it; the webhook keeps serving the rest. The snapshot is *realised-only*: a
bridge injects only once its NAD and Subnet exist (see ``Snapshot``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apibridge.admission.snapshot import Snapshot, cancel_all, settle_heap
from apibridge.base import kinds
from apibridge.base.kinds import Kind
from apibridge.base.kubeclient import ApiError, Client, GoneError, KubeConfig, NotFoundError, UnreachableError
from apibridge.kubeovn import rules
from apibridge.model.cluster import Cluster
from apibridge.model.load import Document
from apibridge.plan.settings import Settings

log = logging.getLogger(__name__)

WATCH_TIMEOUT = 300  # seconds the API server keeps one watch open (it closes it; we rewatch)


@dataclass(frozen=True)
class Resource:
    """One list/watch: a kind, optionally narrowed to one namespace or one object.

    The kind's apiVersion and kind are also what is stamped on list items (lists omit them).
    """

    type: Kind
    namespace: str | None = None
    name: str | None = None  # watch one object (fieldSelector metadata.name), as RBAC resourceNames allow

    @property
    def api_version(self) -> str:
        return self.type.api_version

    @property
    def kind(self) -> str:
        return self.type.kind

    @property
    def plural(self) -> str:
        return self.type.plural

    @property
    def path(self) -> str:
        """The collection path (the one object is picked by field selector, not by path)."""
        return self.type.path(self.namespace)

    @property
    def field_selector(self) -> str | None:
        return f"metadata.name={self.name}" if self.name else None

    @property
    def label(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.name else ""
        return f"{self.kind} {where}".strip()


def watched(settings: Settings | None = None) -> tuple[Resource, ...]:
    """What the webhook lists and watches. Services: the API server's by name, and for the cluster DNS
    Service (``apibridge.plan.dns``) the Services of kube-system (found by label or usual name) — or, when
    the settings name a DNS Service elsewhere, that one by name (the chart grants exactly these)."""
    dns = settings.dns_service if settings is not None else None
    return (
        Resource(kinds.NAMESPACE),
        Resource(kinds.NODE),  # the planner keeps auto CIDRs clear of node addresses, as the operator does
        Resource(rules.VPC_KIND),
        Resource(rules.SUBNET_KIND),
        Resource(rules.NAD_KIND),
        Resource(rules.APIBRIDGE_KIND),
        Resource(kinds.SERVICE, *rules.KUBERNETES_SERVICE),
        Resource(kinds.SERVICE, *dns) if dns is not None else Resource(kinds.SERVICE, rules.DNS_SERVICE_NAMESPACE),
    )


WATCHED: tuple[Resource, ...] = watched()


_NAMESPACE_ANNOTATIONS = (rules.PRIMARY_LOGICAL_SWITCH_ANNOTATION,)
_KEEP_META = ("name", "namespace", "uid", "labels", "annotations", "resourceVersion", "deletionTimestamp")


def selector_label_keys(bridges: list[Mapping[str, Any]]) -> frozenset[str]:
    """The Namespace label keys the bridges' ``namespaceSelector``s read (matchLabels and matchExpressions)."""
    keys = {rules.NAMESPACE_NAME_LABEL}
    for bridge in bridges:
        spec = bridge.get("spec")
        selector = spec.get("namespaceSelector") if isinstance(spec, Mapping) else None
        if not isinstance(selector, Mapping):
            continue
        labels = selector.get("matchLabels")
        if isinstance(labels, Mapping):
            keys |= {str(k) for k in labels}
        for expr in selector.get("matchExpressions") or []:
            if isinstance(expr, Mapping) and isinstance(expr.get("key"), str):
                keys.add(expr["key"])
    return frozenset(keys)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def slim(obj: Mapping[str, Any], label_keys: frozenset[str] | None = None) -> dict[str, Any]:
    """What the snapshot keeps of a watched object: the fields the model reads, nothing a tenant can inflate.

    Namespaces keep the ``logical_switch`` annotation and, of their labels, only ``label_keys`` (the keys
    the bridges' namespace selectors name); every kind drops ``managedFields`` and ``status`` (Nodes keep
    their addresses, Subnets whether addresses are in use: ``rules.subnet_usage``).
    """
    md = _mapping(obj.get("metadata"))
    meta = {k: md[k] for k in _KEEP_META if k in md}
    out: dict[str, Any] = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": meta}
    kind = obj.get("kind")
    if kind == kinds.NAMESPACE.kind:
        labels, annotations = _mapping(md.get("labels")), _mapping(md.get("annotations"))
        meta["labels"] = {k: v for k, v in labels.items() if label_keys is None or k in label_keys}
        meta["annotations"] = {k: annotations[k] for k in _NAMESPACE_ANNOTATIONS if k in annotations}
        return out
    if kind == kinds.NODE.kind:
        out["status"] = {"addresses": _mapping(obj.get("status")).get("addresses") or []}
        return out
    for key, value in obj.items():
        if key not in ("apiVersion", "kind", "metadata", "status"):
            out[key] = value
    if kind == rules.SUBNET_KIND.kind and (usage := rules.subnet_usage(obj.get("status"))):
        out["status"] = usage  # a bridge whose CIDR would move under pods is refused here too (AB119)
    return out


class WatchSource:
    """Keep a ``Snapshot`` in step with the cluster through list+watch reflectors."""

    def __init__(
        self,
        config: KubeConfig,
        *,
        settings: Settings | None = None,
        resources: tuple[Resource, ...] | None = None,
        debounce: float = 0.2,
        retry: float = 2.0,
        relist_not_served: float = 30.0,
    ) -> None:
        self.config = config
        self.settings = settings
        resources = resources if resources is not None else watched(settings)
        self.resources = resources
        self.debounce = debounce
        self.retry = retry
        self.relist_not_served = relist_not_served
        self._objects: dict[Resource, dict[tuple[str, str], dict[str, Any]]] = {r: {} for r in resources}
        self._synced: set[Resource] = set()
        self._snapshot: Snapshot | None = None
        self._generation = 0
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._reflectors: dict[Resource, asyncio.Task[None]] = {}
        self._client: Client | None = None
        self._label_keys = selector_label_keys([])
        self.skipped: list[str] = []  # objects left out of the last rebuild, and why

    @property
    def current(self) -> Snapshot | None:
        return self._snapshot

    async def start(self) -> None:
        self._client = await Client.connect(self.config)
        for res in self.resources:
            self._start_reflector(res)
        self._tasks.append(asyncio.create_task(self._rebuilder(), name="snapshot rebuild"))

    def _start_reflector(self, res: Resource) -> None:
        self._reflectors[res] = asyncio.create_task(self._reflect(res), name=f"watch {res.label}")

    async def stop(self) -> None:
        await cancel_all([*self._reflectors.values(), *self._tasks])
        self._reflectors.clear()
        self._tasks.clear()
        self._client = None

    # ---- reflectors ----------------------------------------------------------------------------------
    @staticmethod
    def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
        md = _mapping(obj.get("metadata"))
        return str(md.get("namespace") or ""), str(md.get("name") or "")

    def _keep(self, res: Resource, obj: Mapping[str, Any]) -> dict[str, Any]:
        return slim(obj, self._label_keys if res.kind == kinds.NAMESPACE.kind else None)

    async def _list(self, res: Resource) -> str:
        """List ``res`` into the store; returns the list's resourceVersion (``NotFoundError``: not served)."""
        assert self._client is not None
        items, rv = await self._client.list_page(res.type, res.namespace, field_selector=res.field_selector)
        self._objects[res] = {self._key(o): self._keep(res, o) for o in items}
        self._synced.add(res)
        self._changed.set()
        self._bridges_changed(res)
        return rv

    def _apply(self, res: Resource, event: Mapping[str, Any]) -> str | None:
        """Apply one watch event; returns its resourceVersion (the client raises for ERROR events)."""
        kind = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            return None
        rv = _mapping(obj.get("metadata")).get("resourceVersion")
        if kind == "BOOKMARK":
            return str(rv) if rv else None
        store = self._objects[res]
        if kind == "DELETED":
            store.pop(self._key(obj), None)
        elif kind in ("ADDED", "MODIFIED"):
            obj.setdefault("apiVersion", res.api_version)
            obj.setdefault("kind", res.kind)
            store[self._key(obj)] = self._keep(res, obj)
        else:
            return None
        self._changed.set()
        self._bridges_changed(res)
        return str(rv) if rv else None

    def _bridges_changed(self, res: Resource) -> None:
        """When the bridges' namespace selectors name other label keys, relist Namespaces to keep those."""
        if res.kind != rules.APIBRIDGE_KIND.kind:
            return
        keys = selector_label_keys(list(self._objects[res].values()))
        if keys == self._label_keys:
            return
        self._label_keys = keys
        for other, task in list(self._reflectors.items()):
            if other.kind == kinds.NAMESPACE.kind:
                task.cancel()
                self._synced.discard(other)  # no rebuild from namespaces slimmed for the old keys
                self._start_reflector(other)

    async def _reflect(self, res: Resource) -> None:
        rv = ""
        while True:
            try:
                assert self._client is not None
                if not rv:
                    rv = await self._list(res)
                async for event in self._client.watch(
                    res.type, rv, res.namespace, field_selector=res.field_selector, timeout_seconds=WATCH_TIMEOUT
                ):
                    rv = self._apply(res, event) or rv
            except GoneError:
                rv = ""  # the history moved on: relist (never re-watch from the same version)
            except NotFoundError:
                self._objects[res] = {}  # not installed (yet): empty, and look again later
                if res not in self._synced:
                    self._synced.add(res)
                    self._changed.set()
                rv = ""
                await asyncio.sleep(self.relist_not_served)
            except asyncio.CancelledError:
                raise
            except (ApiError, UnreachableError, TimeoutError, OSError, ValueError) as exc:
                log.warning("watch %s: %s; retrying in %.0fs", res.label, exc, self.retry)
                await asyncio.sleep(self.retry)

    # ---- rebuilding ----------------------------------------------------------------------------------
    async def _rebuilder(self) -> None:
        while True:
            await self._changed.wait()
            await asyncio.sleep(self.debounce)  # let a burst of events settle into one rebuild
            self._changed.clear()
            if len(self._synced) < len(self.resources):
                continue  # not every initial list is in: a partial view would mis-inject
            documents = [
                Document(obj, f"watch {res.kind}", 0) for res in self.resources for obj in self._objects[res].values()
            ]
            self._generation += 1
            try:
                snapshot, skipped = await asyncio.to_thread(build_snapshot, documents, self._generation, self.settings)
            except Exception:
                log.exception("snapshot rebuild failed; keeping the previous one")
                continue
            self._snapshot = snapshot
            self.skipped = skipped
            settle_heap()


def build_snapshot(
    documents: list[Document], generation: int, settings: Settings | None = None
) -> tuple[Snapshot, list[str]]:
    """A realised-only snapshot of ``documents``, skipping (and naming) objects the model rejects."""
    cluster, refused = Cluster.tolerant(documents)
    skipped = [str(exc) for _, exc in refused]
    if skipped:
        log.warning("%d object(s) left out of the snapshot, first: %s", len(skipped), skipped[0])
    return Snapshot.build(cluster, generation=generation, realised_only=True, config=settings), skipped
