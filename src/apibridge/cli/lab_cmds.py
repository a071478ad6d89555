"""``apibridge lab …`` and ``apibridge demo``: the OVN twin from the command line.

The twin library (``apibridge.twin``) does the work; these commands choose the lab (``--name``,
state under ``$APIBRIDGE_LAB_DIR/<name>``, default ``/run/apibridge/lab/<name>``), show progress on
stderr while it runs, and print results in the project's common style: text or ``-o json|yaml`` on
stdout, diagnostics on stderr, exit 0 (as intended), 1 (an expectation failed: a leak, a blocked
path) or 2 (unusable input, or the twin could not run — one line, never a traceback).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from apibridge.base.errors import InputError, Location
from apibridge.cli.common import EXIT_FINDINGS, EXIT_INPUT, EXIT_OK, output_option
from apibridge.report import findings as report
from apibridge.report.console import Ui
from apibridge.report.manifests import to_json, to_yaml
from apibridge.twin import demo, graph, trace
from apibridge.twin.daemons import LabStatus
from apibridge.twin.hub import HubError
from apibridge.twin.lab import Lab, StatusReport, UpReport
from apibridge.twin.nb import NorthboundError
from apibridge.twin.proc import CommandError
from apibridge.twin.state import DEFAULT_NAME, ENV_DIR, locate
from apibridge.twin.verify import verify

F = TypeVar("F", bound=Callable[..., Any])
NAME_ENV = "APIBRIDGE_LAB_NAME"


def _name_option(default: str = DEFAULT_NAME) -> Callable[[F], F]:
    return click.option("--name", default=default, show_default=True, envvar=NAME_ENV, metavar="NAME",
                        help=f"Which lab (state under ${ENV_DIR}/NAME, default /run/apibridge/lab/NAME).")


def _open(name: str) -> Lab:
    if os.geteuid() != 0:
        raise InputError("the lab needs root (network namespaces, Open vSwitch)", Location(field="--name"),
                         hint="run it with sudo")
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


@contextmanager
def _progress(console: Console, total: int | None = None) -> Iterator[Progress]:
    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        yield progress


def _dump(document: Any, output: str) -> None:
    click.echo(to_json(document) if output == "json" else to_yaml(document), nl=False)


# --- up ------------------------------------------------------------------------------------------


def up_document(r: UpReport) -> dict[str, Any]:
    return {
        "name": r.name, "stateDir": str(r.state_dir), "reconciled": r.reconciled, "seconds": round(r.seconds, 3),
        "startedDaemons": list(r.started_daemons), "northbound": {"added": r.nb.added, "changed": r.nb.changed,
                                                                 "removed": r.nb.removed},
        "pods": {"up": r.pods_up, "added": r.added, "removed": r.removed, "recreated": r.recreated,
                 "failed": r.failures},
        "nodes": r.nodes, "apiServers": r.apiservers, "skippedRoutes": r.skipped_routes,
        "aclErrors": r.acl_errors, "notes": r.notes, "timings": r.timings,
        "assumptions": [{"object": a.obj, "what": a.what} for a in r.assumptions],
        "planProblems": [{"code": p.code, "object": p.obj, "message": p.message} for p in r.problems],
    }  # fmt: skip


def print_up(ui: Ui, r: UpReport) -> None:
    out = ui.out
    verb = "reconciled" if r.reconciled else "up"
    out.print(f"[ok]lab {escape(r.name)} {verb}[/ok] in {r.seconds:.2f}s "
              f"[muted](state {escape(str(r.state_dir))})[/muted]")
    if r.started_daemons:
        out.print(f"  daemons started: {', '.join(r.started_daemons)}")
    out.print(f"  northbound: {escape(r.nb.summary())}")
    moved = [f"+{len(r.added)} added"] if r.added else []
    moved += [f"{len(r.recreated)} recreated"] if r.recreated else []
    moved += [f"-{len(r.removed)} removed"] if r.removed else []
    out.print(f"  pods: {r.pods_up} up, {len(r.failures)} failed; nodes: {r.nodes}"
              + (f" ({', '.join(moved)})" if moved else ""))
    for node, url in sorted(r.apiservers.items()):
        out.print(f"  API server stand-in on {escape(node)}: {escape(url)}")
    for ref, why in sorted(r.failures.items()):
        out.print(f"  [error]failed[/error] {escape(ref)}: {escape(why)}")
    for ref, lines in sorted(r.skipped_routes.items()):
        for line in lines:
            ui.warning(f"{ref} {line} (skipped, as kube-ovn-cni does)")
    for line in r.acl_errors:
        ui.warning(line)
    for p in r.problems:
        ui.warning(f"{p.obj}: {p.message}")
    for note in r.notes:
        ui.info(note)


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
    with _open(name) as lab, _progress(ui.err) as progress:
        task = progress.add_task("starting")
        result = lab.up(files, progress=lambda step: progress.update(task, description=step))
    if output == "text":
        report.print_assumptions(ui.err, result.assumptions)
        print_up(ui, result)
    else:
        _dump(up_document(result), output)


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
def verify_command(ctx: click.Context, adversarial: bool, timeout: float, parallel: int, show_all: bool, name: str,
                   output: str) -> None:
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
        with _progress(ui.err, total=0) as progress:
            task = progress.add_task("probing" + (" adversarially" if adversarial else ""), total=None)
            result = verify(desired.topology, netns, ca_file=lab.place.ca_file, adversarial=adversarial,
                            timeout=timeout, parallel=parallel,
                            done=lambda n, total: progress.update(task, completed=n, total=total))
    if output != "text":
        _dump(result.to_json(), output)
    else:
        print_verify(ui, result, show_all=show_all)
    ctx.exit(EXIT_OK if result.failed == 0 else EXIT_FINDINGS)


def print_verify(ui: Ui, result: Any, *, show_all: bool = False, indent: str = "") -> None:
    out = ui.out
    for c in result.checked:
        if show_all or not c.ok:
            style = "ok" if c.ok else "error"
            out.print(f"{indent}[{style}]{escape(c.message())}[/{style}]")
    kinds: dict[str, list[int]] = {}
    for c in result.checked:
        kinds.setdefault(c.exp.kind, [0, 0])[0 if c.ok else 1] += 1
    parts = ", ".join(f"{k} {ok}/{ok + bad}" for k, (ok, bad) in kinds.items())
    mode = " (adversarial)" if result.adversarial else ""
    style = "ok" if result.failed == 0 else "error"
    out.print(f"{indent}[{style}]verify{mode}: {result.passed} passed, {result.failed} failed[/{style}] "
              f"in {result.seconds:.1f}s [muted]({parts})[/muted]")


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
def trace_command(pod: str, dest: str, udp: bool, via: str | None, summary_only: bool, name: str,
                  output: str) -> None:
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
        _dump({"pod": request.pod, "interface": request.nic, "datapath": request.datapath, "src": request.src,
               "dst": request.dst, "port": request.port, "protocol": request.protocol,
               "nextHop": request.next_hop, "microflow": request.microflow,
               "steps": [{"what": s.what, "text": s.text} for s in summary.steps], "verdict": summary.verdict,
               "deliveredTo": summary.delivered_to, "dropped": summary.dropped, "ovnTrace": text}, output)
        return
    out = ui.out
    hop = f"next hop {request.next_hop}" if request.next_hop else "on-link"
    out.print(f"[object]{escape(request.pod)}[/object] {escape(request.src)} → {escape(request.dst)}:"
              f"{request.port}/{request.protocol} leaves on {request.nic} ({hop}), enters switch "
              f"{escape(request.datapath)}")
    for i, step in enumerate(summary.steps, 1):
        style = "error" if "DROPPED" in step.text or step.what == "drop" else ""
        line = escape(step.text)
        out.print(f"  {i:>2}. " + (f"[{style}]{line}[/{style}]" if style else line))
    style = "ok" if summary.delivered_to else "error"
    out.print(f"  [{style}]⇒ {escape(summary.verdict)}[/{style}]")
    for warning in summary.warnings[:5]:
        ui.warning(f"ovn-trace: {warning}")
    if not summary_only:
        argv = request.argv(sb)
        shown = " ".join(a if " " not in a else f"'{a}'" for a in argv)
        out.print(f"\n[muted]$ {escape(shown)}[/muted]")
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


def status_document(s: StatusReport) -> dict[str, Any]:
    daemons: LabStatus | None = s.daemons
    return {
        "name": s.name, "stateDir": str(s.state_dir), "exists": s.exists, "healthy": s.healthy,
        "daemons": [{"name": d.name, "pid": d.pid, "running": d.running, "responsive": d.responsive}
                    for d in (daemons.daemons if daemons else ())],
        "chassisRegistered": bool(daemons and daemons.chassis_registered), "listenerHub": s.hub,
        "apiServers": s.apiservers, "pods": {"up": s.pods_up, "missing": s.pods_missing, "failed": s.failures},
        "northbound": s.nb_counts, "inputs": s.inputs,
    }  # fmt: skip


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
        _dump(status_document(s), output)
        ctx.exit(EXIT_OK if s.healthy else EXIT_FINDINGS)
    out = ui.out
    if not s.exists:
        out.print(f"lab {escape(s.name)} is not up [muted]({escape(str(s.state_dir))})[/muted]")
        ctx.exit(EXIT_FINDINGS)
    health = "[ok]healthy[/ok]" if s.healthy else "[error]unhealthy[/error]"
    out.print(f"lab {escape(s.name)}: {health} [muted](state {escape(str(s.state_dir))})[/muted]")
    table = Table("daemon", "pid", "running", "responsive", box=None, pad_edge=False)
    for d in s.daemons.daemons if s.daemons else ():
        table.add_row(d.name, str(d.pid or "-"), _mark(d.running), _mark(d.responsive))
    table.add_row("listener hub", "", _mark(s.hub), "")
    for node, alive in sorted(s.apiservers.items()):
        table.add_row(f"apiserver {node}", "", _mark(alive), "")
    out.print(table)
    if s.daemons is not None:
        out.print(f"chassis registered: {_mark(s.daemons.chassis_registered)}")
    out.print(f"pods: {len([p for p in s.pods_up if not p.startswith('node/')])} up, {len(s.failures)} failed, "
              f"{len(s.pods_missing)} missing")
    for ref, why in sorted(s.failures.items()):
        out.print(f"  [error]failed[/error] {escape(ref)}: {escape(why)}")
    for ref in s.pods_missing:
        out.print(f"  [error]missing[/error] {escape(ref)} (its namespace is gone: run lab up again)")
    if s.nb_counts:
        out.print("northbound: " + ", ".join(f"{k} {v}" for k, v in s.nb_counts.items()))
    ctx.exit(EXIT_OK if s.healthy else EXIT_FINDINGS)


def _mark(flag: bool) -> str:
    return "[ok]✓[/ok]" if flag else "[error]✗[/error]"


@lab_group.command("down")
@_name_option()
@twin_errors
def down_command(name: str) -> None:
    """Stop the lab's processes, delete its namespaces and state (also after a crash)."""
    ui = Ui()
    with _open(name) as lab:
        result = lab.down()
    ui.out.print(f"lab {escape(name)} down in {result.seconds:.2f}s: stopped {len(result.stopped)} processes, "
                 f"deleted {len(result.namespaces)} namespaces")


@lab_group.command("graph")
@click.option("-o", "--output", "output_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE", help="FILE.svg, .png, .pdf (rendered with dot) or .dot")
@_name_option()
@twin_errors
def graph_command(output_file: Path, name: str) -> None:
    """Draw the lab: VPCs, subnets, pods, attachments, routes to the API, ACL fences."""

    with _open(name) as lab:
        topo = lab.desired().topology
    path = graph.render(graph.to_dot(topo, f"apibridge lab {name}"), output_file)
    Ui().out.print(f"wrote {escape(str(path))}")


# --- demo --------------------------------------------------------------------------------------------


@click.command("demo")
@click.option("--scenario", type=click.Path(file_okay=False, exists=True, path_type=Path), metavar="DIR",
              help="Scenario directory (default: the repository's examples/demo).")
@click.option("--graph", "graph_file", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("apibridge-demo.svg"), show_default=True, help="Where to draw the final lab.")
@click.option("--keep", is_flag=True, help="Leave the lab up afterwards (explore it with lab trace/exec).")
@_name_option("demo")
@click.pass_context
@twin_errors
def demo_command(ctx: click.Context, scenario: Path | None, graph_file: Path, keep: bool, name: str) -> None:
    """The story on the real OVN twin: no access → the seed's fix (and its leak) → strict ApiBridges."""

    ui = Ui()
    out = ui.out
    directory = demo.scenario_dir(scenario)
    t0 = time.monotonic()
    out.print(f"apibridge demo: one OVN twin, three inputs from {escape(str(directory))}")
    with _open(name) as lab:
        try:
            with _progress(out) as progress:
                task = progress.add_task("starting")

                def on_phase(phase: demo.Phase) -> None:
                    progress.console.print(f"\n[object]{escape(phase.title)}[/object] "
                                           f"[muted](cluster.yaml + {escape(phase.file)})[/muted]")

                def on_result(result: demo.PhaseResult) -> None:
                    _print_phase(progress.console, result)

                result = demo.run_demo(lab, directory, graph_file=graph_file.absolute(), on_phase=on_phase,
                                       on_step=lambda s: progress.update(task, description=s), on_result=on_result)
        finally:
            if not keep:
                lab.down()
    out.print()
    _print_table(out, result)
    if result.graph:
        out.print(f"picture of the final lab: {escape(str(result.graph))}")
    verdict = ("[ok]every phase behaved as expected[/ok]" if result.ok
               else "[error]a phase did not behave as expected[/error]")
    out.print(f"{verdict} in {time.monotonic() - t0:.1f}s"
              + ("" if not keep else f" — lab {escape(name)} is still up (apibridge lab down --name {escape(name)})"))
    ctx.exit(EXIT_OK if result.ok else EXIT_FINDINGS)


def _print_phase(console: Console, result: Any) -> None:
    up = result.up
    console.print(f"   lab {'reconciled' if up.reconciled else 'up'} in {up.seconds:.2f}s: {up.pods_up} pods "
                  f"[muted]({escape(up.nb.summary())})[/muted]")
    for line in up.acl_errors:
        console.print(f"   [warning]warning: {escape(line)}[/warning]")
    for c in result.verify.checked:
        if c.exp.kind == "api":
            style = "ok" if c.result == "reach" else "muted"
            verb = "reaches" if c.result == "reach" else "cannot reach"
            console.print(f"   [{style}]{escape(c.exp.source)} {verb} https://{escape(c.hostport)}/version"
                          f"[/{style}] [muted]({escape(c.detail)})[/muted]")
    for c in result.leaks:
        console.print(f"   [error]{escape(c.message())}[/error]")
    for report_ in (result.verify, result.adversarial):
        if report_ is not None:
            mode = "adversarial verify" if report_.adversarial else "verify"
            console.print(f"   {mode}: {report_.passed} passed, {report_.failed} failed in {report_.seconds:.1f}s")


def _print_table(out: Console, result: Any) -> None:

    table = Table(title="scenario × check (✓ = as the story expects)", show_lines=False)
    table.add_column("check")
    for phase in demo.PHASES:
        table.add_column(phase.title)
    names: list[str] = []
    for p in result.phases:
        for c in p.checks:
            if c.name not in names:
                names.append(c.name)
    for check_name in names:
        row = [check_name]
        for phase in demo.PHASES:
            found = next((c for p in result.phases if p.phase is phase for c in p.checks if c.name == check_name),
                         None)
            if found is None:
                row.append("—")
            else:
                mark = "[ok]✓[/ok]" if found.ok else "[error]✗[/error]"
                row.append(f"{mark} {escape(found.observed)}")
        table.add_row(*row)
    out.print(table)
