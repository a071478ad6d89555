"""Watch streams: replay from a resourceVersion, then follow live changes, with bookmarks and 410 Gone.

This is the part of the API that operators live on, and where emulators usually cut corners. The rules
kept here are the real watch cache's:

* ``resourceVersion`` unset or ``"0"`` → synthetic ``ADDED`` for every current object, then live events;
  ``N`` → every event after ``N`` from the history; older than the history window → one ``ERROR`` event
  carrying a ``Status`` with code 410 (reason ``Expired``) and the stream ends (the HTTP status stays 200).
* ``sendInitialEvents=true`` → synthetic ``ADDED`` then a ``BOOKMARK`` annotated
  ``k8s.io/initial-events-end: "true"``.
* Selector transitions: a change that makes an object start matching is sent as ``ADDED``, one that makes it
  stop matching as ``DELETED`` (carrying the previous state) — not as ``MODIFIED``.
* ``allowWatchBookmarks`` → a ``BOOKMARK`` (object with only ``metadata.resourceVersion``) whenever the stream
  has been idle for the bookmark interval, and once more right before ``timeoutSeconds`` closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from apibridge.emulator import errors
from apibridge.emulator.kinds import ResourceType
from apibridge.emulator.selectors import FieldSelector, Selector, fields_match, matches
from apibridge.emulator.store import Store, StoredEvent, TooOldError
from apibridge.emulator.wire import Obj, WatchEvent


@dataclass(frozen=True)
class WatchRequest:
    rt: ResourceType
    namespace: str | None
    labels: Selector
    fields: FieldSelector
    since: str | None
    send_initial_events: bool
    bookmarks: bool
    timeout: float
    bookmark_interval: float


def _matches(req: WatchRequest, obj: Obj | None) -> bool:
    if obj is None:
        return False
    meta = obj.get("metadata") or {}
    if req.namespace is not None and (meta.get("namespace") or "") != req.namespace:
        return False
    return matches(req.labels, meta.get("labels")) and fields_match(req.fields, obj)


def translate(req: WatchRequest, ev: StoredEvent, render: Callable[[Obj], Obj]) -> WatchEvent | None:
    """The event this watcher sees for a stored change, if any (selector transitions become ADDED/DELETED)."""
    if ev.storage != req.rt.storage_key:
        return None
    if ev.type == "DELETED":
        return {"type": "DELETED", "object": render(ev.obj)} if _matches(req, ev.obj) else None
    now, before = _matches(req, ev.obj), _matches(req, ev.prev)
    if now and before:
        return {"type": "MODIFIED", "object": render(ev.obj)}
    if now:
        return {"type": "ADDED", "object": render(ev.obj)}
    if before and ev.prev is not None:
        last = render(ev.prev)
        last["metadata"]["resourceVersion"] = str(ev.rv)
        return {"type": "DELETED", "object": last}
    return None


def bookmark(rt: ResourceType, rv: int, *, initial_events_end: bool = False) -> WatchEvent:
    meta: Obj = {"resourceVersion": str(rv), "creationTimestamp": None}
    if initial_events_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"type": "BOOKMARK", "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}}


def expired(message: str) -> WatchEvent:
    return {"type": "ERROR", "object": dict(errors.gone(message).status())}


async def stream(
    store: Store, req: WatchRequest, render: Callable[[Obj], Obj], closing: asyncio.Event
) -> AsyncIterator[WatchEvent]:
    """Yield the watch events for ``req`` until its timeout, or until the server is ``closing``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + req.timeout
    sub = store.subscribe()  # subscribe and read the backlog in one synchronous step: no gap, no overlap
    try:
        initial: list[WatchEvent] = []
        backlog: list[StoredEvent] = []
        if req.since in (None, "", "0") or req.send_initial_events:
            for obj in store.list(req.rt.storage_key, req.namespace):
                if _matches(req, obj):
                    initial.append({"type": "ADDED", "object": render(obj)})
            if req.send_initial_events:
                initial.append(bookmark(req.rt, store.resource_version, initial_events_end=True))
        else:
            try:
                since = int(str(req.since))
            except ValueError:
                raise errors.bad_request(f'invalid resource version "{req.since}"') from None
            try:
                backlog = store.history_since(since)
            except TooOldError as exc:
                yield expired(str(exc))
                return
        for event in initial:
            yield event
        for stored in backlog:
            translated = translate(req, stored, render)
            if translated is not None:
                yield translated
        stop = asyncio.ensure_future(closing.wait())
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                wait = min(remaining, req.bookmark_interval) if req.bookmarks else remaining
                getter = asyncio.ensure_future(sub.queue.get())
                done, _ = await asyncio.wait({getter, stop}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await getter
                    if stop in done:
                        return
                    if req.bookmarks and sub.queue.empty():
                        yield bookmark(req.rt, store.resource_version)
                    continue
                translated = translate(req, getter.result(), render)
                if translated is not None:
                    yield translated
            if req.bookmarks:
                yield bookmark(req.rt, store.resource_version)
        finally:
            stop.cancel()
    finally:
        store.unsubscribe(sub)
