"""``apibridge check``: is this cluster's API-server access for custom VPCs correct and fenced?

Loads the manifests, plans every ApiBridge in them and runs the validator over both — the seed's
hand-written NAD, Subnet and annotations get the same scrutiny as our own plans. Exit 1 when any
finding is an error, so CI can gate on it.
"""

from __future__ import annotations

from typing import Any

import click

from apibridge.check.validator import check
from apibridge.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    limits_option,
    one_shot,
    output_option,
    planner_config,
    pool_options,
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
@pool_options
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
    limits: Limits,
) -> None:
    """Validate manifests (files, directories, or - for stdin).

    \b
    JSON/YAML shape: {"findings": [{"code", "severity", "object", "field", "message", "hint"}]}
    """
    ui = Ui()
    with steps(ui.err, ("loading", "planning", "checking")) as step:
        step(f"loading {len(files)} path(s)")
        cluster = load_cluster(files, limits=limits)
        step("planning")
        the_plan = plan(cluster, config=planner_config(pool_v4, pool_v6, service_cidrs))
        step("checking")
        findings = check(cluster, the_plan)
    if output == "text":
        report.print_assumptions(ui.err, cluster.assumptions)
        report.print_findings(ui.out, findings, sources=report.object_sources(cluster))
        ui.out.print(report.summary(findings, objects=len(cluster.documents)))
    else:
        click.echo(dump(report.findings_document(findings), output), nl=False)
    ctx.exit(EXIT_FINDINGS if report.has_errors(findings) else EXIT_OK)
