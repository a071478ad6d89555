"""The HTTP(S) face of the emulator: routing, query parameters, watch streaming, auth, and serving.

Clients under test (kopf, kr8s, kubectl, our webhook's callers) talk real HTTP to this server, so everything
transport-level that they rely on is here: Kubernetes URL layout (``/api/v1/namespaces/{ns}/{plural}/{name}/
{subresource}`` and the ``/apis/{group}/{version}`` twin), ``Status`` bodies on errors, chunked JSON-lines
watches, ``Warning`` headers from admission, bearer-token auth. The semantics live in ``cluster.py``.

Use::

    emulator = Emulator(token="t", history_window=50)
    async with serve(emulator) as running:            # 127.0.0.1, a free port, optional TLS
        running.write_kubeconfig(tmp_path / "kubeconfig")
        ...                                            # point KUBECONFIG at it
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import socket
import ssl
import tempfile
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from apibridge.base.certs import CertificateAuthority, write_bundle
from apibridge.emulator import discovery, errors
from apibridge.emulator.admission import ServiceResolver
from apibridge.emulator.cluster import Cluster, Request
from apibridge.emulator.kinds import ResourceType
from apibridge.emulator.kubeconfig import write_kubeconfig
from apibridge.emulator.selectors import SelectorError, parse_field_selector, parse_label_selector
from apibridge.emulator.watch import WatchRequest, stream
from apibridge.emulator.wire import Obj

log = logging.getLogger(__name__)

PUBLIC_PATHS = ("/healthz", "/readyz", "/livez", "/version")


class Emulator:
    """One emulated cluster: its state (``cluster``) and how it is served (auth, watch tuning).

    ``token`` is required as ``Authorization: Bearer <token>`` on HTTPS. Plain HTTP is treated like
    kube-apiserver's old insecure port — no authentication — because client-go (kubectl) refuses to send
    bearer tokens over plain HTTP; the kubeconfig still carries the token for clients that want one.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        history_window: int = 1000,
        bookmark_interval: float = 60.0,
        max_watch_seconds: float = 1800.0,
        service_resolver: ServiceResolver | None = None,
        root_ca_pem: str = "",
    ) -> None:
        self.cluster = Cluster(
            history_window=history_window, service_resolver=service_resolver, root_ca_pem=root_ca_pem
        )
        self.token = token
        self.bookmark_interval = bookmark_interval
        self.max_watch_seconds = max_watch_seconds
        self.closing = asyncio.Event()

    async def load(self, documents: Iterable[Obj]) -> list[Obj]:
        """Create objects (e.g. from YAML manifests) as a client would, in order; CRDs first is up to you."""
        created = []
        for doc in documents:
            if not doc:
                continue
            group, _, version = str(doc.get("apiVersion", "")).rpartition("/")
            rt = self.cluster.types.by_kind(str(doc.get("apiVersion", "")), str(doc.get("kind", "")))
            if rt is None:
                raise errors.bad_request(
                    f"no resource serves {doc.get('apiVersion')} {doc.get('kind')} "
                    f"(group {group!r}, version {version!r})"
                )
            namespace = (doc.get("metadata") or {}).get("namespace") or "default"
            created.append(await self.cluster.create(rt, namespace if rt.namespaced else None, doc, Request()))
        return created


EMULATOR = web.AppKey("emulator", Emulator)

# ---------------------------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class Target:
    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


def _route(emulator: Emulator, parts: list[str]) -> Target:
    types = emulator.cluster.types
    if parts[0] == "api" and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise errors.path_not_found()
    namespace: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        scoped = types.get(group, version, rest[2])
        if scoped is not None and scoped.namespaced:
            namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        raise errors.path_not_found()
    rt = types.get(group, version, rest[0])
    if rt is None:
        raise errors.path_not_found()
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if rt.namespaced and namespace is None and name is not None:
        raise errors.path_not_found()
    return Target(rt, namespace, name, sub)


def _flag(request: web.Request, key: str) -> bool:
    return request.query.get(key, "").lower() in ("1", "true")


def _int(request: web.Request, key: str) -> int | None:
    raw = request.query.get(key)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise errors.bad_request(f"invalid value for {key}: {raw!r}") from None


def _dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise errors.bad_request(f'Invalid value: "{value}": supported values: "All"')
    return bool(values)


async def _body(request: web.Request, *, empty: Any = None) -> Any:
    raw = await request.read()
    if not raw.strip():
        if empty is not None:
            return empty
        raise errors.bad_request("the request body is empty")
    media = request.headers.get("Content-Type", "application/json").split(";")[0].strip()
    if "protobuf" in media or "cbor" in media:
        raise errors.unsupported_media_type(f"{media} (the emulator speaks JSON and YAML only)")
    try:
        if media in ("application/yaml", "application/x-yaml", "text/yaml"):
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from None


def _json(data: Any, status: int = 200, warnings: Iterable[str] = ()) -> web.Response:
    resp = web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")
    for warning in warnings:
        quoted = warning.replace("\\", "\\\\").replace('"', '\\"')  # an RFC 9110 quoted-string
        resp.headers.add("Warning", f'299 - "{quoted}"')
    return resp


def _error(exc: errors.ApiError) -> web.Response:
    return _json(exc.status(), status=exc.code)


class _Handler:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self.handle(request)
        except errors.ApiError as exc:
            return _error(exc)
        except SelectorError as exc:
            return _error(errors.bad_request(str(exc)))

    def _authorize(self, request: web.Request) -> None:
        token = self.emulator.token
        if token and request.secure and request.path not in PUBLIC_PATHS:
            given = request.headers.get("Authorization", "")
            if not secrets.compare_digest(given.encode(), f"Bearer {token}".encode()):
                raise errors.unauthorized()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path in ("/healthz", "/readyz", "/livez"):
            return web.Response(text="ok", content_type="text/plain")
        if path == "/version":
            return _json(discovery.version_info())
        self._authorize(request)
        types = self.emulator.cluster.types
        parts = [p for p in path.split("/") if p]
        if request.method == "GET":
            if path == "/api":
                return _json(discovery.api_versions(request.host))
            if path == "/apis":
                return _json(discovery.api_group_list(types))
            if parts[:1] == ["api"] and len(parts) == 2:
                found = discovery.resource_list(types, "", parts[1])
                if found is None:
                    raise errors.path_not_found()
                return _json(found)
            if parts[:1] == ["apis"] and len(parts) == 2:
                group = discovery.api_group(types, parts[1])
                if group is None:
                    raise errors.path_not_found()
                return _json(group)
            if parts[:1] == ["apis"] and len(parts) == 3:
                found = discovery.resource_list(types, parts[1], parts[2])
                if found is None:
                    raise errors.path_not_found()
                return _json(found)
            if parts[:2] == ["openapi", "v3"]:
                if len(parts) == 2:
                    return _json(discovery.openapi_root(types))
                gv = parts[2:]
                doc = None
                if gv[:1] == ["api"] and len(gv) == 2:
                    doc = discovery.openapi_group_version(types, "", gv[1])
                elif gv[:1] == ["apis"] and len(gv) == 3:
                    doc = discovery.openapi_group_version(types, gv[1], gv[2])
                if doc is None:
                    raise errors.path_not_found()
                return _json(doc)
        if not parts:
            raise errors.path_not_found()
        target = _route(self.emulator, parts)
        return await self.verb(request, target)

    async def verb(self, request: web.Request, t: Target) -> web.StreamResponse:
        cluster = self.emulator.cluster
        validation = request.query.get("fieldValidation") or "Warn"
        if validation not in ("Ignore", "Warn", "Strict"):
            raise errors.bad_request(
                f'fieldValidation: Unsupported value: "{validation}": supported values: "Ignore", "Strict", "Warn"'
            )
        req = Request(dry_run=_dry_run(request), field_validation=validation)
        if t.subresource is not None and t.subresource not in t.rt.subresources:
            raise errors.path_not_found()
        method = request.method
        if method == "GET":
            if _flag(request, "watch"):
                return await self.watch(request, t)
            if t.name is None:
                labels = parse_label_selector(request.query.get("labelSelector"))
                fields = parse_field_selector(request.query.get("fieldSelector"), self._field_labels(t.rt))
                self._check_list_rv(request)
                return _json(
                    cluster.list(
                        t.rt, t.namespace, labels, fields, _int(request, "limit"), request.query.get("continue")
                    )
                )
            return _json(cluster.get(t.rt, t.namespace, t.name))
        if method == "POST":
            if t.name is not None or (t.rt.namespaced and t.namespace is None):
                raise errors.method_not_allowed()
            created = await cluster.create(t.rt, t.namespace, await _body(request), req)
            return _json(created, status=201, warnings=req.warnings)
        if method == "PUT" and t.name is not None:
            updated = await cluster.update(t.rt, t.namespace, t.name, await _body(request), req, t.subresource)
            return _json(updated, warnings=req.warnings)
        if method == "PATCH" and t.name is not None:
            patched = await cluster.patch(
                t.rt,
                t.namespace,
                t.name,
                request.headers.get("Content-Type", ""),
                await request.read(),
                req,
                t.subresource,
            )
            return _json(patched, warnings=req.warnings)
        if method == "DELETE" and t.subresource is None:
            options = await _body(request, empty={})
            if not isinstance(options, dict):
                raise errors.bad_request("DeleteOptions must be an object")
            for key in ("propagationPolicy", "gracePeriodSeconds"):
                if key in request.query:
                    options.setdefault(key, request.query[key])
            if t.name is None:
                labels = parse_label_selector(request.query.get("labelSelector"))
                fields = parse_field_selector(request.query.get("fieldSelector"), self._field_labels(t.rt))
                result = await cluster.delete_collection(t.rt, t.namespace, labels, fields, options, req)
                return _json(result, warnings=req.warnings)
            gone, last = await cluster.delete(t.rt, t.namespace, t.name, options, req)
            if gone and not t.rt.return_deleted_object:
                details: dict[str, Any] = {
                    "name": t.name,
                    "kind": t.rt.plural,
                    "uid": (last.get("metadata") or {}).get("uid", ""),
                }
                if t.rt.group:
                    details["group"] = t.rt.group
                return _json(
                    {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details},
                    warnings=req.warnings,
                )
            return _json(last, warnings=req.warnings)
        raise errors.method_not_allowed()

    @staticmethod
    def _field_labels(rt: ResourceType) -> tuple[str, ...]:
        return ("metadata.name", "metadata.namespace", *rt.field_labels)

    def _check_list_rv(self, request: web.Request) -> None:
        """``resourceVersionMatch=Exact`` for a compacted RV is a 410, like a real server's list."""
        rv = request.query.get("resourceVersion")
        if rv and request.query.get("resourceVersionMatch") == "Exact":
            store = self.emulator.cluster.store
            try:
                wanted = int(rv)
            except ValueError:
                raise errors.bad_request(f'invalid resource version "{rv}"') from None
            if wanted < store.compacted:
                raise errors.gone(f"too old resource version: {wanted} ({store.compacted + 1})")

    async def watch(self, request: web.Request, t: Target) -> web.StreamResponse:
        labels = parse_label_selector(request.query.get("labelSelector"))
        fields = parse_field_selector(request.query.get("fieldSelector"), self._field_labels(t.rt))
        if t.name is not None:  # legacy watch of a single object
            fields = (*fields, *parse_field_selector(f"metadata.name={t.name}"))
        timeout = _int(request, "timeoutSeconds")
        limit = self.emulator.max_watch_seconds
        watch_req = WatchRequest(
            rt=t.rt,
            namespace=t.namespace,
            labels=labels,
            fields=fields,
            since=request.query.get("resourceVersion"),
            send_initial_events=_flag(request, "sendInitialEvents"),
            bookmarks=_flag(request, "allowWatchBookmarks"),
            timeout=min(float(timeout), limit) if timeout else limit,
            bookmark_interval=self.emulator.bookmark_interval,
        )
        if watch_req.send_initial_events and not watch_req.bookmarks:
            raise errors.invalid(
                "ListOptions",
                "meta.k8s.io",
                "",
                [
                    {
                        "reason": "FieldValueForbidden",
                        "field": "sendInitialEvents",
                        "message": "Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true",
                    }
                ],
            )
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        events = stream(
            self.emulator.cluster.store,
            watch_req,
            lambda obj: self.emulator.cluster.render(t.rt, obj),
            self.emulator.closing,
        )
        started = False
        try:
            async for event in events:
                if not started:
                    await resp.prepare(request)
                    started = True
                await resp.write(json.dumps(event).encode() + b"\n")
            if not started:
                await resp.prepare(request)
            await resp.write_eof()
        except errors.ApiError as exc:
            if not started:
                return _error(exc)
        except (ConnectionResetError, asyncio.CancelledError):
            with contextlib.suppress(Exception):
                await events.aclose()  # type: ignore[attr-defined]
            raise
        return resp


def build_app(emulator: Emulator) -> web.Application:
    """The aiohttp application serving ``emulator`` (one catch-all route: Kubernetes paths are dynamic)."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    handler = _Handler(emulator)

    async def dispatch(request: web.Request) -> web.StreamResponse:
        return await handler(request)

    app.router.add_route("*", "/{tail:.*}", dispatch)
    app[EMULATOR] = emulator
    return app


# ---------------------------------------------------------------------------------------------- serving


@dataclass
class Running:
    """A serving emulator: where it is and how to trust it."""

    emulator: Emulator
    host: str
    port: int
    scheme: str
    ca_pem: str | None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def write_kubeconfig(self, path: str | Path, *, namespace: str = "default") -> Path:
        return write_kubeconfig(
            path,
            self.url,
            token=self.emulator.token,
            ca_pem=self.ca_pem,
            insecure=self.scheme == "https" and not self.ca_pem,
            namespace=namespace,
        )


def server_ssl_context(cert_file: str | Path, key_file: str | Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx


@contextlib.asynccontextmanager
async def serve(
    emulator: Emulator | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls_cert_file: str | Path | None = None,
    tls_key_file: str | Path | None = None,
    ca_file: str | Path | None = None,
    self_signed_tls: bool = False,
) -> AsyncIterator[Running]:
    """Serve ``emulator`` (a fresh one by default) on ``host:port`` (0 = a free port) until the block exits.

    With ``tls_cert_file``/``tls_key_file`` it serves HTTPS; ``ca_file`` (the CA that signed the certificate)
    goes into the kubeconfig this hands out, otherwise the kubeconfig skips verification.
    ``self_signed_tls`` makes a throwaway CA and a certificate for ``host``, ``localhost`` and the
    in-cluster names (``kubernetes.default.svc``…), and hands that CA out.
    """
    emulator = emulator or Emulator()
    with tempfile.TemporaryDirectory(prefix="apibridge-emulator-") as scratch:
        if self_signed_tls and not tls_cert_file:
            ca = CertificateAuthority.create("apibridge-emulator-ca")
            leaf = ca.issue(
                [
                    host,
                    "localhost",
                    "kubernetes",
                    "kubernetes.default",
                    "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local",
                ]
            )
            paths = write_bundle(Path(scratch), ca, leaf)
            tls_cert_file, tls_key_file, ca_file = paths.cert, paths.key, paths.ca_cert
        async with _serve(emulator, host, port, tls_cert_file, tls_key_file, ca_file) as running:
            yield running


@contextlib.asynccontextmanager
async def _serve(
    emulator: Emulator,
    host: str,
    port: int,
    tls_cert_file: str | Path | None,
    tls_key_file: str | Path | None,
    ca_file: str | Path | None,
) -> AsyncIterator[Running]:
    ssl_ctx = server_ssl_context(tls_cert_file, tls_key_file) if tls_cert_file and tls_key_file else None
    ca_pem = Path(ca_file).read_text() if ca_file else None
    if ca_pem and not emulator.cluster.root_ca_pem:
        emulator.cluster.root_ca_pem = ca_pem
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    runner = web.AppRunner(build_app(emulator), handler_cancellation=True, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.SockSite(runner, sock, ssl_context=ssl_ctx)
    await site.start()
    emulator.closing.clear()
    try:
        yield Running(emulator, host, sock.getsockname()[1], "https" if ssl_ctx else "http", ca_pem)
    finally:
        emulator.closing.set()
        await runner.cleanup()
        sock.close()
