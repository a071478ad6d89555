"""A stand-in kube-apiserver that runs inside a twin node's network namespace.

The twin's question is "which pods reach the API server", and the honest answer needs the real
thing a client does: a TCP connection to the ClusterIP (DNATed by the OVN load balancer to
``<node IP>:6443``), a TLS handshake verified against the cluster CA for the name or IP dialled,
and an HTTP answer. This server gives exactly that and nothing more: ``/version`` (the JSON
kube-apiserver returns, so ``kubectl version``/kr8s/the kubernetes client are satisfied),
``/healthz``, ``/readyz``, ``/livez`` (``ok``), and a Kubernetes ``Status`` 403 for everything
else. Each request is logged with the client address, which shows that Kube-OVN's path does not
SNAT (the server sees the pod's attachment IP).

It runs as a small subprocess started with ``ip netns exec <node ns> python -m
apibridge.twin.control.apiserver ...``: a thread in the parent cannot live in another namespace, and a
process is also trivially killed by pid. Stdlib only (``http.server`` + ``ssl``), one thread per
connection, TLS handshakes off the accept loop.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import ssl
import sys
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from apibridge.kubeovn import rules
from apibridge.twin.pods.netns import exec_argv
from apibridge.twin.proc import Spawned, announce_ready, spawn_ready, write_pidfile

DEFAULT_GIT_VERSION = "v1.31.0"
HEALTH_PATHS = ("/healthz", "/readyz", "/livez")


def apiserver_hosts(
    cluster_ips: Sequence[str], node_ips: Sequence[str], *, dns_domain: str = "cluster.local"
) -> list[str]:
    """The SANs kubeadm puts on an API server certificate: service names, ClusterIPs, node IPs, localhost."""
    names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", f"kubernetes.default.svc.{dns_domain}"]
    return [*names, "localhost", *cluster_ips, *node_ips, "127.0.0.1"]


def version_info(git_version: str = DEFAULT_GIT_VERSION) -> dict[str, str]:
    """``GET /version`` as kube-apiserver answers it."""
    core = git_version.lstrip("v").split("-")[0].split(".")
    major, minor = [*core, "0", "0"][:2]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-08-13T07:28:49Z",
        "goVersion": "go1.22.5",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def forbidden_status(path: str, user: str = "system:anonymous", verb: str = "get") -> dict[str, Any]:
    """The ``Status`` object kube-apiserver returns when RBAC denies a request."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'forbidden: User "{user}" cannot {verb} path "{path}"',
        "reason": "Forbidden",
        "details": {},
        "code": 403,
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "apibridge-twin-apiserver"
    timeout = 30
    git_version: ClassVar[str] = DEFAULT_GIT_VERSION
    node: ClassVar[str] = ""

    def setup(self) -> None:
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # here, in the connection's thread, not in the accept loop

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"  # kube-apiserver serves /version/ too (kr8s asks so)
        if path == "/version" and self.command in ("GET", "HEAD"):
            self._send(200, json.dumps(version_info(self.git_version), indent=2).encode(), "application/json")
        elif path in HEALTH_PATHS or any(path.startswith(p + "/") for p in HEALTH_PATHS):
            self._send(200, b"ok", "text/plain; charset=utf-8")
        else:
            user = "system:anonymous" if "Authorization" not in self.headers else "system:serviceaccount:twin:client"
            body = json.dumps(forbidden_status(path, user, self.command.lower())).encode()
            self._send(403, body, "application/json")

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _route  # noqa: N815 - http.server's names

    def log_message(self, format: str, *args: Any) -> None:  # the base class names it format
        client = f"{self.client_address[0]}:{self.client_address[1]}"
        sys.stderr.write(f"{self.log_date_time_string()} node={self.node} client={client} {format % args}\n")


def make_server(bind: str, port: int, cert: Path, key: Path) -> ThreadingHTTPServer:
    """The HTTPS server, bound and listening (IPv6 if ``bind`` has a colon)."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    # kube-apiserver accepts bursts of connections; socketserver's default listen backlog of 5 would
    # drop SYNs under a parallel verify and show up as false "blocked" results.
    attrs = {"address_family": family, "daemon_threads": True, "request_queue_size": 128}
    server_cls = type("TwinHTTPSServer", (ThreadingHTTPServer,), attrs)
    httpd: ThreadingHTTPServer = server_cls((bind, port), _Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    ctx.set_alpn_protocols(["http/1.1"])
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    return httpd


def start_apiserver(
    netns: str,
    *,
    bind: str,
    cert: Path,
    key: Path,
    run_dir: Path,
    port: int = rules.DEFAULT_APISERVER_PORT,
    node: str = "",
    git_version: str = DEFAULT_GIT_VERSION,
    python: str = sys.executable,
) -> Spawned:
    """Start the stand-in in ``netns`` listening on ``bind:port``; returns once the port is open.

    Pidfile and log go to ``run_dir``; the pidfile path in the command line is what
    :meth:`Spawned.stop` checks before killing.
    """
    run_dir = run_dir.resolve()
    stem = f"apiserver-{netns}-{port}"
    pidfile, log = run_dir / f"{stem}.pid", run_dir / f"{stem}.log"
    argv = [
        python, "-m", "apibridge.twin.control.apiserver",
        "--bind", bind, "--port", str(port), "--cert", str(cert), "--key", str(key),
        "--pidfile", str(pidfile), "--node", node or netns, "--git-version", git_version,
    ]  # fmt: skip
    pid = spawn_ready(exec_argv(netns, argv), log=log)
    return Spawned(pid, pidfile, log, f"{run_dir}/")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m apibridge.twin.control.apiserver", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, default=rules.DEFAULT_APISERVER_PORT)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--pidfile", type=Path)
    parser.add_argument("--node", default="")
    parser.add_argument("--git-version", default=DEFAULT_GIT_VERSION)
    args = parser.parse_args(argv)
    _Handler.git_version = args.git_version
    _Handler.node = args.node
    httpd = make_server(args.bind, args.port, args.cert, args.key)
    if args.pidfile:
        write_pidfile(args.pidfile)
    sys.stderr.write(f"listening on https://{args.bind}:{args.port} node={args.node}\n")
    sys.stderr.flush()
    announce_ready()
    with contextlib.suppress(KeyboardInterrupt):
        httpd.serve_forever(poll_interval=0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
