"""``check(cluster, plan)``: every rule over the cluster as the plan would leave it, in a stable order.

One pass over the pods feeds the per-pod findings; pods with the same namespace, placement, bridge
and relevant annotations share one cached analysis, which also carries how many pods have it and a
few of their names. The object-level rules (Subnet, NAD, attachment, ApiBridge) then read those
analyses once each, never the pods again. Nothing here scans all subnets per pod: see ``index``
and ``pods`` for how the work stays near-linear.
"""

from __future__ import annotations

from collections import defaultdict

from apibridge.model.cluster import Cluster
from apibridge.plan.types import Plan

from .findings import Finding, sort_findings
from .groups import group_pods
from .index import build_view
from .objects.attachments import AttachmentStats, check_attachments
from .objects.bridges import BridgeStats, Selector, check_bridges
from .objects.nads import check_nads
from .objects.pods import SAMPLES, PodAnalyzer, absent_namespace, misplaced, namespace_absent, pin
from .objects.policies import check_policies
from .objects.subnets import absent_defaults, check_subnets
from .objects.tenancy import check_tenancy, foreign_attachments


def check(cluster: Cluster, plan: Plan) -> list[Finding]:
    """All findings for ``cluster`` with ``plan`` applied, sorted by object, then code."""
    view = build_view(cluster, plan)
    analyzer = PodAnalyzer(view)
    selector = Selector(cluster, plan)
    bridge_stats = BridgeStats()
    findings: list[Finding] = []
    # placement, selection and analysis are worked out once per group of pods stamped from one template
    groups = group_pods(cluster.pods)
    absent: dict[str, bool] = {}
    for members in groups:
        first = members[0]
        primary = cluster.pod_subnet(first)
        vpc = primary.vpc if primary is not None else None
        bridges = selector.selecting(first, vpc)
        analysis = analyzer.analyse(first, primary, vpc, bridges[0] if bridges else None)
        refs = [pod.meta.ref for pod in members]
        if len(bridges) > 1:
            for ref in refs:
                bridge_stats.record_overlap(ref, bridges)
        analysis.count(refs)
        if analysis.templates:
            for pod in members:
                findings += pin(pod, analysis)
        for pod in members:
            if pod.template_path:
                findings += misplaced(pod)
        if absent.setdefault(first.namespace, namespace_absent(cluster, first.namespace)):
            findings += [absent_namespace(pod) for pod in members]

    foreign = foreign_attachments(cluster, plan, groups)
    refused = frozenset(a.pod for a in foreign)
    attachment_stats = AttachmentStats()
    nad_users: dict[tuple[str, str], tuple[int, list[str]]] = defaultdict(lambda: (0, []))
    providers_named: set[str] = set()
    for analysis in analyzer.analyses():
        bridge_stats.record(analysis)
        attachment_stats.record(analysis, refused)
        providers_named |= analysis.providers_named
        for nad_ref in dict.fromkeys(analysis.nad_refs):
            count, samples = nad_users[nad_ref]
            nad_users[nad_ref] = (count + analysis.pods, sorted(samples + analysis.samples)[:SAMPLES])

    findings += check_subnets(view)
    findings += absent_defaults(cluster)
    findings += check_nads(view, nad_users, providers_named)
    findings += check_attachments(view, attachment_stats)
    findings += check_bridges(cluster, plan, bridge_stats)
    findings += check_tenancy(cluster, plan, foreign, groups)
    findings += check_policies(cluster, plan)
    return sort_findings(findings)
