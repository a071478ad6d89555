"""``apibridge operator`` (the controller process) and ``apibridge doctor`` (one pod's chain, live).

Both talk to a live API server through the one client stack (``apibridge.base.kubeclient``), configured
the same way as ``webhook --watch``: ``--kubeconfig``/``--context``, else ``$KUBECONFIG`` (or
``~/.kube/config``), else the pod's service account. Both plan with the same settings as ``check``,
``render``, ``inject`` and the webhook (``--pool``, ``--pool-v6``, ``--service-cidr``; the chart sets them
once, in ``values.settings``).

Exit codes follow the CLI's convention: ``doctor`` exits 0 when every link holds, 1 on a broken link, 2
when the pod cannot be found or the API server cannot be reached; ``operator`` exits 0 after a signal
and 1 when it lost leadership (the Deployment restarts it as a fresh candidate).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

import click

from apibridge.base.errors import InputError
from apibridge.base.kubeclient import Client, KubeConfig
from apibridge.cli.common import (
    EXIT_FINDINGS,
    EXIT_INPUT,
    EXIT_OK,
    api_errors,
    kube_config,
    kube_options,
    log_level_option,
    output_option,
    planner_config,
    pool_options,
    setup_logging,
)
from apibridge.operator import drift
from apibridge.operator.diagnose import doctor, install
from apibridge.operator.process import runner
from apibridge.plan.settings import Settings
from apibridge.report.console import Ui

DEFAULT_NAMESPACE = "apibridge-system"


MARKS = {"ok": "✓", "broken": "✗", "warning": "!", "skipped": "-"}


def _rate(_: click.Context, __: click.Parameter, value: str) -> tuple[float, float]:
    try:
        return drift.parse_rate(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("operator")
@click.option(
    "--namespace",
    envvar="POD_NAMESPACE",
    default=DEFAULT_NAMESPACE,
    show_default=True,
    help="Namespace of the leader-election Lease (in a pod: $POD_NAMESPACE).",
)
@click.option(
    "--metrics-port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="Port for /metrics (0: off)."
)
@click.option(
    "--health-port",
    type=click.IntRange(0, 65535),
    default=8081,
    show_default=True,
    help="Port for /healthz and /readyz (0: off; equal to --metrics-port: one server).",
)
@click.option("--bind", "bind_host", default="0.0.0.0", show_default=True, help="Address for both ports.")
@click.option(
    "--rollout-rate",
    default="1/10s",
    show_default=True,
    callback=_rate,
    help="At most this many owner restarts per duration for spec.rollout: restart (e.g. 1/10s, 3/1m).",
)
@click.option(
    "--restart-settle",
    type=click.FloatRange(0.0),
    default=10.0,
    show_default=True,
    help="Seconds a bridge's NAD and Subnet must exist before owners are restarted (the webhook must "
    "see them first, or the new pods miss the attachment too).",
)
@click.option(
    "--restart-retry",
    type=click.FloatRange(1.0),
    default=60.0,
    show_default=True,
    help="Seconds before restarting an owner again whose new pods still lack the attachment "
    "(doubles each time, at most 5 restarts per bridge generation).",
)
@click.option(
    "--restarts/--no-restarts",
    default=True,
    show_default=True,
    help="Restart the owners of pods that missed the mutation (spec.rollout: restart); the chart turns this "
    "off unless controller.restarts.enabled, and only then grants the workload permissions.",
)
@click.option("--lease-name", default="apibridge-operator", show_default=True)
@click.option(
    "--lease-duration",
    type=click.FloatRange(1.0),
    default=15.0,
    show_default=True,
    help="leaseDurationSeconds; renew deadline and retry period scale with it as in client-go.",
)
@click.option(
    "--identity", envvar="POD_NAME", default="", help="Lease holder identity (in a pod: $POD_NAME; default host-pid)."
)
@click.option(
    "--leader-election/--no-leader-election",
    default=True,
    show_default=True,
    help="Without election the process reconciles at once (one replica only!).",
)
@click.option(
    "--resync-period",
    type=click.FloatRange(1.0),
    default=300.0,
    show_default=True,
    help="Seconds between full passes without any watch event.",
)
@log_level_option
@kube_options
@pool_options
def operator_command(
    namespace: str,
    metrics_port: int,
    health_port: int,
    bind_host: str,
    rollout_rate: tuple[float, float],
    restart_settle: float,
    restart_retry: float,
    restarts: bool,
    lease_name: str,
    lease_duration: float,
    identity: str,
    leader_election: bool,
    resync_period: float,
    log_level: str,
    kubeconfig: str | None,
    kube_context: str | None,
    pool_v4: Any,
    pool_v6: Any,
    service_cidrs: tuple[Any, ...],
) -> None:
    """Run the ApiBridge controller: NAD + Subnet per bridge, status, drift, restarts.

    \b
    KUBECONFIG=~/.kube/config apibridge operator --namespace apibridge-system
    """
    setup_logging(log_level, force=True)
    if log_level != "debug":
        logging.getLogger("kopf").setLevel(logging.WARNING)  # kopf narrates every watch event at INFO
        logging.getLogger("httpx").setLevel(logging.WARNING)
    options = runner.OperatorOptions(
        namespace=namespace,
        metrics_port=metrics_port,
        health_port=health_port,
        bind_host=bind_host,
        rollout_rate=rollout_rate,
        restart_settle=restart_settle,
        restart_retry=restart_retry,
        restarts=restarts,
        lease_name=lease_name,
        lease_duration=lease_duration,
        identity=identity,
        leader_election=leader_election,
        resync_period=resync_period,
        kube=kube_config(kubeconfig, kube_context),
        settings=planner_config(pool_v4, pool_v6, service_cidrs),
    )
    sys.exit(asyncio.run(runner.run(options)))


def _text(diagnosis: doctor.Diagnosis) -> str:
    chain = " → ".join(
        x
        for x in (
            f"ApiBridge {diagnosis.bridge}" if diagnosis.bridge else None,
            f"NAD {diagnosis.nad}" if diagnosis.nad else None,
            f"provider {diagnosis.provider}" if diagnosis.provider else None,
            f"Subnet {diagnosis.subnet}" if diagnosis.subnet else None,
        )
        if x
    )
    lines = [f"Pod {diagnosis.pod}" + (f": {chain}" if chain else "")]
    for link in diagnosis.links:
        lines.append(f"  {MARKS[link.status]} {link.title}: {link.detail}")
    broken = diagnosis.broken
    if broken is None:
        lines.append("All links hold: the pod has its route to the API server.")
    else:
        lines.append(f"Broken link: {broken.title} — {broken.detail}")
        lines.append(f"Fix: {broken.fix}")
    return "\n".join(lines)


async def _diagnose(target: str, namespace: str | None, kube: KubeConfig, settings: Settings) -> list[doctor.Diagnosis]:
    client = await Client.connect(kube)
    kind_name, _, name = target.rpartition("/")
    workload = doctor.WORKLOAD_NAMES.get(kind_name.lower())
    if workload is not None:
        return await doctor.diagnose_workload(client, workload, namespace or client.default_namespace, name, settings)
    if kind_name.lower() in ("pod", "pods", "po"):
        kind_name = ""
    elif kind_name and namespace is None:  # the older NAMESPACE/POD form
        namespace = kind_name
    elif kind_name:
        raise InputError(
            f"{target!r}: not POD, NAMESPACE/POD, pod/NAME, deploy/NAME, sts/NAME or ds/NAME",
            hint="the namespace goes in -n when the kind is given",
        )
    return [await doctor.diagnose(client, namespace or client.default_namespace, name, settings)]


def _install(kube: KubeConfig, operator_namespace: str) -> install.InstallReport:
    with install.ClientApi(kube) as api:
        return install.run_checks(api, namespace=operator_namespace, dial=install.peer_certificate)


@click.command("doctor")
@click.argument("target", required=False, metavar="[POD | deploy/NAME | sts/NAME | ds/NAME]")
@click.option("-n", "--namespace", default=None, help="The pod's namespace (default: the kubeconfig context's).")
@click.option(
    "--operator-namespace",
    default=DEFAULT_NAMESPACE,
    show_default=True,
    help="Where the operator's Lease is, when no webhook configuration names the install's namespace.",
)
@output_option(("text", "json"), "text")
@kube_options
@pool_options
def doctor_command(
    target: str | None,
    namespace: str | None,
    operator_namespace: str,
    output: str,
    kubeconfig: str | None,
    kube_context: str | None,
    pool_v4: Any,
    pool_v6: Any,
    service_cidrs: tuple[Any, ...],
) -> None:
    """Check the install end to end, like `linkerd check`, or walk the chain of one pod's (or a workload's
    pods') API access and name the first broken link.

    \b
    apibridge doctor                          # CRD, webhook and its certificates, the API server reaching
                                              # it, the operator's Lease, every bridge, pods lacking the
                                              # attachment
    apibridge doctor -n ingress-nginx deploy/controller   # each pod of the Deployment
    apibridge doctor ingress-nginx/controller-7d9f        # one pod

    \b
    Exit codes: 0 every check or link holds, 1 one fails, 2 pod or workload not found, API unreachable.
    """
    kube = kube_config(kubeconfig, kube_context)
    try:
        with api_errors("read"):
            if target is None:
                report = _install(kube, operator_namespace)
            else:
                settings = planner_config(pool_v4, pool_v6, service_cidrs)
                diagnoses = asyncio.run(_diagnose(target, namespace, kube, settings))
    except InputError as exc:
        Ui().input_error(exc)
        sys.exit(EXIT_INPUT)
    if target is None:
        if output == "json":
            click.echo(json.dumps(report.to_json(), indent=2))
        else:
            click.echo(install.render_text(report), nl=False)
        sys.exit(EXIT_OK if report.failed == 0 else EXIT_FINDINGS)
    if output == "json":
        found = [d.to_json() for d in diagnoses]
        workload = target.rpartition("/")[0].lower() in doctor.WORKLOAD_NAMES
        click.echo(json.dumps(found if workload else found[0], indent=2))
    else:
        click.echo("\n\n".join(_text(d) for d in diagnoses))
    sys.exit(EXIT_OK if all(d.healthy for d in diagnoses) else EXIT_FINDINGS)
