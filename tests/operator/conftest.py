"""Fixtures: the real API server reset to the base objects, an admin kubeconfig and client for the test, and
operator subprocesses (as the chart's controller ServiceAccount) that are always stopped at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opkit import OperatorProcess, client, cluster, kubeconfig, operator_kubeconfig  # noqa: F401 - shared fixtures


@pytest.fixture
def operators(operator_kubeconfig: Path, tmp_path: Path) -> Iterator[Callable[..., OperatorProcess]]:  # noqa: F811
    """``operators(identity=..., ...)`` starts an operator subprocess; all are killed after the test."""
    started: list[OperatorProcess] = []

    def start(**kwargs: Any) -> OperatorProcess:
        proc = OperatorProcess(operator_kubeconfig, tmp_path, **kwargs).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
