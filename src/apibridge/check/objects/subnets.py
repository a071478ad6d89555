"""Subnet rules: what kube-ovn-controller and its webhook reject, checked before anything is applied.

Kube-OVN reports these only as a Subnet status condition (``ValidateLogicalSwitchFailed``) after the
fact, and the pods scheduled onto the subnet then wait for addresses that never come. Sources:
``pkg/util/validator.go ValidateSubnet``, ``pkg/controller/subnet.go formatSubnet`` /
``handleAddOrUpdateSubnet`` (VPC namespaces, ``checkSubnetConflict``, node addresses).
The overlap check is one sort per (VPC, VLAN, family), not Kube-OVN's pairwise loop.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterable

from apibridge.kubeovn import dualstack, rules
from apibridge.kubeovn.dualstack import IPAddress, IPNetwork
from apibridge.model.cluster import Cluster
from apibridge.model.objects import Subnet

from ..findings import Finding, finding
from ..index import View, is_attachment_subnet
from ..intervals import PointIndex, overlap_partners, span

# pkg/util/net.go CIDRGlobalUnicast: ranges a subnet must not touch
SPECIAL_RANGES: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(cidr), what)
    for cidr, what in (
        ("255.255.255.255/32", "the IPv4 broadcast address"),
        ("224.0.0.0/4", "IPv4 multicast"),
        ("127.0.0.0/8", "IPv4 loopback"),
        ("0.0.0.0/32", "the IPv4 unspecified address"),
        ("169.254.0.0/16", "IPv4 link-local"),
        ("::/128", "the IPv6 unspecified address"),
        ("::1/128", "IPv6 loopback"),
        ("ff00::/8", "IPv6 multicast"),
        ("fe80::/10", "IPv6 link-local"),
    )
)
_SPECIAL_SPANS = tuple((net.version, *span(net), net, what) for net, what in SPECIAL_RANGES)


class SubnetReporter:
    """Names the object and field of a Subnet finding: the Subnet itself, or the ApiBridge that plans it."""

    def __init__(self, view: View) -> None:
        self.view = view

    def __call__(self, code: str, subnet: Subnet, field: str, message: str, hint: str = "") -> Finding:
        owner = self.view.subnet_owner(subnet.name)
        if owner is None:
            return finding(code, subnet.meta.ref, field, message, hint)
        bridge_field = next((b for prefix, b in _BRIDGE_FIELDS if field.startswith(prefix)), "spec.cidrBlock")
        return finding(
            code,
            owner.bridge.meta.ref,
            bridge_field,
            f"planned Subnet {subnet.name}: {message}",
            hint or "set spec.cidrBlock to a free range, or 'auto'",
        )


# the ApiBridge field behind each field of the Subnet the planner writes
_BRIDGE_FIELDS = (
    ("spec.provider", "spec.nadNamespace"),
    ("spec.acls", "spec.isolation"),
    ("spec.private", "spec.isolation"),
)


def _has_upper(text: str) -> bool:
    """``util.ContainsUppercase``: Kube-OVN compares addresses as strings, so ``FD00::1`` is not ``fd00::1``."""
    return text != text.lower()


def _first_usable(cidr: IPNetwork) -> str:
    return str(dualstack.default_gateway(cidr))


def _gateway_rules(report: SubnetReporter, s: Subnet) -> Iterable[Finding]:
    version = report.view.plan.kubeovn_version
    seen: dict[int, IPAddress] = {}
    # the gateways as written (the model appends Kube-OVN's defaults for families the user left out)
    written = dualstack.parse_ips(s.raw_gateway) if s.raw_gateway else list(s.gateways)
    for gw in written:
        cidr = s.cidr(gw.version)
        if cidr is None or gw.version in seen:
            why = (
                f"a second IPv{gw.version} gateway"
                if gw.version in seen
                else f"IPv{gw.version}, but cidrBlock {s.raw_cidr!r} has no IPv{gw.version} CIDR"
            )
            yield report(
                "AB003",
                s,
                "spec.gateway",
                f"gateway {gw} is {why}; Kube-OVN rejects the subnet "
                f'("gateway {s.raw_gateway} is not in cidr {s.raw_cidr}")',
                "write one gateway per CIDR of cidrBlock, in the same families",
            )
            seen.setdefault(gw.version, gw)
            continue
        seen[gw.version] = gw
        if gw not in cidr:
            yield report(
                "AB001",
                s,
                "spec.gateway",
                f"gateway {gw} is not in cidr {cidr}",
                f"use an address inside {cidr} (Kube-OVN's default is {_first_usable(cidr)}), or drop spec.gateway",
            )
        elif cidr.num_addresses > 2 and (
            gw == cidr.network_address
            or (gw == cidr.broadcast_address and not (gw.version == 6 and rules.ipv6_all_ones_is_host(version)))
        ):
            which = "network" if gw == cidr.network_address else "broadcast"
            yield report(
                "AB002",
                s,
                "spec.gateway",
                f"gateway {gw} is the {which} address of {cidr}",
                f"use a host address, e.g. {_first_usable(cidr)}",
            )
    if s.raw_gateway:
        for cidr in s.cidrs:
            if cidr.version not in seen and cidr.num_addresses > 1:
                yield report(
                    "AB004",
                    s,
                    "spec.gateway",
                    f"no IPv{cidr.version} gateway for {cidr}; Kube-OVN appends {_first_usable(cidr)}",
                    "write the gateway of every family explicitly, so routes can be checked against it",
                )


def _cidr_rules(report: SubnetReporter, s: Subnet) -> Iterable[Finding]:
    for cidr in s.cidrs:
        if cidr.prefixlen == cidr.max_prefixlen:
            yield report(
                "AB005",
                s,
                "spec.cidrBlock",
                f"{cidr} is a single address; a subnet needs room for "
                "a gateway and pods (Kube-OVN: invalid network mask)",
                "use a prefix such as /24",
            )
        lo, hi = span(cidr)
        for version, start, end, special, what in _SPECIAL_SPANS:
            if version == cidr.version and start <= hi and lo <= end:
                yield report(
                    "AB006",
                    s,
                    "spec.cidrBlock",
                    f"{cidr} overlaps {what} ({special})",
                    "use a private global unicast range, e.g. 10.x or 100.64/10 space, or fd00::/8",
                )
                break
    if _has_upper(s.raw_cidr):
        yield report(
            "AB012",
            s,
            "spec.cidrBlock",
            f"cidrBlock {s.raw_cidr!r} contains upper case",
            "write IPv6 addresses in lower case",
        )
    if s.raw_gateway and _has_upper(s.raw_gateway):
        yield report(
            "AB012",
            s,
            "spec.gateway",
            f"gateway {s.raw_gateway!r} contains upper case",
            "write IPv6 addresses in lower case",
        )


def _exclude_ips_rules(report: SubnetReporter, s: Subnet) -> Iterable[Finding]:
    for i, entry in enumerate(s.exclude_ips):
        where = f"spec.excludeIps[{i}]"
        if _has_upper(entry):
            yield report(
                "AB012",
                s,
                where,
                f"excludeIps entry {entry!r} contains upper case",
                "write IPv6 addresses in lower case",
            )
            continue
        parts = entry.split("..")
        problem = ""
        if len(parts) > 2:
            problem = "has more than one '..'"
        else:
            try:
                ips = [ipaddress.ip_address(p.strip()) for p in parts]
            except ValueError:
                problem = "is not an IP address or an a..b range of IP addresses"
            else:
                if len(ips) == 2 and ips[0].version != ips[1].version:
                    problem = "mixes IPv4 and IPv6"
                elif len(ips) == 2 and int(ips[0]) > int(ips[1]):
                    problem = "is a range whose start is after its end"
        if problem:
            yield report(
                "AB007",
                s,
                where,
                f"excludeIps entry {entry!r} {problem}",
                "write single addresses (10.0.0.5) or ordered ranges (10.0.0.10..10.0.0.20)",
            )


def _spec_value_rules(report: SubnetReporter, s: Subnet) -> Iterable[Finding]:
    for i, entry in enumerate(s.allow_subnets):
        if _has_upper(entry):
            yield report(
                "AB012",
                s,
                f"spec.allowSubnets[{i}]",
                f"allowSubnets entry {entry!r} contains upper case",
                "write IPv6 addresses in lower case",
            )
        elif "/" not in entry or not _is_cidr(entry):
            yield report(
                "AB008",
                s,
                f"spec.allowSubnets[{i}]",
                f"allowSubnets entry {entry!r} is not a CIDR",
                "write CIDRs such as 10.16.0.0/16",
            )
    if s.gateway_type and s.gateway_type not in rules.GATEWAY_TYPES:
        yield report(
            "AB009",
            s,
            "spec.gatewayType",
            f"{s.gateway_type!r} is not a valid gateway type",
            "use distributed or centralized",
        )
    if "spec.protocol" not in s.assumed_fields:
        derived = dualstack.protocol_of(list(s.cidrs))
        if s.protocol not in rules.protocols(report.view.plan.kubeovn_version):
            yield report(
                "AB010",
                s,
                "spec.protocol",
                f"{s.protocol!r} is not a valid protocol type",
                f"use {derived} (or leave protocol out: Kube-OVN derives it from cidrBlock)",
            )
        elif s.protocol != derived:
            yield report(
                "AB011",
                s,
                "spec.protocol",
                f"protocol {s.protocol} but cidrBlock {s.raw_cidr!r} is "
                f"{derived}; Kube-OVN rewrites protocol to {derived}",
                f"set protocol: {derived}, or add the missing family to cidrBlock",
            )
    if s.vpc and s.vpc == s.name:
        yield report(
            "AB013",
            s,
            "spec.vpc",
            f"subnet and its VPC are both named {s.name!r}",
            "rename the subnet (Kube-OVN: vpc and subnet cannot have the same name)",
        )
    elif s.name in report.view.cluster.vpcs:  # kube-ovn v1.16.2 pkg/webhook/subnet.go SubnetCreateHook: any Vpc
        yield report(
            "AB013",
            s,
            "metadata.name",
            f"a Vpc is named {s.name!r} too; Kube-OVN's webhook denies the subnet",
            "rename the subnet (Kube-OVN: vpc and subnet cannot have the same name)",
        )
    for i, acl in enumerate(s.acls):
        where = f"spec.acls[{i}]"
        if acl.direction not in rules.ACL_DIRECTIONS:
            yield report(
                "AB018",
                s,
                f"{where}.direction",
                f"ACL direction {acl.direction!r} is not from-lport or to-lport",
                "from-lport filters what pods send, to-lport what they receive",
            )
        if acl.action not in rules.ACL_ACTIONS:
            yield report(
                "AB018",
                s,
                f"{where}.action",
                f"ACL action {acl.action!r} is not one of {', '.join(rules.ACL_ACTIONS)}",
                "most fences use allow-related and drop",
            )
        if not 0 <= acl.priority <= rules.ACL_PRIORITY_MAX:
            got = str(acl.priority)
            yield report(
                "AB018",
                s,
                f"{where}.priority",
                f"ACL priority {got} is outside 0-{rules.ACL_PRIORITY_MAX}",
                "OVN rejects the ACL and Kube-OVN fails the whole acls list (SetLogicalSwitchAclsFailed)",
            )
        if not acl.match.strip():
            yield report(
                "AB018",
                s,
                f"{where}.match",
                "ACL match is empty",
                "write an OVN match expression, e.g. ip4.dst == 10.96.0.1 && tcp.dst == 443",
            )
        elif _NOMINAL_INEQUALITY.search(acl.match):
            yield report(
                "AB018",
                s,
                f"{where}.match",
                "ACL match tests inport/outport with '!=': OVN compares "
                "logical ports for equality only, so ovn-controller skips this ACL silently",
                "match the port with == and let a lower-priority rule handle the rest",
            )


_NOMINAL_INEQUALITY = re.compile(r"\b(inport|outport)\s*!=")


def _is_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return False
    return True


def _vpc_rules(report: SubnetReporter, view: View, s: Subnet, custom_ns: dict[str, str]) -> Iterable[Finding]:
    if not s.vpc:
        return
    vpc = view.cluster.vpcs.get(s.vpc)
    if vpc is None:
        # Vpcs listed from a live cluster are a closed world: absent there is missing (AB028), not unknown
        yield report(
            "AB028" if rules.VPC_KIND.kind in view.cluster.listed else "AB017",
            s,
            "spec.vpc",
            f"VPC {s.vpc!r} {view.cluster.absent(rules.VPC_KIND.kind)}; Kube-OVN keeps the subnet pending until "
            "it exists",
            f"create Vpc {s.vpc}, or fix spec.vpc"
            if rules.VPC_KIND.kind in view.cluster.listed
            else f"create Vpc {s.vpc}, or include it in the input",
        )
        return
    if s.vpc != rules.DEFAULT_VPC:
        for ns in s.namespaces:
            if ns not in vpc.namespaces:
                yield report(
                    "AB019",
                    s,
                    "spec.namespaces",
                    f"namespace {ns!r} is out of range to custom vpc {s.vpc!r}",
                    f"add {ns} to Vpc {s.vpc} spec.namespaces, or remove it here",
                )
        return
    clashes = sorted({(ns, custom_ns[ns]) for ns in s.namespaces if ns in custom_ns})
    if clashes:
        shown = ", ".join(f"{ns} (Vpc {v})" for ns, v in clashes)
        yield report(
            "AB020",
            s,
            "spec.namespaces",
            f"namespaces {shown} belong to custom VPCs; Kube-OVN rejects "
            'the subnet ("namespaces ... are overlap with vpc")',
            "remove spec.namespaces: an attachment subnet is chosen by its provider, not by namespace"
            if s.provider != rules.OVN_PROVIDER
            else "remove the custom VPC's namespaces",
        )


def _service_cidr_rules(report: SubnetReporter, view: View, s: Subnet) -> Iterable[Finding]:
    """A pod address inside the service range is also a ClusterIP: load balancers and kube-proxy DNAT it.

    With ``--service-cidr`` the range is known (AB025). Without it, a default-VPC subnet — whose switches carry
    the cluster load balancers — that holds a Service's ClusterIP is wrong on evidence (AB047; the API
    server's own is AB014, as Kube-OVN refuses it), and an attachment subnet (the bridge's, the seed's: an
    address range someone picked) inside the range assumed around the API ClusterIP gets a warning that
    names the assumption (AB048). Not ``ovn-default`` or ``join``: kubespray's pods (10.233.64.0/18) sit in
    the /16 around its API ClusterIP, outside its /18 service range.
    """
    given = bool(view.plan.service_cidrs)  # then view.service_cidrs are they, else the assumed range
    if given or (s.vpc == rules.DEFAULT_VPC and is_attachment_subnet(s)):
        for service_cidr in view.service_cidrs:
            cidr = s.cidr(service_cidr.version)
            if cidr is None or not cidr.overlaps(service_cidr):
                continue
            if given:
                yield report(
                    "AB025",
                    s,
                    "spec.cidrBlock",
                    f"cidr {cidr} overlaps the service CIDR {service_cidr} (--service-cidr): "
                    "addresses of its pods are also ClusterIPs",
                    "pick a CIDR outside the service range",
                )
            else:
                yield report(
                    "AB048",
                    s,
                    "spec.cidrBlock",
                    f"cidr {cidr} overlaps the service range assumed without --service-cidr: "
                    f"{view.service_cidrs_assumed}; if it is the range, addresses of its pods are also ClusterIPs",
                    "pick a CIDR outside it, or give the cluster's range with --service-cidr "
                    "(kube-apiserver --service-cluster-ip-range) to check exactly",
                )
    if s.vpc != rules.DEFAULT_VPC:
        return
    api = {str(ip) for ip in view.api_ips[:1]}  # AB014's
    for cidr in s.cidrs:
        index = view.service_index.get(cidr.version)
        held = [(ip, svc) for ip, svc in (index.within(cidr) if index else []) if ip not in api]
        if held:
            shown = ", ".join(f"{ip} (Service/{svc})" for ip, svc in held[:3]) + (" …" if len(held) > 3 else "")
            yield report(
                "AB047",
                s,
                "spec.cidrBlock",
                f"cidr {cidr} holds the ClusterIP {shown}: a pod given that address is a load-balancer VIP on "
                "every default-VPC switch, and traffic to it is DNATed to the Service's endpoints",
                "pick a CIDR outside the service range",
            )


def _reserved_address_rules(
    report: SubnetReporter, view: View, s: Subnet, nodes: dict[int, PointIndex]
) -> Iterable[Finding]:
    if s.vpc != rules.DEFAULT_VPC:
        return
    # ValidateSubnet tests the controller's KUBERNETES_SERVICE_HOST: one address, the primary ClusterIP
    for ip in view.api_ips[:1]:
        cidr = s.cidr(ip.version)
        if cidr is not None and ip in cidr:
            yield report(
                "AB014",
                s,
                "spec.cidrBlock",
                f"cidr {cidr} conflicts with k8s apiserver svc ip {ip}",
                "pick a CIDR outside the service range",
            )
    if s.vlan:
        return
    for cidr in s.cidrs:
        index = nodes.get(cidr.version)
        hit = index.within(cidr) if index else []
        if hit:
            address, node = hit[0]
            yield report(
                "AB015",
                s,
                "spec.cidrBlock",
                f"cidr {cidr} conflicts with node {node} address {address}",
                "pick a CIDR that contains no node address",
            )


def overlap_findings(report: SubnetReporter, subnets: Iterable[Subnet]) -> list[Finding]:
    """AB016: Kube-OVN's ``checkSubnetConflict`` (same vpc, same vlan, overlapping CIDR) for all at once.

    Kube-OVN rejects the subnet created last. We do not know creation order within the input, so
    every overlapping input subnet is reported — except against a newer one: a subnet that Kube-OVN
    creates itself (``ovn-default``, ``join``) is older than the input, and the input is older than
    what the plan would add, so the newer side alone carries the finding.
    """

    def age(s: Subnet) -> int:
        return 2 if report.view.subnet_owner(s.name) else 0 if s.assumed else 1

    groups: dict[tuple[str, str, int], list[tuple[IPNetwork, Subnet]]] = defaultdict(list)
    for s in subnets:
        for cidr in s.cidrs:
            groups[(s.vpc, s.vlan, cidr.version)].append((cidr, s))
    out: list[Finding] = []
    reported: set[str] = set()
    for (vpc, vlan, _), items in sorted(groups.items()):
        partners = overlap_partners([span(cidr) for cidr, _ in items])
        for i in sorted(partners, key=lambda k: items[k][1].name):
            cidr, s = items[i]
            other_cidr, other = items[partners[i]]
            if s.name in reported or other.name == s.name or age(other) > age(s):
                continue
            reported.add(s.name)
            scope = f"VPC {vpc}" + (f", VLAN {vlan}" if vlan else "") if vpc else "subnets without a VPC"
            out.append(
                report(
                    "AB016",
                    s,
                    "spec.cidrBlock",
                    f"cidr {cidr} overlaps subnet {other.name} cidr {other_cidr} in {scope}",
                    "give each subnet of a VPC its own range",
                )
            )
    return out


def absent_defaults(cluster: Cluster) -> list[Finding]:
    """AB029: what the model assumes Kube-OVN (or kubeadm) created — the default VPC, the join and default
    Subnets — where a live cluster's complete listing of that kind shows it does not exist. From files it is an
    assumption (printed as such); listed live, it is a cluster whose Kube-OVN has not made its own objects."""
    out: list[Finding] = []
    for a in cluster.assumptions:
        if a.whole and a.obj.split("/", 1)[0] in cluster.listed:
            out.append(
                finding(
                    "AB029",
                    a.obj,
                    "metadata.name",
                    f"{a.obj} does not exist in the cluster; checked as if it did ({a.what})",
                    "is Kube-OVN installed and running? kube-ovn-controller creates it at start "
                    "(kubectl -n kube-system get deploy kube-ovn-controller); the model knows the join Subnet "
                    f"by its default name {rules.JOIN_SUBNET!r} (--node-switch)",
                )
            )
    return out


def check_subnets(view: View) -> list[Finding]:
    report = SubnetReporter(view)
    custom_ns: dict[str, str] = {}
    for name in sorted(view.cluster.vpcs, reverse=True):  # the first VPC by name wins a shared namespace
        if name != rules.DEFAULT_VPC:
            for ns in view.cluster.vpcs[name].namespaces:
                custom_ns[ns] = name
    node_items: dict[int, list[tuple[IPAddress, str]]] = defaultdict(list)
    for node, ip in view.cluster.node_ips():
        node_items[ip.version].append((ip, node))
    nodes = {fam: PointIndex(items) for fam, items in node_items.items()}
    out: list[Finding] = []
    subnets = [view.subnets[name] for name in sorted(view.subnets)]
    for s in subnets:
        out += _gateway_rules(report, s)
        out += _cidr_rules(report, s)
        out += _exclude_ips_rules(report, s)
        out += _spec_value_rules(report, s)
        out += _vpc_rules(report, view, s, custom_ns)
        out += _reserved_address_rules(report, view, s, nodes)
        out += _service_cidr_rules(report, view, s)
    out += overlap_findings(report, subnets)
    return out
