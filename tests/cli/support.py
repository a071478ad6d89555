"""Shared helpers of the CLI tests: where things are, running the installed program, checking errors."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from click.testing import Result

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
BIN = Path(sys.executable).parent  # the venv running the tests has the console scripts

Invoke = Callable[..., Result]  # the `invoke` fixture (conftest.py)


def example_inputs() -> dict[str, list[str]]:
    """Each complete input under examples/, as paths relative to the repository.

    A directory is one input, except a phased one (files ``1-….yaml``, ``2-….yaml`` next to a
    ``cluster.yaml``), where each phase together with the cluster is an input.
    """
    inputs: dict[str, list[str]] = {}
    for directory in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        rel = directory.relative_to(REPO)
        phases = sorted(p for p in directory.glob("*.yaml") if p.name[:1].isdigit())
        if not phases:
            inputs[directory.name] = [f"{rel}/"]
        for phase in phases:
            inputs[f"{directory.name}/{phase.stem}"] = [str(rel / "cluster.yaml"), str(phase.relative_to(REPO))]
    return inputs


def run_installed(program: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed console script (``apibridge`` or ``kubectl-apibridge``) as a real process."""
    env = {k: v for k, v in os.environ.items() if k not in ("APIBRIDGE_DEBUG", "FORCE_COLOR")}
    return subprocess.run(
        [str(BIN / program), *args],
        cwd=REPO,
        input=input,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def documents(text: str) -> list[dict[str, Any]]:
    """The non-empty documents of a YAML stream."""
    return [d for d in yaml.safe_load_all(text) if d is not None]


def assert_one_line_error(stderr: str, *needles: str) -> str:
    """stderr is exactly one ``error: …`` line containing every needle, and no traceback."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    line = lines[0]
    assert line.startswith("error: "), line
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


DROPS_API = REPO / "tests" / "twin_lab" / "data" / "drops-api.yaml"  # a NetworkPolicy (AB310) and an ANP (AB313)


def assert_warns_of_api_drops(stderr: str) -> None:
    """``render``/``inject`` on ``DROPS_API``: each finding as a warning, with its file, object and field."""
    for code, obj, field in [
        ("AB310", "NetworkPolicy/ingress-nginx/deny-egress", "spec.egress"),
        ("AB313", "AdminNetworkPolicy/no-api", "spec.egress[0]"),
    ]:
        assert code in stderr and obj in stderr and field in stderr, (code, stderr)
    assert str(DROPS_API) in stderr  # the file the policies came from
    assert "warning" in stderr and "will not reach the API server" in stderr
