"""``apibridge inject -f``: the input manifests with the bridge's pod annotations added.

Like ``istioctl kube-inject``: for clusters without the admission webhook, or to review what the
webhook would do. Documents come out in input order; only Pods and pod templates that a bridge
selects change, and only by the mutation (``apibridge.plan.mutation``), which is append-only and
idempotent — injecting the output again changes nothing. The cluster (VPCs, subnets, bridges) is
read from ``--cluster`` plus the ``-f`` file itself; a ``--cluster`` directory may contain the
``-f`` file without it counting twice.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import click

from apibridge.base.errors import InputError
from apibridge.check.objects.tenancy import ADMISSION_REFUSALS
from apibridge.check.verdict import judge
from apibridge.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    limits_option,
    one_shot,
    output_option,
    planner_config,
    pool_options,
    service_option,
    settle_api_service,
    warn_affecting,
)
from apibridge.model.cluster import Cluster
from apibridge.model.load import Document, Limits, load_documents
from apibridge.model.objects import meta_of
from apibridge.plan.mutation import inject_documents
from apibridge.plan.planner import plan
from apibridge.report import findings as report
from apibridge.report.console import Ui, steps
from apibridge.report.manifests import dump_documents


@functools.cache
def _file_key(source: str) -> str:
    """The same file however it was named (``-`` is stdin)."""
    return source if source == "-" else str(Path(source).resolve())


def _identity(doc: Document) -> tuple[object, ...]:
    """(kind, namespace, name) as the API server keys objects; the raw fields when they are unusable."""
    try:
        meta = meta_of(doc)
    except InputError:  # reported when the cluster is built; never equal to another document
        return (doc.body.get("kind"), id(doc))
    return (meta.kind, meta.namespace, meta.name)


@click.command("inject")
@click.option(
    "-f", "--filename", required=True, metavar="FILE", help="Manifests to inject (a file, a directory, or - for stdin)."
)
@click.option(
    "--cluster",
    "cluster_files",
    multiple=True,
    metavar="FILE",
    help="Manifests describing the cluster: VPCs, subnets, Services, ApiBridges (repeatable).",
)
@click.option(
    "--replace-attachment",
    is_flag=True,
    help="Swap a pod's existing API attachment (e.g. the seed's hand-written one), routes included, "
    "for the bridge's instead of adding a second one.",
)
@output_option(("yaml", "json"), "yaml")
@pool_options
@service_option
@limits_option
@click.pass_context
@one_shot
def inject_command(
    ctx: click.Context,
    filename: str,
    cluster_files: tuple[str, ...],
    output: str,
    pool_v4: Any,
    pool_v6: Any,
    service_cidrs: tuple[Any, ...],
    assume_default_service: bool,
    limits: Limits,
    replace_attachment: bool,
) -> None:
    """Print -f FILE with the API-server attachment added to every pod a bridge selects."""
    ui = Ui()
    with steps(ui.err, ("loading", "planning", "injecting")) as step:
        step("loading")
        documents = load_documents([filename], limits)
        own = {_file_key(d.source) for d in documents}
        # -f's objects are the newer version of the same objects in a cluster dump: they replace them
        replaced = {_identity(d) for d in documents}
        skipped: list[str] = []
        context = [
            d
            for d in load_documents(cluster_files, limits, skipped)
            if _file_key(d.source) not in own and _identity(d) not in replaced
        ]
        for name in skipped:
            ui.info(f"skipped {name}: no document has a kind (not a Kubernetes manifest)")
        cluster = Cluster.from_documents([*context, *documents])
        settle_api_service(cluster, service_cidrs, assume_default_service, (filename, *cluster_files))
        step("planning")
        the_plan = plan(cluster, config=planner_config(pool_v4, pool_v6, service_cidrs))
        verdict = judge(cluster, the_plan)  # the one verdict: a plan render or the operator refuses injects nothing
        errors = verdict.errors
        step(f"injecting {len(documents)} document(s)")
        out = [] if errors else inject_documents(cluster, the_plan, documents, replace_attachment=replace_attachment)
    if errors:
        report.print_findings(ui.err, errors, sources=report.object_sources(cluster))
        ui.error("not injected: the plan has errors (see above)")
        ctx.exit(EXIT_FINDINGS)
    # -f's own objects that the chart's admission policy refuses (another VPC's bridge, no port security):
    # the API server would refuse them as written, so nothing is printed to apply
    own_refs = {meta_of(d).ref for d in documents}
    refused = [f for f in verdict.findings if f.code in ADMISSION_REFUSALS and f.obj in own_refs]
    if refused:
        report.print_findings(ui.err, refused, sources=report.object_sources(cluster))
        ui.error("not injected: the API server refuses these objects (the chart's admission policy, see above)")
        ctx.exit(EXIT_FINDINGS)
    if not cluster.bridges:
        ui.warning("no ApiBridge in -f or --cluster: nothing to inject")
    injected = set()
    for doc, body in zip(documents, out, strict=True):
        if body != doc.body:
            injected.add(meta_of(doc).ref)
            ui.info(f"injected {meta_of(doc).ref}")
    click.echo(dump_documents(out, output), nl=False)
    warn_affecting(ui, verdict.affecting(), cluster, "injected")
    # Injection only appends: a pod that was broken before still is. Say so instead of staying silent.
    broken = [f for f in verdict.findings if f.severity == "error" and f.obj in injected]
    if broken:
        report.print_findings(ui.err, broken, sources=report.object_sources(cluster))
        ui.error("injected, but these pods still will not reach the API server (see above)")
        ctx.exit(EXIT_FINDINGS)
    ctx.exit(EXIT_OK)
