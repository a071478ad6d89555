"""Builders for the plan tests: the model tests' manifest builders plus nodes, bridges and the seed scenario."""

from __future__ import annotations

from typing import Any

from model.model_kit import (  # tests/ is on sys.path (pytest rootdir import); one copy of the builders
    Body,
    cluster,
    namespace,
    pod,
    service,
    subnet,
    template,
    vpc,
    workload,
    write_yaml,
)

__all__ = [
    "Body",
    "bridge",
    "cluster",
    "namespace",
    "node",
    "pod",
    "seed_cluster",
    "service",
    "subnet",
    "template",
    "tenant",
    "vpc",
    "workload",
    "write_yaml",
]


def node(name: str, *ips: str, control_plane: bool = True) -> Body:
    labels = {"node-role.kubernetes.io/control-plane": ""} if control_plane else {}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {"addresses": [{"type": "InternalIP", "address": ip} for ip in ips]},
    }


def bridge(name: str, vpc_name: str, **spec: Any) -> Body:
    return {
        "apiVersion": "apibridge.dev/v1alpha1",
        "kind": "ApiBridge",
        "metadata": {"name": name},
        "spec": {"vpc": vpc_name, **spec},
    }


def tenant(name: str, ns: str, cidr: str, ns_labels: dict[str, str] | None = None) -> list[Body]:
    """A custom VPC ``name`` owning namespace ``ns`` through a Subnet (as in the seed's cluster)."""
    return [
        namespace(ns, labels=ns_labels),
        vpc(name, namespaces=[ns]),
        subnet(f"{name}-subnet", cidr, vpc=name, namespaces=[ns]),
    ]


def seed_cluster() -> list[Body]:
    """The seed scenario: kind node, kubernetes Service 10.96.0.1:443, ingress-nginx in custom VPC tenant-a."""
    return [
        node("kind-control-plane", "172.18.0.2"),
        namespace("default"),
        namespace("kube-system"),
        service("default", "kubernetes", "10.96.0.1"),
        *tenant("tenant-a", "ingress-nginx", "10.0.1.0/24", {"tenant": "tenant-a"}),
        *tenant("tenant-b", "tenant-b", "10.0.2.0/24", {"tenant": "tenant-b"}),
    ]
