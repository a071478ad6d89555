"""Connection-level limits of the webhook listener: how many, how slow, how big — before a handler runs.

aiohttp bounds header lines and fields (``max_line_size``/``max_field_size``/``max_headers``), the body
(``client_max_size``) and idle keep-alive connections (``keepalive_timeout``), but a client that opens a
connection and sends half a request header is held until the keep-alive timer fires, and the number of
such connections is unbounded: 2,000 of them held 606 MiB. This module adds what is missing:

* a TLS handshake timeout (asyncio's ``ssl_handshake_timeout``; aiohttp's ``TCPSite`` does not pass one),
* a *header timeout*: a connection whose first request head is not complete within ``header_timeout``
  of the connection is closed (later requests on a kept-alive connection are bounded by ``idle_timeout``:
  aiohttp closes a connection whose next request has not fully arrived when the keep-alive timer fires),
* a *connection cap*: past ``max_connections`` open connections a new one is closed at once; the API
  server opens a new connection or retries, and with ``failurePolicy: Ignore`` a pod is never blocked.

The body timeout is the handler's (``server``), as is the answer above the body cap (413).

Per-connection memory: asyncio's ``SSLProtocol`` allocates (and zero-fills, so it is resident) a 256 KiB
read buffer for every TLS connection — 2,000 idle connections are half a gigabyte before anyone sends a
byte. ``GuardedSite`` lowers that buffer to one TLS record's worth (``TLS_READ_BUFFER``); a large body is
then read in more, smaller steps, which also lets other connections' requests interleave with it.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import ssl
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

TLS_READ_BUFFER = 32 * 1024  # two TLS records (16 KiB each); asyncio's default is 256 KiB per connection


@dataclass(frozen=True)
class Limits:
    """Every bound of the listener, in one place (the chart's memory limit is measured against these)."""

    # kube-apiserver refuses request bodies over 3 MiB (MaxRequestBodyBytes), so no review it sends is
    # larger than that plus its envelope; above this the webhook answers 413 without reading further.
    max_body: int = 3 * 1024 * 1024 + 256 * 1024
    max_connections: int = 256
    handshake_timeout: float = 5.0
    header_timeout: float = 5.0
    body_timeout: float = 10.0
    idle_timeout: float = 75.0  # above Go's default idle keep-alive of the API server's client (90 s) is moot
    # how long a closing TLS connection waits for the peer's close_notify (asyncio's default is 30 s, and
    # a slot is free only once the connection is gone: a peer that never reads held the cap for 35 s)
    shutdown_timeout: float = 1.0
    max_line_size: int = 8190
    max_field_size: int = 8190
    max_headers: int = 64


class _Guard:
    """Counts open connections of one listener."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open: set[RequestHandler] = set()
        self.refused = 0
        self.timed_out = 0


class _GuardedHandler(RequestHandler):
    """aiohttp's protocol, with the connection cap and the header timeout of ``Limits``."""

    def __init__(self, manager: web.Server, guard: _Guard, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        guard = self._guard
        if len(guard.open) >= guard.limits.max_connections:
            guard.refused += 1
            transport.abort()  # type: ignore[attr-defined]  # a Transport (aiohttp's own cast)
            return
        guard.open.add(self)
        super().connection_made(transport)
        self._head_timer = asyncio.get_running_loop().call_later(guard.limits.header_timeout, self._head_expired)

    def data_received(self, data: bytes) -> None:
        before = self._request_count
        super().data_received(data)
        if self._head_timer is not None and self._request_count > before:
            self._head_timer.cancel()  # a whole request head arrived in time
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if self._request_count == 0 and self.transport is not None:
            self._guard.timed_out += 1
            # abort, not close: a peer that stalled its header gets no TLS shutdown to stall as well
            self.transport.abort()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self in self._guard.open:
            self._guard.open.discard(self)
            super().connection_lost(exc)


class GuardedSite(web.BaseSite):
    """A TCP listener for ``runner`` whose connections are bounded by ``limits``."""

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        limits: Limits,
        *,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = 1024,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host = host
        self._port = port
        self.limits = limits
        self.guard = _Guard(limits)

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    def _protocol(self) -> RequestHandler:
        server = self._runner.server
        assert server is not None
        limits = self.limits
        return _GuardedHandler(
            server,
            self.guard,
            loop=asyncio.get_running_loop(),
            keepalive_timeout=limits.idle_timeout,
            max_line_size=limits.max_line_size,
            max_field_size=limits.max_field_size,
            max_headers=limits.max_headers,
            access_log=None,
        )

    async def start(self) -> None:
        await super().start()
        # process-wide (asyncio has no per-server knob): every TLS connection of this process, the API
        # client's included, reads through a 32 KiB buffer instead of 256 KiB
        asyncio.sslproto.SSLProtocol.max_size = TLS_READ_BUFFER
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=True,
            ssl_handshake_timeout=self.limits.handshake_timeout if self._ssl_context else None,
            ssl_shutdown_timeout=self.limits.shutdown_timeout if self._ssl_context else None,
        )

    @property
    def port(self) -> int:
        assert self._server is not None
        sockets = getattr(self._server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else self._port
