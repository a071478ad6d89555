"""Small YAML builders for validator tests: each case is a few manifests, as a user would write them.

``run(*yaml_docs)`` loads them with the real loader (``parse_text`` + ``Cluster.from_documents``),
plans every ApiBridge and returns the findings. The building blocks default to the seed's setup:
NAD ``kube-system/api-ovn-nad``, Subnet ``vpc-apiserver-subnet`` 100.100.100.0/24 with that provider,
and a custom VPC ``vpc1`` (namespace ``ns1``, subnet 10.0.1.0/24) whose pods need the API server.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from apibridge.check.findings import Finding
from apibridge.check.validator import check
from apibridge.model.cluster import Cluster
from apibridge.model.load import parse_text
from apibridge.plan.planner import plan
from apibridge.plan.settings import Settings

NETWORKS = "k8s.v1.cni.cncf.io/networks"
SEED_PROVIDER = "api-ovn-nad.kube-system.ovn"
SEED_ROUTES_KEY = f"{SEED_PROVIDER}.kubernetes.io/routes"
SEED_ROUTES = '[{"dst":"10.96.0.1/32","gw":"100.100.100.1"}]'
SEED_ANNOTATIONS = {NETWORKS: "kube-system/api-ovn-nad", SEED_ROUTES_KEY: SEED_ROUTES}


def doc(body: dict[str, Any]) -> str:
    return yaml.safe_dump(body, sort_keys=False)


def nad(
    name: str = "api-ovn-nad",
    ns: str = "kube-system",
    *,
    provider: str | None = "",
    config: str | None = None,
    **extra: Any,
) -> str:
    """A kube-ovn NAD in the seed's shape; ``provider=""`` means the derived one, ``None`` leaves it out."""
    if config is None:
        body: dict[str, Any] = {
            "cniVersion": "0.3.0",
            "type": "kube-ovn",
            "server_socket": "/run/openvswitch/kube-ovn-daemon.sock",
        }
        if provider is not None:
            body["provider"] = provider or f"{name}.{ns}.ovn"
        body.update(extra)
        config = json.dumps(body)
    return f"""
apiVersion: "k8s.cni.cncf.io/v1"
kind: NetworkAttachmentDefinition
metadata:
  name: {name}
  namespace: {ns}
spec:
  config: '{config}'
"""


def subnet(name: str, cidr: str, **spec: Any) -> str:
    return doc(
        {
            "apiVersion": "kubeovn.io/v1",
            "kind": "Subnet",
            "metadata": {"name": name},
            "spec": {"cidrBlock": cidr, **spec},
        }
    )


def api_subnet(
    name: str = "vpc-apiserver-subnet", cidr: str = "100.100.100.0/24", provider: str = SEED_PROVIDER, **spec: Any
) -> str:
    return subnet(name, cidr, provider=provider, **spec)


def vpc(name: str, *namespaces: str, cidr: str = "10.0.1.0/24") -> str:
    """A custom VPC with one subnet ``<name>-net`` for its namespaces."""
    return (
        doc(
            {
                "apiVersion": "kubeovn.io/v1",
                "kind": "Vpc",
                "metadata": {"name": name},
                "spec": {"namespaces": list(namespaces)},
            }
        )
        + "---\n"
        + subnet(f"{name}-net", cidr, vpc=name, namespaces=list(namespaces))
    )


def pod(
    name: str = "app", ns: str = "ns1", annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None
) -> str:
    md: dict[str, Any] = {"name": name, "namespace": ns}
    if labels:
        md["labels"] = labels
    if annotations:
        md["annotations"] = annotations
    return doc(
        {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    )


def deployment(
    name: str = "web",
    ns: str = "ns1",
    *,
    own_annotations: dict[str, str] | None = None,
    template_annotations: dict[str, str] | None = None,
    misplaced_annotations: dict[str, str] | None = None,
) -> str:
    """A Deployment; annotations on its own metadata, its pod template's, or mis-indented beside the latter."""
    md: dict[str, Any] = {
        "name": name,
        "namespace": ns,
        **({"annotations": own_annotations} if own_annotations else {}),
    }
    template: dict[str, Any] = {
        "metadata": {
            "labels": {"app": name},
            **({"annotations": template_annotations} if template_annotations else {}),
        },
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    if misplaced_annotations:
        template["annotations"] = misplaced_annotations
    return doc(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": md,
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": template},
        }
    )


def seed_pod(name: str = "app", ns: str = "ns1", **overrides: str) -> str:
    """A pod with the seed's two annotations; ``overrides`` replace or add annotations (key=value)."""
    return pod(name, ns, {**SEED_ANNOTATIONS, **overrides})


def routes(*items: dict[str, str]) -> str:
    """A routes annotation value: ``routes({"dst": "10.96.0.1/32", "gw": "100.100.100.1"})``."""
    return json.dumps(list(items), separators=(",", ":"))


def bridge(name: str, vpc_name: str = "vpc1", **spec: Any) -> str:
    return doc(
        {
            "apiVersion": "apibridge.dev/v1alpha1",
            "kind": "ApiBridge",
            "metadata": {"name": name},
            "spec": {"vpc": vpc_name, **spec},
        }
    )


def service(ns: str, name: str, *ips: str, port: int = 443) -> str:
    return doc(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "clusterIP": ips[0] if ips else "None",
                "clusterIPs": list(ips) or ["None"],
                "ports": [{"name": "p", "port": port, "protocol": "TCP"}],
            },
        }
    )


def endpointslice(ns: str, service_name: str, *addresses: str, ready: bool = True, port: int = 53) -> str:
    """The EndpointSlice of ``service_name``: one endpoint per address, all ready or all not ready."""
    return doc(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{service_name}-x7k2p",
                "namespace": ns,
                "labels": {"kubernetes.io/service-name": service_name},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [a], "conditions": {"ready": ready}} for a in addresses],
            "ports": [{"name": "p", "port": port, "protocol": "TCP"}],
        }
    )


def node(name: str = "kind-control-plane", *ips: str) -> str:
    return doc(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name},
            "status": {"addresses": [{"type": "InternalIP", "address": ip} for ip in ips or ("172.18.0.2",)]},
        }
    )


SEED = [nad(), api_subnet(), vpc("vpc1", "ns1")]
FENCE = [{"direction": "from-lport", "priority": 2000, "match": "ip", "action": "drop"}]


def load(*docs: str) -> Cluster:
    return Cluster.from_documents(parse_text("\n---\n".join(docs), "test.yaml"))


def run(*docs: str, config: Settings | None = None, listed: frozenset[str] = frozenset()) -> list[Finding]:
    """The findings on ``docs``; ``listed``: kinds taken as listed completely from a live cluster (closed world)."""
    cluster = load(*docs)
    cluster.listed = listed
    return check(cluster, plan(cluster, config=config))


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


def by_code(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def netpol(name: str, *, ns: str = "ns1", annotations: dict[str, str] | None = None, **spec: Any) -> str:
    """A NetworkPolicy; ``spec`` as written (``podSelector`` defaults to ``{}``: every pod of ``ns``)."""
    md: dict[str, Any] = {"name": name, "namespace": ns}
    if annotations:
        md["annotations"] = annotations
    return doc(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": md,
            "spec": {"podSelector": {}, **spec},
        }
    )


def anp(name: str, priority: int | None = 10, *, kind: str = "AdminNetworkPolicy", **spec: Any) -> str:
    body: dict[str, Any] = dict(spec)
    if priority is not None:
        body["priority"] = priority
    return doc(
        {"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": body}
    )


DENY_EGRESS: dict[str, Any] = {"policyTypes": ["Egress"]}
ALLOW_ALL_INGRESS: dict[str, Any] = {"policyTypes": ["Ingress"], "ingress": [{}]}
