"""Fixtures: a fresh emulated cluster per test (CRDs + base objects), a kubeconfig for it, an API client,
and operator subprocesses that are always stopped at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opkit import OperatorProcess, base_objects, crds

from apibridge.emulator import Emulator, Running, serve
from apibridge.operator.client import Client


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    emulator = Emulator(history_window=5000, bookmark_interval=5.0)
    await emulator.load(crds())
    await emulator.load(base_objects())
    async with serve(emulator) as served:
        yield served


@pytest.fixture
def kubeconfig(running: Running, tmp_path: Path) -> Path:
    return running.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
async def client(kubeconfig: Path) -> Client:
    return await Client.connect(str(kubeconfig))


@pytest.fixture
def operators(kubeconfig: Path, tmp_path: Path) -> Iterator[Callable[..., OperatorProcess]]:
    """``operators(identity=..., ...)`` starts an operator subprocess; all are killed after the test."""
    started: list[OperatorProcess] = []

    def start(**kwargs: Any) -> OperatorProcess:
        proc = OperatorProcess(kubeconfig, tmp_path, **kwargs).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
