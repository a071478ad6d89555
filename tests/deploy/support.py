"""Paths and loaders shared by the deploy tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "chart"
CRD_FILE = CHART / "files" / "apibridges.apibridge.dev.yaml"
K8S_VERSIONS = ("1.31.0", "1.37.0")  # the oldest we claim to support with matchConditions GA, and the newest


def load_crd() -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(CRD_FILE.read_text())
    return crd


def schema() -> dict[str, Any]:
    version = load_crd()["spec"]["versions"][0]
    out: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return out
