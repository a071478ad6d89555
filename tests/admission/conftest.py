"""Fixtures: a CA from ``apibridge.base.certs``, the test cluster's snapshot, a webhook on real HTTPS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from apibridge.admission.snapshot import Snapshot, StaticSource
from apibridge.admission.tls import ReloadingContext
from apibridge.base.certs import BundlePaths, CertificateAuthority, write_bundle

from .support import Client, RunningServer, make_cluster

HOSTS = ["127.0.0.1", "localhost", "apibridge-webhook.apibridge.svc"]


@pytest.fixture(scope="session")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("apibridge-admission-test-ca")


@pytest.fixture
def bundle(ca: CertificateAuthority, tmp_path: Path) -> BundlePaths:
    return write_bundle(tmp_path / "tls", ca, ca.issue(HOSTS))


@pytest.fixture(scope="session")
def snapshot() -> Snapshot:
    return Snapshot.build(make_cluster())


@pytest.fixture
def server(bundle: BundlePaths) -> Iterator[RunningServer]:
    tls = ReloadingContext(bundle.cert, bundle.key, interval=0.05)
    running = RunningServer(StaticSource(make_cluster()), tls, metrics_port=True)
    yield running
    running.close()


@pytest.fixture
def client(server: RunningServer, bundle: BundlePaths) -> Iterator[Client]:
    c = Client(server.port, bundle.ca_cert)
    yield c
    c.close()
