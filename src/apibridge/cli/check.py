"""``apibridge check``: is this cluster's API-server access for custom VPCs correct and fenced?

Loads the manifests, plans every ApiBridge in them and runs the validator over both — the seed's
hand-written NAD, Subnet and annotations get the same scrutiny as our own plans. Exit 1 when any
finding is an error, so CI can gate on it.

With ``--kubeconfig``/``--context``/``--live`` it analyses the live cluster, plus any FILEs as if applied on
top of it (a file's object replaces the cluster's of the same kind, namespace and name), like ``istioctl
analyze``. The kinds listed from the API server (``install.LISTED_KINDS``, by the same listing as
``apibridge doctor``) are listed completely, so for them the check is closed-world (``Cluster.listed``): a NAD
a pod names that the cluster does not have is missing (AB031, an error), not unknown (AB044); a Subnet's VPC
the cluster lacks keeps it pending (AB028, not AB017); a file's pod in a namespace the cluster lacks is refused
by the API server (AB046, where files alone imply the namespace); Kube-OVN's default VPC and Subnets, which
files alone assume, are reported when the cluster lacks them (AB029). Files alone stay open-world.
"""

from __future__ import annotations

from typing import Any

import click

from apibridge.base.errors import InputError, Location
from apibridge.check.verdict import judge
from apibridge.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    api_errors,
    kube_config,
    kube_options,
    limits_option,
    one_shot,
    output_option,
    planner_config,
    pool_options,
    service_option,
    settle_api_service,
)
from apibridge.model import objects
from apibridge.model.cluster import Cluster, load_cluster
from apibridge.model.load import Document, Limits, load_documents
from apibridge.plan.planner import plan
from apibridge.report import findings as report
from apibridge.report.console import Ui, steps
from apibridge.report.manifests import dump

LIVE_SOURCE = "cluster"


def _key(doc: Document) -> tuple[str, str | None, str]:
    kind = str(doc.body.get("kind"))
    md = doc.body.get("metadata") if isinstance(doc.body.get("metadata"), dict) else {}
    assert isinstance(md, dict)
    namespace = md.get("namespace") or ("default" if kind in objects.NAMESPACED else None)
    return kind, namespace, str(md.get("name"))


def live_cluster(files: tuple[str, ...], limits: Limits, kubeconfig: str | None, context: str | None) -> Cluster:
    """The live cluster's objects with ``files`` applied on top; the listed kinds are a closed world.

    A file's bad object fails the command as it does without a cluster; a cluster object the model refuses
    (someone else's malformed Subnet) is left out with an info line, as the operator leaves it out.
    """
    from apibridge.operator.diagnose.install import LISTED_KINDS, ClientApi, cluster_documents

    skipped: list[str] = []
    given = load_documents(files, limits, skipped) if files else []
    with ClientApi(kube_config(kubeconfig, context)) as api:
        listed = cluster_documents(api, LIVE_SOURCE)
    replaced = {_key(d) for d in given}
    docs = [*given, *(d for d in listed if _key(d) not in replaced)]
    cluster, refused = Cluster.tolerant(docs)
    for doc, exc in refused:
        if doc.source != LIVE_SOURCE:
            raise exc
        kind, namespace, name = _key(doc)
        ref = "/".join(x for x in (kind, namespace, name) if x)
        Ui().info(f"left out {ref} from the cluster: {exc}")
    cluster.skipped_files = skipped
    cluster.listed = LISTED_KINDS
    return cluster


@click.command("check")
@click.argument("files", nargs=-1, metavar="[FILE...]")
@output_option(("text", "json", "yaml"), "text")
@click.option(
    "--fail-on",
    type=click.Choice(("error", "warning")),
    default="error",
    show_default=True,
    help="Exit 1 on findings of this severity or worse.",
)
@click.option(
    "--min-severity",
    type=click.Choice(report.SEVERITIES[::-1]),
    default="info",
    show_default=True,
    help="Show only findings of this severity or worse (and assumptions only at info).",
)
@click.option("--allow-empty", is_flag=True, help="An input without any object is fine (default: exit 2).")
@click.option(
    "--live",
    is_flag=True,
    help="Analyse the live cluster (default kubeconfig), plus FILEs applied on top; implied by --kubeconfig/--context.",
)
@kube_options
@pool_options
@service_option
@limits_option
@click.pass_context
@one_shot
def check_command(
    ctx: click.Context,
    files: tuple[str, ...],
    output: str,
    pool_v4: Any,
    pool_v6: Any,
    service_cidrs: tuple[Any, ...],
    assume_default_service: bool,
    limits: Limits,
    fail_on: str,
    min_severity: str,
    allow_empty: bool,
    live: bool,
    kubeconfig: str | None,
    kube_context: str | None,
) -> None:
    """Validate manifests (files, directories, or - for stdin), or the live cluster.

    \b
    apibridge check examples/apibridge/           # files: what they do not contain is unknown
    apibridge check --kubeconfig ~/.kube/config   # the cluster: what it lacks is missing
    apibridge check --context prod bridge.yaml    # the cluster with bridge.yaml applied on top

    \b
    JSON/YAML shape: {"findings": [{"code", "severity", "object", "field", "message", "hint",
                                    "file", "document", "item"}]}
    """
    ui = Ui()
    live = live or bool(kubeconfig or kube_context)
    if not files and not live:
        raise click.UsageError("give FILE... (manifests), or --kubeconfig/--context/--live for the live cluster")
    with steps(ui.err, ("loading", "planning", "checking")) as step:
        if live:
            step("listing the cluster" + (f" and loading {len(files)} path(s)" if files else ""))
            with api_errors("list"):
                cluster = live_cluster(files, limits, kubeconfig, kube_context)
        else:
            step(f"loading {len(files)} path(s)")
            cluster = load_cluster(files, limits=limits)
        for skipped in cluster.skipped_files:
            ui.info(f"skipped {skipped}: no document has a kind (not a Kubernetes manifest)")
        if not cluster.documents and not cluster.others and not allow_empty:
            raise InputError(
                "no Kubernetes objects in the input",
                Location(", ".join(files) or LIVE_SOURCE),
                hint="check the paths (directories are read for *.yaml, *.yml, *.json), or pass --allow-empty",
            )
        step("planning")
        settle_api_service(cluster, service_cidrs, assume_default_service, files)
        the_plan = plan(cluster, config=planner_config(pool_v4, pool_v6, service_cidrs))
        step("checking")
        findings = list(judge(cluster, the_plan).findings)
    failing = report.at_least(findings, fail_on)
    shown = report.at_least(findings, min_severity)
    if output == "text":
        if min_severity == "info":
            report.print_assumptions(ui.err, cluster.assumptions)
        sources = {ref: LIVE_SOURCE if at.startswith(f"{LIVE_SOURCE} (") else at
                   for ref, at in report.object_sources(cluster).items()}  # fmt: skip
        report.print_findings(ui.out, shown, sources=sources)
        ui.out.print(report.summary(shown, objects=len(cluster.documents)))
    else:
        click.echo(dump(report.findings_document(shown, report.object_origins(cluster)), output), nl=False)
    ctx.exit(EXIT_FINDINGS if failing else EXIT_OK)
