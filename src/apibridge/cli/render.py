"""``apibridge render``: the NAD and Subnet each ApiBridge needs, as manifests to apply.

For GitOps and for clusters without the operator: ``apibridge render bridges/ | kubectl apply -f -``.
``--vpc NAME`` plans a bridge with every default for one VPC when the input has none, so a cluster
that only has the seed's setup can be migrated. A plan with errors prints nothing on stdout (a
half-applied bridge is worse than none); its findings go to stderr and the exit code is 1.
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
    warn_affecting,
)
from apibridge.model.cluster import Cluster, load_cluster
from apibridge.model.load import Limits
from apibridge.model.objects import ApiBridge
from apibridge.plan.planner import bridge_for_vpc, plan
from apibridge.report import findings as report
from apibridge.report.console import Ui, steps
from apibridge.report.manifests import dump_documents


def _chosen(cluster: Cluster, vpc: str | None, files: tuple[str, ...], ui: Ui) -> tuple[list[str], list[ApiBridge]]:
    """Names of the bridges to render, and the on-the-fly bridge (if any) the planner must add."""
    if vpc is None:
        if not cluster.bridges:
            raise InputError(
                "no ApiBridge in the input",
                Location(", ".join(files)),
                hint="add an ApiBridge (apiVersion apibridge.dev/v1alpha1) or pass --vpc NAME",
            )
        return sorted(cluster.bridges), []
    names = sorted(b.name for b in cluster.bridges.values() if b.vpc == vpc)
    if names:
        return names, []
    ui.info(f"no ApiBridge for VPC {vpc} in the input: planning one with every default")
    bridge = bridge_for_vpc(vpc)
    return [bridge.name], [bridge]


@click.command("render")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--vpc", metavar="NAME", help="Render the bridge(s) of this VPC; plan one with defaults if none.")
@output_option(("yaml", "json"), "yaml")
@pool_options
@service_option
@limits_option
@click.pass_context
@one_shot
def render_command(
    ctx: click.Context,
    files: tuple[str, ...],
    vpc: str | None,
    output: str,
    pool_v4: Any,
    pool_v6: Any,
    service_cidrs: tuple[Any, ...],
    assume_default_service: bool,
    limits: Limits,
) -> None:
    """Print the NAD and Subnet of every ApiBridge in FILE... (yaml: for kubectl apply -f -)."""
    ui = Ui()
    with steps(ui.err, ("loading", "planning", "checking")) as step:
        step(f"loading {len(files)} path(s)")
        cluster = load_cluster(files, limits=limits)
        for skipped in cluster.skipped_files:
            ui.info(f"skipped {skipped}: no document has a kind (not a Kubernetes manifest)")
        chosen, extra = _chosen(cluster, vpc, files, ui)
        settle_api_service(cluster, service_cidrs, assume_default_service, files)
        step("planning")
        the_plan = plan(cluster, extra_bridges=extra, config=planner_config(pool_v4, pool_v6, service_cidrs))
        planned = [the_plan.bridges[name] for name in chosen if name in the_plan.bridges]
        step("checking")
        verdict = judge(cluster, the_plan)
        relevant = [f for name in chosen if name in verdict.bridges for f in verdict.bridges[name].findings]
    if relevant:
        report.print_findings(ui.err, relevant, sources=report.object_sources(cluster))
    if not all(verdict.ok(name) for name in chosen):
        ui.error("not rendered: the plan has errors (see above)")
        ctx.exit(EXIT_FINDINGS)
    documents = [doc for bp in planned for doc in (bp.nad, bp.subnet)]
    click.echo(dump_documents(documents, output), nl=False)
    warn_affecting(ui, verdict.affecting(chosen), cluster, "rendered")
    ctx.exit(EXIT_OK)
