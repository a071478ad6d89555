"""Subprocesses and pidfiles for the twin, with the two guarantees everything above relies on.

1. A failing command is never silent: :func:`run` raises :class:`CommandError` carrying the exact
   command line, the exit code and stderr, so a broken ``ip``/``ovs-vsctl`` call reads like a shell
   session in the traceback.
2. We only ever kill what is ours: :func:`kill_owned` checks that the pid's command line mentions
   the lab's state directory before sending a signal. A stale pidfile whose pid was recycled by a
   stranger must never make a teardown kill that stranger.

It also holds the small spawn/ready handshake used by the in-namespace servers (apiserver
stand-in, pod listeners): the child prints one ``ready`` line once its sockets are bound, so the
parent knows the port is open without polling it.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

READY_LINE = "ready"
# Servers we spawned, kept so Python does not warn about them and so we can reap them.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


SHOWN_ARGV = 240  # characters of a failed command shown in its message; the rest goes to the lab's log
SHOWN_DETAIL = 400


class CommandError(RuntimeError):
    """A command exited non-zero (or could not be started / timed out).

    The message stays short whatever the command's size — the step and count (``adding ports to
    br-int (500 of 1000)``), the start of the command, the start of its stderr — because a
    1,000-port ``ovs-vsctl`` is 40 KB; :attr:`full` has all of it, for the lab's log.
    """

    def __init__(
        self,
        argv: Sequence[str],
        returncode: int | None,
        stdout: str,
        stderr: str,
        note: str = "",
        step: str = "",
    ) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.step = step
        status = note or f"exit {returncode}"
        detail = (stderr.strip() or stdout.strip()).replace("\n", " | ")
        command = shlex.join(self.argv)
        if len(command) > SHOWN_ARGV:
            command = f"{command[:SHOWN_ARGV]}… ({len(self.argv)} arguments)"
        if len(detail) > SHOWN_DETAIL:
            detail = detail[:SHOWN_DETAIL] + "…"
        where = f"{step}: " if step else ""
        super().__init__(f"{where}command failed ({status}): {command}" + (f": {detail}" if detail else ""))

    @property
    def full(self) -> str:
        """The whole command and everything it printed (what the lab's log keeps)."""
        return (
            f"step: {self.step or '-'}\ncommand: {shlex.join(self.argv)}\nexit: {self.returncode}\n"
            f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}\n"
        )


@dataclass(frozen=True)
class Completed:
    """What a finished command printed."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def run(
    argv: Sequence[str],
    *,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    check: bool = True,
    step: str = "",
) -> Completed:
    """Run ``argv`` (no shell), capture text output; raise :class:`CommandError` if it fails and ``check``
    (``step`` names what the command was for, in the error)."""
    try:
        proc = subprocess.run(
            list(argv),
            input=input,
            env=dict(env) if env is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise CommandError(argv, None, "", str(exc), note="not found", step=step) from exc
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise CommandError(argv, None, out, err, note=f"timed out after {timeout:g}s", step=step) from exc
    done = Completed(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise CommandError(argv, proc.returncode, proc.stdout, proc.stderr, step=step)
    return done


# --- processes ---------------------------------------------------------------------------------


def cmdline(pid: int) -> list[str] | None:
    """The argv of a live (non-zombie) process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
    if state in ("Z", "X") or not raw:
        return None
    return [part.decode(errors="replace") for part in raw.rstrip(b"\0").split(b"\0")]


def alive(pid: int) -> bool:
    """True while ``pid`` runs (zombies count as dead: nobody may have reaped them yet)."""
    _reap(pid)
    return cmdline(pid) is not None


def owned_by(pid: int, marker: str) -> bool:
    """True if ``pid`` is alive and its command line mentions ``marker`` (our state directory)."""
    argv = cmdline(pid)
    return argv is not None and any(marker in part for part in argv)


def read_pidfile(path: Path) -> int | None:
    """The pid in ``path``, or None if the file is missing or garbage."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our own child (else its zombie would look alive)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _CHILDREN[pid]
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def kill_owned(pid: int, marker: str, *, grace: float = 3.0) -> bool:
    """SIGTERM, then SIGKILL after ``grace`` seconds, a process that is provably ours.

    Returns True if the process was ours and is now gone; False (and no signal sent) if the pid is
    dead or belongs to someone else.
    """
    if not owned_by(pid, marker):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_gone(pid, grace):
        return True
    if owned_by(pid, marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_gone(pid, 5.0)
    return True


def kill_all_owned(pids: Sequence[int], marker: str, *, grace: float = 3.0) -> list[int]:
    """:func:`kill_owned` for many at once: SIGTERM to each of ours, one shared grace period, SIGKILL
    for the rest. Returns the pids that were ours (now gone)."""
    ours = [pid for pid in pids if owned_by(pid, marker)]
    for pid in ours:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    left = ours
    while left and time.monotonic() < deadline:
        left = [pid for pid in left if alive(pid)]
        if left:
            time.sleep(0.01)
    for pid in left:
        if owned_by(pid, marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for pid in left:
        wait_gone(pid, 5.0)
    return ours


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` has exited; True if it did within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if not alive(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def pids_mentioning(marker: str) -> list[int]:
    """Every live process whose command line mentions ``marker`` (used to prove a teardown is complete)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid() and owned_by(int(entry.name), marker):
            found.append(int(entry.name))
    return found


# --- spawn with a ready handshake ------------------------------------------------------------------


def spawn_ready(argv: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None, timeout: float = 10.0) -> int:
    """Start a server in the background and return its pid once it printed :data:`READY_LINE`.

    The child runs in its own session (a Ctrl-C on the caller does not reach it), writes its
    diagnostics to ``log``, and must print the ready line on stdout once its sockets are bound.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as log_fh:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log_fh,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    assert proc.stdout is not None
    line = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(remaining):
                break
            chunk = os.read(proc.stdout.fileno(), 256)
            if not chunk:
                break
            line += chunk
    proc.stdout.close()
    if line.strip().decode(errors="replace") != READY_LINE:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        said = line.decode(errors="replace")
        raise CommandError(argv, proc.returncode, said, tail, note="server did not become ready")
    _CHILDREN[proc.pid] = proc
    return proc.pid


def announce_ready() -> None:
    """Child side of :func:`spawn_ready`: say ready, then detach stdout so later prints cannot block or fail."""
    sys.stdout.write(READY_LINE + "\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def write_pidfile(path: Path, pid: int | None = None) -> None:
    """Write ``pid`` (default: our own) atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{pid if pid is not None else os.getpid()}\n")
    os.replace(tmp, path)


@dataclass(frozen=True)
class Spawned:
    """A background server of a lab: its pid, the pidfile it wrote and the marker proving it is ours."""

    pid: int
    pidfile: Path
    log: Path
    marker: str

    @property
    def alive(self) -> bool:
        return owned_by(self.pid, self.marker)

    def stop(self, grace: float = 3.0) -> bool:
        """Stop it (only if the pid is still ours); True if it was running."""
        was = kill_owned(self.pid, self.marker, grace=grace)
        self.pidfile.unlink(missing_ok=True)
        return was


def stop_pidfile(pidfile: Path, marker: str, grace: float = 3.0) -> bool:
    """Stop the process of ``pidfile`` if it is ours (works from another process, e.g. ``lab down``)."""
    pid = read_pidfile(pidfile)
    was = pid is not None and kill_owned(pid, marker, grace=grace)
    pidfile.unlink(missing_ok=True)
    return was
