"""``apibridge demo``: three phases on one lab, a table, a picture, exit 0, and well under a minute."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from apibridge.cli.lab_cmds import demo_command

from .conftest import EXAMPLES

pytestmark = pytest.mark.ovn


def test_demo_runs_every_phase_as_expected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = Path(tempfile.mkdtemp(prefix="abl-", dir="/tmp"))
    monkeypatch.setenv("APIBRIDGE_LAB_DIR", str(base))
    picture = tmp_path / "demo.svg"
    root = click.Group(commands={"demo": demo_command})
    try:
        t0 = time.monotonic()
        result = CliRunner().invoke(
            root,
            [
                "demo",
                "--name",
                f"demo{os.getpid() % 100000}",
                "--scenario",
                str(EXAMPLES / "demo"),
                "--graph",
                str(picture),
            ],
        )
        elapsed = time.monotonic() - t0
        assert not any(base.iterdir()), "the demo must take its lab down"
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert result.exit_code == 0, result.output
    assert (
        "LEAK: ingress-nginx/ingress-nginx-controller reached tenant-b/operator 100.100.100.3:8080 through the "
        "shared attachment subnet vpc-apiserver-subnet"
    ) in result.output
    assert "every phase behaved as expected" in result.output
    assert picture.read_text().lstrip().startswith("<?xml")
    assert elapsed < 60
