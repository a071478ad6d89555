"""The ``invoke`` fixture: run the CLI in-process through click's CliRunner, stdout and stderr apart."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result

from apibridge.cli.main import cli

from .support import REPO, Invoke


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run ``apibridge ARGS`` in-process from the repository root."""
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("APIBRIDGE_DEBUG", raising=False)

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=input, env=env, catch_exceptions=False)

    return run
