"""``lab up --kube``: the twin as kubelet and CNI of a real control plane (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler from ``scripts/tools.sh``), the chart installed by the real Helm
with the operator and webhook as host processes.

One lab for the module (it takes ~30 s to build): the example tenants' Deployments become pods through the
real controllers and scheduler, the real API server calls the webhook, and the pods reach the real API
server through the twin. ``lab down`` then leaves no process, namespace, link or file behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from apibridge.twin.lab import Lab
from apibridge.twin.pods import netns
from apibridge.twin.state import locate

from .conftest import REPO, assert_clean, example

pytestmark = pytest.mark.ovn
BIN = REPO / ".venv" / "bin"
KUBECTL = REPO / ".tools" / "bin" / "kubectl"


def apibridge(
    base: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "APIBRIDGE_LAB_DIR": str(base), **(env or {})}
    environ.pop("KUBECONFIG", None)
    return subprocess.run(
        [str(BIN / "apibridge"), *args], capture_output=True, text=True, env=environ, timeout=timeout, check=False
    )


class KubeLab:
    def __init__(self, base: Path, name: str) -> None:
        self.base, self.name = base, name
        self.lab = Lab(locate(name, base))

    def run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return apibridge(self.base, "lab", args[0], "--name", self.name, *args[1:], **kwargs)

    def kubectl(self, *args: str) -> Any:
        kubeconfig = self.run("kubeconfig").stdout.strip()
        done = subprocess.run(
            [str(KUBECTL), f"--kubeconfig={kubeconfig}", *args, "-o", "json"],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return json.loads(done.stdout)


@contextmanager
def running_kube_lab(tag: str, *up_args: str, timeout: float = 300) -> Iterator[KubeLab]:
    """``lab up --kube UP_ARGS`` under a fresh /tmp base as ``<tag><random>``; then ``lab down``, checked: no
    process, namespace or state (``assert_clean``) and no host link of the lab left behind."""
    base = Path(tempfile.mkdtemp(prefix="abk-", dir="/tmp"))
    kl = KubeLab(base, f"{tag}{uuid.uuid4().hex[:6]}")
    try:
        up = kl.run("up", "--kube", *up_args, "-o", "json", timeout=timeout)
        assert up.returncode == 0, up.stderr + up.stdout
        yield kl
    finally:
        settings = kl.lab.place.kube_dir / "settings.json"
        host_link = json.loads(settings.read_text())["host_ifname"] if settings.exists() else None
        down = kl.run("down", timeout=timeout)
        try:
            assert down.returncode == 0, down.stderr
            assert_clean(kl.lab)
            if host_link:
                links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
                assert host_link not in links, "the host link of the lab is left behind"
        finally:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def kube_lab() -> Iterator[KubeLab]:
    with running_kube_lab("tk", example("apibridge")) as kl:
        yield kl


def test_controllers_make_the_pods_and_the_webhook_injects_them(kube_lab: KubeLab) -> None:
    pods = kube_lab.kubectl("get", "pods", "-A")["items"]
    by_ns = {p["metadata"]["namespace"]: p for p in pods}
    assert set(by_ns) == {"ingress-nginx", "tenant-b"}
    for ns, bridge in (("ingress-nginx", "tenant-a"), ("tenant-b", "tenant-b")):
        pod = by_ns[ns]
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"  # made by the real controllers
        assert pod["spec"]["nodeName"] == "kind-control-plane"  # bound by the real scheduler
        assert pod["status"]["phase"] == "Running"
        annotations = pod["metadata"]["annotations"]
        assert annotations["k8s.v1.cni.cncf.io/networks"] == f"kube-system/apibridge-{bridge}"  # the webhook's
        status = json.loads(annotations["k8s.v1.cni.cncf.io/network-status"])
        assert [s["interface"] for s in status] == ["eth0", "net1"]
        assert status[1]["name"] == f"kube-system/apibridge-{bridge}"
        provider = f"apibridge-{bridge}.kube-system.ovn"
        assert annotations[f"{provider}.kubernetes.io/allocated"] == "true"
        assert annotations["ovn.kubernetes.io/routed"] == "true"
        assert pod["status"]["podIP"] == status[0]["ips"][0]


def test_nodes_are_registered_ready_with_a_lease(kube_lab: KubeLab) -> None:
    node = kube_lab.kubectl("get", "node", "kind-control-plane")
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert node["status"]["allocatable"]["pods"] == "110"
    lease = kube_lab.kubectl("get", "lease", "-n", "kube-node-lease", "kind-control-plane")
    assert lease["spec"]["holderIdentity"] == "kind-control-plane"


def test_a_pod_reaches_the_real_api_server_through_the_twin(kube_lab: KubeLab) -> None:
    pod = kube_lab.kubectl("get", "pods", "-n", "ingress-nginx")["items"][0]["metadata"]["name"]
    done = kube_lab.run(
        "exec", f"ingress-nginx/{pod}", "--", "curl", "-sk", "--max-time", "5", "https://10.96.0.1/version"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["gitVersion"] == "v1.36.3"  # the real kube-apiserver, not the stand-in
    verify = kube_lab.run("verify", "-o", "json")
    result = json.loads(verify.stdout)
    assert verify.returncode == 0 and result["failed"] == 0, verify.stdout
    api = [p for p in result["probes"] if p["kind"] == "api"]
    assert len(api) == 2 and all(p["result"] == "reach" and "v1.36.3" in p["detail"] for p in api), api


def test_status_trace_and_kubeconfig(kube_lab: KubeLab) -> None:
    status = kube_lab.run("status")
    assert status.returncode == 0, status.stdout + status.stderr
    pod = kube_lab.kubectl("get", "pods", "-n", "tenant-b")["items"][0]["metadata"]["name"]
    trace = kube_lab.run("trace", f"tenant-b/{pod}", "10.96.0.1:443", "--summary")
    assert trace.returncode == 0 and "delivered to node/kind-control-plane" in trace.stdout, trace.stdout


def test_a_dead_control_plane_process_is_named(kube_lab: KubeLab) -> None:
    pidfile = kube_lab.lab.place.run_dir / "kube-kube-scheduler.pid"
    pid = int(pidfile.read_text())
    os.kill(pid, 9)
    status = kube_lab.run("status")
    assert status.returncode == 3
    assert "kube-scheduler is not running" in status.stderr + status.stdout
    assert f"apibridge lab up --kube --name {kube_lab.name}" in status.stderr + status.stdout
    again = kube_lab.run("up")  # a kube lab without FILEs: restarts what died
    assert again.returncode == 0, again.stderr + again.stdout
    assert kube_lab.run("status").returncode == 0


def test_missing_tools_are_named_with_the_command_that_builds_them(tmp_path: Path) -> None:
    done = apibridge(
        tmp_path, "lab", "up", "--kube", "--name", "tkmissing", example("apibridge"),
        env={"APIBRIDGE_TOOLS_BIN": str(tmp_path / "none"), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )  # fmt: skip
    assert done.returncode == 2
    assert "etcd is missing" in done.stderr and "apibridge lab tools" in done.stderr
    assert not netns.list_netns() or not any(n.startswith("ab-tkmissing.") for n in netns.list_netns())


def test_doctor_passes_then_names_a_broken_install_and_its_fix(kube_lab: KubeLab) -> None:
    healthy = kube_lab.run("doctor")
    assert healthy.returncode == 0, healthy.stdout
    assert "the API server reaches the webhook" in healthy.stdout
    run_dir = kube_lab.lab.place.run_dir
    for process in ("webhook", "operator"):
        os.kill(int((run_dir / f"kube-{process}.pid").read_text()), 9)  # a crash: no graceful shutdown to wait for
    kubeconfig = kube_lab.run("kubeconfig").stdout.strip()
    subprocess.run(
        [str(KUBECTL), f"--kubeconfig={kubeconfig}", "delete", "subnet", "apibridge-tenant-b", "--wait=false"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    broken = kube_lab.run("doctor")
    assert broken.returncode == 1, broken.stdout
    assert "the webhook is unreachable from the API server" in broken.stdout
    assert "lacks its Subnet apibridge-tenant-b" in broken.stdout
    assert "see: " in broken.stdout
    again = kube_lab.run("up")  # restarts the webhook and the operator; the operator recreates the Subnet
    assert again.returncode == 0, again.stderr + again.stdout
    for _ in range(60):
        fixed = kube_lab.run("doctor")
        if fixed.returncode == 0:
            break
        time.sleep(0.5)
    assert fixed.returncode == 0, fixed.stdout


DENY_EGRESS = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-egress, namespace: tenant-b}
spec: {podSelector: {}, policyTypes: [Egress]}
"""


def test_a_tenant_policy_from_the_api_server_is_programmed_and_verified(kube_lab: KubeLab, tmp_path: Path) -> None:
    """A NetworkPolicy created in the API server reaches the twin's NB (the kubelet watches them) and drops the
    tenant's API traffic through its bridge; the bridge intends that traffic, so verify fails naming the
    policy (check's AB310); the path comes back once the policy is deleted."""
    manifest = tmp_path / "np.yaml"
    manifest.write_text(DENY_EGRESS)
    pod = kube_lab.kubectl("get", "pods", "-n", "tenant-b")["items"][0]["metadata"]["name"]
    curl = ("exec", f"tenant-b/{pod}", "--", "curl", "-sk", "--max-time", "2", "https://10.96.0.1/version")
    kube_lab.kubectl("apply", "-f", str(manifest))
    try:
        deadline = time.monotonic() + 30
        while kube_lab.run(*curl).returncode == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert kube_lab.run(*curl).returncode != 0, "the policy did not reach the twin"
        verify = kube_lab.run("verify", "-o", "json")
        result = json.loads(verify.stdout)
        assert verify.returncode == 1 and result["failed"] >= 1, verify.stdout
        api = {p["from"]: (p["expect"], p["result"]) for p in result["probes"] if p["kind"] == "api"}
        assert api[f"tenant-b/{pod}"] == ("reach", "blocked"), api
        assert "deny-egress" in verify.stdout and "AB310" in verify.stdout, verify.stdout
    finally:
        kubeconfig = kube_lab.run("kubeconfig").stdout.strip()
        delete = [str(KUBECTL), f"--kubeconfig={kubeconfig}", "delete", "-f", str(manifest)]
        subprocess.run(delete, capture_output=True, timeout=60, check=True)
    deadline = time.monotonic() + 30
    while kube_lab.run(*curl).returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert kube_lab.run(*curl).returncode == 0
