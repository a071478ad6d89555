"""Generated clusters whose reachability is known by construction, for tests and benchmarks at scale.

A verifier can only be tested against an answer it did not compute itself. These manifests are
built so that the answer follows from a pod's *name*: ``<tenant>/api-<i>`` is selected by its
tenant's strict ApiBridge and must reach the API server; ``<tenant>/app-<i>`` is not and must not;
every pod reaches every pod of its own tenant VPC; no pod reaches another tenant's pods. The shape
is the one of issue 14: a two-node base cluster (a control plane with the API server, a worker),
ten tenant VPCs, pods spread over both nodes, half of each tenant selected by its ApiBridge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NODES = (("node-0", "172.18.0.2", True), ("node-1", "172.18.0.3", False))
PORT = 8080
API_LABEL = "apibridge.dev/test-api"


@dataclass(frozen=True)
class Known:
    """The answer by construction for one probe between generated pods (or to the API)."""

    reach: bool
    why: str


def tenant(i: int) -> str:
    return f"tenant-{i}"


def namespace(i: int) -> str:
    return f"team-{i}"


def manifests(pods: int, *, tenants: int = 10) -> list[dict[str, Any]]:
    """``pods`` pods over ``tenants`` VPCs (each its own /16), half of each tenant selected by its bridge."""
    docs: list[dict[str, Any]] = []
    for name, ip, control in NODES:
        labels = {"node-role.kubernetes.io/control-plane": ""} if control else {}
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": labels},
                "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
            }
        )
    per = [pods // tenants + (1 if i < pods % tenants else 0) for i in range(tenants)]
    for v in range(tenants):
        vpc, ns = tenant(v), namespace(v)
        docs += [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            {"apiVersion": "kubeovn.io/v1", "kind": "Vpc", "metadata": {"name": vpc}, "spec": {"namespaces": [ns]}},
            {
                "apiVersion": "kubeovn.io/v1",
                "kind": "Subnet",
                "metadata": {"name": f"{vpc}-subnet"},
                "spec": {"vpc": vpc, "cidrBlock": f"10.{v + 1}.0.0/16", "namespaces": [ns]},
            },
            {
                "apiVersion": "apibridge.dev/v1alpha1",
                "kind": "ApiBridge",
                "metadata": {"name": vpc},
                "spec": {
                    "vpc": vpc,
                    "podSelector": {"matchLabels": {API_LABEL: "yes"}},
                    "cidrBlock": "auto",
                    "isolation": "strict",
                },
            },
        ]
        for p in range(per[v]):
            selected = p % 2 == 0
            name = f"{'api' if selected else 'app'}-{p}"
            docs.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": name, "namespace": ns, "labels": {API_LABEL: "yes" if selected else "no"}},
                    "spec": {
                        "nodeName": NODES[(p // 2) % len(NODES)][0],
                        "containers": [{"name": "c", "image": "x", "ports": [{"containerPort": PORT}]}],
                    },
                }
            )
    return docs


def known(source: str, *, api: bool = False, to_pod: str | None = None) -> Known | None:
    """The answer for a probe from pod ``source`` (``team-<i>/<name>``) to the API or to ``to_pod``;
    None for probes the construction says nothing about (nodes, attachments)."""
    src_ns, src_name = source.split("/", 1)
    if api:
        if src_name.startswith("api-"):
            return Known(True, "selected by its tenant's ApiBridge")
        return Known(False, "not selected by any ApiBridge")
    if to_pod is None:
        return None
    dst_ns = to_pod.split("/", 1)[0]
    if dst_ns == src_ns:
        return Known(True, "same tenant VPC")
    return Known(False, "another tenant's VPC")
