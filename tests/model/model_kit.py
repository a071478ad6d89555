"""Small builders for manifests used by the model tests (plain dicts, as a user would write them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from apibridge.model.cluster import AssumedNode, Cluster
from apibridge.model.load import Document

Body = dict[str, Any]


def namespace(name: str, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> Body:
    md: Body = {"name": name}
    if labels:
        md["labels"] = labels
    if annotations:
        md["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": md}


def vpc(name: str, namespaces: list[str] | None = None, default_subnet: str | None = None) -> Body:
    spec: Body = {}
    if namespaces:
        spec["namespaces"] = namespaces
    if default_subnet:
        spec["defaultSubnet"] = default_subnet
    return {"apiVersion": "kubeovn.io/v1", "kind": "Vpc", "metadata": {"name": name}, "spec": spec}


def subnet(name: str, cidr: str, **spec: Any) -> Body:
    return {
        "apiVersion": "kubeovn.io/v1",
        "kind": "Subnet",
        "metadata": {"name": name},
        "spec": {"cidrBlock": cidr, **spec},
    }


def service(ns: str, name: str, *ips: str, port: int = 443) -> Body:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "clusterIP": ips[0] if ips else "None",
            "clusterIPs": list(ips),
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        },
    }


def pod(name: str, ns: str, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> Body:
    md: Body = {"name": name, "namespace": ns}
    if labels:
        md["labels"] = labels
    if annotations:
        md["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": md,
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


def template(labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> Body:
    md: Body = {}
    if labels:
        md["labels"] = labels
    if annotations:
        md["annotations"] = annotations
    return {"metadata": md, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def workload(
    kind: str,
    name: str,
    ns: str,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    owner_annotations: dict[str, str] | None = None,
) -> Body:
    """A workload of ``kind`` whose *pod template* has these labels/annotations."""
    api = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
    tmpl = template(labels, annotations)
    spec: Body = (
        {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": tmpl}}}
        if kind == "CronJob"
        else {"template": tmpl}
    )
    md: Body = {"name": name, "namespace": ns}
    if owner_annotations:
        md["annotations"] = owner_annotations
    return {"apiVersion": api, "kind": kind, "metadata": md, "spec": spec}


TEST_NODE = AssumedNode("node-a", "192.0.2.10", "one test node")


def cluster(*bodies: Body, assume_node: AssumedNode | None = None) -> Cluster:
    return Cluster.from_documents([Document(b, "test.yaml", i) for i, b in enumerate(bodies)], assume_node=assume_node)


def write_yaml(path: Path, *bodies: Body | None) -> str:
    path.write_text(yaml.safe_dump_all(list(bodies), sort_keys=False))
    return str(path)
