"""``WatchSource`` keeps the snapshot in step with an API server (the project's emulator)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from apibridge.admission.watch import WATCHED, WatchSource, selector_label_keys, slim
from apibridge.base.kubeclient import GoneError

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
            assert source._client is not None
            with pytest.raises(GoneError):  # an HTTP 410, or a 410 ERROR event in the stream
                async for event in source._client.watch(namespaces.type, rv):
                    source._apply(namespaces, event)
        finally:
            await source.stop()


def test_one_object_resources_are_listed_by_field_selector() -> None:
    svc = next(r for r in WATCHED if r.name == "kubernetes")
    assert svc.field_selector == "metadata.name=kubernetes"
    assert next(r for r in WATCHED if r.kind == "Namespace").field_selector is None


def test_namespaces_keep_only_what_the_decision_reads() -> None:
    """A tenant can write 10 KB of metadata on its namespace; the snapshot keeps a few fields of it."""
    keys = selector_label_keys([{"spec": {"namespaceSelector": {"matchLabels": {"tenant": "a"}}}}])
    ns = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "t1",
            "labels": {"tenant": "a", **{f"junk-{i}": "x" * 60 for i in range(100)}},
            "annotations": {"ovn.kubernetes.io/logical_switch": "s1", "junk": "y" * 10_000},
            "managedFields": [{"manager": "x" * 1000}],
        },
        "status": {"phase": "Active"},
    }
    kept = slim(ns, keys)
    assert kept["metadata"] == {
        "name": "t1",
        "labels": {"tenant": "a"},
        "annotations": {"ovn.kubernetes.io/logical_switch": "s1"},
    }
    assert "status" not in kept
    assert len(repr(kept)) < 300


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
