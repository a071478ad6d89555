"""What every command shares: the ``-o`` option, the planner's pool options and the exit codes.

Kept apart from ``main`` so that command modules can use it without importing the root group.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import ipaddress
import logging
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import click

from apibridge.base.errors import InputError, Location
from apibridge.check.findings import Finding
from apibridge.model.cluster import Cluster
from apibridge.model.load import DEFAULT_LIMITS, Limits, format_bytes, no_gc
from apibridge.plan.settings import DEFAULT_POOL_V4, DEFAULT_POOL_V6, Settings, SettingsError, parse_service_ref
from apibridge.report import findings as report
from apibridge.report.console import Ui

if TYPE_CHECKING:
    from apibridge.base.kubeclient import KubeConfig

EXIT_OK = 0
EXIT_FINDINGS = 1  # findings of severity error (or a plan that cannot be made)
EXIT_INPUT = 2  # unusable input or usage

F = TypeVar("F", bound=Callable[..., Any])
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def kube_options(func: F) -> F:
    """``--kubeconfig`` and ``--context``: how every command that reads a live cluster finds the API server."""
    func = click.option(
        "--context", "kube_context", metavar="NAME", help="The kubeconfig context to use (default: its current one)."
    )(func)
    func = click.option(
        "--kubeconfig",
        metavar="FILE",
        type=click.Path(exists=True, dir_okay=False),
        help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, else the pod's service account).",
    )(func)
    return func


def kube_config(kubeconfig: str | None, kube_context: str | None) -> KubeConfig:
    from apibridge.base.kubeclient import KubeConfig  # kr8s and httpx only for the commands that call out

    return KubeConfig(kubeconfig=kubeconfig, context=kube_context)


@contextlib.contextmanager
def api_errors(request: str) -> Iterator[None]:
    """A live cluster that cannot be read, as one ``error:`` line and exit 2 (unusable input, not a finding):
    the API server unreachable, or refusing ``request`` (``list``, ``read``)."""
    from apibridge.base.kubeclient import ApiError, UnreachableError

    try:
        yield
    except UnreachableError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INPUT)
    except ApiError as exc:
        click.echo(f"error: the API server refused a {request}: {exc.message}", err=True)
        sys.exit(EXIT_INPUT)


def log_level_option(func: F) -> F:
    """``--log-level`` of the long-running commands (``operator``, ``webhook``)."""
    return click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True)(func)


def setup_logging(level: str, *, force: bool = False) -> None:
    """The long-running commands' log lines: ``<time> <LEVEL> <logger>: <message>`` at ``level``."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, force=force)


def output_option(choices: tuple[str, ...], default: str) -> Callable[[F], F]:
    """``-o/--output`` with the formats a command supports."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help="Output format.",
    )


def _network(family: int) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def convert(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        values = value if isinstance(value, tuple) else (value,)
        out = []
        # "a,b" counts as two (kube-apiserver's --service-cluster-ip-range spells dual-stack that way)
        for item in [part for v in values if v is not None for part in (p.strip() for p in str(v).split(",")) if part]:
            try:
                net = ipaddress.ip_network(item, strict=True)
            except ValueError as exc:
                raise click.BadParameter(f"{item!r} is not a CIDR: {exc}") from None
            if family and net.version != family:
                raise click.BadParameter(f"{item} is not an IPv{family} CIDR")
            out.append(net)
        return tuple(out) if isinstance(value, tuple) else (out[0] if out else None)

    return convert


def service_cidr_option(help: str) -> Callable[[F], F]:
    """``--service-cidr CIDR`` (repeatable, or ``a,b``): the command receives ``service_cidrs``, a tuple of
    networks; without the ``kubernetes`` Service in the input, its ClusterIP is each family's first address."""
    return click.option(
        "--service-cidr", "service_cidrs", multiple=True, callback=_network(0), metavar="CIDR", help=help
    )


def pool_options(func: F) -> F:
    """``--pool``, ``--pool-v6``, ``--service-cidr``: where ``cidrBlock: auto`` allocates and what it avoids.

    The command receives one ``planner`` argument, a ``Settings``. ``--dns-service`` is kept in the click
    context (not an argument) and read by ``planner_config``, so that every command taking these options
    plans with it without a new parameter.
    """
    func = click.option(
        "--no-kube-proxy",
        is_flag=True,
        expose_value=False,
        callback=_no_kube_proxy,
        help="kube-proxy does not run on the nodes (a ClusterIP off the OVN load balancers is then never DNATed).",
    )(func)
    func = click.option(
        "--dns-service",
        expose_value=False,
        callback=_dns_service,
        metavar="NAMESPACE/NAME",
        help="The cluster DNS Service for destinations.dns (default: found by the label k8s-app=kube-dns, "
        "then the usual names kube-dns, coredns, rke2-coredns-rke2-coredns, openshift-dns/dns-default).",
    )(func)
    func = service_cidr_option("The cluster's service CIDR(s), kept clear by auto allocation (repeatable).")(func)
    func = click.option(
        "--pool-v6",
        callback=_network(6),
        default=str(DEFAULT_POOL_V6),
        show_default=True,
        metavar="CIDR",
        help="IPv6 pool for cidrBlock: auto (/120 blocks).",
    )(func)
    func = click.option(
        "--pool",
        "pool_v4",
        callback=_network(4),
        default=str(DEFAULT_POOL_V4),
        show_default=True,
        metavar="CIDR",
        help="IPv4 pool for cidrBlock: auto (/24 blocks).",
    )(func)
    return func


def _dns_service(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        try:
            ctx.meta[_DNS_SERVICE_META] = parse_service_ref(value)
        except SettingsError as exc:
            raise click.BadParameter(str(exc)) from None


_DNS_SERVICE_META = "apibridge.dns_service"
_NO_KUBE_PROXY_META = "apibridge.no_kube_proxy"


def _no_kube_proxy(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[_NO_KUBE_PROXY_META] = True


def planner_config(pool_v4: Any, pool_v6: Any, service_cidrs: tuple[Any, ...]) -> Settings:
    ctx = click.get_current_context(silent=True)
    dns = ctx.meta.get(_DNS_SERVICE_META) if ctx is not None else None
    no_kube_proxy = bool(ctx.meta.get(_NO_KUBE_PROXY_META)) if ctx is not None else False
    config = Settings(
        pool_v4=pool_v4,
        pool_v6=pool_v6,
        service_cidrs=tuple(service_cidrs),
        dns_service=dns,
        kube_proxy=not no_kube_proxy,
    )
    for pool, block in ((config.pool_v4, config.block_v4), (config.pool_v6, config.block_v6)):
        if pool.prefixlen > block:
            raise click.BadParameter(f"pool {pool} is smaller than one /{block} block", param_hint="--pool")
    return config


_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "ki": 2**10, "mi": 2**20, "gi": 2**30}


def parse_size(text: str) -> int:
    """``64Mi``, ``100M``, ``1Gi``, ``4096`` -> bytes (Kubernetes quantity suffixes)."""
    raw = text.strip()
    digits = raw.rstrip("kKmMgGiI")
    unit = raw[len(digits) :].lower()
    if not digits.isdigit() or unit not in _UNITS:
        raise ValueError(f"{text!r} is not a size (e.g. 64Mi, 100M, 1Gi or a number of bytes)")
    return int(digits) * _UNITS[unit]


def _limits(ctx: click.Context, param: click.Parameter, value: str) -> Limits:
    try:
        size = parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if size <= 0:
        raise click.BadParameter("must be positive")
    return Limits(max_bytes=size)


def limits_option(func: F) -> F:
    """``--max-file-size``: the most one input file may hold; the command receives ``limits``."""
    return click.option(
        "--max-file-size",
        "limits",
        callback=_limits,
        default=format_bytes(DEFAULT_LIMITS.max_bytes),
        show_default=True,
        metavar="SIZE",
        help="Refuse an input file larger than this (e.g. 512Mi).",
    )(func)


def one_shot(func: F) -> F:
    """Run a load-plan-check command with the cyclic garbage collector paused.

    The model of a large cluster is millions of acyclic containers that live until the command ends;
    every full collection would walk all of them again (planning 100,000 pods spent 80% of its time
    there). The command ends soon after, so nothing is lost by not collecting; the collector is
    resumed afterwards for in-process callers.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with no_gc():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def service_option(func: F) -> F:
    """``--assume-default-service``: the command receives ``assume_default_service``."""
    return click.option(
        "--assume-default-service",
        is_flag=True,
        help="Without the default/kubernetes Service in the input, take kubeadm's 10.96.0.1 (else: refuse).",
    )(func)


def settle_api_service(
    cluster: Cluster, service_cidrs: tuple[Any, ...], assume_default: bool, paths: tuple[str, ...]
) -> None:
    """No silent default for the API ClusterIP, which every route and ACL names.

    Without the ``kubernetes`` Service in the input: the first address of each ``--service-cidr`` family
    (kube-apiserver gives the Service that address: ``GetIndexedIP(serviceCIDR, 1)`` in
    pkg/controlplane/services.go), else refuse, unless ``--assume-default-service`` accepts kubeadm's
    10.96.0.1. A kubespray cluster (10.233.0.1) or an RKE2 one (10.43.0.1) would otherwise get routes to an
    address nothing answers.
    """
    if not cluster.api_service_assumed() or not cluster.documents or cluster.assume_api_service_in(service_cidrs):
        return
    if not assume_default:
        raise InputError(
            "the input has no Service default/kubernetes, so the API server's ClusterIP is unknown",
            Location(", ".join(paths)),
            hint="pass --service-cidr CIDR (the ClusterIP is its first address), include the Service "
            "(kubectl get service -n default kubernetes -o yaml), or --assume-default-service for 10.96.0.1",
        )


def warn_affecting(ui: Ui, findings: list[Finding], cluster: Cluster, done: str) -> None:
    """Warn of ``findings`` that make a sound bridge's pods lose the API server (a tenant's NetworkPolicy,
    AB310; an AdminNetworkPolicy, AB313): they do not fail the plan — ``done`` stands and the exit code
    with it — but ``check`` exits 1 on them, so the user who renders or injects must learn of them too."""
    if not findings:
        return
    as_warnings = [dataclasses.replace(f, severity="warning") for f in findings]
    report.print_findings(ui.err, as_warnings, sources=report.object_sources(cluster))
    bridges = sorted({ref.partition("/")[2] for f in findings for ref in f.concerns})
    ui.warning(
        f"{done}, but the pods of ApiBridge {', '.join(bridges)} will not reach the API server: the policies "
        f"above drop their API traffic (apibridge check reports them as errors)"
    )
