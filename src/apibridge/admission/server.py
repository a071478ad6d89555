"""The webhook's HTTPS server: one lean aiohttp app, answers from memory, never a 5xx.

Two listeners, because they face different clients:
* the *webhook port* (TLS): ``POST /mutate-pods`` for the API server, plus ``/healthz`` and
  ``/readyz``. Its source is not predictable (the API server may be outside the pod network), so
  the NetworkPolicy lets anyone reach it; it therefore serves nothing that names a tenant.
* the *metrics port* (plain HTTP, optional): ``/metrics``, ``/healthz``, ``/readyz`` for Prometheus
  and the kubelet, restricted by NetworkPolicy to a monitoring namespace. Without it, ``/metrics``
  moves to the webhook port.

The review handler reads the body (within ``Limits.body_timeout``), decodes the members it reads
(``review.decode``), asks the pure ``mutate.admit`` and writes the answer; nothing on that path logs,
takes a lock or calls the API server. Connections are bounded before a handler runs (``guard``): a TLS handshake
timeout, a header timeout, an idle timeout and a connection cap. A body over ``Limits.max_body`` (the
API server never sends one: it refuses objects over 3 MiB) is answered 413 without being read; the API
server then applies ``failurePolicy`` (``Ignore``: the pod is created unchanged and the controller's
drift report lists it). A body that arrives slower than ``body_timeout`` is answered 408.
A body that is not JSON or names no review uid gets 400 (there is nobody to
answer); anything else gets 200 with a well-formed review. A bug that escapes anyway is caught by the
handler's last line of defence and turned into an allowed answer or a 400 — the API server then applies
``failurePolicy`` — and logged at most once per minute.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from apibridge.admission.guard import GuardedSite, Limits
from apibridge.admission.metrics import WebhookMetrics
from apibridge.admission.mutate import ReviewAnswer, admit
from apibridge.admission.review import decode, response
from apibridge.admission.snapshot import SnapshotSource, cancel_all
from apibridge.admission.tls import ReloadingContext

log = logging.getLogger(__name__)

MUTATE_PATH = "/mutate-pods"
_JSON = "application/json"
HEAVY_BODY = 256 * 1024  # bodies above this are decoded one at a time (see _mutate)


@dataclass(frozen=True)
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 8443  # 0: any free port (tests)
    metrics_port: int | None = None  # None: /metrics on the webhook port
    shutdown_delay: float = 0.0  # seconds to keep answering after SIGTERM while endpoints update
    limits: Limits = field(default_factory=Limits)


class _Throttle:
    """Let one log line through per ``interval`` seconds: a fuzzer must not fill the disk."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._last = -interval

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            return True
        return False


def _uid_of(body: bytes) -> str | None:
    """Best effort: the request uid of a body, for answering a review whose handling failed."""
    try:
        uid = orjson.loads(body)["request"]["uid"]
    except Exception:
        return None
    return uid if isinstance(uid, str) and uid else None


class WebhookServer:
    """Serve reviews from ``source`` over TLS from ``tls`` (``None``: plain HTTP, for tests only)."""

    def __init__(
        self,
        source: SnapshotSource,
        tls: ReloadingContext | None,
        config: ServerConfig | None = None,
        *,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.source = source
        self.tls = tls
        self.config = config or ServerConfig()
        self.metrics = WebhookMetrics(
            lambda: self.source.current, lambda: self.tls.reloads if self.tls else 0, registry
        )
        self._runners: list[web.AppRunner] = []
        self.sites: list[GuardedSite] = []
        self._heavy = asyncio.Semaphore(1)
        self._tasks: list[asyncio.Task[None]] = []
        self._draining = False
        self._log_bug = _Throttle()
        self.port = 0
        self.metrics_port: int | None = None

    # ---- apps ----------------------------------------------------------------------------------------
    def webhook_app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.limits.max_body)
        app.router.add_post(MUTATE_PATH, self._mutate)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        if self.config.metrics_port is None:
            app.router.add_get("/metrics", self._metrics)
        return app

    def metrics_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        return app

    # ---- handlers ------------------------------------------------------------------------------------
    async def _mutate(self, request: web.Request) -> web.Response:
        try:  # the last line of defence is here, not in a middleware: that would cost every review two coroutines
            start = time.perf_counter()
            limits = self.config.limits
            if request.content_length is not None and request.content_length > limits.max_body:
                return self._refuse(
                    413, f"the body is over {limits.max_body} bytes (the API server sends at most 3 MiB)"
                )
            try:
                if request.content.is_eof():  # the whole body came with the head (the usual case): nothing to wait for
                    body = await request.read()
                else:
                    async with asyncio.timeout(limits.body_timeout):
                        body = await request.read()
            except TimeoutError:
                return self._refuse(408, f"the body did not arrive within {limits.body_timeout:g} s")
            except web.HTTPRequestEntityTooLarge:
                return self._refuse(
                    413, f"the body is over {limits.max_body} bytes (the API server sends at most 3 MiB)"
                )
            if len(body) > HEAVY_BODY:
                # One heavy review at a time: decoding megabytes blocks the loop (a thread would not help: the
                # GIL), so they take turns, and ordinary reviews run between two of them instead of after all.
                async with self._heavy:
                    await asyncio.sleep(0)
                    outcome = self._decide(body)
            else:
                outcome = self._decide(body)
            if outcome.review is None:
                resp = web.Response(status=400, text=outcome.error + "\n")
            else:
                resp = web.Response(body=orjson.dumps(outcome.review), content_type=_JSON)
            self.metrics.record(outcome.result, outcome.injected and not outcome.dry_run, time.perf_counter() - start)
            return resp
        except web.HTTPException:
            raise
        except Exception:
            return self._bug(request)

    def _decide(self, body: bytes) -> ReviewAnswer:
        try:
            payload: Any = decode(body)
        except (ValueError, RecursionError):  # orjson.JSONDecodeError is a ValueError
            outcome = ReviewAnswer(None, "rejected", error="the body is not a JSON AdmissionReview")
        else:
            try:
                outcome = admit(self.source.current, payload)
            except Exception:  # a bug: answer anyway, the pod must not pay for it
                if self._log_bug():
                    log.exception("review failed; answering allowed without a patch")
                uid = _uid_of(body)
                outcome = (
                    ReviewAnswer(
                        response(uid, warnings=["apibridge: internal error; pod admitted unchanged"]), "invalid"
                    )
                    if uid
                    else ReviewAnswer(None, "rejected", error="unusable review")
                )
        return outcome

    def _refuse(self, status: int, text: str) -> web.Response:
        """An answer without reading (the rest of) the body: the connection is closed after it."""
        self.metrics.record("rejected", False, None)
        resp = web.Response(status=status, text=text + "\n")
        resp.force_close()
        return resp

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        if self._draining:
            return web.Response(status=503, text="shutting down\n")
        if self.source.current is None:
            return web.Response(status=503, text="no cluster snapshot yet\n")
        return web.Response(text="ok\n")

    async def _metrics(self, request: web.Request) -> web.Response:
        try:
            body = generate_latest(self.metrics.registry)
        except Exception:
            return self._bug(request)
        resp = web.Response(body=body)
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    def _bug(self, request: web.Request) -> web.Response:
        """Last line of defence, in each handler that can fail (no middleware: it would cost every review two
        more coroutine layers): a bug becomes a 400, logged at most once per minute, never a 5xx."""
        if self._log_bug():
            log.exception("unexpected error serving %s %s", request.method, request.path)
        return web.Response(status=400, text="unusable request\n")

    # ---- lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the snapshot source, the certificate watcher and both listeners."""
        await self.source.start()
        if self.tls is not None:
            self._tasks.append(asyncio.create_task(self.tls.watch(), name="tls-reload"))
        self.port = await self._listen(self.webhook_app(), self.config.port, self.tls.context if self.tls else None)
        if self.config.metrics_port is not None:
            self.metrics_port = await self._listen(self.metrics_app(), self.config.metrics_port, None)

    async def _listen(self, app: web.Application, port: int, ssl_context: Any) -> int:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = GuardedSite(runner, self.config.host, port, self.config.limits, ssl_context=ssl_context)
        await site.start()
        self._runners.append(runner)
        self.sites.append(site)
        return site.port

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        self.sites.clear()
        await self.source.stop()

    async def serve(self) -> None:
        """Run until SIGTERM/SIGINT; then report not-ready, wait ``shutdown_delay`` and stop."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        log.info(
            "webhook listening on %s:%d%s",
            self.config.host,
            self.port,
            f", metrics on {self.metrics_port}" if self.metrics_port else "",
        )
        try:
            await stop.wait()
            self._draining = True
            await asyncio.sleep(self.config.shutdown_delay)
        finally:
            await self.stop()
