"""``WatchSource`` keeps the snapshot in step with the real kube-apiserver, as the chart's webhook account."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from apibridge.admission.watch import WATCHED, WatchSource, selector_label_keys, slim, watched
from apibridge.base.kubeclient import Client, GoneError, KubeConfig
from apibridge.plan.settings import parse_settings
from kube.cluster import KubeCluster, install_crds
from polling import eventually

from .oncluster import nad_crd, on_cluster


def bridge_names(source: WatchSource) -> set[str]:
    snap = source.current
    return set(snap.plan.bridges) if snap else set()


async def test_lists_then_follows_changes(kube: KubeCluster) -> None:
    async with on_cluster(kube) as env:
        source = WatchSource(env.connection(), debounce=0.02)
        await source.start()
        try:
            await eventually(lambda: source.current is not None, what="the first snapshot")
            snap = source.current
            assert snap is not None and snap.realised_only
            assert set(snap.plan.bridges) == {"tenant-a", "tenant-b"}
            assert {"ingress-nginx", "tenant-b", "default", "kube-system"} <= set(snap.cluster.namespaces)
            assert str(snap.cluster.api_cluster_ips()[0]) == "10.96.0.1"  # the API server's own Service
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


async def test_bridges_inject_only_once_their_nad_and_subnet_exist(kube: KubeCluster) -> None:
    async with on_cluster(kube) as env:
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


async def test_a_missing_crd_counts_as_empty_until_it_appears(kube: KubeCluster) -> None:
    async with on_cluster(kube, nad_crd_installed=False) as env:
        source = WatchSource(env.connection(), debounce=0.02, relist_not_served=0.1)
        await source.start()
        try:
            await eventually(lambda: source.current is not None, what="a snapshot without NADs")
            # created, and waited for until the API server serves it (a NAD before that is a 404)
            await asyncio.to_thread(install_crds, env.kube, [nad_crd()])
            snap = source.current
            assert snap is not None
            await env.must_create(snap.plan.bridges["tenant-a"].nad)
            await eventually(lambda: bool(source.current and source.current.cluster.nads), what="the NAD")
        finally:
            await source.stop()


async def test_bad_objects_are_skipped_not_fatal(kube: KubeCluster) -> None:
    async with on_cluster(kube) as env:
        # A Subnet whose CIDR the model rejects (Kube-OVN's CRD leaves cidrBlock a plain string).
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


@pytest.mark.parametrize("answer", ["http-410", "error-event"])
async def test_an_expired_resource_version_is_gone(answer: str, tmp_path: Path) -> None:
    """A watch whose resourceVersion has expired ends in 410 Gone: the HTTP status, or an ERROR event in the
    stream. The real API server answers so only once etcd has compacted past the version and its watch cache
    no longer holds it (minutes, by default), so this one test talks to a two-line stand-in that answers 410
    at once, as kube-apiserver's own wire format has it."""
    from aiohttp import web

    gone = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": 410,
        "reason": "Expired",
        "message": "too old resource version: 1 (5000)",
    }

    async def handler(request: web.Request) -> web.StreamResponse:
        if answer == "http-410":
            return web.json_response(gone, status=410)
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
        return resp

    app = web.Application()
    app.router.add_get("/api/v1/namespaces", handler)

    async def version(_: web.Request) -> web.Response:  # kr8s asks for /version/ when it connects
        return web.json_response({"major": "1", "minor": "36", "gitVersion": "v1.36.3"})

    app.router.add_get("/version/", version)
    app.router.add_get("/version", version)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    client = await Client.connect(KubeConfig(kubeconfig=str(kubeconfig)))
    try:
        namespaces = next(r for r in WATCHED if r.kind == "Namespace")
        with pytest.raises(GoneError):  # an HTTP 410, or a 410 ERROR event in the stream
            async for _event in client.watch(namespaces.type, "1"):
                pass
    finally:
        await runner.cleanup()


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


async def test_stop_is_prompt(kube: KubeCluster) -> None:
    async with on_cluster(kube) as env:
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
        ("/api/v1/namespaces/kube-system/services", None, "Service"),  # the DNS Service, found among these
    ]


def test_a_dns_service_named_by_the_settings_is_watched_by_name_alone() -> None:
    """Issue 11 item 13: OpenShift's DNS Service is openshift-dns/dns-default; named, it is watched by name."""
    res = watched(parse_settings(dns_service="openshift-dns/dns-default"))[-1]
    assert (res.path, res.name) == ("/api/v1/namespaces/openshift-dns/services", "dns-default")
