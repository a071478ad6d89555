"""The chart under the real Helm 3 and Helm 4 (built by ``scripts/tools.sh``): render, lint, install.

Values go in as a file (``-f``), as a user's would; the output is parsed as the API server would get it.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from kube.tools import HELMS, tool

from .support import CHART

RELEASE = "apibridge"
NAMESPACE = "apibridge-system"


class HelmError(AssertionError):
    """helm exited non-zero; the message carries its stderr."""


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Helm's values merge: maps merge key by key, everything else (lists too) is replaced."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def helm(
    version: str, *args: str, kubeconfig: Path | None = None, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    assert version in HELMS, version
    home = Path(tempfile.gettempdir()) / f"apibridge-tests-{version}-home"  # no user config, no repositories
    env = {
        **os.environ,
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    env.pop("KUBECONFIG", None)
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    result = subprocess.run(
        [str(tool(version)), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise HelmError(f"{version} {' '.join(args)} exited {result.returncode}:\n{result.stderr}{result.stdout}")
    return result


def values_file(values: dict[str, Any], directory: Path | None = None) -> Path:
    fd, name = tempfile.mkstemp(prefix="values-", suffix=".yaml", dir=directory)
    with os.fdopen(fd, "w") as out:
        json.dump(values, out)  # JSON is YAML; no YAML-writer quirks in what helm reads
    return Path(name)


def template(version: str, values: dict[str, Any], *, chart: Path = CHART) -> list[dict[str, Any]]:
    """``helm template`` with ``values`` over the chart's defaults; the rendered objects in order."""
    path = values_file(values)
    try:
        out = helm(version, "template", RELEASE, str(chart), "--namespace", NAMESPACE, "-f", str(path)).stdout
    finally:
        path.unlink()
    return [d for d in yaml.safe_load_all(out) if d]


def lint(version: str, values: dict[str, Any], *, chart: Path = CHART) -> subprocess.CompletedProcess[str]:
    path = values_file(values)
    try:
        return helm(version, "lint", "--strict", str(chart), "--namespace", NAMESPACE, "-f", str(path), check=False)
    finally:
        path.unlink()
