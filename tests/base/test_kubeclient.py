"""The one client stack: kubeconfig contexts, list+watch, and 410 Gone as a relist (never a re-watch).

The API server here is a few aiohttp handlers on 127.0.0.1 that answer exactly the calls under test — a
test double for these unit tests (the in-cluster tests run the real kube-apiserver).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from apibridge.admission.watch import Resource, WatchSource
from apibridge.base import kinds
from apibridge.base.kubeclient import Client, GoneError, KubeConfig, UnreachableError


class FakeApi:
    """Namespaces only: a list at the current version, and watches scripted per call."""

    def __init__(self) -> None:
        self.namespaces = ["a"]
        self.rv = 10
        self.lists = 0
        self.watches: list[str] = []  # the resourceVersion each watch asked for
        self.gone_at: set[str] = {"10"}  # watches from these versions get a 410 ERROR event

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"major": "1", "minor": "36", "gitVersion": "v1.36.3"})

    async def namespaces_handler(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") != "true":
            self.lists += 1
            items = [{"metadata": {"name": n, "resourceVersion": str(self.rv)}} for n in self.namespaces]
            return web.json_response(
                {"kind": "NamespaceList", "metadata": {"resourceVersion": str(self.rv)}, "items": items}
            )
        rv = request.query.get("resourceVersion", "")
        self.watches.append(rv)
        if rv == "gone-status":
            return web.json_response({"kind": "Status", "code": 410, "reason": "Expired"}, status=410)
        resp = web.StreamResponse()
        await resp.prepare(request)
        if rv in self.gone_at:
            self.namespaces.append("b")  # what happened while the watcher's history expired
            self.rv += 5
            event = {
                "type": "ERROR",
                "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"},
            }
            await resp.write(json.dumps(event).encode() + b"\n")
            return resp
        await asyncio.sleep(1)  # a quiet watch (the server ends it, as kube-apiserver does at timeoutSeconds)
        return resp


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[FakeApi, Path]]:
    fake = FakeApi()
    app = web.Application()
    app.router.add_get("/version", fake.version)
    app.router.add_get("/version/", fake.version)
    app.router.add_get("/api/v1/namespaces", fake.namespaces_handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "good", "cluster": {"server": f"http://127.0.0.1:{port}"}},
                    {"name": "bad", "cluster": {"server": "http://127.0.0.1:1"}},
                ],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [
                    {"name": "good", "context": {"cluster": "good", "user": "u"}},
                    {"name": "bad", "context": {"cluster": "bad", "user": "u"}},
                ],
                "current-context": "bad",
            }
        )
    )
    yield fake, kubeconfig
    await runner.cleanup()


async def test_the_context_picks_the_server(api: tuple[FakeApi, Path]) -> None:
    _, kubeconfig = api
    with pytest.raises(UnreachableError):
        await Client.connect(KubeConfig(str(kubeconfig)))  # the current context's server refuses
    client = await Client.connect(KubeConfig(str(kubeconfig), "good"))
    items, rv = await client.list_page(kinds.NAMESPACE)
    assert [i["metadata"]["name"] for i in items] == ["a"] and rv == "10"
    assert items[0]["kind"] == "Namespace" and items[0]["apiVersion"] == "v1"  # stamped as lists omit them
    info = client.connection_info()
    assert info["server"].startswith("http://127.0.0.1:") and info["token"] == "t"


async def test_an_unreachable_server_is_one_line_naming_the_server_and_the_cause(
    api: tuple[FakeApi, Path], tmp_path: Path
) -> None:
    """A kubeconfig whose server is not an API server (here: a web server answering 404) gave httpx's message
    plus a second line, 'For more information check: https://developer.mozilla.org/…/404', and no server."""
    _, kubeconfig = api
    with pytest.raises(UnreachableError) as refused:
        await Client.connect(KubeConfig(str(kubeconfig)))  # the current context: nothing listens on port 1
    assert "\n" not in str(refused.value) and "http://127.0.0.1:1" in str(refused.value), str(refused.value)
    runner = web.AppRunner(web.Application())  # no routes: 404 for /version, as an ingress or a proxy answers
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = f"http://127.0.0.1:{runner.addresses[0][1]}"
    config = yaml.safe_load(kubeconfig.read_text())
    config["clusters"][1]["cluster"]["server"] = server
    other = tmp_path / "other"
    other.write_text(yaml.safe_dump(config))
    try:
        with pytest.raises(UnreachableError) as not_api:
            await Client.connect(KubeConfig(str(other)))
    finally:
        await runner.cleanup()
    message = str(not_api.value)
    assert "\n" not in message and "mozilla" not in message, message
    assert server in message and "404" in message, message


async def test_a_410_event_and_a_410_answer_are_gone(api: tuple[FakeApi, Path]) -> None:
    _, kubeconfig = api
    client = await Client.connect(KubeConfig(str(kubeconfig), "good"))
    with pytest.raises(GoneError):
        async for _ in client.watch(kinds.NAMESPACE, "10"):
            pass
    with pytest.raises(GoneError):
        async for _ in client.watch(kinds.NAMESPACE, "gone-status"):
            pass


async def test_the_webhook_reflector_relists_on_410_instead_of_rewatching(api: tuple[FakeApi, Path]) -> None:
    fake, kubeconfig = api
    source = WatchSource(KubeConfig(str(kubeconfig), "good"), resources=(Resource(kinds.NAMESPACE),), debounce=0.01)
    await source.start()
    try:
        for _ in range(500):
            snap = source.current
            if snap is not None and "b" in snap.cluster.namespaces:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError(f"no relist: lists {fake.lists}, watches {fake.watches}")
        assert fake.lists == 2
        assert fake.watches[:2] == ["10", "15"]  # never a second watch from the expired version
    finally:
        await source.stop()


@pytest.mark.parametrize(
    "field", ["certificate-authority", "client-certificate", "client-key"], ids=["ca", "cert", "key"]
)
async def test_a_missing_file_a_kubeconfig_names_is_named_with_the_kubeconfig_and_field(
    tmp_path: Path, field: str
) -> None:
    """It said '[Errno 2] No such file or directory' and no more: which kubeconfig, which field, which file?"""
    missing = tmp_path / "gone" / "file.pem"
    where = "cluster" if field == "certificate-authority" else "user"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1", **(
                    {field: str(missing)} if where == "cluster" else {})}}],
                "users": [{"name": "u", "user": {field: str(missing)} if where == "user" else {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )  # fmt: skip
    with pytest.raises(UnreachableError) as failed:
        await Client.connect(KubeConfig(str(kubeconfig)))
    message = str(failed.value)
    assert str(kubeconfig) in message and field in message and str(missing) in message, message
