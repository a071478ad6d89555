"""The object store: etcd's part of kube-apiserver, in memory.

It owns the three things that must stay consistent with each other — the objects, the global
``resourceVersion`` counter and the event history that watches replay — and changes them together in one
synchronous call, so no ``await`` can ever observe an object whose event is not yet in the history.
It knows nothing about HTTP, admission or kinds: ``cluster.py`` decides *what* to write, the store only
writes it, stamps a fresh resourceVersion and fans the event out to subscribed watches.

Stored objects are never mutated after they are put: readers may hold references, writers put copies.
The history keeps the last ``history_window`` events; a watch that asks for anything older gets 410 Gone,
exactly like a real server after etcd compaction.
"""

from __future__ import annotations

import asyncio
import builtins
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from apibridge.emulator.wire import Obj

StorageKey = tuple[str, str]  # (group, plural)
ObjectKey = tuple[str, str]  # (namespace or "", name)
EventType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True)
class StoredEvent:
    """A change as recorded in the history: the new state (or the last state, for deletions) and the old one."""

    rv: int
    type: EventType
    storage: StorageKey
    obj: Obj
    prev: Obj | None


@dataclass(eq=False)
class Subscription:
    """A live watch's inbox: every event committed after ``subscribe()`` lands here, in order."""

    queue: asyncio.Queue[StoredEvent] = field(default_factory=asyncio.Queue)


class TooOldError(Exception):
    """The requested resourceVersion has been compacted out of the history."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


def key_of(obj: Obj) -> ObjectKey:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta["name"])


class Store:
    def __init__(self, history_window: int = 1000) -> None:
        if history_window < 1:
            raise ValueError("history_window must be at least 1")
        self._objects: dict[StorageKey, dict[ObjectKey, Obj]] = {}
        self._by_uid: dict[str, tuple[StorageKey, ObjectKey]] = {}
        self._rv = 0
        self._history: deque[StoredEvent] = deque(maxlen=history_window)
        self._compacted = 0  # every event with rv <= this one may be lost
        self._subscriptions: set[Subscription] = set()

    # ------------------------------------------------------------------ reading
    @property
    def resource_version(self) -> int:
        """The latest committed resourceVersion (etcd's revision)."""
        return self._rv

    @property
    def compacted(self) -> int:
        return self._compacted

    def get(self, storage: StorageKey, namespace: str, name: str) -> Obj | None:
        return self._objects.get(storage, {}).get((namespace, name))

    def list(self, storage: StorageKey, namespace: str | None = None) -> list[Obj]:
        """Objects in key order (namespace, name), like an etcd range read."""
        bucket = self._objects.get(storage, {})
        keys = sorted(k for k in bucket if namespace is None or k[0] == namespace)
        return [bucket[k] for k in keys]

    def by_uid(self, uid: str) -> tuple[StorageKey, Obj] | None:
        where = self._by_uid.get(uid)
        if where is None:
            return None
        obj = self._objects[where[0]][where[1]]
        return where[0], obj

    def storages(self) -> Iterator[StorageKey]:
        return iter(list(self._objects))

    def history_since(self, rv: int) -> builtins.list[StoredEvent]:
        """Events newer than ``rv``; ``TooOldError`` if some of them were already dropped from the window."""
        if rv < self._compacted:
            oldest = self._history[0].rv if self._history else self._rv
            raise TooOldError(rv, oldest)
        return [ev for ev in self._history if ev.rv > rv]

    # ------------------------------------------------------------------ writing
    def put(self, storage: StorageKey, obj: Obj) -> Obj:
        """Create or replace ``obj`` (which the caller must not touch afterwards); stamp and record it."""
        ns, name = key_of(obj)
        bucket = self._objects.setdefault(storage, {})
        prev = bucket.get((ns, name))
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        bucket[(ns, name)] = obj
        uid = obj["metadata"].get("uid")
        if uid:
            self._by_uid[uid] = (storage, (ns, name))
        self._record(StoredEvent(self._rv, "MODIFIED" if prev is not None else "ADDED", storage, obj, prev))
        return obj

    def remove(self, storage: StorageKey, final: Obj) -> Obj:
        """Delete the object; ``final`` is its last state (stamped with the deletion's resourceVersion)."""
        ns, name = key_of(final)
        prev = self._objects.get(storage, {}).pop((ns, name), None)
        self._rv += 1
        final["metadata"]["resourceVersion"] = str(self._rv)
        uid = final["metadata"].get("uid")
        if uid:
            self._by_uid.pop(uid, None)
        self._record(StoredEvent(self._rv, "DELETED", storage, final, prev))
        return final

    def subscribe(self) -> Subscription:
        sub = Subscription()
        self._subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)

    def _record(self, event: StoredEvent) -> None:
        if len(self._history) == self._history.maxlen:
            self._compacted = self._history[0].rv
        self._history.append(event)
        for sub in self._subscriptions:
            sub.queue.put_nowait(event)
