"""Fixtures for the doctor tests: the operator tests' emulated cluster (``tests/operator/opkit.py``)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

from opkit import base_objects, crds

from apibridge.emulator import Emulator, Running, serve
from apibridge.operator.client import Client


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    emulator = Emulator()
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
