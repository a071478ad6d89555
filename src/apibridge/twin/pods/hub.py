"""Every pod's declared containerPorts, answered by one process per lab.

Pods in the twin must listen where the workload would, so that "tenant-a reaches tenant-b's
operator on 8080" is a real TCP connection. :mod:`apibridge.twin.pods.listener` does that with one
process per pod; at ~70 ms of start-up and ~15 MB per pod that is most of the cost of adding a pod,
and 1.5 GB for a 100-pod lab. The hub keeps the listener's behaviour — TCP answers one HTTP 200
whose body names the pod (``listener.http_answer``), UDP echoes — but creates the listening
sockets of all pods from one asyncio process, stepping into each pod's namespace only to create
them (:mod:`apibridge.twin.pods.nsock`). ``ss -ltn`` inside a pod shows its ports as usual.

Control: newline-delimited JSON over a unix socket in the lab's run directory —
``{"op": "listen", "netns", "name", "tcp": [..], "udp": [..]}`` (replaces that namespace's
sockets), ``{"op": "close", "netns"}``, ``{"op": "list"}``. A namespace must be closed here before
it is deleted: the hub's sockets would keep it alive. The hub's command line names the lab's state
directory, so ``lab down`` can prove it is ours before killing it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apibridge.twin.pods.listener import UdpEcho, answer_tcp
from apibridge.twin.pods.nsock import entered
from apibridge.twin.proc import Spawned, announce_ready, spawn_ready, write_pidfile


class HubError(RuntimeError):
    """The hub refused a request or is not running."""


# --- server ----------------------------------------------------------------------------------------


@dataclass
class _Pod:
    name: str
    tcp: list[int]
    udp: list[int]
    closers: list[Any] = field(default_factory=list)


def _bound(netns: str, kind: int, port: int) -> list[socket.socket]:
    """Sockets on 0.0.0.0 and (if the namespace has IPv6) [::], bound inside ``netns``."""
    out: list[socket.socket] = []
    with entered(netns):
        for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            try:
                sock = socket.socket(family, kind)
            except OSError:
                continue  # no IPv6 in this kernel
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((host, port))
                if kind == socket.SOCK_STREAM:
                    sock.listen(128)
            except OSError:
                sock.close()
                if family == socket.AF_INET:
                    for s in out:
                        s.close()
                    raise
                continue  # IPv6 disabled in the namespace
            sock.setblocking(False)
            out.append(sock)
    return out


class _Hub:
    def __init__(self) -> None:
        self.pods: dict[str, _Pod] = {}

    async def listen(self, netns: str, name: str, tcp: Sequence[int], udp: Sequence[int]) -> None:
        await self.close(netns)
        pod = _Pod(name, sorted(set(tcp)), sorted(set(udp)))
        loop = asyncio.get_running_loop()

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await answer_tcp(name, reader, writer)

        try:
            for port in pod.tcp:
                for sock in _bound(netns, socket.SOCK_STREAM, port):
                    server = await asyncio.start_server(answer, sock=sock)
                    pod.closers.append(server)
            for port in pod.udp:
                for sock in _bound(netns, socket.SOCK_DGRAM, port):
                    transport, _ = await loop.create_datagram_endpoint(UdpEcho, sock=sock)
                    pod.closers.append(transport)
        except OSError:
            await self._close(pod)
            raise
        self.pods[netns] = pod

    async def close(self, netns: str) -> bool:
        pod = self.pods.pop(netns, None)
        if pod is None:
            return False
        await self._close(pod)
        return True

    @staticmethod
    async def _close(pod: _Pod) -> None:
        for closer in pod.closers:
            closer.close()
        for closer in pod.closers:
            if isinstance(closer, asyncio.Server):
                with contextlib.suppress(Exception):
                    await closer.wait_closed()

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "listen":
            await self.listen(
                str(request["netns"]),
                str(request["name"]),
                [int(p) for p in request.get("tcp", [])],
                [int(p) for p in request.get("udp", [])],
            )
            return {"ok": True}
        if op == "close":
            return {"ok": True, "closed": await self.close(str(request["netns"]))}
        if op == "list":
            return {
                "ok": True,
                "pods": {ns: {"name": p.name, "tcp": p.tcp, "udp": p.udp} for ns, p in self.pods.items()},
            }
        return {"ok": False, "error": f"unknown op {op!r}"}

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                try:
                    reply = await self.handle(json.loads(line))
                except Exception as exc:  # one bad request must not take the hub down
                    reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        writer.close()


async def _serve(control: Path, pidfile: Path | None) -> None:
    hub = _Hub()
    control.unlink(missing_ok=True)
    server = await asyncio.start_unix_server(hub.client, path=str(control))
    if pidfile:
        write_pidfile(pidfile)
    announce_ready()
    async with server:
        await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apibridge.twin.pods.hub", description=__doc__.split("\n")[0])
    parser.add_argument("--control", type=Path, required=True, help="unix socket to accept requests on")
    parser.add_argument("--pidfile", type=Path)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.control, args.pidfile))
    return 0


# --- client ----------------------------------------------------------------------------------------


def start_hub(run_dir: Path, python: str = sys.executable) -> Spawned:
    """Start the lab's hub; its pidfile, log and control socket go to ``run_dir``."""
    run_dir = run_dir.resolve()
    pidfile, log, control = run_dir / "hub.pid", run_dir / "hub.log", run_dir / "hub.sock"
    argv = [python, "-m", "apibridge.twin.pods.hub", "--control", str(control), "--pidfile", str(pidfile)]
    pid = spawn_ready(argv, log=log)
    return Spawned(pid, pidfile, log, f"{run_dir}/")


class HubClient:
    """A connection to a running hub (one request at a time)."""

    def __init__(self, control: Path, timeout: float = 10.0) -> None:
        self.control = control
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(str(control))
        except OSError as exc:
            self._sock.close()
            raise HubError(f"listener hub not reachable at {control}: {exc}") from exc
        self._file = self._sock.makefile("rb")

    def close(self) -> None:
        self._file.close()
        self._sock.close()

    def request(self, **request: Any) -> dict[str, Any]:
        self._sock.sendall(json.dumps(request).encode() + b"\n")
        line = self._file.readline()
        if not line:
            raise HubError("listener hub closed the connection")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            raise HubError(str(reply.get("error", "request failed")))
        return reply

    def listen(self, netns: str, name: str, tcp: Sequence[int] = (), udp: Sequence[int] = ()) -> None:
        self.request(op="listen", netns=netns, name=name, tcp=list(tcp), udp=list(udp))

    def close_netns(self, netns: str) -> None:
        self.request(op="close", netns=netns)

    def pods(self) -> dict[str, dict[str, Any]]:
        pods: dict[str, dict[str, Any]] = self.request(op="list")["pods"]
        return pods


if __name__ == "__main__":
    sys.exit(main())
