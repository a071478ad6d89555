"""Fixtures for the doctor tests: the operator tests' real API server (``tests/operator/opkit.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

from opkit import client, cluster, kubeconfig  # noqa: F401 - shared fixtures
