"""Fixtures every test folder may use: ``kube``, the real control plane (etcd + kube-apiserver +
kube-controller-manager from ``scripts/tools.sh``), started once per session on first use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kube.cluster import KubeCluster, running


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    with running(tmp_path_factory.mktemp("kube")) as cluster:
        yield cluster
