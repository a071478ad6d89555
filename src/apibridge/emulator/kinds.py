"""The resource types the emulator serves: built-in kinds plus whatever CRDs register.

kube-apiserver answers only for group/version/resource triples it knows, and clients discover them first
(kopf and kr8s both walk ``/api`` and ``/apis``). One ``ResourceTypes`` registry is the single source for
routing, discovery, admission rule matching and garbage collection, so a CRD that is created or deleted
changes all of them at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

STANDARD_VERBS: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS: tuple[str, ...] = ("get", "patch", "update")


@dataclass(frozen=True)
class ResourceType:
    """One served group/version/resource and the per-kind rules that kube-apiserver's strategies apply."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()
    custom: bool = False  # served because of a CustomResourceDefinition
    tracks_generation: bool = False  # metadata.generation bumps on non-metadata (non-status) changes
    unconditional_update: bool = True  # PUT without metadata.resourceVersion is allowed
    return_deleted_object: bool = False  # DELETE answers with the object, not a Success Status
    name_rule: str = "subdomain"  # subdomain | label | dns1035
    field_labels: tuple[str, ...] = ()  # extra fieldSelector labels beyond metadata.name/namespace
    schema: dict[str, object] | None = field(default=None, compare=False, hash=False)  # CRD openAPIV3Schema
    storage_version: str = ""  # for CRDs: the version objects are stored in ("" = this one)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def storage_key(self) -> tuple[str, str]:
        """Objects live per group+resource, not per version: every served version of a CRD sees the same objects."""
        return (self.group, self.plural)

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()


def _core(plural: str, kind: str, namespaced: bool = True, **kw: object) -> ResourceType:
    return ResourceType(group="", version="v1", plural=plural, kind=kind, namespaced=namespaced, **kw)  # type: ignore[arg-type]


def _grp(group: str, plural: str, kind: str, namespaced: bool = True, **kw: object) -> ResourceType:
    return ResourceType(group=group, version="v1", plural=plural, kind=kind, namespaced=namespaced, **kw)  # type: ignore[arg-type]


_STATUS = frozenset({"status"})

BUILTIN: tuple[ResourceType, ...] = (
    _core(
        "namespaces",
        "Namespace",
        False,
        short_names=("ns",),
        subresources=_STATUS,
        name_rule="label",
        field_labels=("status.phase",),
        return_deleted_object=True,
    ),
    _core(
        "pods",
        "Pod",
        short_names=("po",),
        categories=("all",),
        subresources=_STATUS,
        return_deleted_object=True,
        field_labels=(
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ),
    ),
    _core(
        "services",
        "Service",
        short_names=("svc",),
        categories=("all",),
        subresources=_STATUS,
        name_rule="dns1035",
        field_labels=("spec.clusterIP", "spec.type"),
    ),
    _core("endpoints", "Endpoints", short_names=("ep",)),
    _core("nodes", "Node", False, short_names=("no",), subresources=_STATUS, field_labels=("spec.unschedulable",)),
    _core(
        "events",
        "Event",
        short_names=("ev",),
        field_labels=(
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ),
    ),
    _core("configmaps", "ConfigMap", short_names=("cm",)),
    _core("secrets", "Secret", field_labels=("type",)),
    _core("serviceaccounts", "ServiceAccount", short_names=("sa",)),
    _grp(
        "apps",
        "deployments",
        "Deployment",
        short_names=("deploy",),
        categories=("all",),
        subresources=_STATUS,
        tracks_generation=True,
    ),
    _grp(
        "apps",
        "statefulsets",
        "StatefulSet",
        short_names=("sts",),
        categories=("all",),
        subresources=_STATUS,
        tracks_generation=True,
    ),
    _grp(
        "apps",
        "daemonsets",
        "DaemonSet",
        short_names=("ds",),
        categories=("all",),
        subresources=_STATUS,
        tracks_generation=True,
    ),
    _grp(
        "apps",
        "replicasets",
        "ReplicaSet",
        short_names=("rs",),
        categories=("all",),
        subresources=_STATUS,
        tracks_generation=True,
    ),
    _grp("batch", "jobs", "Job", categories=("all",), subresources=_STATUS, tracks_generation=True),
    _grp(
        "batch",
        "cronjobs",
        "CronJob",
        short_names=("cj",),
        categories=("all",),
        subresources=_STATUS,
        tracks_generation=True,
    ),
    _grp("discovery.k8s.io", "endpointslices", "EndpointSlice", field_labels=("addressType",)),
    _grp("coordination.k8s.io", "leases", "Lease"),
    _grp(
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        False,
        tracks_generation=True,
    ),
    _grp(
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        False,
        tracks_generation=True,
    ),
    _grp(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        short_names=("crd", "crds"),
        subresources=_STATUS,
        tracks_generation=True,
    ),
    _grp("events.k8s.io", "events", "Event", short_names=("ev",)),
)

_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key giving kube-aware version order: v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > anything else."""
    m = _VERSION_RE.match(version)
    if not m:
        return (3, 0, 0, version)
    major, stage, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -major, -minor, version)


class ResourceTypes:
    """The live set of served resource types, in registration order (built-ins first)."""

    def __init__(self, types: tuple[ResourceType, ...] = BUILTIN) -> None:
        self._by_gvr: dict[tuple[str, str, str], ResourceType] = {}
        for rt in types:
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        self._by_gvr[(rt.group, rt.version, rt.plural)] = rt

    def remove(self, group: str, version: str, plural: str) -> None:
        self._by_gvr.pop((group, version, plural), None)

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_gvr.get((group, version, plural))

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._by_gvr.values()))

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self if rt.group == group and rt.version == version]

    def versions_of(self, group: str) -> list[str]:
        """Served versions of a group, preferred first."""
        return sorted({rt.version for rt in self if rt.group == group}, key=version_priority)

    def groups(self) -> list[str]:
        """Named groups (not the core group) in first-registration order."""
        seen: dict[str, None] = {}
        for rt in self:
            if rt.group:
                seen.setdefault(rt.group, None)
        return list(seen)

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        """The resource serving ``apiVersion``/``kind`` (as written in an ownerReference or a manifest)."""
        group, _, version = api_version.rpartition("/")
        for rt in self:
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        return None

    def preferred(self, group: str, plural: str) -> ResourceType | None:
        """The preferred version's type for a group+resource (any version serves the same objects)."""
        versions = [rt for rt in self if rt.group == group and rt.plural == plural]
        return min(versions, key=lambda rt: version_priority(rt.version)) if versions else None
