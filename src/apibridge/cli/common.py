"""What every command shares: the ``-o`` option and the exit codes.

Kept apart from ``main`` so that command modules can use it without importing the root group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

EXIT_OK = 0
EXIT_FINDINGS = 1  # findings of severity error (or a plan that cannot be made)
EXIT_INPUT = 2  # unusable input or usage

F = TypeVar("F", bound=Callable[..., Any])


def output_option(choices: tuple[str, ...], default: str) -> Callable[[F], F]:
    """``-o/--output`` with the formats a command supports."""
    return click.option(
        "-o", "--output", type=click.Choice(choices), default=default, show_default=True,
        help="Output format.",
    )
