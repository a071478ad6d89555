"""A pip-installed apibridge (a wheel, no checkout) gets the Go tools with one command, ``apibridge lab tools``:
the wheel carries the pinned Go modules, the tools script and the chart (setup.py bundles them), and the
command links the tools into a per-user directory that ``lab up --kube`` then looks in.

Built here for real: ``pip wheel`` of a copy of the checkout, installed into a fresh venv outside it; the
command is run there with ``--check`` (build nothing: the machine's tool cache is already warm, and a cold
cache must be named as such).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from .support import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SOURCES = ("src", "tools", "deploy/chart", "scripts/tools.sh", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md")
MAIN = "from apibridge.cli.main import main; main()"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv outside the checkout with apibridge installed from its wheel; its dependencies come from the
    test's own environment (a path entry: no index needed)."""
    root = tmp_path_factory.mktemp("wheel")
    copy = root / "checkout"
    for rel in SOURCES:
        source = REPO / rel
        if source.is_dir():
            shutil.copytree(source, copy / rel, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / rel)
    dist = root / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(copy)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("apibridge-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for rel in ("tools/kubernetes/go.mod", "tools/kubernetes/go.sum", "tools/etcd/main.go", "scripts/tools.sh"):
        assert f"apibridge/_bundle/{rel}" in names, rel
    assert "apibridge/_bundle/deploy/chart/Chart.yaml" in names
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python3*/site-packages"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    shutil.rmtree(copy)  # nothing of a checkout is left to fall back on
    return venv


def run(venv: Path, *args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", MAIN, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_the_wheel_runs_from_its_own_files(installed: Path, tmp_path: Path) -> None:
    code = "import apibridge.cli.lab_kube as k; print(k.__file__); print(k.tools_script()); print(k.chart_dir())"
    out = subprocess.run(
        [str(installed / "bin" / "python"), "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    ).stdout.split()
    assert all(Path(p).is_relative_to(installed) for p in out), out


def test_lab_tools_from_the_wheel_links_the_built_tools(installed: Path, tmp_path: Path) -> None:
    cache = Path(os.environ.get("APIBRIDGE_TOOLS_CACHE") or Path.home() / ".cache" / "apibridge" / "tools")
    if not any(cache.glob("kubernetes-*/.complete")):
        pytest.fail(f"the machine's tool cache {cache} is cold: run scripts/tools.sh first", pytrace=False)
    bin_dir = tmp_path / "bin"
    done = run(
        installed,
        "lab",
        "tools",
        "--check",
        env={"APIBRIDGE_TOOLS_CACHE": str(cache), "APIBRIDGE_TOOLS_BIN": str(bin_dir)},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert f"ready in {bin_dir}" in done.stderr
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "etcd", "helm4"):
        assert (bin_dir / name).resolve().is_relative_to(cache.resolve()), name
    assert any((tmp_path / "crds").glob("kube-ovn-*.yaml"))


def test_lab_tools_from_the_wheel_names_what_is_missing(installed: Path, tmp_path: Path) -> None:
    """A cold cache: --check builds nothing and names the tools and the one command that builds them, into the
    per-user directory (not into the installation)."""
    home = tmp_path / "home"
    done = run(
        installed,
        "lab",
        "tools",
        "--check",
        env={"APIBRIDGE_TOOLS_CACHE": "", "XDG_CACHE_HOME": str(home / ".cache"), "APIBRIDGE_TOOLS_BIN": ""},
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr
    assert "not built yet: kubernetes v1.36.3 etcd" in done.stderr
    assert "run apibridge lab tools (needs Go" in done.stderr
    assert (home / ".cache" / "apibridge" / "tools" / "bin").is_dir()
    assert not list(installed.rglob(".tools"))
