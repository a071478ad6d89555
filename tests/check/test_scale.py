"""The validator stays near-linear: 1,000 VPCs, 10,000 subnets, 1,000 bridges, 100,000 pods.

Measured in CPU time of this process (other jobs on a shared machine do not count), with the
model's pod placement warmed first so that only ``check`` is timed.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any

import pytest

from apibridge.check.validator import check
from apibridge.model.cluster import Cluster
from apibridge.model.load import Document
from apibridge.plan.planner import plan
from apibridge.plan.settings import Settings


def _cluster(vpcs: int, pods: int) -> Cluster:
    bodies: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"port": 443}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "n0"},
            "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.2"}]},
        },
    ]
    for v in range(vpcs):
        ns = f"tenant-{v}"
        bodies.append(
            {
                "apiVersion": "kubeovn.io/v1",
                "kind": "Vpc",
                "metadata": {"name": f"vpc-{v}"},
                "spec": {"namespaces": [ns], "defaultSubnet": f"vpc-{v}-s0"},
            }
        )
        for s in range(10):
            n = v * 10 + s
            spec: dict[str, Any] = {"vpc": f"vpc-{v}", "cidrBlock": f"10.{128 + n // 256}.{n % 256}.0/24"}
            if s == 0:
                spec["namespaces"] = [ns]
            bodies.append(
                {"apiVersion": "kubeovn.io/v1", "kind": "Subnet", "metadata": {"name": f"vpc-{v}-s{s}"}, "spec": spec}
            )
        bodies.append(
            {
                "apiVersion": "apibridge.dev/v1alpha1",
                "kind": "ApiBridge",
                "metadata": {"name": f"br-{v}"},
                "spec": {"vpc": f"vpc-{v}", "podSelector": {"matchLabels": {"api": "yes"}} if v % 2 else {}},
            }
        )
    for p in range(pods):
        annotations = {"k8s.v1.cni.cncf.io/networks": "kube-system/macvlan"} if p % 10 == 0 else {}
        bodies.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"pod-{p}",
                    "namespace": f"tenant-{p % vpcs}",
                    "labels": {"api": "yes" if p % 3 else "no"},
                    "annotations": annotations,
                },
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            }
        )
    return Cluster.from_documents(Document(b, "scale.json", i) for i, b in enumerate(bodies))


def _check_seconds(vpcs: int, pods: int) -> tuple[float, int]:
    cluster = _cluster(vpcs, pods)
    the_plan = plan(cluster, config=Settings(pool_v4=ipaddress.ip_network("100.96.0.0/11")))
    for pod in cluster.pods:  # warm the model's placement cache: not the validator's cost
        cluster.pod_vpc(pod)
    started = time.process_time()
    findings = check(cluster, the_plan)
    return time.process_time() - started, len(findings)


@pytest.mark.slow
def test_hundred_thousand_pods() -> None:
    small, _ = _check_seconds(1_000, 10_000)
    large, count = _check_seconds(1_000, 100_000)
    assert count >= 10_000  # every 10th pod names a NAD that is not in the input
    assert large < 4.0, large
    assert large < small * 15, (small, large)  # x10 input: near-linear, not quadratic
