"""The root ``apibridge`` group and the guard that keeps bad input from ever showing a traceback.

The guard sits in the group's ``invoke`` (not only in ``main``), so the installed command and
click's ``CliRunner`` in the tests behave identically: an ``InputError`` becomes one line
``error: <file (document N): object: field F: message (hint: …)>`` and exit 2; anything unexpected
becomes one short line and exit 2 as well, with the traceback only when ``APIBRIDGE_DEBUG=1``.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from apibridge import __version__
from apibridge.base.errors import InputError

DEBUG_ENV = "APIBRIDGE_DEBUG"


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


EXIT_FINDINGS = 1  # as apibridge.cli.common (not imported here: it pulls in the planner)
EXIT_INPUT = 2

# Every command is imported only when it runs: `apibridge --help` lists them from this table (name ->
# module, attribute, the one-line help), so it starts as fast as `--version` instead of importing the
# model, the planner, kopf, aiohttp and ovsdbapp. tests/cli/test_main.py checks the lines against the commands.
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "check": ("apibridge.cli.check", "check_command", "Validate manifests (files, directories, or - for stdin)."),
    "render": ("apibridge.cli.render", "render_command", "Print the NAD and Subnet of every ApiBridge in FILE..."),
    "inject": ("apibridge.cli.inject", "inject_command", "Print -f FILE with the API-server attachment added..."),
    "webhook": ("apibridge.cli.incluster_cmds", "webhook_command", "Serve the mutating admission webhook..."),
    "certs": (
        "apibridge.cli.incluster_cmds",
        "certs_command",
        "Write a CA and a serving certificate...",
    ),
    "operator": ("apibridge.cli.operator_cmds", "operator_command", "Run the ApiBridge controller: NAD + Subnet..."),
    "doctor": (
        "apibridge.cli.operator_cmds",
        "doctor_command",
        "Check the install end to end, like `linkerd check`...",
    ),
    "lab": ("apibridge.cli.lab_cmds", "lab_group", "The OVN twin: real OVN/OVS daemons and network namespaces..."),
    "demo": ("apibridge.cli.lab_cmds", "demo_command", "The story on the real OVN twin: no access → the seed's fix..."),
}


class GuardedGroup(click.Group):
    """A click group whose commands report unusable input as one line and exit 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            module, attr, _ = LAZY_COMMANDS[cmd_name]
            command = getattr(importlib.import_module(module), attr)
            assert isinstance(command, click.Command)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from ``LAZY_COMMANDS``, without importing a command."""
        rows = [(name, LAZY_COMMANDS[name][2]) for name in sorted(LAZY_COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except InputError as exc:
            from apibridge.report.console import Ui

            Ui().input_error(exc)
            if _debug():
                traceback.print_exc()
            ctx.exit(EXIT_INPUT)
        except BrokenPipeError:
            # The reader went away (`apibridge render … | head`): stop quietly, like other CLI tools.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
            ctx.exit(EXIT_FINDINGS)
        except Exception as exc:
            from apibridge.report.console import Ui

            Ui().error(
                f"internal error: {type(exc).__name__}: {exc}"
                + ("" if _debug() else f" (set {DEBUG_ENV}=1 to see the traceback)")
            )
            if _debug():
                traceback.print_exc()
            ctx.exit(EXIT_INPUT)


@click.group(cls=GuardedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="apibridge")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging of apibridge on stderr.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Give Kube-OVN custom-VPC pods the Kubernetes API server: checked, fenced per tenant.

    \b
    Exit codes: 0 fine, 1 findings of severity error, 2 unusable input.
    Set APIBRIDGE_DEBUG=1 to see tracebacks.
    """
    if verbose:
        _debug_logging(ctx)


def _debug_logging(ctx: click.Context) -> None:
    """Debug records of ``apibridge.*`` to stderr for this invocation only.

    Only our logger is touched, and it is put back when the command ends: in-process callers (the
    tests, the twin) keep their own logging set-up.
    """
    from rich.logging import RichHandler

    from apibridge.report.console import make_console

    logger = logging.getLogger("apibridge")
    handler = RichHandler(console=make_console(stderr=True), show_path=False)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(previous)

    ctx.call_on_close(restore)


def _prog_name() -> str:
    """``kubectl apibridge`` when run as a kubectl plugin, else the name it was called by."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "apibridge"
    return "kubectl apibridge" if name.startswith("kubectl-") else name


def main() -> None:
    """Console-script entry point (``apibridge`` and ``kubectl-apibridge``)."""
    cli.main(prog_name=_prog_name())
