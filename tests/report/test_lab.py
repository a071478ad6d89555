"""The twin's reports as text and documents, without a lab: typed reports in, the lines people read out."""

from __future__ import annotations

from pathlib import Path

import pytest

from apibridge.plan.types import PlanProblem
from apibridge.report import lab as lab_report
from apibridge.report.console import Ui, activity, counting, make_console
from apibridge.twin import demo
from apibridge.twin.lab import StatusReport, UpReport
from apibridge.twin.ovn.realize import Changes
from apibridge.twin.proof.verify import VerifyReport


def _up(**more: object) -> UpReport:
    return UpReport(name="t", state_dir=Path("/run/t"), reconciled=True, started_daemons=(), nb=Changes(), **more)  # type: ignore[arg-type]


def test_a_lab_that_is_not_up_says_so_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status = StatusReport(
        name="t",
        state_dir=Path("/run/t"),
        exists=False,
        daemons=None,
        hub=False,
        apiservers={},
        pods_up=[],
        pods_missing=[],
        failures={},
        nb_counts={},
        inputs=[],
    )
    lab_report.print_status(Ui(), status)
    assert capsys.readouterr().out == "lab t is not up (/run/t)\n"
    assert lab_report.status_document(status)["healthy"] is False


def test_up_prints_results_on_stdout_and_warnings_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    report = _up(pods_up=2, nodes=1, acl_errors=["bad ACL"], added=["a/b"])
    report.nb.note("added", "switches")
    lab_report.print_up(Ui(), report)
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1:] == [
        "  northbound: + 1 switches",
        "  pods: 2 up, 0 failed; nodes: 1 (+1 added)",
    ]
    assert captured.err == "warning: bad ACL\n"
    assert lab_report.up_document(report)["northbound"] == {"added": {"switches": 1}, "changed": {}, "removed": {}}


def test_up_prints_each_plan_problem_by_its_severity(capsys: pytest.CaptureFixture[str]) -> None:
    taken = PlanProblem(
        "AB105", "ApiBridge/web", "spec.destinations.dns", "DNS Service kube-system/kube-dns", severity="info"
    )
    odd = PlanProblem("AB106", "ApiBridge/y", "f", "odd but workable", severity="warning")
    problems = [taken, odd, PlanProblem("AB101", "ApiBridge/x", "f", "no ClusterIP")]  # severity "error"
    lab_report.print_up(Ui(), _up(problems=problems))
    assert capsys.readouterr().err.splitlines() == [
        "info: ApiBridge/web: DNS Service kube-system/kube-dns",
        "warning: ApiBridge/y: odd but workable",
        "error: ApiBridge/x: no ClusterIP",
    ]


def test_verify_summary_and_the_demo_table(capsys: pytest.CaptureFixture[str]) -> None:
    lab_report.print_verify(Ui(), VerifyReport(adversarial=True), indent="  ")
    # a verify that probed nothing proves nothing: it fails
    assert capsys.readouterr().out == (
        "  FAILED: nothing was probed, so nothing is proven\n  verify (adversarial): 0 passed, 1 failed in 0.0s ()\n"
    )
    first = demo.PHASES[0]
    phase = demo.PhaseResult(
        first, _up(), VerifyReport(), None, [demo.Check(first.key, "controller → API", "blocked", "blocked", True)]
    )
    out = make_console()
    lab_report.print_demo(out, demo.DemoReport(phases=[phase]), seconds=1.0, kept="t")
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if "controller → API" in line)
    assert "✓ blocked" in row and row.count("—") == 2  # the phases that did not run
    assert text.rstrip().endswith(
        "every phase behaved as expected in 1.0s — lab t is still up (apibridge lab down --name t)"
    )


def test_lab_progress_is_silent_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    console = make_console(stderr=True)
    with activity(console, "starting") as describe:
        describe("loading")
    with counting(console, "probing") as done:
        done(1, 2)
    assert capsys.readouterr().err == ""
