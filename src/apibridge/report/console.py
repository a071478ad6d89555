"""The two consoles of a command, and the small pieces every command prints the same way.

Results go to stdout and everything else (errors, warnings, assumptions, progress) to stderr, so
``apibridge render … | kubectl apply -f -`` and ``apibridge check -o json … | jq`` always get clean
input. Colour and progress appear only on a terminal (rich decides from ``isatty``, ``NO_COLOR`` and
``FORCE_COLOR``); piped output is plain text. Lines are never hard-wrapped (``soft_wrap``): an error
must stay one line, whatever the terminal width.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.theme import Theme

from apibridge.base.errors import InputError

THEME = Theme(
    {
        "error": "bold red",
        "warning": "yellow",
        "info": "cyan",
        "ok": "bold green",
        "object": "bold",
        "code": "magenta",
        "field": "blue",
        "muted": "dim",
    }
)


def make_console(*, stderr: bool = False) -> Console:
    """A console on stdout (results) or stderr (diagnostics); colour only when it is a terminal."""
    return Console(stderr=stderr, theme=THEME, soft_wrap=True, highlight=False, emoji=False)


@dataclass
class Ui:
    """What a command prints through: ``out`` for results, ``err`` for everything else."""

    out: Console = field(default_factory=make_console)
    err: Console = field(default_factory=lambda: make_console(stderr=True))

    def error(self, message: str) -> None:
        """``error: <message>`` on stderr, always on one line."""
        self.err.print(f"[error]error:[/error] {escape(one_line(message))}")

    def warning(self, message: str) -> None:
        self.err.print(f"[warning]warning:[/warning] {escape(one_line(message))}")

    def info(self, message: str) -> None:
        self.err.print(f"[info]info:[/info] {escape(one_line(message))}")

    def by_severity(self, severity: str, message: str) -> None:
        """``error:``/``warning:``/``info:`` as the problem's own severity says (unknown: a warning)."""
        {"error": self.error, "info": self.info}.get(severity, self.warning)(message)

    def input_error(self, exc: InputError) -> None:
        """The one line the user gets for unusable input: file (document N): object: field F: message (hint)."""
        self.error(str(exc))


def one_line(text: str) -> str:
    """Collapse line breaks: a diagnostic is one line, greppable and safe in CI logs."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip()) or text.strip()


@contextmanager
def progress(console: Console, *, counted: bool = False, elapsed: bool = True) -> Iterator[Progress]:
    """The one progress display every command uses: a spinner and what is going on, plus a bar and
    done/total when ``counted``, plus the time so far when ``elapsed``. Transient on a terminal, nothing
    when piped."""
    columns: list[ProgressColumn] = [SpinnerColumn(), TextColumn("{task.description}")]
    if counted:
        columns += [BarColumn(), MofNCompleteColumn()]
    if elapsed:
        columns.append(TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        yield bar


@contextmanager
def steps(console: Console, names: Sequence[str]) -> Iterator[Step]:
    """Progress through named stages on stderr (a transient bar on a terminal, nothing when piped)."""
    with progress(console, counted=True, elapsed=False) as bar:
        task = bar.add_task(names[0] if names else "", total=len(names))
        yield Step(bar, task, list(names))


@contextmanager
def activity(console: Console, first: str) -> Iterator[Callable[[str], None]]:
    """Progress of work whose stages are not known ahead (``lab up``): call the result with each stage."""
    with progress(console) as bar:
        task = bar.add_task(first)

        def describe(description: str) -> None:
            bar.update(task, description=description)

        yield describe


@contextmanager
def counting(console: Console, description: str) -> Iterator[Callable[[int, int], None]]:
    """Progress through items whose number may be known late (``lab verify``): call it with (done, total)."""
    with progress(console, counted=True) as bar:
        task = bar.add_task(description, total=None)

        def done(n: int, total: int) -> None:
            bar.update(task, completed=n, total=total)

        yield done


@dataclass
class Step:
    """Advance with ``step("planning")``: the previous stage counts as done."""

    progress: Progress
    task: TaskID
    names: list[str]
    started: int = 0

    def __call__(self, description: str) -> None:
        if self.started:
            self.progress.advance(self.task)
        self.started += 1
        self.progress.update(self.task, description=description)
