"""``WatchSource`` keeps the snapshot in step with an API server (the project's emulator)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from apibridge.admission.watch import WATCHED, Resource, WatchSource, _Gone
from apibridge.base import kinds

from .emulated import crds, emulated, eventually


def bridge_names(source: WatchSource) -> set[str]:
    snap = source.current
    return set(snap.plan.bridges) if snap else set()


async def test_lists_then_follows_changes(tmp_path: Path) -> None:
    async with emulated(tmp_path) as env:
        source = WatchSource(env.connection(), debounce=0.02)
        await source.start()
        try:
            await eventually(lambda: source.current is not None, what="the first snapshot")
            snap = source.current
            assert snap is not None and snap.realised_only
            assert set(snap.plan.bridges) == {"tenant-a", "tenant-b"}
            assert {"ingress-nginx", "tenant-b", "default", "kube-system"} <= set(snap.cluster.namespaces)
            assert str(snap.cluster.api_cluster_ips()[0]) == "10.96.0.1"  # from the emulator's own Service
            generation = snap.generation

            await env.must_create(
                {
                    "apiVersion": "apibridge.dev/v1alpha1",
                    "kind": "ApiBridge",
                    "metadata": {"name": "tenant-c"},
                    "spec": {"vpc": "tenant-a"},
                }
            )
            await eventually(lambda: "tenant-c" in bridge_names(source), what="the new bridge")
            assert source.current is not None and source.current.generation > generation

            status, _ = await env.call(
                "PATCH", "/api/v1/namespaces/tenant-b", {"metadata": {"labels": {"tenant": "someone-else"}}}
            )
            assert status == 200
            await eventually(
                lambda: bool(source.current) and not source.current.candidates("tenant-b") if source.current else False,
                what="the namespace label change",
            )

            status, _ = await env.call("DELETE", "/apis/apibridge.dev/v1alpha1/apibridges/tenant-c")
            assert status == 200
            await eventually(lambda: "tenant-c" not in bridge_names(source), what="the deletion")
        finally:
            await source.stop()


async def test_bridges_inject_only_once_their_nad_and_subnet_exist(tmp_path: Path) -> None:
    async with emulated(tmp_path) as env:
        source = WatchSource(env.connection(), debounce=0.02)
        await source.start()
        try:
            await eventually(lambda: source.current is not None)
            snap = source.current
            assert snap is not None
            bp = snap.plan.bridges["tenant-a"]
            assert not snap.is_realised(bp)
            await env.must_create(bp.nad)
            await env.must_create(bp.subnet)
            await eventually(
                lambda: bool(source.current and source.current.is_realised(source.current.plan.bridges["tenant-a"])),
                what="the bridge to be realised",
            )
            after = source.current
            assert after is not None
            assert after.plan.bridges["tenant-a"].cidrs == bp.cidrs  # the existing Subnet keeps its CIDR
        finally:
            await source.stop()


async def test_a_missing_crd_counts_as_empty_until_it_appears(tmp_path: Path) -> None:
    async with emulated(tmp_path, nad_crd=False) as env:
        source = WatchSource(env.connection(), debounce=0.02, relist_not_served=0.1)
        await source.start()
        try:
            await eventually(lambda: source.current is not None, what="a snapshot without NADs")
            nad_crd = next(c for c in crds() if c["spec"]["group"] == "k8s.cni.cncf.io")
            await env.must_create(nad_crd)
            snap = source.current
            assert snap is not None
            await env.must_create(snap.plan.bridges["tenant-a"].nad)
            await eventually(lambda: bool(source.current and source.current.cluster.nads), what="the NAD")
        finally:
            await source.stop()


async def test_bad_objects_are_skipped_not_fatal(tmp_path: Path) -> None:
    async with emulated(tmp_path) as env:
        # A Subnet whose CIDR the model rejects (the stand-in CRD does not validate it).
        await env.must_create(
            {
                "apiVersion": "kubeovn.io/v1",
                "kind": "Subnet",
                "metadata": {"name": "broken"},
                "spec": {"cidrBlock": "not-a-cidr"},
            }
        )
        source = WatchSource(env.connection(), debounce=0.02)
        await source.start()
        try:
            await eventually(lambda: source.current is not None)
            assert source.current is not None and "tenant-a" in source.current.plan.bridges
            assert any("broken" in s for s in source.skipped)
        finally:
            await source.stop()


async def test_an_expired_resource_version_is_gone(tmp_path: Path) -> None:
    async with emulated(tmp_path, history_window=3) as env:
        source = WatchSource(env.connection())
        await source.start()
        try:
            namespaces = next(r for r in WATCHED if r.kind == "Namespace")
            rv = await source._list(namespaces)
            for i in range(6):
                await env.must_create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"churn-{i}"}})
            with pytest.raises(_Gone):  # an HTTP 410, or a 410 ERROR event in the stream
                async for event in source._events(namespaces, rv):
                    source._apply(namespaces, event)
        finally:
            await source.stop()


def test_watch_error_410_event_means_relist() -> None:
    source = WatchSource.__new__(WatchSource)
    res = Resource(kinds.NAMESPACE)
    with pytest.raises(_Gone):
        source._apply(res, {"type": "ERROR", "object": {"kind": "Status", "code": 410}})


def test_one_object_resources_are_listed_by_field_selector() -> None:
    svc = next(r for r in WATCHED if r.name == "kubernetes")
    source = WatchSource.__new__(WatchSource)
    source.connection = type("C", (), {"server": "https://api"})()  # type: ignore[assignment]
    assert source._query(svc) == (
        "https://api/api/v1/namespaces/default/services?fieldSelector=metadata.name%3Dkubernetes"
    )


async def test_stop_is_prompt(tmp_path: Path) -> None:
    async with emulated(tmp_path) as env:
        source = WatchSource(env.connection())
        await source.start()
        await eventually(lambda: source.current is not None)
        await asyncio.wait_for(source.stop(), timeout=5)


def test_watched_paths_and_labels() -> None:
    """The reflectors' request paths (and what RBAC must allow), spelled out once here as a pin."""
    assert [(r.path, r.name, r.label) for r in WATCHED] == [
        ("/api/v1/namespaces", None, "Namespace"),
        ("/api/v1/nodes", None, "Node"),
        ("/apis/kubeovn.io/v1/vpcs", None, "Vpc"),
        ("/apis/kubeovn.io/v1/subnets", None, "Subnet"),
        ("/apis/k8s.cni.cncf.io/v1/network-attachment-definitions", None, "NetworkAttachmentDefinition"),
        ("/apis/apibridge.dev/v1alpha1/apibridges", None, "ApiBridge"),
        ("/api/v1/namespaces/default/services", "kubernetes", "Service default/kubernetes"),
        ("/api/v1/namespaces/kube-system/services", "kube-dns", "Service kube-system/kube-dns"),
    ]
