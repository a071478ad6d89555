"""Watches: replay from a resourceVersion, live events, bookmarks, 410 Gone, timeouts, selector transitions."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .support import CM, Api, cm

Events = list[dict[str, Any]]


def summary(events: Events) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events if e["type"] != "BOOKMARK"]


async def test_watch_replays_history_from_a_resource_version(api: Api) -> None:
    start = (await api.post(CM, cm("w-a", x="1"))).body["metadata"]["resourceVersion"]
    await api.patch(f"{CM}/w-a", {"data": {"x": "2"}})
    await api.post(CM, cm("w-b"))
    await api.delete(f"{CM}/w-a")
    events = await api.watch(CM, resourceVersion=start, timeoutSeconds="5", until=lambda ev: len(summary(ev)) >= 3)
    assert summary(events) == [("MODIFIED", "w-a"), ("ADDED", "w-b"), ("DELETED", "w-a")]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(start)
    assert events[0]["object"]["kind"] == "ConfigMap" and events[0]["object"]["apiVersion"] == "v1"


async def test_watch_without_version_starts_with_synthetic_adds_then_goes_live(api: Api) -> None:
    await api.post(CM, cm("live-0"))

    async def later() -> None:
        await asyncio.sleep(0.2)
        await api.post(CM, cm("live-1"))

    task = asyncio.create_task(later())
    events = await api.watch(CM, timeoutSeconds="5", until=lambda ev: ("ADDED", "live-1") in summary(ev))
    await task
    names = summary(events)
    assert ("ADDED", "live-0") in names and ("ADDED", "kube-root-ca.crt") in names
    assert names[-1] == ("ADDED", "live-1")


async def test_bookmarks_carry_the_current_resource_version(api: Api) -> None:
    current = (await api.post(CM, cm("bm"))).body["metadata"]["resourceVersion"]
    events = await api.watch(
        CM,
        resourceVersion=current,
        allowWatchBookmarks="true",
        timeoutSeconds="5",
        until=lambda ev: any(e["type"] == "BOOKMARK" for e in ev),
    )
    mark = events[-1]
    assert mark["type"] == "BOOKMARK"
    assert mark["object"]["kind"] == "ConfigMap"
    assert mark["object"]["metadata"]["resourceVersion"] == current


async def test_too_old_resource_version_is_410_gone_in_the_stream(api: Api) -> None:
    first = (await api.post(CM, cm("old"))).body["metadata"]["resourceVersion"]
    for i in range(25):  # the test emulator keeps 20 events
        await api.patch(f"{CM}/old", {"data": {"i": str(i)}})
    started = time.monotonic()
    events = await api.watch(CM, resourceVersion=first, timeoutSeconds="10")
    assert time.monotonic() - started < 5  # the stream ends right after the error
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
    assert status["message"].startswith(f"too old resource version: {first} (")
    listed = await api.get(CM, resourceVersion=first, resourceVersionMatch="Exact")
    assert listed.status == 410


async def test_timeout_seconds_ends_the_stream(api: Api) -> None:
    rv = (await api.get(CM)).body["metadata"]["resourceVersion"]
    started = time.monotonic()
    events = await api.watch(CM, resourceVersion=rv, timeoutSeconds="1")
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 3 and summary(events) == []


async def test_selector_transitions_become_added_and_deleted(api: Api) -> None:
    rv = (await api.get(CM)).body["metadata"]["resourceVersion"]
    await api.post(CM, cm("tr", {"app": "x"}))
    await api.patch(f"{CM}/tr", {"metadata": {"labels": {"app": "y"}}})
    await api.patch(f"{CM}/tr", {"data": {"ignored": "1"}})  # not matching before or after: invisible
    await api.patch(f"{CM}/tr", {"metadata": {"labels": {"app": "x"}}})
    events = await api.watch(
        CM, resourceVersion=rv, labelSelector="app=x", timeoutSeconds="5", until=lambda ev: len(summary(ev)) >= 3
    )
    assert summary(events) == [("ADDED", "tr"), ("DELETED", "tr"), ("ADDED", "tr")]
    assert events[1]["object"]["metadata"]["labels"] == {"app": "x"}  # DELETED carries the last matching state


async def test_send_initial_events_ends_with_an_annotated_bookmark(api: Api) -> None:
    await api.post(CM, cm("init"))
    events = await api.watch(
        CM,
        sendInitialEvents="true",
        allowWatchBookmarks="true",
        resourceVersionMatch="NotOlderThan",
        timeoutSeconds="5",
        until=lambda ev: ev[-1]["type"] == "BOOKMARK",
    )
    assert ("ADDED", "init") in summary(events)
    assert events[-1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_cluster_wide_watch_and_named_watch(api: Api) -> None:
    await api.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "w2"}})
    rv = (await api.get("/api/v1/configmaps")).body["metadata"]["resourceVersion"]
    await api.post("/api/v1/namespaces/w2/configmaps", cm("elsewhere"))
    await api.post(CM, cm("here"))
    everywhere = await api.watch(
        "/api/v1/configmaps", resourceVersion=rv, timeoutSeconds="5", until=lambda ev: len(summary(ev)) >= 2
    )
    assert summary(everywhere) == [("ADDED", "elsewhere"), ("ADDED", "here")]
    named = await api.watch(
        f"{CM}/here", resourceVersion=rv, timeoutSeconds="5", until=lambda ev: len(summary(ev)) >= 1
    )
    assert summary(named) == [("ADDED", "here")]


async def test_stopping_the_server_ends_open_watches_promptly() -> None:
    import aiohttp

    from apibridge.emulator import Emulator, serve

    async with serve(Emulator()) as running:
        session = aiohttp.ClientSession(running.url)
        response = await session.get(f"{CM}?watch=true&allowWatchBookmarks=true")
        first = await asyncio.wait_for(response.content.readline(), 5)  # the synthetic ADDED of kube-root-ca.crt
        assert b'"ADDED"' in first
        started = time.monotonic()
    assert time.monotonic() - started < 3
    rest = await asyncio.wait_for(response.content.read(), 5)
    assert rest == b"" or rest.endswith(b"\n")
    response.release()
    await session.close()
