"""The operator's two small HTTP endpoints: ``/metrics`` for Prometheus and ``/healthz`` + ``/readyz`` for kubelet.

Own aiohttp servers rather than kopf's ``--liveness``, because kopf runs only while this replica leads;
a standby must still answer probes (it is healthy, just not leading) and export ``apibridge_leader 0``.
The probes are callables supplied by the runner, so what "healthy" means is decided in one place.
Port 0 disables a server; equal ports serve everything from one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from apibridge.operator.process.metrics import CONTENT_TYPE_LATEST, Metrics

log = logging.getLogger(__name__)

Probe = Callable[[], tuple[bool, str]]


def _probe_handler(probe: Probe) -> Callable[[web.Request], object]:
    async def handle(_: web.Request) -> web.Response:
        ok, text = probe()
        return web.Response(status=200 if ok else 503, text=text + "\n")

    return handle


def build_app(
    *, metrics: Metrics | None = None, liveness: Probe | None = None, readiness: Probe | None = None
) -> web.Application:
    app = web.Application()
    if metrics is not None:

        async def handle_metrics(_: web.Request) -> web.Response:
            body = metrics.exposition()
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        app.router.add_get("/metrics", handle_metrics)
    if liveness is not None:
        app.router.add_get("/healthz", _probe_handler(liveness))  # type: ignore[arg-type]
    if readiness is not None:
        app.router.add_get("/readyz", _probe_handler(readiness))  # type: ignore[arg-type]
    return app


async def start(
    host: str, metrics_port: int, health_port: int, metrics: Metrics, liveness: Probe, readiness: Probe
) -> list[web.AppRunner]:
    """Start the servers; returns their runners (``cleanup()`` each to stop)."""
    apps: list[tuple[int, web.Application]] = []
    if metrics_port and metrics_port == health_port:
        apps.append((metrics_port, build_app(metrics=metrics, liveness=liveness, readiness=readiness)))
    else:
        if metrics_port:
            apps.append((metrics_port, build_app(metrics=metrics)))
        if health_port:
            apps.append((health_port, build_app(liveness=liveness, readiness=readiness)))
    runners: list[web.AppRunner] = []
    for port, app in apps:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        runners.append(runner)
        paths = sorted({r.resource.canonical for r in app.router.routes() if r.resource is not None})
        log.info("serving %s on %s:%d", ", ".join(paths), host, port)
    return runners
