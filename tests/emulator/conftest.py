"""Fixtures for the emulator tests: a real server on a free port, a raw-HTTP client, throwaway TLS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from apibridge.base.certs import BundlePaths, CertificateAuthority, write_bundle
from apibridge.emulator import Emulator, Running, serve

from .support import Api


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(token="test-token", history_window=20, bookmark_interval=0.2)


@pytest.fixture
async def running(emulator: Emulator) -> AsyncIterator[Running]:
    async with serve(emulator) as served:
        yield served


@pytest.fixture
async def api(running: Running) -> AsyncIterator[Api]:
    headers = {"Authorization": f"Bearer {running.emulator.token}"}
    async with aiohttp.ClientSession(running.url, headers=headers) as session:
        yield Api(session)


@pytest.fixture(scope="session")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("emulator-tests-ca")


@pytest.fixture
def tls_bundle(ca: CertificateAuthority, tmp_path: Path) -> Callable[[list[str]], BundlePaths]:
    def make(hosts: list[str]) -> BundlePaths:
        return write_bundle(tmp_path / "tls" / "-".join(hosts)[:40], ca, ca.issue(hosts))

    return make
