"""A pod's declared containerPorts, answered: one small process per namespace, many ports.

Reachability probes in the twin need something listening where a workload would: a TCP port that
answers (an HTTP 200 whose body is the pod's name, so the prober also learns *who* answered — a
load balancer might pick another backend) and a UDP port that echoes. One asyncio process per
namespace serves all ports of that pod, started with ``ip netns exec`` like the apiserver stand-in.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from apibridge.twin.pods.netns import exec_argv
from apibridge.twin.proc import Spawned, announce_ready, spawn_ready, write_pidfile

_HEAD_TIMEOUT = 1.0  # a raw TCP probe that sends nothing still gets the answer after this


def http_answer(name: str) -> bytes:
    body = f"{name}\n".encode()
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def answer_tcp(name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read a request head (or give up after a short wait) and answer one HTTP 200 naming the pod."""
    with contextlib.suppress(
        asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError
    ):
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT)
    with contextlib.suppress(OSError):
        writer.write(http_answer(name))
        await writer.drain()
        writer.close()
        await writer.wait_closed()


class UdpEcho(asyncio.DatagramProtocol):
    """Echo every datagram back to its sender (what a probe of a UDP containerPort expects)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # the selector transport is not registered as a DatagramTransport subclass: cast, don't assert
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.transport.sendto(data, addr)


def _v6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::", 0))
        return True
    except OSError:
        return False


async def _run(name: str, tcp: Sequence[int], udp: Sequence[int], pidfile: Path | None) -> None:
    loop = asyncio.get_running_loop()
    hosts = ["0.0.0.0", "::"] if _v6_available() else ["0.0.0.0"]
    servers = []
    for port in tcp:
        servers.append(await asyncio.start_server(lambda r, w: answer_tcp(name, r, w), host=hosts, port=port))
    for port in udp:
        for host in hosts:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, port))
            await loop.create_datagram_endpoint(UdpEcho, sock=sock)
    if pidfile:
        write_pidfile(pidfile)
    sys.stderr.write(f"{name}: tcp {list(tcp)} udp {list(udp)} on {hosts}\n")
    sys.stderr.flush()
    announce_ready()
    await asyncio.Event().wait()


def start_listener(netns: str, *, name: str, run_dir: Path, tcp: Sequence[int] = (), udp: Sequence[int] = (),
                   python: str = sys.executable) -> Spawned:  # fmt: skip
    """Start the listener for a pod in ``netns``; returns once all ports are bound."""
    if not tcp and not udp:
        raise ValueError("a listener needs at least one port")
    run_dir = run_dir.resolve()
    pidfile, log = run_dir / f"listener-{netns}.pid", run_dir / f"listener-{netns}.log"
    argv = [python, "-m", "apibridge.twin.pods.listener", "--name", name, "--pidfile", str(pidfile)]
    argv += [a for p in tcp for a in ("--tcp", str(p))] + [a for p in udp for a in ("--udp", str(p))]
    pid = spawn_ready(exec_argv(netns, argv), log=log)
    return Spawned(pid, pidfile, log, f"{run_dir}/")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apibridge.twin.pods.listener", description=__doc__.split("\n")[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--tcp", type=int, action="append", default=[])
    parser.add_argument("--udp", type=int, action="append", default=[])
    parser.add_argument("--pidfile", type=Path)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(args.name, args.tcp, args.udp, args.pidfile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
