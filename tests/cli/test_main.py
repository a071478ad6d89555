"""The root group: version, help, logging, and the two installed entry points."""

from __future__ import annotations

import logging
from typing import Any

import click
import pytest

import apibridge
from apibridge.cli import check as check_module

from .support import BIN, Invoke, run_installed


def test_version(invoke: Invoke) -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert apibridge.__version__ in result.stdout


def test_help_lists_every_command(invoke: Invoke) -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("check", "render", "inject"):
        assert command in result.stdout


def test_verbose_shows_debug_records_of_apibridge(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    real_plan = check_module.plan

    def logging_plan(*args: Any, **kwargs: Any) -> Any:
        logging.getLogger("apibridge.plan").debug("planning now")
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(check_module, "plan", logging_plan)
    before = logging.getLogger("apibridge").level
    assert "planning now" in invoke("-v", "check", "examples/apibridge/").stderr
    assert "planning now" not in invoke("check", "examples/apibridge/").stderr
    assert logging.getLogger("apibridge").level == before  # put back after the command


def test_both_console_scripts_are_installed() -> None:
    for program in ("apibridge", "kubectl-apibridge"):
        assert (BIN / program).exists(), program
        proc = run_installed(program, "--version")
        assert proc.returncode == 0, proc.stderr
        assert apibridge.__version__ in proc.stdout


def test_kubectl_plugin_names_itself_like_kubectl() -> None:
    proc = run_installed("kubectl-apibridge", "--help")
    assert proc.returncode == 0
    assert "Usage: kubectl apibridge" in proc.stdout


def test_piped_output_is_plain_text() -> None:
    proc = run_installed("apibridge", "check", "examples/seed/")
    assert "\x1b[" not in proc.stdout + proc.stderr  # no ANSI colour when not on a terminal


# ---- `apibridge --help` is as quick as `--version` (issue #10, item 7) ------------------------------------
def test_top_level_help_imports_no_command() -> None:
    """It took 1.8 s because every command group was imported to list its one-line help."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from apibridge.cli.main import cli\n"
        "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('apibridge.model', 'apibridge.plan', "
        "'apibridge.check', 'apibridge.twin', 'apibridge.operator', 'apibridge.admission', 'kopf', 'aiohttp'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_the_help_table_matches_the_commands() -> None:
    from apibridge.cli.main import LAZY_COMMANDS, cli

    ctx = click.Context(cli)
    for name, (_, _, line) in LAZY_COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None and command.help is not None
        assert command.help.strip().startswith(line.rstrip(".").rstrip()), name
