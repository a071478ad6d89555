"""Real clients against the emulator over HTTPS with a token: kr8s, a kopf operator, and kubectl."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kopf
import kr8s.asyncio
import pytest
from kr8s.asyncio.objects import ConfigMap, new_class

from apibridge.emulator import Emulator, Running, serve

from .support import WIDGET_CRD, WIDGETS, Api, eventually, make_crd


@pytest.fixture
async def tls_running() -> AsyncIterator[Running]:
    async with serve(
        Emulator(token="client-token", history_window=100, bookmark_interval=0.5), self_signed_tls=True
    ) as served:
        yield served


@pytest.fixture
def kubeconfig(tls_running: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tls_running.write_kubeconfig(tmp_path / "kubeconfig")
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


@pytest.fixture
async def tls_api(tls_running: Running) -> AsyncIterator[Api]:
    import ssl

    import aiohttp

    assert tls_running.ca_pem
    connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(cadata=tls_running.ca_pem))
    headers = {"Authorization": "Bearer client-token"}
    async with aiohttp.ClientSession(tls_running.url, headers=headers, connector=connector) as session:
        yield Api(session)


async def test_kr8s_create_get_list_patch_watch_delete(kubeconfig: Path, tls_api: Api) -> None:
    api = await kr8s.asyncio.api(kubeconfig=str(kubeconfig))
    try:
        version = await api.version()
        assert version["major"] == "1"
        made = await ConfigMap(
            {"metadata": {"name": "k", "namespace": "default", "labels": {"via": "kr8s"}}, "data": {"a": "1"}}, api=api
        )
        await made.create()
        start = made.metadata.resourceVersion
        got = await ConfigMap.get("k", namespace="default", api=api)
        assert got.raw["data"] == {"a": "1"} and got.metadata.uid == made.metadata.uid
        listed = [o async for o in api.get("configmaps", namespace="default", label_selector={"via": "kr8s"})]
        assert [o.name for o in listed] == ["k"]
        await got.patch({"data": {"a": "2"}})
        assert got.raw["data"] == {"a": "2"}
        await got.patch([{"op": "add", "path": "/metadata/annotations", "value": {"x/y": "z"}}], type="json")
        assert got.metadata.annotations == {"x/y": "z"}

        seen: list[tuple[str, str]] = []

        async def watch() -> None:
            async for event, obj in api.watch("configmaps", namespace="default", since=start):
                seen.append((event, obj.name))
                if event == "DELETED":
                    return

        watcher = asyncio.create_task(watch())
        await got.delete()
        await asyncio.wait_for(watcher, 10)
        assert seen == [("MODIFIED", "k"), ("MODIFIED", "k"), ("DELETED", "k")]
        assert not await got.exists()

        await make_crd(tls_api)
        widget_cls = new_class(kind="Widget", version="example.com/v1", namespaced=True, asyncio=True)
        w = await widget_cls({"metadata": {"name": "kw", "namespace": "default"}, "spec": {"size": 2}}, api=api)
        await w.create()
        await w.patch({"status": {"ready": True}}, subresource="status")
        assert w.raw["status"] == {"ready": True} and w.raw["spec"] == {"size": 2, "color": "red"}
        found = [o async for o in api.get("widgets.example.com", namespace="default")]
        assert [o.name for o in found] == ["kw"]
    finally:
        session = getattr(api, "_session", None)
        if session is not None:
            await session.aclose()


async def test_kopf_operator_reacts_to_custom_resources(
    kubeconfig: Path, tls_api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    registry = kopf.OperatorRegistry()
    handled: list[tuple[str, Any]] = []

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> Any:  # kopf's own kubeconfig login, reading $KUBECONFIG like `kopf run` would
        return kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.create("example.com", "v1", "widgets", registry=registry, id="created")
    async def created(spec: Any, name: str, body: Any, **_: Any) -> dict[str, Any]:
        handled.append(("create", name))
        kopf.info(body, reason="Seen", message="a widget")
        return {"size": spec["size"]}

    @kopf.on.update("example.com", "v1", "widgets", registry=registry, field="spec.size", id="resized")
    async def resized(new: Any, name: str, **_: Any) -> None:
        handled.append(("update", new))

    @kopf.on.delete("example.com", "v1", "widgets", registry=registry, id="deleted")
    async def deleted(name: str, **_: Any) -> None:
        handled.append(("delete", name))

    settings = kopf.OperatorSettings()
    settings.watching.server_timeout = 30
    settings.watching.connect_timeout = 5
    settings.networking.request_timeout = 10
    stop, ready = asyncio.Event(), asyncio.Event()
    # The CRD exists before the operator starts: kopf discovers it by scanning /apis (a CRD created between
    # kopf's initial scan and its CRD listing is missed by kopf itself, on any server).
    await make_crd(tls_api)
    operator = asyncio.create_task(
        kopf.operator(
            registry=registry, settings=settings, standalone=True, clusterwide=True, stop_flag=stop, ready_flag=ready
        )
    )
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await tls_api.post(
            WIDGETS, {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "op"}, "spec": {"size": 1}}
        )

        async def status_written() -> Any:
            body = (await tls_api.get(f"{WIDGETS}/op")).body
            return body if (body.get("status") or {}).get("created") == {"size": 1} else None

        body = await eventually(status_written, timeout=20)
        assert "kopf.zalando.org/KopfFinalizerMarker" in body["metadata"]["finalizers"]
        assert "kopf.zalando.org/last-handled-configuration" in body["metadata"]["annotations"]

        await tls_api.patch(f"{WIDGETS}/op", {"spec": {"size": 5}})
        await eventually(lambda: _async(("update", 5) in handled), timeout=20)

        await tls_api.delete(f"{WIDGETS}/op")

        async def gone() -> bool:
            return (await tls_api.get(f"{WIDGETS}/op")).status == 404

        await eventually(gone, timeout=20)
        assert handled == [("create", "op"), ("update", 5), ("delete", "op")]

        async def posted() -> bool:  # kopf.info() posts a core/v1 Event (a body without apiVersion/kind)
            events = (await tls_api.get("/api/v1/namespaces/default/events")).body["items"]
            return any(e["involvedObject"]["name"] == "op" and e["reason"] == "Seen" for e in events)

        await eventually(posted, timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(operator, 20)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [
        r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR
    ]


async def _async(value: Any) -> Any:
    return value


async def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "kubectl",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), 30)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
async def test_kubectl_apply_get_patch_delete(kubeconfig: Path) -> None:
    code, out, err = await kubectl(kubeconfig, "get", "namespaces", "-o", "name")
    assert code == 0, err
    assert "namespace/default" in out.split()
    code, out, err = await kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(WIDGET_CRD))
    assert code == 0, err
    code, out, err = await kubectl(
        kubeconfig, "wait", "--for=condition=Established", "--timeout=10s", "crd/widgets.example.com"
    )
    assert code == 0, err
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "kc"}, "spec": {"size": 1}}
    code, out, err = await kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(widget))
    assert code == 0 and "widget.example.com/kc created" in out, err
    widget["spec"]["size"] = 2  # type: ignore[index]
    code, out, err = await kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(widget))
    assert code == 0 and "configured" in out, err
    unknown = {**widget, "spec": {"size": 3, "bogus": True}}  # kubectl asks for fieldValidation=Strict
    code, out, err = await kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(unknown))
    assert code != 0 and 'unknown field "spec.bogus"' in err, (out, err)
    code, out, err = await kubectl(kubeconfig, "get", "wd", "kc", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["spec"] == {"size": 2, "color": "red"}
    code, out, err = await kubectl(
        kubeconfig,
        "patch",
        "configmap",
        "kube-root-ca.crt",
        "--type=json",
        "-p",
        '[{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]',
    )
    assert code == 0, err
    code, out, err = await kubectl(kubeconfig, "get", "configmaps", "-l", "a=b", "-o", "name")
    assert out.split() == ["configmap/kube-root-ca.crt"], err
    code, out, err = await kubectl(kubeconfig, "delete", "wd", "kc")
    assert code == 0, err
    code, out, err = await kubectl(kubeconfig, "get", "wd", "kc")
    assert code != 0 and 'widgets.example.com "kc" not found' in err
