"""ApiBridge rules: intent that cannot work, does nothing, or collides with other intent.

Selection is ``apibridge.plan.mutation.BridgeIndex``; the validator records *every* bridge that
selects a pod, not just the one that injects it, so overlaps can be reported.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import dataclass, field

from apibridge.kubeovn import rules
from apibridge.model.cluster import Cluster
from apibridge.model.objects import Service
from apibridge.plan.mutation import BridgeIndex
from apibridge.plan.types import BridgePlan, Plan

from ..findings import Finding, finding, from_problem
from .pods import PodAnalysis

Selector = BridgeIndex  # selection has one definition, in the planner


@dataclass
class BridgeStats:
    """What the pod pass learned about each bridge."""

    selected: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    namespaces: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    overlaps: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    handwritten: dict[str, list[tuple[int, list[str], list[str]]]] = field(
        default_factory=lambda: defaultdict(list)
    )  # bridge -> (pods, sample refs, providers)

    def record_overlap(self, ref: str, bridges: list[BridgePlan]) -> None:
        first = bridges[0].bridge.meta.name
        for other in bridges[1:]:
            self.overlaps[(first, other.bridge.meta.name)].append(ref)

    def record(self, analysis: PodAnalysis) -> None:
        """Once per distinct analysis, after the pod pass: its pods share namespace and bridge."""
        name = analysis.bridge
        if name is None or not analysis.pods:
            return
        self.selected[name] += analysis.pods
        self.namespaces[name].add(analysis.namespace)
        if analysis.handwritten_api:
            self.handwritten[name].append((analysis.pods, analysis.samples, analysis.handwritten_api))


def _example(refs: list[str], total: int | None = None) -> str:
    """Up to three refs, smallest first, and how many more there are of ``total``."""
    refs = sorted(refs)[:3]
    more = (total if total is not None else len(refs)) - len(refs)
    return ", ".join(refs) + (f" and {more} more" if more > 0 else "")


def _unbacked(
    cluster: Cluster, service: Service | None, what: str, wanting: list[str], *, unknown: bool = True
) -> list[Finding]:
    """The Service (``what``: "DNS" or "API") the ``wanting`` bridges need, when it has no backend, so
    nothing answers its ClusterIP — kube-ovn-controller deletes the VIP of a Service port without ready
    endpoints ("for performance reason delete lb with no backends", ``endpointReady``: kube-ovn v1.16.2
    pkg/controller/endpoint_slice.go ``handleUpdateEndpointSlice``) — or, if ``unknown``, when the input
    shows none (a warning). Reported on the Service, not the bridges: the bridge is sound (its verdict
    stands), the Service's backends are what is broken."""
    if not wanting or service is None or not service.cluster_ips:
        return []  # no such Service at all: AB102 (DNS) and the API checks say so
    meta = service.meta
    ref = f"{meta.namespace}/{meta.name}"
    backed = cluster.service_backed(meta.namespace or "", meta.name)
    if backed or (backed is None and not unknown):
        return []
    one, many = (f"names {what}", f"name {what}") if what == "DNS" else (f"needs the {what}", f"need the {what}")
    bridges = f"ApiBridge {wanting[0]} {one}" if len(wanting) == 1 else f"ApiBridges {_example(wanting)} {many}"
    ips = ", ".join(map(str, service.cluster_ips))
    if backed is False:
        fix = (
            f"make the DNS pods ready (kubectl -n {meta.namespace} get pods,endpointslices), or name the "
            "cluster's real DNS Service (--dns-service namespace/name)"
            if what == "DNS"
            else f"check the API servers (kubectl -n {meta.namespace} get endpointslices "
            f"-l kubernetes.io/service-name={meta.name})"
        )
        return [
            finding(
                "AB117",
                meta.ref,
                "spec.selector",
                f"the {what} Service {ref} has no endpoints (none ready): nothing answers {ips}, and {bridges}",
                fix,
            )
        ]
    return [
        finding(
            "AB118",
            meta.ref,
            "spec.selector",
            f"the input has no endpoint of the {what} Service {ref} (no EndpointSlice, no pod its selector "
            f"picks), and {bridges}: if the cluster has none either, nothing answers {ips}",
            f"add its EndpointSlices to the input (kubectl -n {meta.namespace} get endpointslices -o yaml), "
            "or check the live cluster (--live)",
        )
    ]


def _moved_under_pods(cluster: Cluster, bp: BridgePlan) -> Finding | None:
    """AB119: the plan moves the bridge's live Subnet to another CIDR while Kube-OVN has addresses on it in use.

    The gateway moves with the CIDR, and kube-ovn v1.16.2 ``pkg/webhook/subnet.go SubnetUpdateHook`` denies
    that ("can't update gateway of cidr when any IPs in Using"); without its webhook, ``pkg/ipam
    AddOrUpdateSubnet`` drops the pods' addresses outside the new range while the pods keep them and their
    routes to the old gateway. So the operator must not write it (the verdict refuses the bridge: its objects
    stay as they are, and its condition says why) and ``check --live`` says so before anyone applies it.
    """
    have = cluster.subnets.get(bp.subnet_name)
    if have is None or not rules.owned_by_bridge(have.meta.labels, bp.bridge.name) or not have.in_use:
        return None
    if set(have.cidrs) == set(bp.cidrs):
        return None
    old, new = ",".join(map(str, have.cidrs)), ",".join(map(str, bp.cidrs))
    return finding(
        "AB119",
        bp.bridge.meta.ref,
        "spec.cidrBlock",
        f"cidrBlock {new} would move Subnet {bp.subnet_name} from {old}, whose addresses in use belong to "
        "running pods: Kube-OVN denies the gateway change that comes with it (\"can't update gateway "
        'of cidr when any IPs in Using", kube-ovn v1.16.2 pkg/webhook/subnet.go), and the pods would keep '
        "addresses and routes of the old range",
        f"set spec.cidrBlock back to {old}; to move the bridge, first scale the pods that use it to zero (the "
        f"Subnet's usingIPs drop to 0), then change cidrBlock and scale them back",
    )


def check_bridges(cluster: Cluster, plan: Plan, stats: BridgeStats) -> list[Finding]:
    out = [from_problem(p) for p in plan.problems]
    bridges = {**cluster.bridges, **{bp.bridge.name: bp.bridge for bp in plan.bridges.values()}}
    dns = plan.dns.service if plan.dns is not None else None
    out += _unbacked(cluster, dns, "DNS", [name for name, b in bridges.items() if b.dns])
    # the API Service's endpoints are often not in files (its traffic is then judged at the control-plane
    # nodes, ``netpol.api_endpoints``), so only its listed-but-none-ready endpoints are a finding
    api = cluster.service(*rules.KUBERNETES_SERVICE)
    out += _unbacked(cluster, api, "API", [n for n, b in bridges.items() if b.apiserver], unknown=False)
    for name in sorted(bridges):
        b = bridges[name]
        ref = b.meta.ref
        if b.vpc == rules.DEFAULT_VPC:
            out.append(
                finding(
                    "AB112",
                    ref,
                    "spec.vpc",
                    f"vpc is the default VPC {rules.DEFAULT_VPC}, whose pods "
                    "reach the API server without an attachment",
                    "set spec.vpc to a custom VPC",
                )
            )
        elif b.vpc not in cluster.vpcs:
            custom = sorted(v for v in cluster.vpcs if v != rules.DEFAULT_VPC)
            close = difflib.get_close_matches(b.vpc, custom, n=1, cutoff=0.6)
            out.append(
                finding(
                    "AB111",
                    ref,
                    "spec.vpc",
                    f"Vpc {b.vpc!r} {cluster.absent(rules.VPC_KIND.kind)}, so no pod is in it",
                    f"did you mean {close[0]}?"
                    if close
                    else "fix the VPC name, or include the Vpc and its subnets in the input",
                )
            )
        bp = plan.bridges.get(name)
        if bp is None:
            continue
        if (moved := _moved_under_pods(cluster, bp)) is not None:
            out.append(moved)
        if b.isolation == "open":
            out.append(
                finding(
                    "AB303",
                    ref,
                    "spec.isolation",
                    f"isolation: open leaves Subnet {bp.subnet_name} "
                    "without an ACL fence: attached pods reach the whole default VPC and each other",
                    "use isolation: strict unless the pods need more than their destinations",
                )
            )
        if b.vpc in cluster.vpcs and b.vpc != rules.DEFAULT_VPC and not stats.selected.get(name):
            where = "in the cluster" if "Pod" in cluster.listed else "in the input"  # listed live: all there are
            out.append(
                finding(
                    "AB113",
                    ref,
                    "spec.podSelector",
                    f"no pod or pod template of VPC {b.vpc} {where} matches the selectors (or all opted out)",
                    "fine if the pods come later; otherwise check the selectors against the pod labels",
                )
            )
        foreign_ns = sorted(stats.namespaces.get(name, set()) - {bp.nad_namespace})
        if bp.nad_namespace != rules.MULTUS_GLOBAL_NAMESPACE and foreign_ns:
            out.append(
                finding(
                    "AB115",
                    ref,
                    "spec.nadNamespace",
                    f"pods in {', '.join(foreign_ns[:3])} will reference "
                    f"{bp.nad_namespace}/{bp.nad_name}; Multus with namespaceIsolation only allows "
                    f"cross-namespace references to {rules.MULTUS_GLOBAL_NAMESPACE}",
                    f"set nadNamespace: {rules.MULTUS_GLOBAL_NAMESPACE} if namespaceIsolation is on",
                )
            )
        hand = stats.handwritten.get(name)
        if hand:
            providers = sorted({p for _, _, ps in hand for p in ps})
            pods = sum(n for n, _, _ in hand)
            samples = [r for _, refs, _ in hand for r in refs]
            out.append(
                finding(
                    "AB114",
                    ref,
                    "spec.podSelector",
                    f"{pods} selected pod(s) already route the API "
                    f"server through {', '.join(providers)} (e.g. {_example(samples, pods)}); the "
                    f"bridge adds its own attachment {bp.provider}",
                    "remove the hand-written attachment and routes from those pods",
                )
            )
    for (winner, loser), refs in sorted(stats.overlaps.items()):
        out.append(
            finding(
                "AB110",
                bridges[loser].meta.ref,
                "spec.podSelector",
                f"{len(refs)} pod(s) selected by this bridge are also selected by ApiBridge {winner}, "
                f"which wins by name (e.g. {_example(refs, len(refs))})",
                "make the selectors of the VPC's bridges disjoint",
            )
        )
    return out
