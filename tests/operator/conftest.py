"""Fixtures: a fresh emulated cluster per test (CRDs + base objects), a kubeconfig for it, an API client,
and operator subprocesses that are always stopped at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opkit import OperatorProcess, client, kubeconfig, running  # noqa: F401 - shared fixtures


@pytest.fixture
def operators(kubeconfig: Path, tmp_path: Path) -> Iterator[Callable[..., OperatorProcess]]:  # noqa: F811
    """``operators(identity=..., ...)`` starts an operator subprocess; all are killed after the test."""
    started: list[OperatorProcess] = []

    def start(**kwargs: Any) -> OperatorProcess:
        proc = OperatorProcess(kubeconfig, tmp_path, **kwargs).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
