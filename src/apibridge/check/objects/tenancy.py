"""No cross-tenant attachment: a bridge's NAD and subnet belong to the pods of its VPC, with port security.

A bridge's attachment subnet is a door from one custom VPC into the default VPC, fenced for that VPC's
pods. Kube-OVN and Multus do not restrict who walks through it: any pod that names the NAD in
``k8s.v1.cni.cncf.io/networks`` (or ``v1.multus-cni.io/default-network``) gets an address on it, and any pod
that names the subnet through ``<provider>.kubernetes.io/logical_switch`` (any provider, the primary
``ovn`` included) or uses the bridge provider's ``ip_address``/``ip_pool`` keys claims a place on it
(``rules.subnet_claims``). A pod of another tenant on that L2 segment reaches the bridge's pods directly
and, without port security, can answer ARP for their addresses.

The rule, in one place for ``check`` (AB304, AB305) and the operator (``foreign_attachments``):

* a pod may reference bridge B only when its namespace's VPC (Kube-OVN's namespace placement) **and** its
  own primary subnet (a pod's ``ovn.kubernetes.io/logical_switch`` overrides the namespace) are B's VPC;
* a pod that attaches B's NAD has ``<provider>.kubernetes.io/port_security: "true"``, so OVN drops its
  frames whose source MAC or IP is not its port's own (the webhook and ``inject`` add it; AB305 flags a
  hand-written attachment, or one that turned it off).

The chart's ValidatingAdmissionPolicy (``deploy/chart/templates/tenancy-policy.yaml``) enforces the same
rule in the API server, where a tenant cannot opt out and a webhook outage cannot open it; the table of
cases in ``tests/check/tenancy_cases.py`` is run against both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, replace

from apibridge.kubeovn import networks, rules
from apibridge.model.cluster import Cluster
from apibridge.model.objects import PodLike
from apibridge.plan.mutation import BridgeIndex, pod_mutation
from apibridge.plan.types import BridgePlan, Plan

from ..findings import Finding, finding
from ..groups import PodGroups, group_pods

# the annotations through which Multus attaches a NAD to a pod
NAD_REFERENCE_KEYS = (rules.NETWORKS_ANNOTATION, rules.DEFAULT_NETWORK_ANNOTATION)


@dataclass(frozen=True)
class ForeignAttachment:
    """A pod (or pod template) that references a bridge from outside the bridge's VPC."""

    pod: str  # Kind/namespace/name
    namespace: str
    vpc: str | None  # the VPC the pod's network is in (None: not placed)
    bridge: str
    bridge_vpc: str
    nad: str  # namespace/name
    keys: tuple[str, ...]  # the annotations that reference it, sorted
    field_prefix: str  # where the annotations are in the object ("" or "spec.template.")

    @property
    def field(self) -> str:
        return f'{self.field_prefix}metadata.annotations["{self.keys[0]}"]'

    @property
    def message(self) -> str:
        how = ", ".join(self.keys)
        where = f"VPC {self.vpc}" if self.vpc else "no VPC"
        return (
            f"references NAD {self.nad} of ApiBridge {self.bridge} ({how}) from namespace {self.namespace} "
            f"in {where}; only pods of VPC {self.bridge_vpc} may attach it: this pod would get an address on "
            f"the bridge's subnet and reach that tenant's attached pods"
        )


class BridgeRefs:
    """The bridges of a plan indexed by what a pod's annotations can name: NAD, provider, subnet."""

    def __init__(self, plan: Plan) -> None:
        self.by_nad: dict[tuple[str, str], BridgePlan] = {}
        self.by_provider: dict[str, BridgePlan] = {}
        self.by_subnet: dict[str, BridgePlan] = {}
        for bp in plan.bridges.values():
            self.by_nad[(bp.nad_namespace, bp.nad_name)] = bp
            self.by_provider[bp.provider] = bp
            self.by_subnet[bp.subnet_name] = bp

    def nad_refs(self, annotations: Mapping[str, str], namespace: str) -> dict[str, list[str]]:
        """bridge name -> the Multus annotations of the pod that attach its NAD."""
        out: dict[str, list[str]] = {}
        for key in NAD_REFERENCE_KEYS:
            value = annotations.get(key)
            if not value:
                continue
            try:
                selections = networks.parse(value).selections
            except networks.NetworksError:
                continue  # AB030: Multus refuses the pod, nothing is attached
            for sel in selections:
                bp = self.by_nad.get(sel.ref(namespace))
                if bp is not None and key not in out.setdefault(bp.bridge.name, []):
                    out[bp.bridge.name].append(key)
        return out

    def references(self, annotations: Mapping[str, str], namespace: str) -> dict[str, list[str]]:
        """bridge name -> every annotation of the pod that attaches the bridge or claims its subnet."""
        out = self.nad_refs(annotations, namespace)
        for key, claim, provider in rules.subnet_claim_keys(annotations):
            named = [self.by_provider.get(rules.subnet_provider(provider))]
            if claim == rules.LOGICAL_SWITCH:  # the names rules.names_subnet accepts, looked up directly
                value = annotations[key]
                named += [self.by_subnet.get(part) for part in {value, *(p.strip() for p in value.split(","))}]
            for bp in named:
                if bp is not None and key not in out.setdefault(bp.bridge.name, []):
                    out[bp.bridge.name].append(key)
        return out


def _prefix(pod: PodLike) -> str:
    return "".join(f"{p}." for p in pod.template_path)


def _vpcs(cluster: Cluster, pod: PodLike) -> tuple[str | None, str | None]:
    """The VPC of the pod's namespace, and the VPC of the pod's own primary subnet (its override, if any)."""
    ns_subnet = cluster.namespace_subnet(pod.namespace)
    pod_subnet = cluster.pod_subnet(pod)
    return (ns_subnet.vpc if ns_subnet is not None else None, pod_subnet.vpc if pod_subnet is not None else None)


def _inside(vpcs: tuple[str | None, str | None], vpc: str) -> bool:
    """Are both the namespace and the pod itself in ``vpc``?"""
    return vpcs == (vpc, vpc)


def _elsewhere(vpcs: tuple[str | None, str | None], vpc: str) -> str | None:
    """The VPC that is not ``vpc``: the namespace's, else the pod's own (None: not placed)."""
    return vpcs[0] if vpcs[0] != vpc else vpcs[1]


def _candidates(pod: PodLike) -> bool:
    """Cheap filter: only pods with a Multus reference or a subnet-claim key can break the rule."""
    return any(k in pod.annotations for k in NAD_REFERENCE_KEYS) or bool(rules.subnet_claim_keys(pod.annotations))


def _reference_items(annotations: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The annotations ``BridgeRefs.references`` and the pod's placement read: the Multus references and every
    provider-scoped key (a hashable key for pods that share them)."""
    return tuple((k, v) for k, v in annotations.items() if k in NAD_REFERENCE_KEYS or rules.PROVIDER_KEY_INFIX in k)


def foreign_attachments(cluster: Cluster, plan: Plan, groups: PodGroups | None = None) -> list[ForeignAttachment]:
    """Every pod (and pod template) that references a bridge from outside the bridge's VPC, in the order of
    ``groups`` (``group_pods``: pods of one namespace with the same labels and annotations, worked out once).

    The operator reports these for pods that already exist (the admission policy refuses new ones).
    """
    index = BridgeRefs(plan)
    out: list[ForeignAttachment] = []
    # among annotation maps that differ, what a group references depends on the Multus and provider keys alone
    by_items: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, list[str]]] = {}
    for members in group_pods(cluster.pods) if groups is None else groups:
        first = members[0]
        annotations = first.annotations
        if not annotations or not _candidates(first):
            continue
        shape = (first.namespace, _reference_items(annotations))
        refs = by_items.get(shape)
        if refs is None:
            refs = by_items[shape] = index.references(annotations, first.namespace)
        if not refs:
            continue
        vpcs = _vpcs(cluster, first)  # the namespace and the annotations place the pod
        foreign = [(name, plan.bridges[name]) for name in sorted(refs)]
        foreign = [(name, bp) for name, bp in foreign if not _inside(vpcs, bp.bridge.vpc)]
        for pod in members:
            for name, bp in foreign:
                out.append(
                    ForeignAttachment(
                        pod=pod.meta.ref,
                        namespace=pod.namespace,
                        vpc=_elsewhere(vpcs, bp.bridge.vpc),
                        bridge=name,
                        bridge_vpc=bp.bridge.vpc,
                        nad=f"{bp.nad_namespace}/{bp.nad_name}",
                        keys=tuple(sorted(refs[name])),
                        field_prefix=_prefix(pod),
                    )
                )
    return out


def _open_ports(cluster: Cluster, plan: Plan, groups: PodGroups) -> list[Finding]:
    """AB305: pods of the bridge's VPC that attach it, after the mutation, without port security."""
    index = BridgeRefs(plan)
    selection = BridgeIndex(cluster, plan)
    out: list[Finding] = []
    by_values: dict[tuple[str, tuple[str | None, ...]], dict[str, list[str]]] = {}
    for members in groups:
        first = members[0]
        if not first.annotations or not any(k in first.annotations for k in NAD_REFERENCE_KEYS):
            continue
        shape = (first.namespace, tuple(first.annotations.get(k) for k in NAD_REFERENCE_KEYS))
        refs = by_values.get(shape)
        if refs is None:
            refs = by_values[shape] = index.nad_refs(first.annotations, first.namespace)
        if not refs:
            continue
        # selection, the mutation and placement depend on the namespace, labels and annotations the group shares
        annotations: Mapping[str, str] = first.annotations
        selected = selection.bridge_for(first)
        if selected is not None:
            with contextlib.suppress(ValueError):  # AB030/AB201 report an annotation the mutation cannot extend
                annotations = {**annotations, **pod_mutation(annotations, first.namespace, selected)}
        vpcs = _vpcs(cluster, first)
        for name in sorted(refs):
            bp = plan.bridges[name]
            if not _inside(vpcs, bp.bridge.vpc) or rules.port_security_on(annotations, bp.provider):
                continue  # a foreign pod is AB304's
            key = rules.port_security_key(bp.provider)
            have = annotations.get(key)
            state = f"is {have!r}" if have is not None else "is not set"
            message = (
                f"attaches NAD {bp.nad_namespace}/{bp.nad_name} of ApiBridge {name}, but {key} {state}: "
                f"Kube-OVN leaves the port without port_security, so the pod can send frames with another "
                f"pod's MAC or IP (ARP spoofing on the bridge's subnet)"
            )
            hint = (
                f'set {key}: "true" (the webhook and apibridge inject add it); the chart\'s admission '
                f"policy refuses this pod"
            )
            for pod in members:
                out.append(
                    finding("AB305", pod.meta.ref, f'{_prefix(pod)}metadata.annotations["{key}"]', message, hint)
                )
    return out


# the findings for which the chart's admission policy (apibridge-tenancy) refuses the pod outright
ADMISSION_REFUSALS = frozenset({"AB304", "AB305"})


def refusal(
    cluster: Cluster, plan: Plan, pod: PodLike, annotations: Mapping[str, str], index: BridgeRefs | None = None
) -> str | None:
    """Why the chart's admission policy refuses ``pod`` with ``annotations`` (after the mutation), or None.

    The twin asks this before it realizes a pod: in a cluster with the chart, such a pod is never created.
    """
    index = index or BridgeRefs(plan)
    refs = index.references(annotations, pod.namespace)
    if not refs:
        return None
    as_created = replace(pod, annotations=annotations)
    vpcs = _vpcs(cluster, as_created)
    for name in sorted(refs):
        bp = plan.bridges[name]
        if not _inside(vpcs, bp.bridge.vpc):
            where = _elsewhere(vpcs, bp.bridge.vpc)
            return (
                f"refused at admission (AB304): pod {pod.namespace}/{pod.meta.name} may not attach NAD "
                f"{bp.nad_namespace}/{bp.nad_name} of ApiBridge {name} from VPC {where}; only VPC {bp.bridge.vpc} may"
            )
        attached = name in index.nad_refs(annotations, pod.namespace)
        if attached and not rules.port_security_on(annotations, bp.provider):
            return (
                f"refused at admission (AB305): pod {pod.namespace}/{pod.meta.name} attaches NAD "
                f"{bp.nad_namespace}/{bp.nad_name} of ApiBridge {name} without "
                f'{rules.port_security_key(bp.provider)}: "true"'
            )
    return None


def own_way(plan: Plan, vpc: str | None) -> str:
    """What a pod of ``vpc`` may use to reach the API server: its own VPC's ApiBridge, never another tenant's
    (every hint for a foreign attachment says this, not how to finish wiring the other tenant's bridge)."""
    own = [bp.bridge.name for bp in plan.by_vpc.get(vpc or "", [])]
    if own:
        return (
            f"ApiBridge {', '.join(own)} of its own VPC {vpc} is the way for this pod: remove the attachment and "
            "match the bridge's podSelector"
        )
    return f"remove the attachment and create an ApiBridge for its own VPC {vpc or '(unplaced)'}"


def check_tenancy(
    cluster: Cluster, plan: Plan, foreign: list[ForeignAttachment] | None = None, groups: PodGroups | None = None
) -> list[Finding]:
    """AB304 for every foreign attachment (``foreign``: ``foreign_attachments`` when the caller has them),
    AB305 for every bridge attachment without port security (``groups``: ``group_pods``, likewise)."""
    groups = group_pods(cluster.pods) if groups is None else groups
    out = [
        finding(
            "AB304",
            a.pod,
            a.field,
            a.message,
            f"only namespaces of VPC {a.bridge_vpc} may use ApiBridge {a.bridge}; {own_way(plan, a.vpc)} "
            f"(the chart's admission policy refuses this pod)",
        )
        for a in (foreign_attachments(cluster, plan, groups) if foreign is None else foreign)
    ]
    return out + _open_ports(cluster, plan, groups)
