"""``apibridge doctor POD``: walk, against a live cluster, the chain one pod's API access depends on.

The seed's recipe only works when every link holds, and each link is owned by a different component —
the ApiBridge (or a hand-written annotation) selects the pod, the NAD must be a kube-ovn NAD whose config
provider equals the one Kube-OVN *derives* (``<nad>.<ns>.ovn``), exactly one Subnet must carry that
provider, in the default VPC with its load balancers and a gateway inside its CIDR, the pod must carry the
networks/routes/logical_switch annotations, kube-ovn-controller must have written ``allocated`` and
``routed``, and Multus must report the attachment on ``net1`` with an address in the subnet. When API
access fails, the user sees only a timeout; ``doctor`` names the first broken link and how to fix it.

Every link is checked (a later link may fail *because* of an earlier one, so the verdict is the first
broken link in chain order). A link that a validator rule covers is judged by that rule: the validator
(``apibridge.check``) runs once over the objects as they are *now* — an empty plan, so neither a bridge's
planned NAD and Subnet nor the webhook's injection hide what the cluster really holds — and the link
shows the finding's code, message and hint, the wording ``apibridge check`` prints. What doctor adds is
what only a live cluster or the bridge's plan can say: which bridge (or hand-written attachment) the pod
uses, whether the pod carries what its bridge injects and the Subnet the ACLs its bridge plans, and what
kube-ovn-controller (``allocated``/``routed``) and Multus (``network-status``) wrote. The last link is the
pod's NetworkPolicies (its namespace's), judged by ``check``'s AB310 function: an egress policy that drops
the API endpoints is named there. Which pods a bridge
selects, and with which NAD, provider and routes, comes from the same planner ``render`` and the
controller use; every annotation key comes from ``apibridge.kubeovn.rules``.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from apibridge.base.errors import InputError, Location
from apibridge.base.kinds import Kind
from apibridge.base.kubeclient import ApiError, Client
from apibridge.check.findings import Finding
from apibridge.check.objects.pods import annotation_field
from apibridge.check.objects.policies import pod_api_drops
from apibridge.check.validator import check
from apibridge.check.verdict import judge
from apibridge.kubeovn import dualstack, netstatus, networks, rules
from apibridge.kubeovn import routes as routes_codec
from apibridge.kubeovn.dualstack import IPAddress, IPNetwork, host_prefix
from apibridge.model.cluster import Cluster
from apibridge.model.objects import Nad, PodLike, Subnet
from apibridge.operator import kube
from apibridge.plan.mutation import bridge_for, opted_out
from apibridge.plan.planner import plan as make_plan
from apibridge.plan.settings import Settings
from apibridge.plan.types import BridgePlan, Plan

LinkStatus = Literal["ok", "broken", "warning", "skipped"]

# The validator rules behind each link: a finding with one of these codes about the link's object (and field)
# breaks the link, or — second tuple — makes it a warning.
NAD_TYPE_RULES = ("AB032", "AB033")
NAD_PROVIDER_RULES = ("AB034", "AB035")
UNBOUND_PROVIDER_RULES = ("AB036",)
SHARED_PROVIDER_RULES = ("AB037",)
SUBNET_VPC_RULES = ("AB022",)
SUBNET_LB_RULES = ("AB021",)
SUBNET_GATEWAY_RULES = ("AB001", "AB002", "AB003")
FENCE_RULES, FENCE_WARNINGS = ("AB024",), ("AB302",)
NETWORKS_PARSE_RULES = ("AB030",)
NETWORKS_RULES = ("AB030", "AB042")
UNKNOWN_SUBNET_RULES = ("AB039",)
LOGICAL_SWITCH_WARNINGS = ("AB040",)
ROUTES_RULES = ("AB201", "AB202", "AB203", "AB204", "AB208", "AB209", "AB210", "AB211", "AB212")
ROUTES_WARNINGS = ("AB206", "AB207", "AB213")


@dataclass(frozen=True)
class Link:
    key: str  # stable id, e.g. "nad.provider"
    title: str  # what is checked, in plain words
    status: LinkStatus
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        out = {"key": self.key, "title": self.title, "status": self.status, "detail": self.detail}
        if self.fix:
            out["fix"] = self.fix
        return out


@dataclass
class Diagnosis:
    pod: str
    bridge: str | None = None
    nad: str | None = None
    provider: str | None = None
    subnet: str | None = None
    links: list[Link] = field(default_factory=list)

    @property
    def broken(self) -> Link | None:
        return next((link for link in self.links if link.status == "broken"), None)

    @property
    def healthy(self) -> bool:
        return self.broken is None

    def to_json(self) -> dict[str, Any]:
        broken = self.broken
        return {
            "pod": self.pod,
            "healthy": self.healthy,
            "bridge": self.bridge,
            "nad": self.nad,
            "provider": self.provider,
            "subnet": self.subnet,
            "links": [x.to_json() for x in self.links],
            "broken": broken.to_json() if broken else None,
        }


class _Findings:
    """The validator's findings over the live objects, looked up by the object (and field) a link is about."""

    def __init__(self, findings: list[Finding]) -> None:
        self._by_obj: dict[str, list[Finding]] = defaultdict(list)
        for f in findings:
            self._by_obj[f.obj].append(f)

    def about(self, obj: str, codes: Collection[str], field_prefix: str = "") -> list[Finding]:
        """Findings with one of ``codes`` about ``obj``, on a field starting with ``field_prefix``."""
        return [f for f in self._by_obj.get(obj, []) if f.code in codes and f.field.startswith(field_prefix)]


def _detail(found: Sequence[Finding]) -> str:
    return "; ".join(f"{f.code}: {f.message}" for f in found)


def _fix(found: Sequence[Finding], also: str = "") -> str:
    hints = "; ".join(dict.fromkeys(f.hint for f in found if f.hint))
    return " — ".join(x for x in (hints, also) if x)


class _Walk:
    """Accumulates links; ``ok``/``broken``/``warn`` read like the chain they describe."""

    def __init__(self, diagnosis: Diagnosis) -> None:
        self.d = diagnosis

    def ok(self, key: str, title: str, detail: str) -> None:
        self.d.links.append(Link(key, title, "ok", detail))

    def broken(self, key: str, title: str, detail: str, fix: str) -> None:
        self.d.links.append(Link(key, title, "broken", detail, fix))

    def warn(self, key: str, title: str, detail: str, fix: str = "") -> None:
        self.d.links.append(Link(key, title, "warning", detail, fix))

    def skip(self, key: str, title: str, detail: str) -> None:
        self.d.links.append(Link(key, title, "skipped", detail))

    def judged(
        self, key: str, title: str, broken: Sequence[Finding], warnings: Sequence[Finding] = (), also: str = ""
    ) -> bool:
        """The link as the validator's findings judge it; False (nothing added) when there are none.
        ``also``: what doctor adds to the fix (who owns the object, how to get the pod re-injected)."""
        if broken:
            self.broken(key, title, _detail(broken), _fix(broken, also))
        elif warnings:
            self.warn(key, title, _detail(warnings), _fix(warnings))
        else:
            return False
        return True


# ---- the chain ----------------------------------------------------------------------------------------
@dataclass
class _Target:
    """What the pod should be attached to: from its bridge, or from its hand-written annotation."""

    nad_namespace: str
    nad_name: str
    bridge: BridgePlan | None

    def owner_note(self, what: str) -> str:
        """For the bridge's own NAD and Subnet: who writes them, added to the validator's hint."""
        if self.bridge is None:
            return ""
        name = self.bridge.bridge.name
        return (
            f"the operator maintains {what} for ApiBridge {name}: is the operator running? "
            f"(kubectl get apibridge {name} -o yaml shows why not in status.conditions)"
        )

    def recreate_note(self) -> str:
        """For the pod's own annotations: a bridge's pod gets them from the webhook, so it is recreated."""
        if self.bridge is None:
            return ""
        return (
            "the pod was created without the mutation (webhook unavailable, or the pod predates the bridge): "
            "recreate it (kubectl rollout restart its owner, or spec.rollout: restart on the bridge)"
        )


def _find_pod(cluster: Cluster, namespace: str, name: str) -> PodLike:
    for pod in cluster.pods:
        if pod.meta.kind == "Pod" and pod.namespace == namespace and pod.pod_name == name:
            return pod
    raise InputError("could not be read into the model", Location(obj=f"Pod/{namespace}/{name}"))


def _target(
    walk: _Walk, facts: _Findings, cluster: Cluster, pod: PodLike, bridge_plan: BridgePlan | None, bridges_exist: bool
) -> _Target | None:
    title = "an ApiBridge (or a hand-written annotation) gives the pod the attachment"
    if bridge_plan is not None:
        walk.ok(
            "selection", title, f"ApiBridge {bridge_plan.bridge.name} selects the pod (VPC {bridge_plan.bridge.vpc})"
        )
        return _Target(bridge_plan.nad_namespace, bridge_plan.nad_name, bridge_plan)
    try:
        parsed = networks.parse(pod.annotations.get(rules.NETWORKS_ANNOTATION))
    except networks.NetworksError as exc:
        found = facts.about(pod.meta.ref, NETWORKS_PARSE_RULES, annotation_field(rules.NETWORKS_ANNOTATION))
        walk.broken(
            "selection",
            title,
            f"no ApiBridge selects the pod, and its {rules.NETWORKS_ANNOTATION} "
            f"annotation is malformed: {_detail(found) or exc}",
            _fix(found, "or let an ApiBridge select the pod"),
        )
        return None
    refs = [sel.ref(pod.namespace) for sel in parsed.selections]
    kube_ovn = [
        r
        for r in refs
        if (nad := cluster.nad(*r)) is not None and nad.config is not None and nad.config.kind == "kube-ovn"
    ]
    candidates = kube_ovn or refs
    chosen = candidates[0] if candidates else None
    if chosen is None:
        vpc = cluster.pod_vpc(pod) or "?"
        if vpc == rules.DEFAULT_VPC:
            walk.ok(
                "selection",
                title,
                f"the pod is in the default VPC {vpc}: its switch carries the cluster load "
                "balancers, so it reaches the API server without an attachment",
            )
            return None
        why = (
            f'the pod opts out with {rules.INJECT_ANNOTATION}: "false"'
            if opted_out(pod.annotations)
            else "no ApiBridge selects it"
            if bridges_exist
            else "there is no ApiBridge in the cluster"
        )
        walk.broken(
            "selection",
            title,
            f"{why}, and its {rules.NETWORKS_ANNOTATION} annotation names no attachment",
            f"create an ApiBridge with spec.vpc: {vpc} whose namespaceSelector and podSelector match "
            f"this pod (then recreate the pod), or add the seed's annotations by hand",
        )
        return None
    walk.ok(
        "selection",
        title,
        f"no ApiBridge selects the pod; checking the hand-written attachment "
        f"{chosen[0]}/{chosen[1]} from its {rules.NETWORKS_ANNOTATION} annotation",
    )
    return _Target(chosen[0], chosen[1], None)


def _check_nad(walk: _Walk, facts: _Findings, cluster: Cluster, target: _Target) -> tuple[str, Nad | None]:
    """The NAD links; returns the provider to follow (the derived one) and the NAD, if it is a kube-ovn NAD."""
    ref = f"{target.nad_namespace}/{target.nad_name}"
    derived = rules.nad_provider(target.nad_name, target.nad_namespace)
    nad = cluster.nad(target.nad_namespace, target.nad_name)
    if nad is None:
        fix = (
            target.owner_note("it")
            if target.bridge
            else "create it (apibridge render prints one), or fix the pod's networks annotation"
        )
        walk.broken("nad.exists", f"NetworkAttachmentDefinition {ref} exists", f"NAD {ref} was not found", fix)
        return derived, None
    walk.ok("nad.exists", f"NetworkAttachmentDefinition {ref} exists", "found")
    title = f"NAD {ref} is a kube-ovn NAD"
    if nad.config is None or nad.config.kind != "kube-ovn":
        if not walk.judged("nad.type", title, facts.about(nad.meta.ref, NAD_TYPE_RULES)):
            # no rule fired: a NAD of another type is fine for the validator, but it is not this chain's attachment
            kind = nad.config.kind if nad.config is not None else "invalid"
            walk.broken(
                "nad.type",
                title,
                f"its config is {kind!r}, not type: {rules.NAD_TYPE}; Kube-OVN ignores "
                "it, so it gives the pod no Kube-OVN attachment",
                f'set spec.config to a "type": "{rules.NAD_TYPE}" config with "provider": "{derived}"',
            )
        return derived, None
    walk.ok("nad.type", title, f"type: {rules.NAD_TYPE}")
    title = f"NAD {ref} provider is the derived {derived}"
    if not walk.judged(
        "nad.provider", title, facts.about(nad.meta.ref, NAD_PROVIDER_RULES), also=target.owner_note("it")
    ):
        walk.ok("nad.provider", title, f"provider {derived}")
    return derived, nad


def _check_subnet(
    walk: _Walk, facts: _Findings, cluster: Cluster, pod: PodLike, provider: str, nad: Nad | None, target: _Target
) -> Subnet | None:
    ls_key = rules.provider_key(provider, rules.LOGICAL_SWITCH)
    pinned = pod.annotations.get(ls_key)
    title = f"exactly one Subnet serves provider {provider}"
    if pinned:
        subnet = cluster.subnets.get(pinned)
        if subnet is None:
            unknown = facts.about(pod.meta.ref, UNKNOWN_SUBNET_RULES, annotation_field(ls_key))
            if not walk.judged("subnet.provider", title, unknown, also=target.recreate_note()):
                walk.skip(
                    "subnet.provider",
                    title,
                    f"the pod's {ls_key} names Subnet {pinned!r}, which does not "
                    "exist; judged (AB039) once the pod lists the NAD",
                )
            return None
        walk.ok("subnet.provider", title, f"the pod's {ls_key} pins Subnet {pinned}")
        return subnet
    found = sorted(cluster.subnets_by_provider(provider), key=lambda s: s.name)
    if not found:
        if nad is None or not walk.judged(
            "subnet.provider",
            title,
            facts.about(nad.meta.ref, UNBOUND_PROVIDER_RULES),
            also=target.owner_note(f"Subnet {target.bridge.subnet_name}") if target.bridge else "",
        ):
            walk.skip(
                "subnet.provider",
                title,
                f"no Subnet has provider {provider}; judged (AB036) once the NAD is a kube-ovn NAD",
            )
        return None
    if len(found) > 1:
        shared = facts.about(found[0].meta.ref, SHARED_PROVIDER_RULES)
        if walk.judged("subnet.provider", title, shared):
            return found[0]
    walk.ok("subnet.provider", title, f"Subnet {found[0].name}")
    return found[0]


def _check_subnet_shape(walk: _Walk, facts: _Findings, subnet: Subnet, target: _Target) -> None:
    name, ref = subnet.name, subnet.meta.ref
    owner = target.owner_note(f"Subnet {name}") if target.bridge and name == target.bridge.subnet_name else ""
    title = f"Subnet {name} is in VPC {rules.DEFAULT_VPC}"
    if not walk.judged("subnet.vpc", title, facts.about(ref, SUBNET_VPC_RULES), also=owner):
        if subnet.vpc in ("", rules.DEFAULT_VPC):  # empty: Kube-OVN defaults it to the default VPC
            walk.ok("subnet.vpc", title, f"vpc {subnet.vpc}")
        else:  # AB022 applies to a subnet the API traffic goes through: the routes link says why it does not
            walk.skip(
                "subnet.vpc",
                title,
                f"it is in VPC {subnet.vpc!r}; judged (AB022) once the pod routes the API server through it",
            )
    title = f"Subnet {name} has the cluster load balancers"
    if not walk.judged("subnet.lb", title, facts.about(ref, SUBNET_LB_RULES), also=owner):
        if subnet.enable_lb:
            walk.ok("subnet.lb", title, "enableLb true")
        else:
            walk.skip("subnet.lb", title, "enableLb false; judged (AB021) once the pod routes ClusterIPs through it")
    title = f"Subnet {name} gateway is inside its CIDR"
    if not walk.judged("subnet.gateway", title, facts.about(ref, SUBNET_GATEWAY_RULES), also=owner):
        walk.ok("subnet.gateway", title, f"gateway {', '.join(str(g) for g in subnet.gateways)} in {subnet.raw_cidr}")
    title = f"Subnet {name} is fenced by ACLs"
    if walk.judged("subnet.fence", title, facts.about(ref, FENCE_RULES), also=owner):
        return
    if target.bridge is not None and target.bridge.bridge.isolation == "strict":
        missing = [a for a in target.bridge.acls if a not in subnet.acls]
        if missing:
            walk.broken(
                "subnet.fence",
                title,
                f"{len(missing)} of the {len(target.bridge.acls)} planned ACLs are missing: the attachment "
                f"reaches the whole default VPC",
                f"let the operator reconcile ApiBridge "
                f"{target.bridge.bridge.name} (is it running?), or apply `apibridge render`'s Subnet",
            )
        else:
            walk.ok("subnet.fence", title, f"{len(target.bridge.acls)} ACLs as planned")
    elif not walk.judged("subnet.fence", title, (), facts.about(ref, FENCE_WARNINGS)):
        walk.ok(
            "subnet.fence",
            title,
            f"{len(subnet.acls)} ACLs" if subnet.acls else "private" if subnet.private else "no ACLs",
        )


def _expected_routes(cluster: Cluster, subnet: Subnet | None, target: _Target) -> list[routes_codec.Route]:
    if target.bridge is not None:
        return list(target.bridge.routes)
    out: list[routes_codec.Route] = []
    for ip in cluster.api_cluster_ips():
        gw = subnet.gateway(ip.version) if subnet else None
        out.append(routes_codec.Route(dst=host_prefix(ip), gw=str(gw) if gw else ""))
    return out


def _missing_routes(pod: PodLike, routes_key: str, expected: list[routes_codec.Route], target: _Target) -> list[str]:
    """Expected routes the pod lacks: for a bridge's pod, what the webhook injects (destination and gateway);
    for a hand-written attachment, a route to each API ClusterIP (its gateway is the validator's: AB212)."""
    try:
        have = {r.dst: r.gw for r in routes_codec.parse(pod.annotations.get(routes_key))}
    except routes_codec.RoutesError:
        have = {}  # the validator reports it (AB201)
    if target.bridge is None:
        return [f"no route to {r.dst} (want via {r.gw or '?'})" for r in expected if r.dst not in have]
    return [
        f"no route to {r.dst} (want via {r.gw})"
        if r.dst not in have
        else f"{r.dst} goes via {have[r.dst] or '(no gateway)'}, not {r.gw} as ApiBridge "
        f"{target.bridge.bridge.name} injects"
        for r in expected
        if have.get(r.dst) != r.gw
    ]


def _check_annotations(
    walk: _Walk, facts: _Findings, cluster: Cluster, pod: PodLike, provider: str, subnet: Subnet | None, target: _Target
) -> str:
    """The pod's own annotations; returns the interface name Multus gives the attachment."""
    want = (target.nad_namespace, target.nad_name)
    ref = f"{want[0]}/{want[1]}"
    ifname = f"{rules.ATTACHMENT_IFNAME_PREFIX}1"
    recreate = target.recreate_note()
    title = f"the pod's {rules.NETWORKS_ANNOTATION} lists {ref}"
    networks_findings = facts.about(pod.meta.ref, NETWORKS_RULES, annotation_field(rules.NETWORKS_ANNOTATION))
    try:
        parsed = networks.parse(pod.annotations.get(rules.NETWORKS_ANNOTATION))
    except networks.NetworksError as exc:
        if not walk.judged("pod.networks", title, networks_findings, also=recreate):
            walk.broken("pod.networks", title, f"malformed: {exc}", "fix the annotation; Multus rejects it")
    else:
        positions = [i for i, sel in enumerate(parsed.selections) if sel.ref(pod.namespace) == want]
        if not positions:
            walk.broken(
                "pod.networks",
                title,
                f"it is {pod.annotations.get(rules.NETWORKS_ANNOTATION)!r}"
                if parsed.selections
                else "the annotation is missing",
                recreate or "add it to the pod template and recreate the pod",
            )
        else:
            ifname = networks.interface_names(parsed)[positions[0]]
            if not walk.judged("pod.networks", title, networks_findings, also=recreate):
                walk.ok("pod.networks", title, f"as {ifname}")
    routes_key = rules.provider_key(provider, rules.ROUTES)
    title = f"the pod's {routes_key} routes the API ClusterIP via the gateway"
    expected = _expected_routes(cluster, subnet, target)
    about_routes = annotation_field(routes_key)
    if walk.judged("pod.routes", title, facts.about(pod.meta.ref, ROUTES_RULES, about_routes), also=recreate):
        pass
    elif not expected:
        walk.broken(
            "pod.routes",
            title,
            "the default/kubernetes Service has no ClusterIP to route",
            "check the Service default/kubernetes",
        )
    elif missing := _missing_routes(pod, routes_key, expected, target):
        walk.broken(
            "pod.routes", title, "; ".join(missing), recreate or f"set {routes_key} to {routes_codec.format(expected)}"
        )
    elif not walk.judged("pod.routes", title, (), facts.about(pod.meta.ref, ROUTES_WARNINGS, about_routes)):
        walk.ok("pod.routes", title, ", ".join(f"{r.dst} via {r.gw}" for r in expected))
    ls_key = rules.provider_key(provider, rules.LOGICAL_SWITCH)
    pinned = pod.annotations.get(ls_key)
    title = f"the pod's {ls_key} names the attachment subnet"
    other_provider = facts.about(pod.meta.ref, LOGICAL_SWITCH_WARNINGS, annotation_field(ls_key))
    if not walk.judged("pod.logical_switch", title, (), other_provider):
        walk.ok("pod.logical_switch", title, pinned or "unset: Kube-OVN picks the Subnet by provider")
    return ifname


def _in_subnet(ips: list[str], cidrs: tuple[IPNetwork, ...]) -> bool:
    for text in ips:
        try:
            ip: IPAddress = ipaddress.ip_interface(text).ip if "/" in text else ipaddress.ip_address(text)
        except ValueError:
            continue
        if any(ip in c for c in cidrs):
            return True
    return False


def _check_kube_ovn(walk: _Walk, pod: PodLike, provider: str, subnet: Subnet | None) -> None:
    allocated = rules.provider_key(provider, rules.ALLOCATED)
    if pod.annotations.get(allocated) == "true":
        ip = pod.annotations.get(rules.provider_key(provider, rules.IP_ADDRESS), "")
        walk.ok("kubeovn.allocated", f"kube-ovn-controller allocated an address ({allocated})", ip or "true")
        if ip and subnet is not None and not _in_subnet(dualstack.split(ip), subnet.cidrs):
            walk.warn(
                "kubeovn.address",
                f"the allocated address is in Subnet {subnet.name}",
                f"{ip} is not in {subnet.raw_cidr}",
                "recreate the pod after fixing the Subnet",
            )
    else:
        walk.broken(
            "kubeovn.allocated",
            f"kube-ovn-controller allocated an address ({allocated})",
            f'{allocated} is not "true": kube-ovn-controller did not allocate the attachment',
            "look at the pod's events (PodNetworkAllocationFailed, \"provider ... is not bound to any "
            "subnet\") and at kube-ovn-controller's log",
        )
    routed = rules.provider_key(provider, rules.ROUTED)
    if pod.annotations.get(routed) == "true":
        walk.ok("kubeovn.routed", f"kube-ovn-controller routed the port ({routed})", "true")
    else:
        where = f" (node {pod.node_name})" if pod.node_name else " — the pod is not scheduled yet"
        walk.broken(
            "kubeovn.routed",
            f"kube-ovn-controller routed the port ({routed})",
            f'{routed} is not "true"{where}',
            "wait for scheduling, then check kube-ovn-controller's log for the pod",
        )


def _check_multus(walk: _Walk, pod: PodLike, target: _Target, subnet: Subnet | None, ifname: str) -> None:
    ref = f"{target.nad_namespace}/{target.nad_name}"
    title = f"Multus attached {ref} on {ifname} with an address in the subnet"
    try:
        entries = netstatus.parse(pod.annotations.get(rules.NETWORK_STATUS_ANNOTATION))
    except netstatus.NetworkStatusError as exc:
        walk.broken(
            "multus.status",
            title,
            f"{rules.NETWORK_STATUS_ANNOTATION} is {exc}",
            "Multus did not attach the network: is Multus installed and the pod's sandbox running? "
            "(kubectl describe pod shows the CNI error)",
        )
        return
    entry = netstatus.entry(entries, ref)
    if entry is None:
        names = ", ".join(e.name for e in entries) or "nothing"
        walk.broken(
            "multus.status",
            title,
            f"{rules.NETWORK_STATUS_ANNOTATION} has no entry for {ref} (it lists {names})",
            "Multus did not attach the NAD: check the networks annotation and Multus' log",
        )
        return
    interface = entry.interface
    ips = list(entry.ips)
    if interface != ifname:
        walk.broken(
            "multus.status",
            title,
            f"the {ref} entry is on interface {interface or '(none)'}, not {ifname}",
            f"attach the NAD as {ifname} (first in the networks annotation, or name the interface)",
        )
    elif subnet is not None and not _in_subnet(ips, subnet.cidrs):
        walk.broken(
            "multus.status",
            title,
            f"{ifname} has {', '.join(ips) or 'no address'}, not in {subnet.raw_cidr}",
            "recreate the pod; if it persists, the NAD's provider and the Subnet do not match",
        )
    else:
        walk.ok("multus.status", title, f"{ifname} {', '.join(ips)}")


def _check_policies(walk: _Walk, cluster: Cluster, settled: Plan, pod: PodLike) -> None:
    """The pod's own NetworkPolicies, as ``check`` judges them (AB310, ``pod_api_drops``): an egress policy
    isolating the attachment drops the API traffic unless it allows the endpoints (its ACLs run after the load
    balancer). Only the pod's namespace's policies can select it; doctor lists those."""
    title = f"no NetworkPolicy of namespace {pod.namespace} drops its API traffic"
    drops = pod_api_drops(cluster, settled, pod)
    if drops:
        walk.broken("netpol.egress", title, "; ".join(f"{f.obj} — {f.code}: {f.message}" for f in drops), _fix(drops))
        return
    mine = [np.meta.name for np in cluster.network_policies if np.namespace == pod.namespace]
    walk.ok(
        "netpol.egress", title, f"none drops it (of {', '.join(sorted(mine))})" if mine else "none in the namespace"
    )


def _check_verdict(walk: _Walk, cluster: Cluster, the_plan: Plan, bridge_plan: BridgePlan) -> bool:
    """The plan's verdict on the pod's bridge (``check.verdict``, as the operator and webhook obey it)."""
    name = bridge_plan.bridge.name
    judged = judge(cluster, the_plan).bridges.get(name)
    title = f"ApiBridge {name}'s plan has no errors"
    if judged is None or judged.ok:
        return True  # a sound plan adds no link: the NAD and Subnet links below show what it made
    walk.broken(
        "bridge.verdict",
        title,
        f"{_detail(judged.errors)}; so the operator creates or updates nothing for it and the webhook injects nothing",
        _fix(judged.errors),
    )
    return False


def diagnose_objects(
    namespace: str, name: str, objects: list[dict[str, Any]], settings: Settings | None = None
) -> Diagnosis:
    """Walk the chain for pod ``namespace/name`` over ``objects`` (which must include the pod), planning with
    ``settings`` — the ones the operator and webhook run with."""
    diagnosis = Diagnosis(pod=f"{namespace}/{name}")
    walk = _Walk(diagnosis)
    cluster, _ = kube.build_cluster(objects)
    pod = _find_pod(cluster, namespace, name)
    the_plan = make_plan(cluster, config=settings)
    bridge_plan = bridge_for(cluster, the_plan, pod)
    # the validator judges the objects as they are: with the plan applied it would judge the bridge's planned
    # NAD and Subnet instead of the live ones, and the pod after the webhook's injection instead of as it runs
    # (no bridges, but the plan's settings: service CIDRs, DNS Service, Kube-OVN release, kube-proxy)
    settled = Plan(
        service_cidrs=the_plan.service_cidrs,
        dns=the_plan.dns,
        kubeovn_version=the_plan.kubeovn_version,
        kube_proxy=the_plan.kube_proxy,
    )
    facts = _Findings(check(cluster, settled))
    target = _target(walk, facts, cluster, pod, bridge_plan, bool(cluster.bridges))
    if target is None:
        return diagnosis
    diagnosis.bridge = bridge_plan.bridge.name if bridge_plan else None
    diagnosis.nad = f"{target.nad_namespace}/{target.nad_name}"
    if bridge_plan is not None and not _check_verdict(walk, cluster, the_plan, bridge_plan):
        return diagnosis
    provider, nad = _check_nad(walk, facts, cluster, target)
    diagnosis.provider = provider
    subnet = _check_subnet(walk, facts, cluster, pod, provider, nad, target)
    if subnet is not None:
        diagnosis.subnet = subnet.name
        _check_subnet_shape(walk, facts, subnet, target)
    ifname = _check_annotations(walk, facts, cluster, pod, provider, subnet, target)
    _check_kube_ovn(walk, pod, provider, subnet)
    _check_multus(walk, pod, target, subnet, ifname)
    _check_policies(walk, cluster, settled, pod)
    return diagnosis


# ---- reading the cluster --------------------------------------------------------------------------------
async def _list_in(client: Client, kind: Kind, namespace: str) -> list[dict[str, Any]]:
    """The objects of ``kind`` in ``namespace``; none when the user may not list them there (403)."""
    try:
        return await client.list(kind, namespace)
    except ApiError as exc:
        if exc.code in (403, 404):
            return []
        raise


async def _list(client: Client, kind: Kind) -> list[dict[str, Any]]:
    """All objects of ``kind``; an API that does not serve the kind (CRD not installed) has none."""
    try:
        return await client.list(kind)
    except ApiError as exc:
        if exc.code == 404:
            return []
        raise


async def _context(client: Client, namespace: str, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Everything the chain of a pod of ``namespace`` depends on but the pod itself."""
    objects: list[dict[str, Any]] = []
    objects += await _list_in(client, kube.NETWORKPOLICY, namespace)  # only its own namespace's can select it
    for kind in (kube.APIBRIDGE, kube.SUBNET, kube.VPC, kube.NAD, kube.NAMESPACE, kube.NODE):
        objects += await _list(client, kind)
    api_ns, api_name = rules.KUBERNETES_SERVICE
    if (api := await client.get(kube.SERVICE, api_name, api_ns)) is not None:
        objects.append(api)
    # every Service that can be the cluster DNS Service (``apibridge.plan.dns``)
    candidates = [*rules.DNS_SERVICE_NAMES, *([settings.dns_service] if settings and settings.dns_service else [])]
    for svc_ns in sorted({rules.DNS_SERVICE_NAMESPACE, *(ns for ns, _ in candidates)}):
        for svc in await _list_in(client, kube.SERVICE, svc_ns):
            if kube.planned_service(svc, settings):
                objects.append(svc)
    return [kube.slim(o) if o.get("kind") == "Node" else o for o in objects]


async def diagnose(client: Client, namespace: str, name: str, settings: Settings | None = None) -> Diagnosis:
    """Read what the chain depends on and walk it. Raises ``InputError`` when the pod does not exist."""
    pod = await client.get(kube.POD, name, namespace)
    if pod is None:
        raise InputError(f"pod {namespace}/{name} not found")
    return diagnose_objects(namespace, name, [pod, *await _context(client, namespace, settings)], settings)


# ``doctor deploy/x``: the workload kinds by the names kubectl accepts for them
WORKLOAD_NAMES: dict[str, Kind] = {
    **dict.fromkeys(("deploy", "deployment", "deployments"), kube.DEPLOYMENT),
    **dict.fromkeys(("sts", "statefulset", "statefulsets"), kube.STATEFULSET),
    **dict.fromkeys(("ds", "daemonset", "daemonsets"), kube.DAEMONSET),
}
MAX_WORKLOAD_PODS = 50  # a workload's first pods by name; beyond that the same chain repeats


def label_selector(selector: Any) -> str:
    """A LabelSelector as the ``labelSelector`` query parameter (``k=v``, ``k in (a,b)``, ``!k`` …)."""
    if not isinstance(selector, dict):
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), ",".join(expr.get("values") or [])
        parts.append(
            {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key}.get(op, f"!{key}")
        )
    return ",".join(parts)


async def diagnose_workload(
    client: Client, kind: Kind, namespace: str, name: str, settings: Settings | None = None
) -> list[Diagnosis]:
    """Walk the chain of each pod of a workload (its selector's pods, at most ``MAX_WORKLOAD_PODS``).

    Raises ``InputError`` when the workload does not exist or has no pod yet (nothing to walk: the pods'
    events say why, not apibridge)."""
    workload = await client.get(kind, name, namespace)
    if workload is None:
        raise InputError(f"{kind.kind} {namespace}/{name} not found")
    selector = label_selector((workload.get("spec") or {}).get("selector"))
    if not selector:
        raise InputError(f"{kind.kind} {namespace}/{name} has no spec.selector")
    pods = sorted(await client.list(kube.POD, namespace, label_selector=selector), key=kube.name_of)
    if not pods:
        raise InputError(
            f"{kind.kind} {namespace}/{name} has no pods (selector {selector})",
            hint=f"kubectl -n {namespace} describe {kind.plural}/{name}",
        )
    context = await _context(client, namespace, settings)
    return [
        diagnose_objects(namespace, kube.name_of(pod), [pod, *context], settings) for pod in pods[:MAX_WORKLOAD_PODS]
    ]
