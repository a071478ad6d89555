"""Real connections from inside pod namespaces: TCP, HTTPS with CA verification, UDP.

A reachability claim is only worth what its probe does, so each probe is what a workload would do:
``https://10.96.0.1/version`` is a TCP connection to the ClusterIP, a TLS handshake verified
against the lab's CA for the IP dialled, and an HTTP 200 with the API server's version JSON — a
handshake that passes but hangs afterwards (the ACL-after-DNAT trap of research/ovnlab.md) is an
error, not a success. A TCP probe to a pod sends one HTTP request and reads who answered.

Verdicts: *reach* — connected, or refused (a RST or ICMP port-unreachable means the packet got to
the host: the network let it through); *blocked* — no answer within the timeout (dropped
somewhere, silently: what an OVN ACL ``drop`` does), or unreachable (no route in the pod, or an
ICMP unreachable); *error* — connected but TLS or HTTP went wrong. Each outcome keeps its
:data:`Cause`, so a report tells a timeout from a refusal from an unreachable.

A busy machine must not turn a reachable path into "blocked": a probe that should be answered
(``expect_answer``) waits :data:`ANSWER_PATIENCE` timeouts (an answer normally takes milliseconds),
and if it still timed out (or stalled after connecting) it is tried again — after the first pass,
with fewer probes in flight and twice the wait, at most :data:`RETRIES` times — before its timeout
counts. A probe that should go unanswered waits one timeout: silence always costs all of it.

All probes of a run share one asyncio loop; each socket is created inside its source namespace
(:mod:`apibridge.twin.pods.nsock`), so a thousand probes cost no processes. Two semaphores bound
what is in flight, from measurements on this 2-core machine (``bench/lab.py --scale`` prints them):
probes that should be answered do the work — handshakes through the userspace datapath's single
main thread, TLS, the listener hub — and at a 300-pod lab with 2,048 probes in flight 344 of
them timed out, 37 at 512, none at 128 (:data:`DEFAULT_PARALLEL`). The answered probes go first,
then the silent ones (77 answered probes timed out on their first try with both kinds in flight
together, 0 with the answered ones first).

A probe that should go unanswered is *not* cheap: in a Kube-OVN custom VPC the router's only route
for another VPC's addresses is the subnet's src-ip route whose next hop is the router's own gateway
address (research/kubeovn.md §custom VPCs), so every blocked SYN is an ``arp`` packet-in to
ovn-controller and an ARP broadcast to every port of the source's subnet — at 1,000 pods a pod that
sent 11 packets had received 1,963 ARP requests, and one chassis counted 365,605 ``dpif_execute``
(the ``datapath_drop_userspace_action_error`` counter is those packet-ins: the packet is consumed by
the controller action). A flood of them delays everything the datapath forwards by seconds, and a
*leak* — a reachable path among the probes expected blocked, waiting as they do — then passes for
blocked. ``bench/lab.py --concurrency`` measures it with *canaries* (reachable probes run as if
expected blocked, spread among the blocked ones) on a 1,000-pod lab with two chassis, load 8–12:
205 canaries among 2,434 blocked probes, missed (reported blocked) with 1,024 unanswered in flight:
51–202; 512: 105; 256: 81; 128: 49; 96: 36; 64: 0, 1 and 25 in three runs (41–57 s). Re-probing every
silent timeout at 256 with twice the wait still missed 86. The cost is the number in flight times the
broadcast's reach, so :func:`silent_parallel` keeps that product at :data:`SILENT_BUDGET` (64 at 100
ports a subnet, 206 at 30, 640 at 10; a caller that knows nothing uses :data:`DEFAULT_PARALLEL_SILENT`),
and a silent probe waits :data:`SILENT_PATIENCE` timeouts (past the kernel's SYN retransmission at 1 s,
so a leak whose first SYN was lost still answers). Known limit: this bounds the flood, it does not prove silence —
on a machine much busier than the one measured a leak can still be delayed past its wait; the cure
is to make a blocked SYN cheap (e.g. an OVN CoPP meter on the routers' ``arp`` action), which is
the topology's to decide.

The timeout counts from the SYN: the socket connects before anything is awaited, and when the wait
ends the verdict is the kernel's socket state, not the loop's — an answer the loop read late is an
answer (:func:`_failed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import json
import os
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
Cause = Literal["connected", "refused", "echoed", "timeout", "stalled", "unreachable", "tls", "http", "socket"]
_RETRIED: frozenset[str] = frozenset({"timeout", "stalled"})  # what a busy machine can cause
DEFAULT_TIMEOUT = 1.0
DEFAULT_PARALLEL = 128  # probes expected to be answered, in flight at once
DEFAULT_PARALLEL_SILENT = 64  # probes expected to go unanswered: what the datapath sustains (see above)
SILENT_BUDGET = 6400  # unanswered probes in flight x ports of the largest subnet (64 x 100, measured)
RETRIES = 2  # extra attempts for a timed-out probe marked ``retry``
RETRY_PARALLEL = 64  # probes in flight during a retry pass
ANSWER_PATIENCE = 2  # probes that should be answered wait this many timeouts
SILENT_PATIENCE = 1.25  # probes that should go unanswered wait this many timeouts (past the SYN retransmit)
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
    expect_answer: bool = False  # a timeout is tried again before it counts; the busier gate applies


@dataclass(frozen=True)
class ProbeResult:
    verdict: Verdict
    detail: str
    seconds: float
    cause: Cause = "connected"
    attempts: int = 1


def _hostport(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


async def _connect(probe: Probe, kind: int, timeout: float) -> tuple[socket.socket | None, ProbeResult | None]:
    """Connect from ``probe.netns``: the SYN (or the datagram socket's peer) is set before anything is
    awaited, so the timeout counts from the packet, not from when a busy loop got round to sending it;
    the verdict is the kernel's socket state when the wait ends."""
    t0 = time.monotonic()
    loop = asyncio.get_running_loop()
    try:
        sock = socket_in(probe.netns, family_of(probe.target), kind)
    except OSError as exc:
        return None, ProbeResult(
            "error", f"cannot open a socket in {probe.netns}: {exc}", time.monotonic() - t0, "socket"
        )
    try:
        err = sock.connect_ex((probe.target, probe.port))
    except OSError as exc:
        err = exc.errno or errno.EINVAL
    if err == errno.EINPROGRESS:
        t0 = time.monotonic()
        writable: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not writable.done():
                writable.set_result(None)

        loop.add_writer(sock.fileno(), ready)
        try:
            await asyncio.wait_for(writable, timeout)
        except TimeoutError:
            pass
        finally:
            loop.remove_writer(sock.fileno())
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err == 0 and not _connected(sock):
            err = errno.ETIMEDOUT
    if err == 0:
        return sock, None
    sock.close()
    return None, _failed(err, time.monotonic() - t0, timeout)


def _connected(sock: socket.socket) -> bool:
    try:
        sock.getpeername()
    except OSError:
        return False
    return True


def _failed(err: int, seconds: float, timeout: float) -> ProbeResult:
    """The outcome of a connect that ended in ``err`` (ETIMEDOUT: still no answer when the wait ended).

    With thousands of probes the loop can notice an answer late; the kernel does not: a SYN-ACK that
    arrived meanwhile completed the handshake (``_connected``), a RST set ``SO_ERROR``. So a busy prober
    never reports a reachable path — a leak among the probes expected to be blocked — as blocked.
    """
    if err == errno.ECONNREFUSED:
        return ProbeResult("reach", "refused: the host answered, nothing listens there", seconds, "refused")
    if err in _UNREACHABLE:
        return ProbeResult("blocked", f"unreachable: {os.strerror(err)}", seconds, "unreachable")
    if err == errno.ETIMEDOUT:
        return ProbeResult("blocked", f"timeout: no answer within {timeout:g}s (dropped)", seconds, "timeout")
    return ProbeResult("error", os.strerror(err), seconds, "socket")


async def _tcp(probe: Probe, timeout: float) -> ProbeResult:
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
        return ProbeResult("reach", "connected (no answer to a request)", time.monotonic() - t0, "connected")
    finally:
        sock.close()
    body = data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace").strip()
    who = f"; answered by {body}" if body and data.startswith(b"HTTP/") else ""
    return ProbeResult("reach", f"connected{who}", time.monotonic() - t0)


async def _https(probe: Probe, timeout: float, ctx: ssl.SSLContext) -> ProbeResult:
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
        return ProbeResult("error", f"connected, TLS failed: {exc.reason or exc}", time.monotonic() - t0, "tls")
    except TimeoutError:
        return ProbeResult(
            "error",
            "connected, but TLS/HTTP stalled (data after the handshake lost?)",
            time.monotonic() - t0,
            "stalled",
        )
    except OSError as exc:
        return ProbeResult("error", f"connected, then {exc}", time.monotonic() - t0, "tls")
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
        return ProbeResult(
            "error", f"connected, TLS verified, no HTTP answer ({status[:60]!r})", time.monotonic() - t0, "http"
        )
    code = status.split()[1]
    detail = f"HTTP {code} {probe.path}, TLS verified"
    if code == "200" and probe.path == "/version":
        with contextlib.suppress(ValueError, AttributeError):
            detail += f", gitVersion {json.loads(body)['gitVersion']}"
    ok = code.startswith("2")
    return ProbeResult("reach" if ok else "error", detail, time.monotonic() - t0, "connected" if ok else "http")


async def _udp(probe: Probe, timeout: float) -> ProbeResult:
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
        try:  # a reply the late loop did not read yet is still in the socket's buffer
            sock.recv(512, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return ProbeResult(
                "blocked", f"timeout: no reply within {timeout:g}s (dropped)", time.monotonic() - t0, "timeout"
            )
        except ConnectionRefusedError:
            return ProbeResult(
                "reach", "refused: port unreachable, the host answered", time.monotonic() - t0, "refused"
            )
        except OSError as exc:
            return ProbeResult("error", str(exc), time.monotonic() - t0, "socket")
        return ProbeResult("reach", "echoed (read late)", time.monotonic() - t0, "echoed")
    except ConnectionRefusedError:
        return ProbeResult("reach", "refused: port unreachable, the host answered", time.monotonic() - t0, "refused")
    except OSError as exc:
        if exc.errno in _UNREACHABLE:
            return ProbeResult("blocked", f"unreachable: {exc}", time.monotonic() - t0, "unreachable")
        return ProbeResult("error", str(exc), time.monotonic() - t0, "socket")
    finally:
        sock.close()
    return ProbeResult("reach", "echoed", time.monotonic() - t0, "echoed")


def silent_parallel(fanout: int) -> int:
    """Unanswered probes to have in flight when a blocked SYN can be broadcast to ``fanout`` ports (the
    largest subnet's): the flood's cost is their product, measured sustainable at 64 x 100 ports."""
    return max(16, min(1024, SILENT_BUDGET // max(1, fanout)))


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
    parallel_silent: int = DEFAULT_PARALLEL_SILENT,
    done: Callable[[int, ProbeResult], None] | None = None,
) -> list[ProbeResult]:
    ctx = tls_context(ca_file)
    # Every pod's API probe lands on the same stand-in, whose accept backlog is small (http.server's
    # default 5): a SYN that overflows it is dropped and retried after 1 s — a false "blocked".
    per_server: dict[tuple[str, int], asyncio.Semaphore] = {}

    async def attempt(probe: Probe, seconds: float) -> ProbeResult:
        if probe.protocol == "https":
            server = per_server.setdefault((probe.target, probe.port), asyncio.Semaphore(HTTPS_PER_SERVER))
            async with server:
                return await _https(probe, seconds, ctx)
        if probe.protocol == "udp":
            return await _udp(probe, seconds)
        return await _tcp(probe, seconds)

    outcomes: dict[int, ProbeResult] = {}

    async def answered_round(todo: list[int], round_: int) -> list[int]:
        """One pass over answered probes ``todo``; returns those to try again."""
        seconds = timeout * 2**round_ * ANSWER_PATIENCE  # an answer normally comes in milliseconds
        gate = asyncio.Semaphore(max(1, parallel if round_ == 0 else min(parallel, RETRY_PARALLEL)))

        async def one(i: int) -> None:
            async with gate:
                out = await attempt(probes[i], seconds)
            outcomes[i] = dataclasses.replace(out, attempts=round_ + 1)

        await asyncio.gather(*(one(i) for i in todo))
        again = {i for i in todo if outcomes[i].cause in _RETRIED} if round_ < RETRIES else set()
        if done is not None:
            for i in todo:
                if i not in again:
                    done(i, outcomes[i])
        return sorted(again)

    # 1. the probes that should be answered go first: thousands of sockets opened at once keep the loop
    # busy for seconds, and an answer read late is an answer that "timed out"
    again = await answered_round([i for i in range(len(probes)) if probes[i].expect_answer], 0)

    # 2. the silent ones, each waiting a little past the kernel's SYN retransmission (a leak whose first SYN
    # was lost still answers), at most ``parallel_silent`` in flight: a blocked SYN costs the datapath far
    # more than an answered one (the module's docstring), and too many of them delay every path past its wait
    silent_gate = asyncio.Semaphore(max(1, parallel_silent))

    async def silent(i: int) -> None:
        async with silent_gate:
            outcomes[i] = await attempt(probes[i], timeout * SILENT_PATIENCE)
        if done is not None:
            done(i, outcomes[i])

    await asyncio.gather(*(silent(i) for i in range(len(probes)) if not probes[i].expect_answer))

    # 3. answered probes that timed out, tried again (bounded) once the flood is over
    for round_ in range(1, RETRIES + 1):
        if not again:
            break
        again = await answered_round(again, round_)
    return [outcomes[i] for i in range(len(probes))]


def run(
    probes: Sequence[Probe],
    *,
    ca_file: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    parallel: int = DEFAULT_PARALLEL,
    parallel_silent: int = DEFAULT_PARALLEL_SILENT,
    done: Callable[[int, ProbeResult], None] | None = None,
) -> list[ProbeResult]:
    """Run ``probes`` concurrently (at most ``parallel`` answered and ``parallel_silent`` unanswered
    ones in flight); outcomes in the same order."""
    if not probes:
        return []
    _raise_fd_limit(4 * (parallel + parallel_silent) + 256)
    return asyncio.run(
        run_async(
            probes, ca_file=ca_file, timeout=timeout, parallel=parallel, parallel_silent=parallel_silent, done=done
        )
    )
