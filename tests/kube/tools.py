"""Where the real components live: ``.tools/bin`` (kube-apiserver, etcd, kubectl, helm3, helm4) and
``.tools/crds`` (Kube-OVN's and Multus' CRDs), both filled by ``scripts/tools.sh``.

A test that needs one and finds it missing fails with the script's instructions; it never skips, so a
machine without the tools cannot pass the suite by leaving the in-cluster tests out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".tools" / "bin"
CRDS = REPO / ".tools" / "crds"
HELMS = ("helm3", "helm4")
MISSING = (
    "{what} is missing: run scripts/tools.sh (it builds kube-apiserver, kube-controller-manager, kubectl, "
    "etcd and Helm 3/4 from the Go module proxy into a per-machine cache, once; needs Go >= 1.26). "
    "scripts/test.sh runs it first."
)


def tool(name: str) -> Path:
    """The path of a built tool, or a test failure naming the script that builds it."""
    path = BIN / name
    if not path.exists():
        pytest.fail(MISSING.format(what=f".tools/bin/{name}"), pytrace=False)
    return path


def crd_file(prefix: str) -> Path:
    """The CRD file in ``.tools/crds`` whose name starts with ``prefix`` (e.g. ``kube-ovn-``)."""
    found = sorted(CRDS.glob(f"{prefix}*.yaml")) if CRDS.is_dir() else []
    if not found:
        pytest.fail(MISSING.format(what=f".tools/crds/{prefix}*.yaml"), pytrace=False)
    return found[-1]
