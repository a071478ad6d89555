"""Findings and their stable codes.

A finding is one thing wrong (or worth knowing) about the input, pinned to the object and field a
user would edit, with a hint that says how. Codes are a contract: scripts filter on them, docs
list them, and a code never changes meaning once released — new checks get new codes. The
registry ``CODES`` is the single list; the docs table and the "every code has a test" test are
generated from it.

Code ranges:
* ``AB0xx`` — input as Kube-OVN and Multus judge it: Subnet rules (``ValidateSubnet``,
  ``checkSubnetConflict``), attachment subnets, NADs and the ``networks`` annotation;
* ``AB1xx`` — the planner's problems (AB101–AB105, from ``PlanProblem``) and ApiBridge intent;
* ``AB2xx`` — the ``<provider>.kubernetes.io/routes`` annotation as kube-ovn-cni applies it;
* ``AB3xx`` — security: what an attachment lets a pod reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypedDict

from apibridge.plan.types import PlanProblem

Severity = Literal["error", "warning", "info"]


class FindingJson(TypedDict):
    code: str
    severity: Severity
    object: str
    field: str
    message: str
    hint: str


@dataclass(frozen=True)
class Finding:
    """One finding: ``obj`` is ``Kind/namespace/name`` (``Kind/name`` when cluster-scoped)."""

    code: str
    severity: Severity
    obj: str
    field: str
    message: str
    hint: str = ""
    # other objects the finding is a verdict on (``Kind/name`` refs; not in the JSON): an AB310 on a tenant's
    # NetworkPolicy concerns the ApiBridges whose pods it drops, so the one verdict reaches their status
    concerns: tuple[str, ...] = ()

    def to_json(self) -> FindingJson:
        return {
            "code": self.code,
            "severity": self.severity,
            "object": self.obj,
            "field": self.field,
            "message": self.message,
            "hint": self.hint,
        }

    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.obj, self.code, self.field, self.message)


@dataclass(frozen=True)
class CodeInfo:
    severity: Severity
    title: str


CODES: dict[str, CodeInfo] = {
    # --- Subnets, as Kube-OVN validates them (pkg/util/validator.go, pkg/controller/subnet.go) ----------
    "AB001": CodeInfo("error", "Subnet gateway is outside its CIDR"),
    "AB002": CodeInfo("error", "Subnet gateway is the network or broadcast address of its CIDR"),
    "AB003": CodeInfo("error", "Subnet gateway has no CIDR of its family in cidrBlock (or two gateways of one family)"),
    "AB004": CodeInfo("warning", "Subnet CIDR has no gateway of its family: Kube-OVN appends the first address"),
    "AB005": CodeInfo("error", "Subnet CIDR is a single address (/32 or /128)"),
    "AB006": CodeInfo("error", "Subnet CIDR is not global unicast (loopback, link-local, multicast, unspecified)"),
    "AB007": CodeInfo("error", "Subnet excludeIps entry is not an IP or an ordered a..b range"),
    "AB008": CodeInfo("error", "Subnet allowSubnets entry is not a CIDR"),
    "AB009": CodeInfo("error", "Subnet gatewayType is not distributed or centralized"),
    "AB010": CodeInfo("error", "Subnet protocol is not IPv4, IPv6 or Dual"),
    "AB011": CodeInfo("warning", "Subnet protocol disagrees with cidrBlock: Kube-OVN rewrites it"),
    "AB012": CodeInfo("error", "IPv6 address written in upper case (Kube-OVN rejects it)"),
    "AB013": CodeInfo(
        "error", "Subnet has the same name as a VPC (its own or any other: Kube-OVN's webhook denies it)"
    ),
    "AB014": CodeInfo("error", "Default-VPC subnet contains the API server's ClusterIP"),
    "AB015": CodeInfo("error", "Default-VPC overlay subnet contains a node InternalIP"),
    "AB016": CodeInfo("error", "Subnet CIDR overlaps another subnet of the same VPC and VLAN"),
    "AB017": CodeInfo("warning", "Subnet's VPC is not in the input"),
    # the same, with the Vpcs listed from a live cluster (closed world): missing, not unknown
    "AB028": CodeInfo("error", "Subnet's VPC does not exist in the cluster (Kube-OVN keeps the subnet pending)"),
    "AB029": CodeInfo("warning", "Kube-OVN's default VPC or Subnet does not exist in the cluster (checked as assumed)"),
    "AB018": CodeInfo("error", "Subnet ACL entry is invalid (direction, action, priority 0-32767, empty match)"),
    "AB019": CodeInfo("error", "Custom-VPC subnet lists a namespace that its VPC does not"),
    "AB020": CodeInfo("error", "Default-VPC subnet lists namespaces of a custom VPC"),
    # --- attachment subnets (a Subnet whose provider is <nad>.<ns>.ovn) --------------------------------
    "AB021": CodeInfo(
        "error", "Attachment subnet has enableLb: false: ClusterIPs routed through it are never DNATed (no kube-proxy)"
    ),
    "AB022": CodeInfo("error", "Attachment subnet used to reach the API server is not in the default VPC"),
    "AB023": CodeInfo("error", "Attachment subnet overlaps a subnet of an attached pod's own VPC"),
    "AB024": CodeInfo("error", "Private attachment subnet drops the API traffic (allowSubnets misses the endpoints)"),
    # --- the networks annotation and NADs (Multus, kube-ovn-controller, kube-ovn-cni) -------------------
    "AB027": CodeInfo("info", "Attachment subnet has enableLb: false; kube-proxy DNATs its ClusterIPs on the host"),
    "AB026": CodeInfo("error", "API endpoints are not node addresses and the attachment subnet has no natOutgoing"),
    "AB025": CodeInfo("error", "Subnet overlaps the cluster's service CIDR (--service-cidr): its pods get ClusterIPs"),
    "AB047": CodeInfo("error", "Default-VPC subnet holds a Service's ClusterIP (a pod address that is a VIP)"),
    "AB048": CodeInfo("warning", "Attachment subnet overlaps the service range assumed around the API ClusterIP"),
    "AB030": CodeInfo("error", "k8s.v1.cni.cncf.io/networks does not parse (Multus rejects the pod)"),
    "AB031": CodeInfo("error", "Pod references a NAD that is not in the input, where the input shows it should be"),
    "AB032": CodeInfo("error", "NetworkAttachmentDefinition spec.config is not a JSON object"),
    "AB033": CodeInfo("warning", "NAD is used as a kube-ovn attachment but its config is not type kube-ovn"),
    "AB034": CodeInfo("error", "NAD config provider differs from the provider Kube-OVN derives (<nad>.<ns>.ovn)"),
    "AB035": CodeInfo("error", 'NAD config has no provider (kube-ovn-cni sends "ovn": eth0 is detached)'),
    "AB036": CodeInfo("error", "NAD provider is bound to no Subnet (pods using it fail)"),
    "AB037": CodeInfo("warning", "Several Subnets share one provider (Kube-OVN picks one at random)"),
    "AB038": CodeInfo("warning", "Pod references a NAD in a namespace not its own nor 'default' (namespaceIsolation)"),
    "AB039": CodeInfo("error", "logical_switch annotation names a Subnet that does not exist"),
    "AB040": CodeInfo("warning", "logical_switch annotation names a Subnet of another provider"),
    "AB041": CodeInfo("warning", "Attachment subnet's provider names a NAD that is not in the input"),
    "AB042": CodeInfo("error", "Two attachments of a pod get the same interface name"),
    "AB044": CodeInfo("warning", "Pod references a NAD the input does not contain (unknown, not missing)"),
    # a file's pod on top of a live cluster whose Namespaces were listed (closed world)
    "AB046": CodeInfo("error", "Pod's namespace does not exist in the cluster (the API server refuses the pod)"),
    "AB045": CodeInfo("error", "kube-ovn NAD config has no server_socket (kube-ovn-cni fails every pod using it)"),
    "AB043": CodeInfo("error", "Pod network annotations where no pod carries them (workload metadata, mis-indented)"),
    # --- planner problems (apibridge.plan, converted 1:1) and ApiBridge intent --------------------------
    "AB101": CodeInfo("error", "ApiBridge wants the API server but default/kubernetes has no ClusterIP"),
    "AB102": CodeInfo("error", "ApiBridge wants DNS but no cluster DNS Service with a ClusterIP is in the input"),
    "AB103": CodeInfo("error", "ApiBridge cidrBlock auto: the pool has no free block"),
    "AB104": CodeInfo("error", "ApiBridge destination family has no CIDR in the attachment subnet"),
    "AB105": CodeInfo("info", "ApiBridge's DNS destination: which Service was taken as the cluster DNS, which ports"),
    "AB110": CodeInfo("warning", "Two ApiBridges of one VPC select the same pods (the first by name wins)"),
    "AB111": CodeInfo("error", "ApiBridge's VPC is not in the input"),
    "AB112": CodeInfo("warning", "ApiBridge for the default VPC (its pods reach the API server already)"),
    "AB113": CodeInfo("info", "ApiBridge selects no pods"),
    "AB114": CodeInfo("info", "Selected pods already reach the API server through a hand-written attachment"),
    "AB115": CodeInfo("info", "ApiBridge NAD lives outside 'default' (Multus namespaceIsolation would refuse it)"),
    "AB116": CodeInfo("warning", "Selected pod already has an API attachment: the bridge stacks a second one"),
    "AB119": CodeInfo("error", "ApiBridge cidrBlock moves its Subnet while addresses on it are in use"),
    # on the DNS or API Service (the bridge is sound): none ready (its EndpointSlices, or the cluster's listed) vs
    # unknown (DNS only: the API's traffic is then judged at the control-plane nodes)
    "AB117": CodeInfo("error", "DNS or API Service an ApiBridge needs has no ready endpoint (nothing answers it)"),
    "AB118": CodeInfo("warning", "DNS Service an ApiBridge names has no endpoint in the input (unknown, not missing)"),
    # --- routes annotation (kube-ovn-cni handleAdd / configureContainerNic) -----------------------------
    "AB201": CodeInfo("error", "Routes annotation is not a JSON list of route objects (the pod fails to start)"),
    "AB202": CodeInfo("error", "Route dst is not a CIDR (kube-ovn-cni silently skips it)"),
    "AB203": CodeInfo("error", "Route gw is not an IP address (kube-ovn-cni silently skips it)"),
    "AB204": CodeInfo("error", "Route has no gw: on-link through the attachment, nothing answers ARP"),
    "AB205": CodeInfo("error", "Attachment takes the pod's default route (eth0 loses it)"),
    "AB206": CodeInfo("warning", "Route dst is wider than needed (covers Services beyond the target)"),
    "AB207": CodeInfo("error", "Route dst captures a subnet of the pod's own VPC"),
    "AB208": CodeInfo("error", "Route gw is outside the interface's subnet"),
    "AB209": CodeInfo("error", "Route gw and dst are of different IP families"),
    "AB210": CodeInfo("warning", "Routes annotation for a provider the pod does not attach"),
    # an attachment to a default-VPC subnet is intent to reach the API server (check/intent.py): an error
    "AB211": CodeInfo("error", "Pod attaches the API subnet but routes no API ClusterIP through it"),
    "AB212": CodeInfo("error", "API route's gw is not the attachment subnet's gateway"),
    "AB213": CodeInfo("info", "Dual-stack API server, but only one family is routed"),
    "AB214": CodeInfo("error", "Pod intends the API server but will not reach it"),
    # --- security --------------------------------------------------------------------------------------
    "AB301": CodeInfo("error", "Attachment subnet is shared by pods of different VPCs"),
    "AB302": CodeInfo("warning", "Attachment subnet has no ACL fence: attached pods reach the whole default VPC"),
    "AB303": CodeInfo("info", "ApiBridge isolation is open: no ACL fence on its subnet"),
    "AB304": CodeInfo("error", "Pod attaches a bridge's NAD or names its subnet from outside the bridge's VPC"),
    "AB305": CodeInfo("error", "Pod attaches a bridge without port security (it can spoof other pods' MAC/IP)"),
    # --- policies on attachment ports (check/objects/policies.py; Kube-OVN puts attachments in policy port groups) --
    "AB310": CodeInfo("error", "NetworkPolicy egress drops an attached pod's API traffic (allow the endpoints)"),
    "AB311": CodeInfo("error", "NetworkPolicy ingress allow outranks the attachment subnet's drop (opens it)"),
    "AB312": CodeInfo("error", "AdminNetworkPolicy Allow (tier 1) opens a fenced attachment to the default VPC"),
    "AB313": CodeInfo("error", "AdminNetworkPolicy Deny drops an attached pod's API traffic (tier 1, after the LB)"),
}


def finding(code: str, obj: str, field: str, message: str, hint: str = "", concerns: tuple[str, ...] = ()) -> Finding:
    """A finding with the registry's severity for ``code`` (a KeyError for an unregistered code is a bug)."""
    return Finding(code, CODES[code].severity, obj, field, message, hint, concerns)


def from_problem(problem: PlanProblem) -> Finding:
    """A planner problem as a finding, 1:1 (the planner chose code, object, field and severity)."""
    return Finding(problem.code, problem.severity, problem.obj, problem.field, problem.message, problem.hint)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Deterministic order: by object, then code (then field and message to break ties)."""
    return sorted(set(findings), key=Finding.sort_key)


def codes_markdown() -> str:
    """The registry as a Markdown table, for docs."""
    rows = ["| code | severity | title |", "|---|---|---|"]
    rows += [f"| {code} | {info.severity} | {info.title} |" for code, info in sorted(CODES.items())]
    return "\n".join(rows)
