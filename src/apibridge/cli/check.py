"""``apibridge check``: is this cluster's API-server access for custom VPCs correct and fenced?

Loads the manifests, plans every ApiBridge in them and runs the validator over both — the seed's
hand-written NAD, Subnet and annotations get the same scrutiny as our own plans. Exit 1 when any
finding is an error, so CI can gate on it.
"""

from __future__ import annotations

from typing import Any

import click

from apibridge.base.errors import InputError, Location
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
)
from apibridge.model.cluster import load_cluster
from apibridge.model.load import Limits
from apibridge.plan.planner import plan
from apibridge.report import findings as report
from apibridge.report.console import Ui, steps
from apibridge.report.manifests import dump


@click.command("check")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
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
) -> None:
    """Validate manifests (files, directories, or - for stdin).

    \b
    JSON/YAML shape: {"findings": [{"code", "severity", "object", "field", "message", "hint",
                                    "file", "document"}]}
    """
    ui = Ui()
    with steps(ui.err, ("loading", "planning", "checking")) as step:
        step(f"loading {len(files)} path(s)")
        cluster = load_cluster(files, limits=limits)
        for skipped in cluster.skipped_files:
            ui.info(f"skipped {skipped}: no document has a kind (not a Kubernetes manifest)")
        if not cluster.documents and not cluster.others and not allow_empty:
            raise InputError(
                "no Kubernetes objects in the input",
                Location(", ".join(files)),
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
        report.print_findings(ui.out, shown, sources=report.object_sources(cluster))
        ui.out.print(report.summary(shown, objects=len(cluster.documents)))
    else:
        click.echo(dump(report.findings_document(shown, report.object_origins(cluster)), output), nl=False)
    ctx.exit(EXIT_FINDINGS if failing else EXIT_OK)
