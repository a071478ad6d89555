"""Commands that run apibridge's in-cluster parts: ``apibridge webhook`` and ``apibridge certs``.

``webhook`` serves the mutating admission webhook from a snapshot of manifests (``--snapshot``, for
local runs and tests) or from list+watch of the API server (``--watch``, what the Helm chart runs),
reached like the operator reaches it (``--kubeconfig/--context``, else in cluster) and planning with the
same settings (``--pool``, ``--pool-v6``, ``--service-cidr``).
``certs`` makes the TLS material the webhook needs when cert-manager is not installed: a private CA
(its certificate goes into the MutatingWebhookConfiguration's ``caBundle``) and a serving pair for
the names the API server dials (``<service>.<namespace>.svc``).

The lead registers ``webhook_command`` and ``certs_command`` in the main group. Bad input prints one
line and exits 2, like every other command.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from apibridge.admission.server import ServerConfig, WebhookServer
from apibridge.admission.snapshot import SnapshotSource, StaticSource
from apibridge.admission.tls import ReloadingContext
from apibridge.admission.watch import WatchSource
from apibridge.base.certs import CertificateAuthority, write_bundle
from apibridge.base.errors import InputError
from apibridge.cli.common import (
    kube_config,
    kube_options,
    log_level_option,
    planner_config,
    pool_options,
    setup_logging,
)

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _fail(err: InputError) -> NoReturn:
    click.echo(f"error: {err}", err=True)
    sys.exit(2)


@click.command("webhook")
@click.option(
    "--snapshot",
    "snapshots",
    multiple=True,
    metavar="FILE",
    help="Answer from these manifests (files or directories; repeat the option). Static: no API access.",
)
@click.option(
    "--watch",
    "watch",
    is_flag=True,
    help="Answer from list+watch of the API server (--kubeconfig/--context, else in cluster: the pod's "
    "service account).",
)
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8443, show_default=True, help="HTTPS webhook port.")
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Plain-HTTP port for /metrics, /healthz, /readyz (default: /metrics on the webhook port).",
)
@click.option("--tls-cert-file", type=_FILE, required=True, help="PEM serving certificate (reloaded on change).")
@click.option("--tls-private-key-file", type=_FILE, required=True, help="PEM private key (reloaded on change).")
@click.option(
    "--tls-reload-interval",
    type=click.FloatRange(0.05),
    default=5.0,
    show_default=True,
    help="Seconds between checks of the certificate files.",
)
@click.option(
    "--shutdown-delay",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="Seconds to keep serving after SIGTERM (not ready) while Service endpoints update.",
)
@log_level_option
@kube_options
@pool_options
def webhook_command(
    snapshots: tuple[str, ...],
    watch: bool,
    host: str,
    port: int,
    metrics_port: int | None,
    tls_cert_file: Path,
    tls_private_key_file: Path,
    tls_reload_interval: float,
    shutdown_delay: float,
    log_level: str,
    kubeconfig: str | None,
    kube_context: str | None,
    pool_v4: Any,
    pool_v6: Any,
    service_cidrs: tuple[Any, ...],
) -> None:
    """Serve the mutating admission webhook (POST /mutate-pods) over HTTPS.

    \b
    apibridge webhook --snapshot examples/apibridge --port 8443 \\
        --tls-cert-file certs/tls.crt --tls-private-key-file certs/tls.key
    """
    setup_logging(log_level)
    if bool(snapshots) == watch:
        raise click.UsageError("give either --snapshot FILE (repeatable) or --watch")
    if (kubeconfig or kube_context) and not watch:
        raise click.UsageError("--kubeconfig and --context go with --watch")
    settings = planner_config(pool_v4, pool_v6, service_cidrs)
    logging.getLogger(__name__).info("planning with %s", settings.describe())
    try:
        source: SnapshotSource
        if watch:
            source = WatchSource(kube_config(kubeconfig, kube_context), settings=settings)
        else:
            source = StaticSource.from_files(snapshots, settings)
        tls = ReloadingContext(tls_cert_file, tls_private_key_file, interval=tls_reload_interval)
    except InputError as err:
        _fail(err)
    config = ServerConfig(host=host, port=port, metrics_port=metrics_port, shutdown_delay=shutdown_delay)
    try:
        asyncio.run(WebhookServer(source, tls, config).serve())
    except OSError as err:  # the port is taken, the address is not ours …
        click.echo(f"error: cannot listen on {host}:{port}: {err.strerror or err}", err=True)
        sys.exit(2)


@click.command("certs")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to write ca.crt, tls.crt and tls.key into (created if needed).",
)
@click.option(
    "--host",
    "hosts",
    multiple=True,
    required=True,
    metavar="NAME",
    help="DNS name or IP address the server is dialled at (repeat the option).",
)
@click.option(
    "--ca",
    "ca_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Issue from the CA in this directory (ca.crt + ca.key) instead of a new one: the caBundle stays.",
)
@click.option("--keep-ca-key", is_flag=True, help="Also write the new CA's ca.key (0600), for --ca later.")
@click.option(
    "--days", type=click.IntRange(1, 3650), default=365, show_default=True, help="Validity of the serving certificate."
)
def certs_command(out: Path, hosts: tuple[str, ...], ca_dir: Path | None, keep_ca_key: bool, days: int) -> None:
    """Write a CA and a serving certificate for the webhook (when cert-manager is not used).

    \b
    apibridge certs --out certs --host apibridge-webhook.apibridge.svc
    helm install apibridge deploy/chart -n apibridge --create-namespace \\
        --set-file webhook.tls.cert=certs/tls.crt --set-file webhook.tls.key=certs/tls.key \\
        --set-file webhook.tls.caBundle=certs/ca.crt
    """
    try:
        ca = CertificateAuthority.load(ca_dir) if ca_dir else CertificateAuthority.create("apibridge-webhook-ca")
        serving = ca.issue(list(hosts), valid_for=dt.timedelta(days=days))
        paths = write_bundle(out, ca, serving)
        if keep_ca_key and ca_dir is None:
            ca.write(out)
    except InputError as err:
        _fail(err)
    except OSError as err:
        click.echo(f"error: {out}: {err.strerror or err}", err=True)
        sys.exit(2)
    names = ", ".join([*serving.dns_names, *(str(ip) for ip in serving.ip_addresses)])
    click.echo(f"wrote {paths.ca_cert}, {paths.cert}, {paths.key} (valid {days} days for {names})")
