"""``check(cluster, plan)``: every rule over the cluster as the plan would leave it, in a stable order.

One pass over the pods feeds the per-pod findings; pods with the same namespace, placement, bridge
and relevant annotations share one cached analysis, which also carries how many pods have it and a
few of their names. The object-level rules (Subnet, NAD, attachment, ApiBridge) then read those
analyses once each, never the pods again. Nothing here scans all subnets per pod: see ``index``
and ``pods`` for how the work stays near-linear.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from apibridge.model.cluster import Cluster
from apibridge.plan.types import BridgePlan, Plan

from .findings import Finding, sort_findings
from .index import build_view
from .objects.attachments import AttachmentStats, check_attachments
from .objects.bridges import BridgeStats, Selector, check_bridges
from .objects.nads import check_nads
from .objects.pods import SAMPLES, PodAnalysis, PodAnalyzer, absent_namespace, misplaced, pin
from .objects.policies import check_policies
from .objects.subnets import absent_defaults, check_subnets
from .objects.tenancy import check_tenancy, foreign_attachments

_Shape = tuple[list[BridgePlan], PodAnalysis, Mapping[str, str], Mapping[str, str]]


def check(cluster: Cluster, plan: Plan) -> list[Finding]:
    """All findings for ``cluster`` with ``plan`` applied, sorted by object, then code."""
    view = build_view(cluster, plan)
    analyzer = PodAnalyzer(view)
    selector = Selector(cluster, plan)
    bridge_stats = BridgeStats()
    findings: list[Finding] = []
    # Placement, selection and analysis depend only on the pod's namespace, labels and annotations. The model
    # shares equal label and annotation maps between pods (``objects.parse_podlike``), so pods stamped from one
    # template are recognised by identity, and each distinct shape is worked out once. The maps are kept in
    # the value, so an id cannot be reused while the table lives.
    shapes: dict[tuple[str, int, int], _Shape] = {}
    for pod in cluster.pods:
        ref = pod.meta.ref
        labels, annotations = pod.labels, pod.annotations
        shape = shapes.get((pod.namespace, id(labels), id(annotations)))
        if shape is None:
            primary = cluster.pod_subnet(pod)
            vpc = primary.vpc if primary is not None else None
            bridges = selector.selecting(pod, vpc)
            analysis = analyzer.analyse(pod, primary, vpc, bridges[0] if bridges else None)
            shape = (bridges, analysis, labels, annotations)
            shapes[(pod.namespace, id(labels), id(annotations))] = shape
        bridges, analysis = shape[0], shape[1]
        if len(bridges) > 1:
            bridge_stats.record_overlap(ref, bridges)
        analysis.count(ref)
        if analysis.templates:
            findings += pin(pod, analysis)
        if pod.template_path:
            findings += misplaced(pod)
        findings += absent_namespace(cluster, pod)

    foreign = foreign_attachments(cluster, plan)
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
    findings += check_tenancy(cluster, plan, foreign)
    findings += check_policies(cluster, plan)
    return sort_findings(findings)
