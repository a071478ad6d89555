"""``lab up --kube`` on a dual-stack input (examples/dualstack), with each engine.

The real kube-apiserver creates the ``kubernetes`` Service single-stack (its primary family) and writes
one EndpointSlice (its advertise address); the input asks for both families. A twin that took the API
server's single-stack view for the lab's own rebuilt the control-plane node's namespace on the node agent's
first pass (the join switch lost its IPv6 half) and killed etcd and kube-apiserver with it. Here the lab
comes up, keeps its control plane, a pod reaches the API server on both ClusterIPs, and ``lab down``
leaves nothing behind. A node whose addresses change under a running lab is rewired in place.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .conftest import example
from .test_kube_lab import KUBECTL, KubeLab, running_kube_lab

pytestmark = pytest.mark.ovn
CONTROL_PLANE = ("etcd", "kube-apiserver")


@contextmanager
def dual_lab(engine: str) -> Iterator[KubeLab]:
    with running_kube_lab("tkd", "--engine", engine, example("dualstack"), timeout=600) as kl:
        yield kl


def pids(kl: KubeLab) -> dict[str, int]:
    """The control plane's pids, each process still running."""
    out = {p: int((kl.lab.place.run_dir / f"kube-{p}.pid").read_text().split()[0]) for p in CONTROL_PLANE}
    dead = [p for p, pid in out.items() if not Path(f"/proc/{pid}").exists()]
    assert not dead, f"{dead} died under the lab"
    return out


def api_probes(kl: KubeLab, *, only: str | None = None) -> dict[str, Any]:
    """``lab verify``'s probes to the API server, each answered by the real one (``only``: that target's; the
    rest of the verdict is not asserted)."""
    verify = kl.run("verify", "-o", "json", timeout=300)
    assert verify.stdout, f"rc {verify.returncode}: {verify.stderr}"
    result = json.loads(verify.stdout)
    api = {p["to"]: p for p in result["probes"] if p["kind"] == "api" and only in (None, p["to"])}
    assert api and all(p["result"] == "reach" and "v1.36.3" in p["detail"] for p in api.values()), api
    if only is None:
        assert verify.returncode == 0 and result["failed"] == 0, verify.stdout
    return api


@pytest.mark.parametrize("engine", ["model", "kube-ovn"])
def test_dual_stack_kube_lab_reaches_the_api_server_on_both_families(engine: str) -> None:
    with dual_lab(engine) as kl:
        before = pids(kl)
        svc = kl.kubectl("get", "service", "kubernetes")
        assert svc["spec"]["clusterIPs"] == ["10.96.0.1", "fd00:10:96::1"], svc["spec"]
        assert set(api_probes(kl)) == {"10.96.0.1", "fd00:10:96::1"}
        status = kl.run("status", timeout=120)
        assert status.returncode == 0, status.stdout + status.stderr
        assert pids(kl) == before, "the control plane was restarted under the lab"


def _ovn0(kl: KubeLab) -> str:
    node_ns = json.loads((kl.lab.place.kube_dir / "settings.json").read_text())["netns"]
    done = subprocess.run(["ip", "-n", node_ns, "-o", "addr", "show", "dev", "ovn0"], capture_output=True, text=True)
    return done.stdout


def _set_join(kl: KubeLab, cidr: str, gateway: str, protocol: str) -> None:
    kubeconfig = kl.run("kubeconfig").stdout.strip()
    patch = {"spec": {"cidrBlock": cidr, "gateway": gateway, "protocol": protocol}}
    subprocess.run(
        [str(KUBECTL), f"--kubeconfig={kubeconfig}", "patch", "subnet", "join", "--type=merge",
         "-p", json.dumps(patch)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while ("fd00:100:64::2" in _ovn0(kl)) != (protocol == "Dual"):  # the node agent rewired the node's ovn0
        assert time.monotonic() < deadline, _ovn0(kl)
        time.sleep(0.5)


def test_a_node_whose_join_addresses_change_is_rewired_in_place() -> None:
    """The join Subnet down to IPv4 and back to dual stack: the node's ovn0 loses and regains its IPv6 address;
    etcd and kube-apiserver in the node's namespace keep running, and pods reach the API server after each."""
    with dual_lab("model") as kl:
        before = pids(kl)
        _set_join(kl, "100.64.0.0/16", "100.64.0.1", "IPv4")
        assert pids(kl) == before
        api_probes(kl, only="10.96.0.1")  # (the IPv6 ClusterIP has no way to the node over join now)
        _set_join(kl, "100.64.0.0/16,fd00:100:64::/112", "100.64.0.1,fd00:100:64::1", "Dual")
        assert pids(kl) == before
        assert set(api_probes(kl)) == {"10.96.0.1", "fd00:10:96::1"}
        status = kl.run("status", timeout=120)
        assert status.returncode == 0, status.stdout + status.stderr
