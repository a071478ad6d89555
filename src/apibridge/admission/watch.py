"""The in-cluster snapshot source: list + watch what the plan depends on, rebuild on change.

The webhook must answer without calling the API server, so it keeps its own copy of the few
resources the pod decision needs — Namespaces (labels, ``logical_switch``), Vpcs and Subnets (which
VPC a namespace is in, whether a bridge's Subnet exists), NetworkAttachmentDefinitions (whether a
bridge's NAD exists), ApiBridges, and the two Services whose ClusterIPs become routes
(``default/kubernetes``, ``kube-system/kube-dns``) — and rebuilds the ``Cluster`` and ``Plan`` from
that copy after changes settle (debounced; built in a worker thread so reviews keep flowing).

Each resource is a small reflector written against the API directly with aiohttp: list, then watch
from the list's resourceVersion with bookmarks; on ``410 Gone`` (history compacted) relist; on a
dropped stream rewatch from the last version seen; on errors back off. kr8s's watch is not used
because it re-watches from the same version after 410 (ecosystem.md §1.1). A resource whose API is
not served (Multus or Kube-OVN CRDs absent, 404) counts as empty and is listed again later.

One bad object (say an ApiBridge that slipped past its CRD schema) is skipped, not fatal: the
controller reports it; the webhook keeps serving the rest. The snapshot is *realised-only*: a
bridge injects only once its NAD and Subnet exist (see ``Snapshot``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from apibridge.admission.snapshot import Snapshot, cancel_all, settle_heap
from apibridge.base import kinds
from apibridge.base.errors import InputError, Location
from apibridge.base.kinds import Kind
from apibridge.kubeovn import rules
from apibridge.model.cluster import Cluster
from apibridge.model.load import Document

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
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
    def label(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.name else ""
        return f"{self.kind} {where}".strip()


WATCHED: tuple[Resource, ...] = (
    Resource(kinds.NAMESPACE),
    Resource(kinds.NODE),  # the planner keeps auto CIDRs clear of node addresses, as the operator does
    Resource(rules.VPC_KIND),
    Resource(rules.SUBNET_KIND),
    Resource(rules.NAD_KIND),
    Resource(rules.APIBRIDGE_KIND),
    Resource(kinds.SERVICE, *rules.KUBERNETES_SERVICE),
    Resource(kinds.SERVICE, *rules.KUBE_DNS_SERVICE),
)


@dataclass(frozen=True)
class KubeConnection:
    """How to reach the API server: URL, CA bundle, bearer token (file re-read on every connect)."""

    server: str
    ca_file: Path | None = None
    token_file: Path | None = None
    token: str | None = None

    @classmethod
    def in_cluster(cls) -> KubeConnection:
        """The pod's service account, as client-go's ``rest.InClusterConfig`` finds it."""
        host = os.environ.get("KUBERNETES_SERVICE_HOST")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise InputError(
                "not running in a cluster (KUBERNETES_SERVICE_HOST is not set)",
                Location(),
                hint="use --snapshot FILE, or --api-server with --api-ca-file and --api-token-file",
            )
        host = f"[{host}]" if ":" in host else host
        return cls(f"https://{host}:{port}", SERVICE_ACCOUNT_DIR / "ca.crt", SERVICE_ACCOUNT_DIR / "token")

    def headers(self) -> dict[str, str]:
        token = self.token
        if self.token_file is not None:
            token = self.token_file.read_text().strip()  # bound tokens rotate: read on every connect
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)


class _Gone(Exception):  # noqa: N818 - the API's own word (410 Gone)
    """The watch's resourceVersion is too old: relist."""


class _NotServed(Exception):  # noqa: N818
    """404 on the list: the API (a CRD) is not installed."""


class WatchSource:
    """Keep a ``Snapshot`` in step with the cluster through list+watch reflectors."""

    def __init__(
        self,
        connection: KubeConnection,
        *,
        resources: tuple[Resource, ...] = WATCHED,
        debounce: float = 0.2,
        retry: float = 2.0,
        relist_not_served: float = 30.0,
    ) -> None:
        self.connection = connection
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
        self._session: aiohttp.ClientSession | None = None
        self.skipped: list[str] = []  # objects left out of the last rebuild, and why

    @property
    def current(self) -> Snapshot | None:
        return self._snapshot

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(ssl=self.connection.ssl_context())
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=WATCH_TIMEOUT + 30)
        )
        for res in self.resources:
            self._tasks.append(asyncio.create_task(self._reflect(res), name=f"watch {res.label}"))
        self._tasks.append(asyncio.create_task(self._rebuilder(), name="snapshot rebuild"))

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---- reflectors ----------------------------------------------------------------------------------
    def _query(self, res: Resource, **params: str) -> str:
        if res.name:
            params["fieldSelector"] = f"metadata.name={res.name}"
        return (
            f"{self.connection.server}{res.path}?{urlencode(params)}"
            if params
            else f"{self.connection.server}{res.path}"
        )

    def _stamp(self, res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        obj.setdefault("apiVersion", res.api_version)
        obj.setdefault("kind", res.kind)
        return obj

    @staticmethod
    def _key(obj: dict[str, Any]) -> tuple[str, str]:
        md = obj.get("metadata") or {}
        return str(md.get("namespace") or ""), str(md.get("name") or "")

    async def _list(self, res: Resource) -> str:
        assert self._session is not None
        async with self._session.get(self._query(res), headers=self.connection.headers()) as resp:
            if resp.status == 404:
                raise _NotServed(res.label)
            if resp.status != 200:
                raise aiohttp.ClientResponseError(
                    resp.request_info, resp.history, status=resp.status, message=(await resp.text())[:200]
                )
            body = await resp.json(content_type=None)
        items = body.get("items") or []
        self._objects[res] = {self._key(o): self._stamp(res, o) for o in items if isinstance(o, dict)}
        self._synced.add(res)
        self._changed.set()
        return str((body.get("metadata") or {}).get("resourceVersion") or "")

    async def _events(self, res: Resource, rv: str) -> AsyncIterator[dict[str, Any]]:
        assert self._session is not None
        url = self._query(
            res, watch="true", resourceVersion=rv, allowWatchBookmarks="true", timeoutSeconds=str(WATCH_TIMEOUT)
        )
        async with self._session.get(url, headers=self.connection.headers()) as resp:
            if resp.status == 410:
                raise _Gone()
            if resp.status != 200:
                raise aiohttp.ClientResponseError(
                    resp.request_info, resp.history, status=resp.status, message=(await resp.text())[:200]
                )
            buffer = b""
            async for chunk in resp.content.iter_any():  # lines can exceed aiohttp's readline limit
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        event = json.loads(line)
                        if isinstance(event, dict):
                            yield event

    def _apply(self, res: Resource, event: dict[str, Any]) -> str | None:
        """Apply one watch event; returns its resourceVersion. Raises ``_Gone`` for an expired watch."""
        kind = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            return None
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Gone()
            raise aiohttp.ClientPayloadError(f"watch error: {obj.get('message')}")
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if kind == "BOOKMARK":
            return str(rv) if rv else None
        store = self._objects[res]
        if kind == "DELETED":
            store.pop(self._key(obj), None)
        elif kind in ("ADDED", "MODIFIED"):
            store[self._key(obj)] = self._stamp(res, obj)
        else:
            return None
        self._changed.set()
        return str(rv) if rv else None

    async def _reflect(self, res: Resource) -> None:
        rv = ""
        while True:
            try:
                if not rv:
                    rv = await self._list(res)
                async for event in self._events(res, rv):
                    rv = self._apply(res, event) or rv
            except _Gone:
                rv = ""
            except _NotServed:
                self._objects[res] = {}  # not installed (yet): empty, and look again later
                if res not in self._synced:
                    self._synced.add(res)
                    self._changed.set()
                rv = ""
                await asyncio.sleep(self.relist_not_served)
            except asyncio.CancelledError:
                raise
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
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
                snapshot, skipped = await asyncio.to_thread(build_snapshot, documents, self._generation)
            except Exception:
                log.exception("snapshot rebuild failed; keeping the previous one")
                continue
            self._snapshot = snapshot
            self.skipped = skipped
            settle_heap()


def build_snapshot(documents: list[Document], generation: int) -> tuple[Snapshot, list[str]]:
    """A realised-only snapshot of ``documents``, skipping (and naming) objects the model rejects."""
    cluster, refused = Cluster.tolerant(documents)
    skipped = [str(exc) for _, exc in refused]
    if skipped:
        log.warning("%d object(s) left out of the snapshot, first: %s", len(skipped), skipped[0])
    return Snapshot.build(cluster, generation=generation, realised_only=True), skipped
