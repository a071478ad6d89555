"""What a wheel of apibridge carries beyond the Python package: ``apibridge lab tools`` and ``lab up --kube``
need the pinned Go modules of the real components (tools/*: go.mod, go.sum, the import files), the script
that builds them (scripts/tools.sh) and the Helm chart (deploy/chart). A checkout has them at the top of
the repository; a wheel gets copies under ``apibridge/_bundle/`` (same layout), so a pip-installed user gets
the Go tools with one command and no clone. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = ("scripts/tools.sh", "tools", "deploy/chart")


class BuildPyWithBundle(build_py):  # type: ignore[misc]
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install runs from the checkout, which has them
        target = Path(self.build_lib) / "apibridge" / "_bundle"
        for rel in BUNDLED:
            source = ROOT / rel
            if not source.exists():
                raise SystemExit(f"setup.py: {rel} is missing: build the wheel from a checkout (or its sdist)")
            if source.is_dir():
                shutil.copytree(
                    source, target / rel, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", ".*")
                )
            else:
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / rel)


setup(cmdclass={"build_py": BuildPyWithBundle})
