"""``apibridge lab …`` and ``apibridge demo``: the OVN twin from the command line.

The twin library (``apibridge.twin``) does the work; these commands choose the lab (``--name``,
state under ``$APIBRIDGE_LAB_DIR/<name>``, default ``/run/apibridge/lab/<name>``), show progress on
stderr while it runs, and print results in the project's common style: text or ``-o json|yaml`` on
stdout, diagnostics on stderr, exit 0 (as intended), 1 (an expectation failed: a leak, a blocked
path) or 2 (unusable input, or the twin could not run — one line, never a traceback). How results
look is ``apibridge.report.lab``'s business; a command here parses options, calls the twin, hands
the report over and picks the exit code.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from apibridge.base.errors import InputError, Location
from apibridge.cli.common import EXIT_FINDINGS, EXIT_INPUT, EXIT_OK, output_option
from apibridge.report import findings as report
from apibridge.report import lab as lab_report
from apibridge.report.console import Ui, activity, counting
from apibridge.report.manifests import dump
from apibridge.twin import demo
from apibridge.twin.lab import Lab
from apibridge.twin.ovn.nb import NorthboundError
from apibridge.twin.pods.hub import HubError
from apibridge.twin.proc import CommandError
from apibridge.twin.proof import graph, trace
from apibridge.twin.proof.verify import verify
from apibridge.twin.state import DEFAULT_NAME, ENV_DIR, locate

F = TypeVar("F", bound=Callable[..., Any])
NAME_ENV = "APIBRIDGE_LAB_NAME"


def _name_option(default: str = DEFAULT_NAME) -> Callable[[F], F]:
    return click.option(
        "--name",
        default=default,
        show_default=True,
        envvar=NAME_ENV,
        metavar="NAME",
        help=f"Which lab (state under ${ENV_DIR}/NAME, default /run/apibridge/lab/NAME).",
    )


def _open(name: str) -> Lab:
    if os.geteuid() != 0:
        raise InputError(
            "the lab needs root (network namespaces, Open vSwitch)", Location(field="--name"), hint="run it with sudo"
        )
    return Lab(locate(name))


def twin_errors(func: F) -> F:
    """Failures of the twin's machinery (a daemon, a command, the NB database) as one line, exit 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (CommandError, NorthboundError, HubError, OSError) as exc:
            Ui().error(f"the lab failed: {exc}")
            raise click.exceptions.Exit(EXIT_INPUT) from None

    return wrapper  # type: ignore[return-value]


def _dump(document: Any, output: str) -> None:
    click.echo(dump(document, output), nl=False)


@click.group("lab")
def lab_group() -> None:
    """The OVN twin: real OVN/OVS daemons and network namespaces built from your manifests.

    \b
    apibridge lab up examples/seed/          build (or reconcile) the twin
    apibridge lab verify --adversarial       probe the reachability the intent promises
    apibridge lab trace ns/pod 10.96.0.1:443 the path in plain words, then ovn-trace
    apibridge lab exec ns/pod -- ip route    run a command inside a pod
    apibridge lab status | graph -o lab.svg | down
    """


@lab_group.command("up")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@_name_option()
@output_option(("text", "json", "yaml"), "text")
@twin_errors
def up_command(files: tuple[str, ...], name: str, output: str) -> None:
    """Build the twin from manifests, or reconcile a running one to them."""
    ui = Ui()
    with _open(name) as lab, activity(ui.err, "starting") as step:
        result = lab.up(files, progress=step)
    if output == "text":
        report.print_assumptions(ui.err, result.assumptions)
        lab_report.print_up(ui, result)
    else:
        _dump(lab_report.up_document(result), output)


# --- verify ----------------------------------------------------------------------------------------


@lab_group.command("verify")
@click.option("--adversarial", is_flag=True, help="Attached pods first route everything through their attachment.")
@click.option("--timeout", type=float, default=1.0, show_default=True, help="Seconds before a probe counts as blocked.")
@click.option("--parallel", type=int, default=2048, show_default=True, help="Probes in flight at once.")
@click.option("--all", "show_all", is_flag=True, help="List every probe, not only the unexpected ones.")
@_name_option()
@output_option(("text", "json", "yaml"), "text")
@click.pass_context
@twin_errors
def verify_command(
    ctx: click.Context, adversarial: bool, timeout: float, parallel: int, show_all: bool, name: str, output: str
) -> None:
    """Probe, from inside the pods, what the intent says must and must not be reachable.

    \b
    JSON: {"probes": [{"from", "to", "to_pod", "port", "expect", "result", "ok", "detail"}],
           "passed": n, "failed": m}
    Exit 1 when any probe did not behave as expected (a leak, or a blocked path).
    """

    ui = Ui()
    with _open(name) as lab:
        desired = lab.desired()
        netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
        with counting(ui.err, "probing" + (" adversarially" if adversarial else "")) as done:
            result = verify(
                desired.topology,
                netns,
                ca_file=lab.place.ca_file,
                adversarial=adversarial,
                timeout=timeout,
                parallel=parallel,
                done=done,
            )
    if output != "text":
        _dump(result.to_json(), output)
    else:
        lab_report.print_verify(ui, result, show_all=show_all)
    ctx.exit(EXIT_OK if result.failed == 0 else EXIT_FINDINGS)


# --- trace -----------------------------------------------------------------------------------------


@lab_group.command("trace")
@click.argument("pod", metavar="POD")
@click.argument("dest", metavar="DEST[:PORT]")
@click.option("--udp", is_flag=True, help="Trace UDP instead of TCP.")
@click.option("--via", metavar="IFNAME", help="Send through this interface (default: the pod's own route).")
@click.option("--summary", "summary_only", is_flag=True, help="Only the plain-words path.")
@_name_option()
@output_option(("text", "json", "yaml"), "text")
@twin_errors
def trace_command(pod: str, dest: str, udp: bool, via: str | None, summary_only: bool, name: str, output: str) -> None:
    """The path of one packet from POD to DEST, in plain words, then the ovn-trace behind it."""

    ui = Ui()
    with _open(name) as lab:
        rec = lab.resolve(pod)
        topo = lab.desired().topology
        twin_pod = topo.pod(rec.ref)
        if twin_pod is None:
            raise InputError(f"{rec.ref} is a node; trace starts at a pod", Location(field="POD"))
        request = trace.build_request(topo, twin_pod, rec.netns, dest, protocol="udp" if udp else "tcp", via=via)
        sb = lab.daemons.paths.sb_remote
        text, summary = trace.trace(topo, request, sb, env=lab.daemons.env())
    if output != "text":
        _dump(lab_report.trace_document(request, summary, text), output)
        return
    lab_report.print_trace(ui, request, summary)
    if not summary_only:
        lab_report.print_trace_command(ui, request.argv(sb))
        click.echo(text.rstrip())


# --- exec / status / down / graph --------------------------------------------------------------------


@lab_group.command("exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("pod", metavar="POD")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED, metavar="-- CMD...")
@_name_option()
def exec_command(pod: str, command: tuple[str, ...], name: str) -> None:
    """Run CMD inside POD's network namespace (``ip netns exec``); its exit code is ours."""
    args = list(command[1:] if command and command[0] == "--" else command)
    if not args:
        raise InputError("no command given", Location(field="CMD"), hint="apibridge lab exec POD -- CMD...")
    with _open(name) as lab:
        argv = lab.exec_argv(pod, args)
    os.execvp(argv[0], argv)


@lab_group.command("status")
@_name_option()
@output_option(("text", "json", "yaml"), "text")
@click.pass_context
@twin_errors
def status_command(ctx: click.Context, name: str, output: str) -> None:
    """Daemons, health, pods (up, failed) and northbound row counts. Exit 1 if unhealthy."""
    ui = Ui()
    with _open(name) as lab:
        s = lab.status()
    if output != "text":
        _dump(lab_report.status_document(s), output)
    else:
        lab_report.print_status(ui, s)
    ctx.exit(EXIT_OK if s.healthy else EXIT_FINDINGS)


@lab_group.command("down")
@_name_option()
@twin_errors
def down_command(name: str) -> None:
    """Stop the lab's processes, delete its namespaces and state (also after a crash)."""
    ui = Ui()
    with _open(name) as lab:
        result = lab.down()
    lab_report.print_down(ui, name, result)


@lab_group.command("graph")
@click.option(
    "-o",
    "--output",
    "output_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="FILE.svg, .png, .pdf (rendered with dot) or .dot",
)
@_name_option()
@twin_errors
def graph_command(output_file: Path, name: str) -> None:
    """Draw the lab: VPCs, subnets, pods, attachments, routes to the API, ACL fences."""

    with _open(name) as lab:
        topo = lab.desired().topology
    path = graph.render(graph.to_dot(topo, f"apibridge lab {name}"), output_file)
    lab_report.print_wrote(Ui(), path)


# --- demo --------------------------------------------------------------------------------------------


@click.command("demo")
@click.option(
    "--scenario",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    metavar="DIR",
    help="Scenario directory (default: the embedded one, also at examples/demo).",
)
@click.option(
    "--graph",
    "graph_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("apibridge-demo.svg"),
    show_default=True,
    help="Where to draw the final lab.",
)
@click.option("--keep", is_flag=True, help="Leave the lab up afterwards (explore it with lab trace/exec).")
@_name_option("demo")
@click.pass_context
@twin_errors
def demo_command(ctx: click.Context, scenario: Path | None, graph_file: Path, keep: bool, name: str) -> None:
    """The story on the real OVN twin: no access → the seed's fix (and its leak) → strict ApiBridges."""

    out = Ui().out
    directory = demo.scenario_dir(scenario)
    t0 = time.monotonic()
    lab_report.print_demo_start(out, directory)
    with _open(name) as lab:
        try:
            with activity(out, "starting") as step:
                result = demo.run_demo(
                    lab,
                    directory,
                    graph_file=graph_file.absolute(),
                    on_phase=functools.partial(lab_report.print_phase_start, out),
                    on_step=step,
                    on_result=functools.partial(lab_report.print_phase, out),
                )
        finally:
            if not keep:
                lab.down()
    lab_report.print_demo(out, result, seconds=time.monotonic() - t0, kept=name if keep else None)
    ctx.exit(EXIT_OK if result.ok else EXIT_FINDINGS)
