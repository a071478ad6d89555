"""Diagnostics stay on one line and plain when piped, whatever the terminal width."""

from __future__ import annotations

import pytest

from apibridge.base.errors import InputError, Location
from apibridge.report.console import Ui, make_console, one_line, steps


def test_one_line() -> None:
    assert one_line("a\n  b\n\nc") == "a b c"
    assert one_line("plain") == "plain"


def test_errors_are_never_wrapped(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "30")
    err = InputError(
        "a message that is much longer than thirty columns [with brackets]",
        Location("some/file.yaml", 2, "Subnet/x", "spec.cidrBlock"),
        hint="do the right thing",
    )
    Ui().input_error(err)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"error: {err}\n"
    assert "(document 3)" in captured.err and "\x1b[" not in captured.err


def test_warning_and_info_go_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    ui = Ui()
    ui.warning("w\nsecond line")
    ui.info("i")
    captured = capsys.readouterr()
    assert captured.err == "warning: w second line\ninfo: i\n"
    assert captured.out == ""


def test_progress_is_silent_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    console = make_console(stderr=True)
    with steps(console, ["one", "two"]) as step:
        step("one")
        step("two")
    assert capsys.readouterr().err == ""
