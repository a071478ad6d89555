"""``python -m apibridge.emulator``: run the emulator standalone for local work with kubectl, kopf or kr8s.

Prints the URL, optionally writes a kubeconfig for it, seeds objects from YAML files, and serves until
interrupted. Webhooks referenced by ``clientConfig.service`` are reached through ``--service`` mappings,
since there is no cluster DNS: ``--service webhooks/apibridge:443=https://127.0.0.1:8443``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

from apibridge.emulator.errors import ApiError
from apibridge.emulator.server import Emulator, serve


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m apibridge.emulator", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    p.add_argument("--tls-cert-file", type=Path)
    p.add_argument("--tls-private-key-file", type=Path)
    p.add_argument("--tls-ca-file", type=Path, help="CA of the serving certificate, written into the kubeconfig")
    p.add_argument(
        "--self-signed-tls", action="store_true", help="serve HTTPS with a throwaway CA (it goes into the kubeconfig)"
    )
    p.add_argument("--token", default=None, help="require this bearer token (it goes into the kubeconfig)")
    p.add_argument("--kubeconfig-out", type=Path, help="write a kubeconfig pointing at the emulator here")
    p.add_argument("--load", type=Path, nargs="*", default=[], help="YAML manifests to create at start")
    p.add_argument("--history-window", type=int, default=1000, help="watch events kept before 410 Gone")
    p.add_argument("--bookmark-interval", type=float, default=60.0)
    p.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="NS/NAME:PORT=URL",
        help="where a webhook Service really listens (repeatable)",
    )
    return p


def _resolver(mappings: list[str]) -> dict[tuple[str, str, int], str]:
    table: dict[tuple[str, str, int], str] = {}
    for item in mappings:
        left, _, url = item.partition("=")
        ns_name, _, port = left.partition(":")
        ns, _, name = ns_name.partition("/")
        if not (ns and name and url):
            raise SystemExit(f"--service {item!r}: expected NS/NAME[:PORT]=URL")
        table[(ns, name, int(port or 443))] = url
    return table


async def _main(args: argparse.Namespace) -> int:
    table = _resolver(args.service)

    def resolve(namespace: str, name: str, port: int) -> str:
        try:
            return table[(namespace, name, port)]
        except KeyError:
            raise LookupError(f"no --service mapping for {namespace}/{name}:{port}") from None

    emulator = Emulator(
        token=args.token,
        history_window=args.history_window,
        bookmark_interval=args.bookmark_interval,
        service_resolver=resolve if table else None,
    )
    docs: list[Any] = []
    for path in args.load:
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    try:
        await emulator.load(docs)
    except ApiError as exc:
        print(f"--load: {exc}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with serve(
        emulator,
        host=args.host,
        port=args.port,
        tls_cert_file=args.tls_cert_file,
        tls_key_file=args.tls_private_key_file,
        ca_file=args.tls_ca_file,
        self_signed_tls=args.self_signed_tls,
    ) as running:
        print(f"apibridge emulator serving at {running.url}", flush=True)
        if args.kubeconfig_out:
            running.write_kubeconfig(args.kubeconfig_out)
            print(f"kubeconfig written to {args.kubeconfig_out}", flush=True)
        await stop.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if bool(args.tls_cert_file) != bool(args.tls_private_key_file):
        raise SystemExit("--tls-cert-file and --tls-private-key-file go together")
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
