"""Real connections from inside pod namespaces: TCP, HTTPS with CA verification, UDP.

A reachability claim is only worth what its probe does, so each probe is what a workload would do:
``https://10.96.0.1/version`` is a TCP connection to the ClusterIP, a TLS handshake verified
against the lab's CA for the IP dialled, and an HTTP 200 with the API server's version JSON — a
handshake that passes but hangs afterwards (the ACL-after-DNAT trap of research/ovnlab.md) is an
error, not a success. A TCP probe to a pod sends one HTTP request and reads who answered.

Verdicts: *reach* — connected, or refused (a RST or ICMP port-unreachable means the packet got to
the host: the network let it through); *blocked* — no answer within the timeout, or no route;
*error* — connected but TLS or HTTP went wrong. All probes of a run share one asyncio loop; each
socket is created inside its source namespace (:mod:`apibridge.twin.pods.nsock`), so a thousand probes
cost no processes, and a semaphore bounds how many are in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import resource
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from apibridge.twin.pods.nsock import family_of, socket_in

Protocol = Literal["tcp", "udp", "https"]
Verdict = Literal["reach", "blocked", "error"]
DEFAULT_TIMEOUT = 1.0
DEFAULT_PARALLEL = 2048
HTTPS_PER_SERVER = 4
_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EACCES, errno.EPERM}


@dataclass(frozen=True)
class Probe:
    """One connection attempt: from a namespace to an address and port."""

    netns: str
    target: str
    port: int
    protocol: Protocol = "tcp"
    path: str = "/version"  # https only


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    detail: str
    seconds: float


def _hostport(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


async def _connect(probe: Probe, kind: int, timeout: float) -> tuple[socket.socket | None, Outcome | None]:
    t0 = time.monotonic()
    loop = asyncio.get_running_loop()
    try:
        sock = socket_in(probe.netns, family_of(probe.target), kind)
    except OSError as exc:
        return None, Outcome("error", f"cannot open a socket in {probe.netns}: {exc}", time.monotonic() - t0)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (probe.target, probe.port)), timeout)
    except TimeoutError:
        sock.close()
        return None, Outcome("blocked", f"no answer within {timeout:g}s", time.monotonic() - t0)
    except ConnectionRefusedError:
        sock.close()
        return None, Outcome(
            "reach", "connection refused: the host answered, nothing listens there", time.monotonic() - t0
        )
    except OSError as exc:
        sock.close()
        if exc.errno in _UNREACHABLE:
            return None, Outcome("blocked", exc.strerror or str(exc), time.monotonic() - t0)
        return None, Outcome("error", str(exc), time.monotonic() - t0)
    return sock, None


async def _tcp(probe: Probe, timeout: float) -> Outcome:
    t0 = time.monotonic()
    sock, early = await _connect(probe, socket.SOCK_STREAM, timeout)
    if sock is None:
        assert early is not None
        return early
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_sendall(sock, f"GET / HTTP/1.0\r\nHost: {_hostport(probe.target, probe.port)}\r\n\r\n".encode())
        data = await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout)
    except (TimeoutError, OSError):
        return Outcome("reach", "connected (no answer to a request)", time.monotonic() - t0)
    finally:
        sock.close()
    body = data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace").strip()
    who = f"; answered by {body}" if body and data.startswith(b"HTTP/") else ""
    return Outcome("reach", f"connected{who}", time.monotonic() - t0)


async def _https(probe: Probe, timeout: float, ctx: ssl.SSLContext) -> Outcome:
    t0 = time.monotonic()
    sock, early = await _connect(probe, socket.SOCK_STREAM, timeout)
    if sock is None:
        assert early is not None
        return early
    writer: asyncio.StreamWriter | None = None
    try:
        reader, stream = await asyncio.wait_for(
            asyncio.open_connection(sock=sock, ssl=ctx, server_hostname=probe.target), timeout * 2
        )
        writer = stream
        host = _hostport(probe.target, probe.port)
        stream.write(f"GET {probe.path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        raw = await asyncio.wait_for(reader.read(65536), timeout * 2)
    except ssl.SSLError as exc:
        return Outcome("error", f"connected, TLS failed: {exc.reason or exc}", time.monotonic() - t0)
    except TimeoutError:
        return Outcome(
            "error", "connected, but TLS/HTTP stalled (data after the handshake lost?)", time.monotonic() - t0
        )
    except OSError as exc:
        return Outcome("error", f"connected, then {exc}", time.monotonic() - t0)
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 0.2)
        else:
            sock.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if not status.startswith("HTTP/") or len(status.split()) < 2:
        return Outcome("error", f"connected, TLS verified, no HTTP answer ({status[:60]!r})", time.monotonic() - t0)
    code = status.split()[1]
    detail = f"HTTP {code} {probe.path}, TLS verified"
    if code == "200" and probe.path == "/version":
        with contextlib.suppress(ValueError, AttributeError):
            detail += f", gitVersion {json.loads(body)['gitVersion']}"
    return Outcome("reach" if code.startswith("2") else "error", detail, time.monotonic() - t0)


async def _udp(probe: Probe, timeout: float) -> Outcome:
    t0 = time.monotonic()
    sock, early = await _connect(probe, socket.SOCK_DGRAM, timeout)
    if sock is None:
        assert early is not None
        return early
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_sendall(sock, b"apibridge-probe")
        await asyncio.wait_for(loop.sock_recv(sock, 512), timeout)
    except TimeoutError:
        return Outcome("blocked", f"no reply within {timeout:g}s", time.monotonic() - t0)
    except ConnectionRefusedError:
        return Outcome("reach", "port unreachable: the host answered, nothing listens there", time.monotonic() - t0)
    except OSError as exc:
        verdict: Verdict = "blocked" if exc.errno in _UNREACHABLE else "error"
        return Outcome(verdict, str(exc), time.monotonic() - t0)
    finally:
        sock.close()
    return Outcome("reach", "echoed", time.monotonic() - t0)


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verify the server against the lab CA for the host (IP SANs for IPs), like a pod's client would."""
    ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _raise_fd_limit(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(want, soft), hard), hard))


async def run_async(
    probes: Sequence[Probe],
    *,
    ca_file: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    parallel: int = DEFAULT_PARALLEL,
    done: Callable[[int, Outcome], None] | None = None,
) -> list[Outcome]:
    ctx = tls_context(ca_file)
    gate = asyncio.Semaphore(max(1, parallel))
    # Every pod's API probe lands on the same stand-in, whose accept backlog is small (http.server's
    # default 5): a SYN that overflows it is dropped and retried after 1 s — a false "blocked".
    per_server: dict[tuple[str, int], asyncio.Semaphore] = {}

    async def one(i: int, probe: Probe) -> Outcome:
        async with gate:
            if probe.protocol == "https":
                server = per_server.setdefault((probe.target, probe.port), asyncio.Semaphore(HTTPS_PER_SERVER))
                async with server:
                    out = await _https(probe, timeout, ctx)
            elif probe.protocol == "udp":
                out = await _udp(probe, timeout)
            else:
                out = await _tcp(probe, timeout)
        if done is not None:
            done(i, out)
        return out

    return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(probes))))


def run(
    probes: Sequence[Probe],
    *,
    ca_file: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    parallel: int = DEFAULT_PARALLEL,
    done: Callable[[int, Outcome], None] | None = None,
) -> list[Outcome]:
    """Run ``probes`` concurrently (at most ``parallel`` in flight); outcomes in the same order."""
    if not probes:
        return []
    _raise_fd_limit(4 * parallel + 256)
    return asyncio.run(run_async(probes, ca_file=ca_file, timeout=timeout, parallel=parallel, done=done))
