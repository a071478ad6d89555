"""The README's two commands exist, are executable, and CI runs exactly the test command."""

from __future__ import annotations

import os
import subprocess

import pytest

from .support import REPO

SCRIPTS = ["scripts/setup.sh", "scripts/test.sh", "scripts/demo.sh", "scripts/tools.sh", ".ci/run"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_is_executable_bash(script: str) -> None:
    path = REPO / script
    assert os.access(path, os.X_OK)
    assert path.read_text().startswith("#!/usr/bin/env bash\n")
    subprocess.run(["bash", "-n", str(path)], check=True)


def test_readme_commands_are_the_scripts() -> None:
    readme = (REPO / "README.md").read_text()
    assert "./scripts/demo.sh" in readme and "./scripts/test.sh" in readme
    assert "exec ./scripts/test.sh" in (REPO / ".ci/run").read_text()


@pytest.mark.parametrize("script", ["scripts/test.sh", "scripts/demo.sh"])
def test_commands_set_up_first(script: str) -> None:
    lines = [line for line in (REPO / script).read_text().splitlines() if line and not line.startswith("#")]
    first_command = next(line for line in lines if not line.startswith(("set ", "cd ")))
    assert first_command == "./scripts/setup.sh"


def test_the_test_command_builds_the_tools_and_the_demo_never_waits_for_go() -> None:
    commands = [
        line.strip()
        for line in (REPO / "scripts/test.sh").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert commands.index("./scripts/tools.sh") == commands.index("./scripts/setup.sh") + 1
    for script in ("scripts/demo.sh", "scripts/setup.sh"):
        code = [line for line in (REPO / script).read_text().splitlines() if not line.lstrip().startswith("#")]
        assert not [line for line in code if "tools.sh" in line or line.lstrip().startswith("go ")], script
