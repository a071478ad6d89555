"""Kubernetes resource kinds: what each is called and where it lives on the API server.

The operator (through its client) and the webhook (through its reflectors) both talk to the API server
directly, so both need a kind's apiVersion, plural and scope and the request path built from them. Spelled
twice, a plural or a path rule drifts, and the RBAC tests check one spelling while the other is used. This
is the one table: ``Kind`` with its path building and the built-in kinds. It knows nothing of Kube-OVN,
Multus or ApiBridge — their kinds sit with their API groups in ``apibridge.kubeovn.rules``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypedDict


@dataclass(frozen=True)
class Kind:
    """One resource type: where it lives on the API server and how it is called."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def group(self) -> str:
        """The API group; ``""`` for the core group (``apiVersion: v1``)."""
        return self.api_version.rpartition("/")[0] if "/" in self.api_version else ""

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The request path, e.g. ``/apis/kubeovn.io/v1/subnets/x`` or ``/api/v1/namespaces/ns/pods``.

        ``namespace`` scopes only namespaced kinds; without ``name`` it is the collection (list, watch).
        """
        base = f"/apis/{self.api_version}" if "/" in self.api_version else f"/api/{self.api_version}"
        parts = [base]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name:
            parts.append(name)
            if subresource:
                parts.append(subresource)
        return "/".join(parts)


NAMESPACE: Final = Kind("v1", "Namespace", "namespaces", False)
NODE: Final = Kind("v1", "Node", "nodes", False)
SERVICE: Final = Kind("v1", "Service", "services", True)
ENDPOINTSLICE: Final = Kind("discovery.k8s.io/v1", "EndpointSlice", "endpointslices", True)
POD: Final = Kind("v1", "Pod", "pods", True)
EVENT: Final = Kind("v1", "Event", "events", True)
LEASE: Final = Kind("coordination.k8s.io/v1", "Lease", "leases", True)
REPLICASET: Final = Kind("apps/v1", "ReplicaSet", "replicasets", True)
DEPLOYMENT: Final = Kind("apps/v1", "Deployment", "deployments", True)
STATEFULSET: Final = Kind("apps/v1", "StatefulSet", "statefulsets", True)
DAEMONSET: Final = Kind("apps/v1", "DaemonSet", "daemonsets", True)


class GroupVersionKind(TypedDict):
    """``{group, version, kind}`` as AdmissionReview and discovery spell a type (core group: "")."""

    group: str
    version: str
    kind: str


class GroupVersionResource(TypedDict):
    """``{group, version, resource}``: the REST resource (plural) a request went to."""

    group: str
    version: str
    resource: str
