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
counts. A probe that should go unanswered waits its whole wait: silence always costs all of it.

All probes of a run share one asyncio loop; each socket is created inside its source namespace
(:mod:`apibridge.twin.pods.nsock`), so a thousand probes cost no processes. What is in flight is
bounded, from measurements on this 2-core machine (``bench/lab.py --scale`` prints them):
probes that should be answered do the work — handshakes through the userspace datapath's single
main thread, TLS, the listener hub — and at a 300-pod lab with 2,048 probes in flight 344 of
them timed out, 37 at 512, none at 128 (:data:`DEFAULT_PARALLEL`). The answered probes go first,
then the silent ones (77 answered probes timed out on their first try with both kinds in flight
together, 0 with the answered ones first).

A probe that should go unanswered is *not* cheap: in a Kube-OVN custom VPC the router's only route
for another VPC's addresses is the subnet's src-ip route whose next hop is the router's own gateway
address (kube-ovn v1.16.2 ``pkg/controller/subnet.go`` ``addCustomVPCStaticRouteForSubnet``), so every
blocked SYN is an ``arp`` packet-in to ovn-controller and an ARP broadcast to every port of the
source's subnet; OVN sends one per packet (ovn v23.03.1 ``controller/pinctrl.c`` ``pinctrl_handle_arp``,
the same in v24.03), and only a CoPP meter would bound it, which Kube-OVN does not set. Where the time
goes (1,000 pods, two chassis, ``coverage/show`` and ``perf``): not in ovn-controller (0.6 s of CPU per
chassis for 2,400 packet-ins) but in ovs-vswitchd (15 s), and there mostly not in the broadcast itself:
each wake-up of its main thread polls every port (755 per chassis), and OVS 3.1's ``netdev-linux``
allocates 32 packet buffers per port per poll even when nothing came (``lib/netdev-linux.c``
``netdev_linux_batch_rxq_recv_sock``): ``util_xalloc`` counts ~32,000 per packet-out, malloc is a
quarter of the profile, ~6 ms of CPU per wake-up. Blocked SYNs that trickle in (a fixed number in
flight) each cost such wake-ups; sent together they share them (a quarter of the CPU for the same
probes). On a shared machine ovs-vswitchd gets its share of the cores, no more, and a flood it cannot
keep up with delays every path it forwards: a *leak* — a reachable path among the probes expected
blocked — then passes for blocked. ``bench/lab.py --concurrency`` measures it with *canaries*
(reachable probes run as if expected blocked, spread among the blocked ones): with a fixed number in
flight, 2 of 205 were missed at 64 and 92 at 256 (1,000 pods, load 7-10).

So silence is proven, not assumed: the silent probes go in *waves*, each sent with :data:`SENTINELS`
handshakes known to be answered (probes of this run that were), spread through it, and a wave's
timeouts count only if every sentinel was answered within :data:`PROOF_SHARE` of the wait — the
kernel's own SYN to SYN-ACK time (``TCP_INFO``), not the prober's clock. A wave that is not proven is
sent again, smaller, with a wait fitted to what its sentinels took; a proven one doubles the next
(:func:`_silent_waves`). The wait starts at :data:`SILENT_PATIENCE` timeouts, past the kernel's 1 s
SYN retransmission, so a leak whose first SYN was lost still answers (at 0.9, under it, a fresh-clone
run on a quiet machine reported 1 of 100 canaries blocked in a wave its sentinels had proven). A verify
is then as fast as the machine lets ovs-vswitchd be, and its silences hold; without a path known to
answer there is nothing to prove them with, and their detail says so (:data:`UNPROVEN`).

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
import struct
import time
from collections.abc import Awaitable, Callable, Sequence
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
DEFAULT_PARALLEL_SILENT = 64  # the first wave of probes expected to go unanswered (see above)
SILENT_BUDGET = 6400  # first wave x ports of the largest subnet (64 x 100: sustained at load 8-12)
WAVE_MIN, WAVE_MAX = 16, 1024  # bounds of a wave of silent probes
SENTINELS = 8  # handshakes known to be answered, sent with each wave: its silence counts if they are quick
PROOF_SHARE = 1 / 3  # ... answered within this share of the silent wait
WAIT_GROWTH = 3  # the silent wait grows up to this many times while sentinels are slow
PROOF_TRIES = 3  # waves of WAVE_MIN whose sentinels all failed before silence is taken unproven
RESENDS = 2  # a silent probe is sent again at most this many times after small waves that were not proven
RETRIES = 2  # extra attempts for a timed-out probe marked ``retry``
RETRY_PARALLEL = 64  # probes in flight during a retry pass
ANSWER_PATIENCE = 2  # probes that should be answered wait this many timeouts
SILENT_PATIENCE = 1.5  # probes that should go unanswered wait this many timeouts: past the 1 s SYN retransmit
HTTPS_PER_SERVER = 4
UNPROVEN = "; silence not proven: reachable probes sent with it were slow or unanswered too"
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


async def _https(
    probe: Probe, timeout: float, ctx: ssl.SSLContext, gate: asyncio.Semaphore | None = None
) -> ProbeResult:
    """``gate``, if given, is taken after the handshake, for TLS and HTTP: the server's work, not the SYN's."""
    t0 = time.monotonic()
    sock, early = await _connect(probe, socket.SOCK_STREAM, timeout)
    if sock is None:
        assert early is not None
        return early
    if gate is None:
        return await _https_session(probe, sock, timeout, ctx, t0)
    async with gate:
        return await _https_session(probe, sock, timeout, ctx, t0)


async def _https_session(
    probe: Probe, sock: socket.socket, timeout: float, ctx: ssl.SSLContext, t0: float
) -> ProbeResult:
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
    """The first wave of unanswered probes when a blocked SYN can be broadcast to ``fanout`` ports (the
    largest subnet's): the flood's cost is their product, measured sustainable at 64 x 100 ports."""
    return max(WAVE_MIN, min(WAVE_MAX, SILENT_BUDGET // max(1, fanout)))


Attempt = Callable[[Probe, float], Awaitable[ProbeResult]]


async def _handshake(probe: Probe, wait: float) -> float | None:
    """Seconds a TCP handshake to ``probe`` took through the datapath (None: no answer within ``wait``): a
    sentinel's measure. The kernel's own sample (``TCP_INFO``: the SYN to SYN-ACK time) when the SYN went
    once; the prober's clock otherwise, which also counts its own lateness."""
    t0 = time.monotonic()
    sock, _ = await _connect(probe, socket.SOCK_STREAM, wait)
    if sock is None:
        return None
    seconds = time.monotonic() - t0
    with contextlib.suppress(OSError, struct.error):
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
        rtt_us, total_retrans = struct.unpack_from("=I", info, 68)[0], struct.unpack_from("=I", info, 100)[0]
        if total_retrans == 0 and rtt_us > 0:
            seconds = rtt_us / 1e6
    sock.close()
    return seconds


@dataclass
class _Wave:
    batch: list[int]  # indices of the silent probes
    silent: list[asyncio.Future[ProbeResult]]
    sentinels: list[asyncio.Future[float | None]]


def _launch(probes: Sequence[Probe], batch: list[int], guards: list[Probe], attempt: Attempt, wait: float) -> _Wave:
    """Start a wave; its SYNs leave in this order: sentinel k after (k + 1) / len(guards) of the silent probes."""
    silent: list[asyncio.Future[ProbeResult]] = []
    sentinels: list[asyncio.Future[float | None]] = []
    start = 0
    for k, guard in enumerate(guards):
        cut = len(batch) * (k + 1) // len(guards)
        silent += [asyncio.ensure_future(attempt(probes[i], wait)) for i in batch[start:cut]]
        sentinels.append(asyncio.ensure_future(_handshake(guard, wait)))
        start = cut
    silent += [asyncio.ensure_future(attempt(probes[i], wait)) for i in batch[start:]]
    return _Wave(batch, silent, sentinels)


async def _silent_waves(
    probes: Sequence[Probe],
    todo: Sequence[int],
    sentinels: Sequence[Probe],
    attempt: Attempt,
    wait: float,
    first: int,
    counted: Callable[[int, ProbeResult], None],
) -> None:
    """Probes ``todo`` (expected unanswered) in waves, each sent with :data:`SENTINELS` handshakes known to be
    answered, spread through it (the last one after every silent probe). A wave's timeouts count only if every
    sentinel sent with it — and with the next wave, which starts as soon as they are back, while it still
    waits — was answered within :data:`PROOF_SHARE` of the wait: the datapath then forwarded what was sent
    with them with room to spare, so a leak among them would have answered too. Otherwise they are sent
    again, first, in a wave half the size; a proven wave doubles the next one, from ``first`` up to
    :data:`WAVE_MAX`. Each wave waits long enough for what the last one's sentinels took (at least ``wait``,
    at most :data:`WAIT_GROWTH` times it): on a busy machine every path is slow, however few probes are in
    flight, and smaller waves alone would never be proven. An answer (connected, refused, unreachable)
    counts at once. Without sentinels, after :data:`RESENDS` sends again in small waves, or once
    :data:`PROOF_TRIES` waves failed in a row at the smallest size and longest wait, silence counts unproven,
    and its detail says so (a machine too busy to prove it gets a bounded verify that says why, not an
    endless one). ``counted`` gets each final outcome."""
    queue = list(todo)
    size, now_wait = max(WAVE_MIN, min(WAVE_MAX, first)), wait
    turn = failed = 0
    proving = bool(sentinels)
    held: _Wave | None = None  # proven by its own sentinels, waiting for the next wave's
    sends: dict[int, int] = {}

    async def settle(w: _Wave, proven: bool) -> list[int]:
        """Count ``w``'s outcomes (its timeouts only if ``proven``, or unproven once proving is over);
        returns the silent probes to send again."""
        again = []
        for i, r in zip(w.batch, await asyncio.gather(*w.silent), strict=True):
            if len(w.batch) <= DEFAULT_PARALLEL_SILENT:  # a larger wave may have failed of its own flood
                sends[i] = sends.get(i, 0) + 1
            if r.cause != "timeout" or proven:
                counted(i, r)
            elif not proving or sends.get(i, 0) > RESENDS:
                counted(i, dataclasses.replace(r, detail=r.detail + UNPROVEN))
            else:
                again.append(i)
        return again

    while queue:
        batch, queue = queue[:size], queue[size:]
        guards = [sentinels[(turn + k) % len(sentinels)] for k in range(SENTINELS)] if proving else []
        turn += len(guards)
        wave = _launch(probes, batch, guards, attempt, now_wait)
        times = await asyncio.gather(*wave.sentinels)
        slowest = max((t if t is not None else float("inf") for t in times), default=float("inf"))
        proven = bool(guards) and slowest <= now_wait * PROOF_SHARE
        longest = wait * WAIT_GROWTH
        if proving and not proven:
            failed = failed + 1 if size == WAVE_MIN and now_wait >= longest else 0
            proving = failed < PROOF_TRIES
        # the next wave waits long enough for what the sentinels just took (never less than ``wait``)
        room = slowest / PROOF_SHARE * 1.2 if slowest < now_wait else now_wait * 2
        now_wait = min(longest, max(wait, room))
        if held is not None:  # its wait overlapped this wave's: this wave's sentinels vouch for the rest of it
            queue = await settle(held, proven) + queue
            held = None
        if proven:
            size, failed, held = min(WAVE_MAX, size * 2), 0, wave
        else:
            queue = await settle(wave, False) + queue
            size = max(WAVE_MIN, size // 2)
    if held is not None:  # the last wave: nothing was sent after its sentinels
        await settle(held, True)


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
            if not probe.expect_answer:  # its SYN is not held back (the listen backlog takes bursts): a
                return await _https(probe, seconds, ctx, gate=server)  # queued silent probe waits in vain
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

    # 2. the silent ones, in waves with sentinels (the module's docstring): a blocked SYN costs the datapath
    # far more than an answered one, and too many of them delay every path past its wait
    silent = [i for i in range(len(probes)) if not probes[i].expect_answer]
    sentinels = [
        probes[i]
        for i, p in enumerate(probes)
        if p.expect_answer and p.protocol == "tcp" and outcomes[i].verdict == "reach"
    ]

    def counted(i: int, out: ProbeResult) -> None:
        outcomes[i] = out
        if done is not None:
            done(i, out)

    await _silent_waves(probes, silent, sentinels, attempt, timeout * SILENT_PATIENCE, parallel_silent, counted)

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
    _raise_fd_limit(4 * (parallel + max(parallel_silent, WAVE_MAX) + SENTINELS) + 256)
    return asyncio.run(
        run_async(
            probes, ca_file=ca_file, timeout=timeout, parallel=parallel, parallel_silent=parallel_silent, done=done
        )
    )
