"""What ``apibridge lab …`` and ``apibridge demo`` show: the twin's reports as text and as documents.

The twin (``apibridge.twin``) returns typed reports — :class:`~apibridge.twin.lab.UpReport`,
:class:`~apibridge.twin.lab.StatusReport`, :class:`~apibridge.twin.proof.verify.VerifyReport`, a trace,
:class:`~apibridge.twin.demo.DemoReport` — and knows nothing of consoles. Their presentation lives
here with every other command's, not in the click commands: the commands stay thin (options, the
twin, this module, an exit code), and the text and ``-o json|yaml`` shapes can be read, tested and
kept alike in one place. Results go to ``ui.out``, warnings and notes to ``ui.err``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from apibridge.report.console import Ui
from apibridge.twin import demo
from apibridge.twin.demo import DemoReport, Phase, PhaseResult
from apibridge.twin.health import Fault
from apibridge.twin.lab import DownReport, StatusReport, UpReport
from apibridge.twin.proof.trace import TraceRequest, TraceSummary
from apibridge.twin.proof.verify import VerifyReport


def _mark(flag: bool) -> str:
    return "[ok]✓[/ok]" if flag else "[error]✗[/error]"


# --- up ------------------------------------------------------------------------------------------


def up_document(r: UpReport) -> dict[str, Any]:
    """``lab up -o json|yaml``."""
    return {
        "name": r.name, "stateDir": str(r.state_dir), "reconciled": r.reconciled, "rebuilt": r.rebuilt,
        "seconds": round(r.seconds, 3),
        "startedDaemons": list(r.started_daemons), "northbound": {"added": r.nb.added, "changed": r.nb.changed,
                                                                 "removed": r.nb.removed},
        "pods": {"up": r.pods_up, "added": r.added, "removed": r.removed, "recreated": r.recreated,
                 "failed": r.failures},
        "nodes": r.nodes, "apiServers": r.apiservers, "skippedRoutes": r.skipped_routes,
        "aclErrors": r.acl_errors, "notes": r.notes, "timings": r.timings, "apiClusterIpAssumed": r.api_assumed,
        "assumptions": [{"object": a.obj, "what": a.what} for a in r.assumptions],
        "planProblems": [{"code": p.code, "object": p.obj, "message": p.message} for p in r.problems],
    }  # fmt: skip


def print_up(ui: Ui, r: UpReport) -> None:
    out = ui.out
    verb = "reconciled" if r.reconciled else ("rebuilt (its last build had not completed)" if r.rebuilt else "up")
    out.print(
        f"[ok]lab {escape(r.name)} {verb}[/ok] in {r.seconds:.2f}s [muted](state {escape(str(r.state_dir))})[/muted]"
    )
    if r.started_daemons:
        out.print(f"  daemons started: {', '.join(r.started_daemons)}")
    out.print(f"  northbound: {escape(r.nb.summary())}")
    moved = [f"+{len(r.added)} added"] if r.added else []
    moved += [f"{len(r.recreated)} recreated"] if r.recreated else []
    moved += [f"-{len(r.removed)} removed"] if r.removed else []
    out.print(
        f"  pods: {r.pods_up} up, {len(r.failures)} failed; nodes: {r.nodes}"
        + (f" ({', '.join(moved)})" if moved else "")
    )
    if r.api_assumed:
        out.print(f"  [warning]{escape(r.api_assumed)}[/warning]")
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
        ui.by_severity(p.severity, f"{p.obj}: {p.message}")
    for note in r.notes:
        ui.info(note)


# --- verify ----------------------------------------------------------------------------------------


def print_verify(ui: Ui, result: VerifyReport, *, show_all: bool = False, indent: str = "") -> None:
    """The unexpected probes (every probe with ``show_all``), then one summary line per probe kind."""
    out = ui.out
    for c in result.checked:
        if show_all or not c.ok:
            style = "ok" if c.ok else "error"
            out.print(f"{indent}[{style}]{escape(c.message())}[/{style}]")
            for line in c.explanation:
                out.print(f"{indent}    [muted]{escape(line)}[/muted]", highlight=False)
    for u in result.unrealized:
        out.print(f"{indent}[error]{escape(u.message())}[/error]")
    for n in result.unprogrammed:
        out.print(f"{indent}[error]{escape(n.message())}[/error]")
    if result.empty:
        out.print(f"{indent}[error]FAILED: nothing was probed, so nothing is proven[/error]")
    kinds: dict[str, list[int]] = {}
    for c in result.checked:
        kinds.setdefault(c.exp.kind, [0, 0])[0 if c.ok else 1] += 1
    parts = ", ".join(f"{k} {ok}/{ok + bad}" for k, (ok, bad) in kinds.items())
    mode = " (adversarial)" if result.adversarial else ""
    style = "ok" if result.failed == 0 else "error"
    out.print(
        f"{indent}[{style}]verify{mode}: {result.passed} passed, {result.failed} failed[/{style}] "
        f"in {result.seconds:.1f}s [muted]({parts})[/muted]"
    )
    cov = result.coverage
    if cov is not None and not cov.exhaustive:
        out.print(
            f"{indent}[muted]coverage: {cov.pods} pods in {cov.classes} equivalence classes, {cov.pairs} pairs "
            f"of classes probed both ways, {cov.sampled} pods sampled (seed {cov.seed}; --exhaustive for "
            "every pod)[/muted]",
            highlight=False,
        )
    retried = sum(1 for c in result.checked if c.attempts > 1)
    if retried:
        out.print(f"{indent}[muted]{retried} probes timed out at first and were retried[/muted]", highlight=False)


# --- trace -----------------------------------------------------------------------------------------


def trace_document(request: TraceRequest, summary: TraceSummary, ovn_trace: str) -> dict[str, Any]:
    """``lab trace -o json|yaml``."""
    return {
        "pod": request.pod,
        "interface": request.nic,
        "datapath": request.datapath,
        "src": request.src,
        "dst": request.dst,
        "port": request.port,
        "protocol": request.protocol,
        "nextHop": request.next_hop,
        "microflow": request.microflow,
        "steps": [{"what": s.what, "text": s.text} for s in summary.steps],
        "verdict": summary.verdict,
        "deliveredTo": summary.delivered_to,
        "dropped": summary.dropped,
        "ovnTrace": ovn_trace,
    }


def print_trace(ui: Ui, request: TraceRequest, summary: TraceSummary) -> None:
    """The path in plain words: where the packet leaves, each step, the verdict (ovn-trace's own warnings)."""
    out = ui.out
    hop = f"next hop {request.next_hop}" if request.next_hop else "on-link"
    out.print(
        f"[object]{escape(request.pod)}[/object] {escape(request.src)} → {escape(request.dst)}:"
        f"{request.port}/{request.protocol} leaves on {request.nic} ({hop}), enters switch "
        f"{escape(request.datapath)}"
    )
    for i, step in enumerate(summary.steps, 1):
        style = "error" if "DROPPED" in step.text or step.what == "drop" else ""
        line = escape(step.text)
        out.print(f"  {i:>2}. " + (f"[{style}]{line}[/{style}]" if style else line))
    style = "ok" if summary.delivered_to else "error"
    out.print(f"  [{style}]⇒ {escape(summary.verdict)}[/{style}]")
    for warning in summary.warnings[:5]:
        ui.warning(f"ovn-trace: {warning}")


def print_trace_command(ui: Ui, argv: list[str]) -> None:
    """The ``$ ovn-trace …`` line that introduces ovn-trace's own output (which the caller prints verbatim)."""
    shown = " ".join(a if " " not in a else f"'{a}'" for a in argv)
    ui.out.print(f"\n[muted]$ {escape(shown)}[/muted]")


# --- status / down / graph ---------------------------------------------------------------------------


def status_document(s: StatusReport) -> dict[str, Any]:
    """``lab status -o json|yaml``."""
    daemons = s.daemons
    return {
        "name": s.name, "stateDir": str(s.state_dir), "exists": s.exists, "healthy": s.healthy,
        "daemons": [{"name": d.name, "pid": d.pid, "running": d.running, "responsive": d.responsive}
                    for d in (daemons.daemons if daemons else ())],
        "chassisRegistered": bool(daemons and daemons.chassis_registered), "listenerHub": s.hub,
        "apiServers": s.apiservers, "pods": {"up": s.pods_up, "missing": s.pods_missing, "failed": s.failures},
        "northbound": s.nb_counts, "inputs": s.inputs,
        "faults": [f.to_json() for f in s.faults], "buildCompleted": s.build_completed,
        "nbCfg": s.health.nb_cfg,
    }  # fmt: skip


def print_faults(ui: Ui, faults: list[Fault]) -> None:
    """Why the lab cannot answer, one fault a line with the command that recovers it (stderr)."""
    for f in faults:
        ui.error(f"{f.what} {f.problem}")
        ui.err.print(f"  recover: {escape(f.recover)}", highlight=False)


def print_status(ui: Ui, s: StatusReport) -> None:
    """Health, a table of daemons, pods (failed, missing) and northbound row counts."""
    out = ui.out
    if not s.exists:
        out.print(f"lab {escape(s.name)} is not up [muted]({escape(str(s.state_dir))})[/muted]")
        return
    health = "[ok]healthy[/ok]" if s.healthy else "[error]unhealthy[/error]"
    out.print(f"lab {escape(s.name)}: {health} [muted](state {escape(str(s.state_dir))})[/muted]")
    for f in s.faults:
        out.print(f"  [error]✗ {escape(f.what)}[/error] {escape(f.problem)}")
        out.print(f"    recover: {escape(f.recover)}", highlight=False)
    if s.health.nb_cfg is not None and s.healthy:
        out.print(f"  OVN caught up: configuration {s.health.nb_cfg} on every chassis")
    table = Table("daemon", "pid", "running", "responsive", box=None, pad_edge=False)
    for d in s.daemons.daemons if s.daemons else ():
        table.add_row(d.name, str(d.pid or "-"), _mark(d.running), _mark(d.responsive))
    table.add_row("listener hub", "", _mark(s.hub), "")
    for node, alive in sorted(s.apiservers.items()):
        table.add_row(f"apiserver {node}", "", _mark(alive), "")
    out.print(table)
    if s.daemons is not None:
        out.print(f"chassis registered: {_mark(s.daemons.chassis_registered)}")
    out.print(
        f"pods: {len([p for p in s.pods_up if not p.startswith('node/')])} up, {len(s.failures)} failed, "
        f"{len(s.pods_missing)} missing"
    )
    for ref, why in sorted(s.failures.items()):
        out.print(f"  [error]failed[/error] {escape(ref)}: {escape(why)}")
    for ref in s.pods_missing:
        out.print(f"  [error]missing[/error] {escape(ref)} (its namespace is gone: run lab up again)")
    if s.nb_counts:
        out.print("northbound: " + ", ".join(f"{k} {v}" for k, v in s.nb_counts.items()))


def print_down(ui: Ui, name: str, r: DownReport) -> None:
    ui.out.print(
        f"lab {escape(name)} down in {r.seconds:.2f}s: stopped {len(r.stopped)} processes, "
        f"deleted {len(r.namespaces)} namespaces"
    )


def print_wrote(ui: Ui, path: Path) -> None:
    ui.out.print(f"wrote {escape(str(path))}")


# --- demo --------------------------------------------------------------------------------------------


def print_demo_start(out: Console, scenario: Path) -> None:
    out.print(f"apibridge demo: one OVN twin, three inputs from {escape(str(scenario))}")


def print_phase_start(out: Console, phase: Phase) -> None:
    out.print(f"\n[object]{escape(phase.title)}[/object] [muted](cluster.yaml + {escape(phase.file)})[/muted]")


def print_phase(out: Console, result: PhaseResult) -> None:
    """One phase of the demo as it finishes: the reconcile, who reaches the API, leaks, the verify counts."""
    up = result.up
    out.print(
        f"   lab {'reconciled' if up.reconciled else 'up'} in {up.seconds:.2f}s: {up.pods_up} pods "
        f"[muted]({escape(up.nb.summary())})[/muted]"
    )
    for line in up.acl_errors:
        out.print(f"   [warning]warning: {escape(line)}[/warning]")
    for c in result.verify.checked:
        if c.exp.kind == "api":
            style = "ok" if c.result == "reach" else "muted"
            verb = "reaches" if c.result == "reach" else "cannot reach"
            out.print(
                f"   [{style}]{escape(c.exp.source)} {verb} https://{escape(c.hostport)}/version"
                f"[/{style}] [muted]({escape(c.detail)})[/muted]"
            )
    for c in result.leaks:
        out.print(f"   [error]{escape(c.message())}[/error]")
    for verified in (result.verify, result.adversarial):
        if verified is not None:
            mode = "adversarial verify" if verified.adversarial else "verify"
            out.print(f"   {mode}: {verified.passed} passed, {verified.failed} failed in {verified.seconds:.1f}s")


def demo_table(result: DemoReport) -> Table:
    """Scenario × check: what each phase observed, marked against what the story expects."""
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
            found = next((c for p in result.phases if p.phase is phase for c in p.checks if c.name == check_name), None)
            if found is None:
                row.append("—")
            else:
                row.append(f"{_mark(found.ok)} {escape(found.observed)}")
        table.add_row(*row)
    return table


def print_demo(out: Console, result: DemoReport, *, seconds: float, kept: str | None = None) -> None:
    """The end of the demo: the table, the picture, the verdict (and how to remove a ``kept`` lab)."""
    out.print()
    out.print(demo_table(result))
    if result.graph:
        out.print(f"picture of the final lab: {escape(str(result.graph))}")
    verdict = (
        "[ok]every phase behaved as expected[/ok]" if result.ok else "[error]a phase did not behave as expected[/error]"
    )
    still_up = "" if kept is None else f" — lab {escape(kept)} is still up (apibridge lab down --name {escape(kept)})"
    out.print(f"{verdict} in {seconds:.1f}s{still_up}")
