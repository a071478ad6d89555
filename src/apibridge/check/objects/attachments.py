"""Attachment-subnet rules that need the pods: who attaches, from which VPC, for what traffic.

An attachment subnet (provider ``<nad>.<ns>.ovn``) in the default VPC is a door from a custom VPC
into ``ovn-cluster``. These rules look at it from the door's side: does the switch DNAT the
ClusterIPs routed through it (``enableLb``), does its ``private`` ACL let the API traffic out, is
it shared by tenants of different VPCs (one L2 segment: they reach each other directly), is it
fenced at all, and does its range collide with the attached pods' own VPC routes.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass, field

from apibridge.kubeovn import rules
from apibridge.kubeovn.dualstack import IPNetwork
from apibridge.model.objects import Subnet

from ..findings import Finding
from ..index import View, is_attachment_subnet
from .pods import PodAnalysis
from .subnets import SubnetReporter


@dataclass
class AttachmentStats:
    """What the pod pass learned about each attachment subnet (pod refs kept as the smallest, for stable text)."""

    vpcs: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))  # subnet -> vpc -> pod
    api: set[str] = field(default_factory=set)
    clusterip: set[str] = field(default_factory=set)

    def record(self, analysis: PodAnalysis, refused: frozenset[str] = frozenset()) -> None:
        """Once per distinct analysis, after the pod pass (its pods share VPC and attachments). Pods the
        chart's admission policy refuses (``refused``: AB304, reported on the pod) never join the subnet, so
        they do not make it shared (AB301 would blame the bridge they tried to use)."""
        self.api |= analysis.api_subnets
        self.clusterip |= analysis.clusterip_subnets
        if analysis.vpc is None or not analysis.samples or analysis.samples[0] in refused:
            return
        vpc, ref = analysis.vpc, analysis.samples[0]
        for att in analysis.attachments:
            if att.subnet is not None:
                seen = self.vpcs[att.subnet.name]
                if vpc not in seen or ref < seen[vpc]:
                    seen[vpc] = ref


def check_attachments(view: View, stats: AttachmentStats) -> list[Finding]:
    report = SubnetReporter(view)
    api, clusterip = set(stats.api), set(stats.clusterip)
    for bp in view.plan.bridges.values():  # a bridge's routes are what its subnet is for, pods or not
        if bp.routes:
            clusterip.add(bp.subnet_name)
            if any(d.kind == "apiserver" for d in bp.destinations):
                api.add(bp.subnet_name)
    out: list[Finding] = []
    for name in sorted(view.subnets):
        s = view.subnets[name]
        if not is_attachment_subnet(s):
            continue
        # kube-proxy on the host DNATs what the switch does not: a default-VPC subnet's traffic to a ClusterIP
        # takes the 29000 reroute to the node's ovn0 (kube-ovn v1.16.2 pkg/controller/subnet.go
        # addPolicyRouteForDistributedSubnet / centralized gateway) and kube-proxy's PREROUTING rules DNAT it
        if not s.enable_lb and s.vpc == rules.DEFAULT_VPC and view.plan.kube_proxy:
            out.append(
                report(
                    "AB027",
                    s,
                    "spec.enableLb",
                    "enableLb: false: no OVN load balancer DNATs ClusterIPs on this switch; they reach the node "
                    "through the router's reroute to ovn0 and kube-proxy DNATs them on the host",
                    "nothing to do while kube-proxy runs (--no-kube-proxy says it does not); enableLb: true "
                    "DNATs in OVN, on the switch",
                )
            )
        elif not s.enable_lb and (name in clusterip or s.vpc == rules.DEFAULT_VPC):
            why = (
                "pods route ClusterIPs through it"
                if name in clusterip
                else f"it is a door into {rules.DEFAULT_VPC}, whose Services these load balancers serve"
            )
            out.append(
                report(
                    "AB021",
                    s,
                    "spec.enableLb",
                    f"enableLb: false removes the cluster load balancers from "
                    f"this switch, so a ClusterIP routed through it is never DNATed ({why})",
                    "remove enableLb or set it to true",
                )
            )
        if name in api and s.vpc != rules.DEFAULT_VPC:
            out.append(
                report(
                    "AB022",
                    s,
                    "spec.vpc",
                    f"pods route the API server through this subnet, but it is in "
                    f"VPC {s.vpc or '(none)'}; only {rules.DEFAULT_VPC}'s switches carry the kubernetes "
                    "Service VIP",
                    f"set spec.vpc: {rules.DEFAULT_VPC} (or leave it empty)",
                )
            )
        off_nodes = view.cluster.api_endpoints_off_nodes() if name in api and not s.nat_outgoing else ()
        if off_nodes:
            shown = ", ".join(str(ip) for ip in off_nodes)
            out.append(
                report(
                    "AB026",
                    s,
                    "spec.natOutgoing",
                    f"pods reach the API server through this subnet, but the API endpoints {shown} are not node "
                    "addresses: only node InternalIPs are rerouted to their node (30000); the rest leave by the "
                    "29000 reroute through the host, which masquerades natOutgoing subnets only, so the replies "
                    "never come back",
                    "set spec.natOutgoing: true",
                )
            )
        if name in api and s.private:
            out += _private_blocks_api(view, report, s)
        owner = view.subnet_owner(name)
        open_bridge = owner is not None and owner.bridge.isolation == "open"
        if s.vpc == rules.DEFAULT_VPC and not s.acls and not s.private and not open_bridge:
            out.append(
                report(
                    "AB302",
                    s,
                    "spec.acls",
                    f"no acls and not private: a pod attached to {name} reaches "
                    f"every pod and node of {rules.DEFAULT_VPC} and every other pod on this subnet, not just "
                    "the API server",
                    "add spec.acls that allow the API ClusterIP and drop the rest (an "
                    "ApiBridge with isolation: strict writes them)",
                )
            )
        vpcs = stats.vpcs.get(name, {})
        tenants = sorted(v for v in vpcs if v != rules.DEFAULT_VPC)
        if len(tenants) > 1:
            shown = ", ".join(f"{v} ({vpcs[v]})" for v in tenants[:4]) + (", ..." if len(tenants) > 4 else "")
            out.append(
                report(
                    "AB301",
                    s,
                    "spec.provider",
                    f"pods of {len(tenants)} VPCs attach to this one subnet: "
                    f"{shown}; on one L2 segment they reach each other directly, bypassing VPC isolation",
                    "one NAD and one attachment subnet per VPC (an ApiBridge per VPC does that)",
                )
            )
        for vpc in tenants:
            out += _overlaps_pod_vpc(view, report, s, vpc, vpcs[vpc])
    return out


def _private_blocks_api(view: View, report: SubnetReporter, s: Subnet) -> list[Finding]:
    """Kube-OVN's private ACLs are to-lport on this switch, and the router port is an outport too."""
    allowed: list[IPNetwork] = []
    for entry in s.allow_subnets:
        try:
            allowed.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue
    targets = list(view.api_endpoints) or [ip for _, ip in view.cluster.node_ips()]
    missing = [ip for ip in targets if not any(ip.version == n.version and ip in n for n in allowed)]
    if targets and not missing:
        return []
    what = (
        f"the API endpoints {', '.join(map(str, missing))} are"
        if missing
        else "no API endpoint is known and allowSubnets is empty, so the API server is"
    )
    if targets or not allowed:
        return [
            report(
                "AB024",
                s,
                "spec.allowSubnets",
                f"private: true drops (to-lport, priority 1000) every packet "
                f"leaving the subnet except to allowSubnets; {what} not in allowSubnets, so the DNATed API "
                "traffic is dropped",
                "add the API endpoint addresses (node InternalIPs) to allowSubnets, or "
                "use spec.acls instead of private",
            )
        ]
    return []


def _overlaps_pod_vpc(view: View, report: SubnetReporter, s: Subnet, vpc: str, example: str) -> list[Finding]:
    for cidr in s.cidrs:
        index = view.vpc_index(vpc, cidr.version)
        other = index.first_overlap(cidr) if index else None
        if other is not None:
            return [
                report(
                    "AB023",
                    s,
                    "spec.cidrBlock",
                    f"cidr {cidr} overlaps subnet {other} of VPC {vpc}, whose "
                    f"pods attach here (e.g. {example}): they get two routes for one range",
                    f"give the attachment subnet a range that no subnet of {vpc} uses",
                )
            ]
    return []
