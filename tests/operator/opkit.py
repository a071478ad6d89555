"""Test kit for the operator and doctor tests: the real kube-apiserver (``tests/kube``) with Kube-OVN's and
Multus' CRDs as those projects publish them, and the real ``apibridge operator`` as a subprocess that
authenticates as the chart's controller ServiceAccount, under the chart's RBAC.

The ApiBridge CRD is the chart's own file (``deploy/chart/files``), so the tests see the same schema —
pruning, defaults, status fields — as a cluster installed from the chart.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from apibridge.base.kubeclient import Client
from apibridge.check.verdict import judge
from apibridge.kubeovn import rules
from apibridge.model.cluster import Cluster
from apibridge.model.load import Document
from apibridge.operator import kube
from apibridge.operator.reconcile import Decisions, decide
from apibridge.plan.planner import plan
from kube.cluster import KubeCluster
from kube.incluster import (
    CONTROLLER_ACCOUNT,
    account_kubeconfig,
    admin_kubeconfig,
    api_endpoint_slice,
    apply_all,
    install_chart_rbac,
    reset,
)
from polling import eventually

ROOT = Path(__file__).resolve().parents[2]
CHART_CRD = ROOT / "deploy" / "chart" / "files" / "apibridges.apibridge.dev.yaml"
OPERATOR_NAMESPACE = "apibridge-system"
T = TypeVar("T")


def namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


def base_objects() -> list[dict[str, Any]]:
    """examples/apibridge/cluster.yaml in spirit: one node, tenant VPC ``tenant-a`` for ``ingress-nginx``."""
    return [
        namespace(OPERATOR_NAMESPACE),
        namespace("ingress-nginx", {"tenant": "tenant-a"}),
        namespace("tenant-b", {"tenant": "tenant-b"}),
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "kind-control-plane", "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.2"}]},
        },
        api_endpoint_slice(),
        {
            "apiVersion": rules.KUBEOVN_API,
            "kind": "Vpc",
            "metadata": {"name": "tenant-a"},
            "spec": {"namespaces": ["ingress-nginx"]},
        },
        {
            "apiVersion": rules.KUBEOVN_API,
            "kind": "Subnet",
            "metadata": {"name": "tenant-a-subnet"},
            "spec": {
                "vpc": "tenant-a",
                "protocol": "IPv4",
                "cidrBlock": "10.0.1.0/24",
                "gateway": "10.0.1.1",
                "namespaces": ["ingress-nginx"],
            },
        },
        {
            "apiVersion": rules.KUBEOVN_API,
            "kind": "Vpc",
            "metadata": {"name": "tenant-b"},
            "spec": {"namespaces": ["tenant-b"]},
        },
        {
            "apiVersion": rules.KUBEOVN_API,
            "kind": "Subnet",
            "metadata": {"name": "tenant-b-subnet"},
            "spec": {
                "vpc": "tenant-b",
                "protocol": "IPv4",
                "cidrBlock": "10.0.2.0/24",
                "gateway": "10.0.2.1",
                "namespaces": ["tenant-b"],
            },
        },
    ]


def bridge(name: str, vpc: str = "tenant-a", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": rules.APIBRIDGE_API,
        "kind": "ApiBridge",
        "metadata": {"name": name},
        "spec": {"vpc": vpc, **spec},
    }


def pod(
    name: str,
    ns: str = "ingress-nginx",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    owner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels or {}, "annotations": annotations or {}}
    if owner:
        md["ownerReferences"] = [owner]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": md,
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]},
    }


def deny_egress(ns: str = "ingress-nginx", **spec: Any) -> dict[str, Any]:
    """NetworkPolicy ``deny-egress``: isolates the egress of every pod of ``ns``; ``spec`` adds rules (``egress``)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny-egress", "namespace": ns},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], **spec},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def operator_argv(*args: str) -> list[str]:
    """``apibridge operator ...`` through the main CLI, as the chart runs it."""
    return [sys.executable, "-c", "from apibridge.cli.main import main; main()", "operator", *args]


class OperatorProcess:
    """One ``apibridge operator`` subprocess with its own log file and ports."""

    def __init__(
        self,
        kubeconfig: Path,
        log_dir: Path,
        *,
        identity: str = "test-operator",
        lease_duration: float = 3.0,
        rollout_rate: str = "1/10s",
        restart_settle: float = 0.0,
        restart_retry: float = 60.0,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.kubeconfig = kubeconfig
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.identity = identity
        self.args = [
            "--namespace",
            OPERATOR_NAMESPACE,
            "--metrics-port",
            str(self.metrics_port),
            "--health-port",
            str(self.health_port),
            "--bind",
            "127.0.0.1",
            "--identity",
            identity,
            "--lease-duration",
            str(lease_duration),
            "--rollout-rate",
            rollout_rate,
            "--restart-settle",
            str(restart_settle),
            "--restart-retry",
            str(restart_retry),
            "--log-level",
            "info",
            *extra,
        ]
        self.log_path = log_dir / f"operator-{identity}-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PYTHONUNBUFFERED": "1"}
        env.pop("POD_NAME", None)
        env.pop("POD_NAMESPACE", None)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(operator_argv(*self.args), env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        log.close()
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no lease release — a crash."""
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    async def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait (the graceful path)."""
        if self.proc is None:
            return None
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.alive and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.alive:
            self.kill()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


async def condition(client: Client, name: str, ctype: str) -> dict[str, Any] | None:
    obj = await client.get(kube.APIBRIDGE, name)
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return None


async def wait_condition(
    client: Client, name: str, ctype: str, status: str, reason: str | None = None, *, timeout: float = 20.0
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        cond = await condition(client, name, ctype)
        if cond and cond.get("status") == status and (reason is None or cond.get("reason") == reason):
            return cond
        return None

    return await eventually(probe, timeout=timeout, what=f"ApiBridge {name} {ctype}={status} {reason or ''}")


async def dump(client: Client) -> list[dict[str, Any]]:
    """What ``apibridge render`` would be given: every object of the kinds the controller plans from."""
    objects: list[dict[str, Any]] = []
    for kind in kube.WATCHED:
        for obj in await client.list(kind):
            if kind is kube.SERVICE and not kube.planned_service(obj):
                continue
            if kind is kube.ENDPOINTSLICE and not kube.planned_endpointslice(obj):
                continue
            objects.append(obj)
    return objects


async def rendered(client: Client) -> Any:
    """What ``apibridge render`` prints for the objects the cluster holds right now."""
    docs = [Document(o, "dump", i) for i, o in enumerate(await dump(client))]
    return plan(Cluster.from_documents(docs))


async def passes(op: OperatorProcess) -> float:
    """Successful reconcile passes so far, from the operator's /metrics."""
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{op.metrics_port}/metrics") as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith('apibridge_reconciles_total{result="success"}'):
            return float(line.split()[-1])
    return 0.0


async def poke_and_wait_pass(client: Client, op: OperatorProcess, value: str) -> None:
    """Change something the controller watches (but that changes no plan) and wait for the pass it causes."""
    before = await passes(op)
    await client.patch(kube.NAMESPACE, "tenant-b", {"metadata": {"labels": {"poke": value}}})

    async def counted() -> bool:
        return await passes(op) > before

    await eventually(counted, what="one more reconcile pass")


@contextlib.contextmanager
def operator_logs_on_failure(*procs: OperatorProcess) -> Any:
    """Print the operators' logs when the block fails (pytest shows captured output)."""
    try:
        yield
    except BaseException:
        for p in procs:
            print(f"===== {p.identity} ({p.log_path}) =====\n{p.log()[-20000:]}")
        raise


def deployment(name: str, ns: str = "ingress-nginx", labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = labels or {"app.kubernetes.io/name": "ingress-nginx"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]},
            },
        },
    }


async def workload_with_pod(
    client: Client, name: str, ns: str = "ingress-nginx", labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """A Deployment, its ReplicaSet and one pod, related by ownerReferences as the controllers would."""
    labels = labels or {"app.kubernetes.io/name": "ingress-nginx"}
    dep = await client.create(kube.DEPLOYMENT, deployment(name, ns, labels))
    rs_body = deployment(f"{name}-5d4f8", ns, labels)
    rs_body["kind"] = "ReplicaSet"
    rs_body["metadata"]["ownerReferences"] = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": dep["metadata"]["uid"], "controller": True}
    ]
    rs = await client.create(kube.REPLICASET, rs_body)
    owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": rs["metadata"]["name"],
        "uid": rs["metadata"]["uid"],
        "controller": True,
    }
    await client.create(kube.POD, pod(f"{name}-5d4f8-x1", ns, labels, owner=owner))
    return dep


# ---- pure reconcile helpers (no API server) -----------------------------------------------------------------
KUBERNETES_SVC = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "kubernetes", "namespace": "default"},
    "spec": {
        "clusterIP": "10.96.0.1",
        "clusterIPs": ["10.96.0.1"],
        "ports": [{"name": "https", "port": 443, "protocol": "TCP"}],
    },
}


def with_uid(obj: dict[str, Any], uid: str = "uid-1", generation: int = 1) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"].update({"uid": uid, "generation": generation, "resourceVersion": "7"})
    return out


def run(objects: list[dict[str, Any]]) -> Decisions:
    cluster, rejected = kube.build_cluster(objects)
    p = plan(cluster)
    bridges = {kube.name_of(o): o for o in objects if o["kind"] == "ApiBridge"}
    nads = {
        (kube.namespace_of(o) or "default", kube.name_of(o)): o
        for o in objects
        if o["kind"] == "NetworkAttachmentDefinition"
    }
    subnets = {kube.name_of(o): o for o in objects if o["kind"] == "Subnet"}
    return decide(bridges, cluster, p, rejected, judge(cluster, p), nads, subnets)


def world(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [*base_objects(), KUBERNETES_SVC, *extra]


def applied(decisions: Decisions, name: str) -> list[dict[str, Any]]:
    """The objects as the creates of ``decisions`` would leave them (with a resourceVersion): NAD, then Subnet."""
    out = []
    for write in sorted(decisions.bridges[name].writes, key=lambda w: w.kind.kind):
        assert write.op == "create"
        obj = copy.deepcopy(write.body)
        obj["metadata"]["resourceVersion"] = "1"
        out.append(obj)
    return out


# ---- fixtures shared by tests/operator and tests/doctor (imported into both conftests) ----------------
_RBAC_INSTALLED: set[int] = set()


@pytest.fixture
def cluster(kube: KubeCluster) -> KubeCluster:
    """The session's real API server, reset to the base objects, with the chart's RBAC in place."""
    if id(kube) not in _RBAC_INSTALLED:
        install_chart_rbac(kube)
        _RBAC_INSTALLED.add(id(kube))
    reset(kube)
    apply_all(kube, base_objects())
    return kube


@pytest.fixture
def kubeconfig(cluster: KubeCluster, tmp_path: Path) -> Path:
    """The test's own view (admin): it plays the user and the other controllers."""
    return admin_kubeconfig(cluster, tmp_path / "admin.kubeconfig")


@pytest.fixture
def operator_kubeconfig(cluster: KubeCluster, tmp_path: Path) -> Path:
    """The operator's: a bound token of the chart's controller ServiceAccount."""
    return account_kubeconfig(cluster, CONTROLLER_ACCOUNT, tmp_path / "operator.kubeconfig")


@pytest.fixture
async def client(kubeconfig: Path) -> Client:
    return await Client.connect(str(kubeconfig))
