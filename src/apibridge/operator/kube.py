"""Live API objects -> the model's ``Document``s and ``Cluster``: the one bridge between the API and the planner.

The controller must produce exactly what ``apibridge render`` produces for the same objects, so it does not
have a planner of its own: it turns what it watches into ``Document``s and hands them to
``Cluster.from_documents`` and ``plan``. Two things differ from reading files:

* Objects carry server fields (``managedFields``, ``status``, ``resourceVersion``). ``slim`` keeps what the
  model reads plus what the controller needs (uid, ownerReferences, deletionTimestamp), so the watch cache
  stays small — a cluster has many pods, and pods are the bulk of it.
* One malformed object in a live cluster (a foreign Subnet with a bad CIDR) must not stop every bridge.
  ``build_cluster`` tries ``Cluster.from_documents`` first and, only if it raises, drops the documents that
  do not parse on their own and reports them as ``Rejected`` — the bridge ones become status conditions.

``fingerprint`` is the part of an object whose change can change a plan or a drift verdict; the watch
handlers re-plan only when it moves, so Kube-OVN's Subnet status updates and node heartbeats cost nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from apibridge.base import kinds
from apibridge.base.errors import InputError
from apibridge.base.kinds import Kind as Kind
from apibridge.kubeovn import rules
from apibridge.model.cluster import Cluster
from apibridge.model.load import Document
from apibridge.plan.dns import is_dns_candidate
from apibridge.plan.settings import Settings

SOURCE = "cluster"  # Document.source of everything read from the API


# The kinds the controller reads and writes, under the short names its code and the RBAC test use. They
# are defined once — built-in ones in ``apibridge.base.kinds``, Kube-OVN/Multus/ApiBridge ones in
# ``apibridge.kubeovn.rules`` — and shared with the webhook's reflectors.
APIBRIDGE = rules.APIBRIDGE_KIND
SUBNET = rules.SUBNET_KIND
VPC = rules.VPC_KIND
NAD = rules.NAD_KIND
NETWORKPOLICY = rules.NETWORKPOLICY_KIND
NAMESPACE = kinds.NAMESPACE
NODE = kinds.NODE
SERVICE = kinds.SERVICE
ENDPOINTSLICE = kinds.ENDPOINTSLICE
POD = kinds.POD
EVENT = kinds.EVENT
LEASE = kinds.LEASE
REPLICASET = kinds.REPLICASET
DEPLOYMENT = kinds.DEPLOYMENT
STATEFULSET = kinds.STATEFULSET
DAEMONSET = kinds.DAEMONSET

# What the controller watches to plan (all of them) and to find drift (pods).
# NetworkPolicies: the verdict judges them (AB310 on a bridge's pods: its Degraded condition).
WATCHED: tuple[Kind, ...] = (APIBRIDGE, SUBNET, VPC, NAD, NAMESPACE, NODE, SERVICE, ENDPOINTSLICE, POD, NETWORKPOLICY)
# Services the planner reads: the API server's (destinations) and whichever can be the cluster DNS Service
# (``dns: true``; ``apibridge.plan.dns``: labelled k8s-app=kube-dns in kube-system, the usual names, or the
# one the settings name).
WORKLOADS: dict[str, Kind] = {k.kind: k for k in (DEPLOYMENT, STATEFULSET, DAEMONSET, REPLICASET)}
BY_KIND: dict[str, Kind] = {k.kind: k for k in (*WATCHED, EVENT, LEASE, *WORKLOADS.values())}


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    md = obj.get("metadata")
    return md if isinstance(md, Mapping) else {}


def name_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("name") or "")


def namespace_of(obj: Mapping[str, Any]) -> str | None:
    ns = meta(obj).get("namespace")
    return ns if isinstance(ns, str) and ns else None


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    labels = meta(obj).get("labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    ann = meta(obj).get("annotations")
    return {str(k): str(v) for k, v in ann.items()} if isinstance(ann, Mapping) else {}


def ref(obj: Mapping[str, Any]) -> str:
    """``Kind/namespace/name`` or ``Kind/name``, as ``Meta.ref`` spells it."""
    ns = namespace_of(obj)
    kind = obj.get("kind", "?")
    return f"{kind}/{ns}/{name_of(obj)}" if ns else f"{kind}/{name_of(obj)}"


def is_terminating(obj: Mapping[str, Any]) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


_KEEP_META = (
    "name",
    "namespace",
    "uid",
    "labels",
    "annotations",
    "ownerReferences",
    "generation",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
)


def slim(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What the watch cache keeps of an object (see the module docstring)."""
    md = meta(obj)
    out: dict[str, Any] = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {k: md[k] for k in _KEEP_META if k in md},
    }
    kind = obj.get("kind")
    status = obj.get("status") if isinstance(obj.get("status"), Mapping) else {}
    assert isinstance(status, Mapping)
    if kind == "Pod":
        spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
        assert isinstance(spec, Mapping)
        if spec.get("nodeName"):
            out["spec"] = {"nodeName": spec["nodeName"]}
        if status.get("phase"):
            out["status"] = {"phase": status["phase"]}
        return out
    if kind == "Node":
        out["status"] = {"addresses": status.get("addresses") or []}
        return out
    for key, value in obj.items():
        if key not in ("apiVersion", "kind", "metadata", "status"):
            out[key] = value
    if kind == "ApiBridge" and status:
        out["status"] = dict(status)  # the controller compares against it before writing
    if kind == "Subnet" and (usage := rules.subnet_usage(status)):  # a bridge's CIDR cannot move under it (AB119)
        out["status"] = usage
    return out


def fingerprint(obj: Mapping[str, Any]) -> str:
    """A digest of the parts of ``obj`` a plan or a drift verdict depends on (not versions, and of the status only
    what the model reads: a Node's addresses, a Pod's phase, whether a Subnet's addresses are in use)."""
    md = {k: v for k, v in meta(obj).items() if k not in ("resourceVersion", "managedFields", "generation")}
    body = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    if obj.get("kind") == "Node":
        body["addresses"] = (obj.get("status") or {}).get("addresses")
    elif obj.get("kind") == "Pod":
        body["phase"] = (obj.get("status") or {}).get("phase")
    elif obj.get("kind") == "Subnet":  # in use or not (a bridge's CIDR may move only when not: AB119)
        body["usage"] = rules.subnet_usage(obj.get("status"))
    text = json.dumps({"m": md, "b": body}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def planned_service(obj: Mapping[str, Any], settings: Settings | None = None) -> bool:
    ns, name = namespace_of(obj) or "default", name_of(obj)
    return (ns, name) == rules.KUBERNETES_SERVICE or is_dns_candidate(ns, name, labels_of(obj), settings)


def planned_endpointslice(obj: Mapping[str, Any]) -> bool:
    ns, svc = rules.KUBERNETES_SERVICE
    return namespace_of(obj) == ns and labels_of(obj).get(rules.SERVICE_NAME_LABEL) == svc


def to_documents(objects: Iterable[Mapping[str, Any]]) -> list[Document]:
    """Documents in a stable order (kind, namespace, name), so two identical snapshots plan identically."""
    ordered = sorted(objects, key=lambda o: (str(o.get("kind")), namespace_of(o) or "", name_of(o)))
    return [Document(dict(obj), SOURCE, index) for index, obj in enumerate(ordered)]


@dataclass(frozen=True)
class Rejected:
    """An object the model refused; ``error`` says why, in the model's words."""

    obj: str
    kind: str
    name: str
    error: InputError

    @property
    def message(self) -> str:
        where = f"field {self.error.location.field}: " if self.error.location.field else ""
        hint = f" (hint: {self.error.hint})" if self.error.hint else ""
        return f"{where}{self.error.message}{hint}"


def build_cluster(objects: Iterable[Mapping[str, Any]]) -> tuple[Cluster, list[Rejected]]:
    """``Cluster.from_documents`` over the live objects; objects it refuses are left out and returned."""
    cluster, refused = Cluster.tolerant(to_documents(objects))
    return cluster, [Rejected(ref(doc.body), str(doc.body.get("kind")), name_of(doc.body), exc) for doc, exc in refused]


def owner_reference(bridge: Mapping[str, Any]) -> dict[str, Any]:
    """The controller ownerReference from a NAD or Subnet to its (cluster-scoped) ApiBridge."""
    return {
        "apiVersion": rules.APIBRIDGE_API,
        "kind": APIBRIDGE.kind,
        "name": name_of(bridge),
        "uid": str(meta(bridge).get("uid") or ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }
