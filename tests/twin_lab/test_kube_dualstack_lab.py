"""``lab up --kube`` on a dual-stack input (examples/dualstack), with each engine.

The real kube-apiserver creates the ``kubernetes`` Service single-stack (its primary family) and writes
one EndpointSlice (its advertise address); the input asks for both families. A twin that took the API
server's single-stack view for the lab's own rebuilt the control-plane node's namespace on the node agent's
first pass (the join switch lost its IPv6 half) and killed etcd and kube-apiserver with it. Here the lab
comes up, keeps its control plane, a pod reaches the API server on both ClusterIPs, and ``lab down``
leaves nothing behind.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from .conftest import assert_clean, example
from .test_kube_lab import KubeLab

pytestmark = pytest.mark.ovn


@pytest.mark.parametrize("engine", ["model", "kube-ovn"])
def test_dual_stack_kube_lab_reaches_the_api_server_on_both_families(engine: str) -> None:
    base = Path(tempfile.mkdtemp(prefix="abk-", dir="/tmp"))
    kl = KubeLab(base, f"tkd{uuid.uuid4().hex[:6]}")
    try:
        up = kl.run("up", "--kube", "--engine", engine, example("dualstack"), "-o", "json", timeout=600)
        assert up.returncode == 0, up.stderr + up.stdout
        pids = {p: (kl.lab.place.run_dir / f"kube-{p}.pid").read_text() for p in ("etcd", "kube-apiserver")}
        svc = kl.kubectl("get", "service", "kubernetes")
        assert svc["spec"]["clusterIPs"] == ["10.96.0.1", "fd00:10:96::1"], svc["spec"]
        verify = kl.run("verify", "-o", "json", timeout=300)
        result = json.loads(verify.stdout)
        assert verify.returncode == 0 and result["failed"] == 0, verify.stdout
        api = {p["to"]: p for p in result["probes"] if p["kind"] == "api"}
        assert set(api) == {"10.96.0.1", "fd00:10:96::1"}, api
        assert all(p["result"] == "reach" and "v1.36.3" in p["detail"] for p in api.values()), api
        status = kl.run("status", timeout=120)
        assert status.returncode == 0, status.stdout + status.stderr
        # the node agent's passes never restarted the control plane under the lab
        assert pids == {p: (kl.lab.place.run_dir / f"kube-{p}.pid").read_text() for p in pids}
    finally:
        settings = kl.lab.place.kube_dir / "settings.json"
        host_link = json.loads(settings.read_text())["host_ifname"] if settings.exists() else None
        down = kl.run("down", timeout=300)
        try:
            assert down.returncode == 0, down.stderr
            assert_clean(kl.lab)
            if host_link:
                links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
                assert host_link not in links, "the host link of the lab is left behind"
        finally:
            shutil.rmtree(base, ignore_errors=True)
