"""Findings about NetworkPolicies and AdminNetworkPolicies on the pods that use an API attachment.

Kube-OVN puts the attachment port of a selected pod into a policy's port group (``netpol``), so:

* **AB310** — a tenant's egress policy that isolates an attached pod drops its API traffic unless one
  rule allows the API *endpoints* (egress ACLs run after the load balancer: node-IP:6443, never
  the ClusterIP). Reported on the policy, naming the pods and the rule that would allow it — the
  fence cannot help here: it has nothing in that stage (``plan/fence.py``).
* **AB311** — an ingress allow (to-lport 2001) on an attached pod that outranks its attachment
  subnet's to-lport drop opens the attachment to the default VPC. The planned fence outranks every
  tier-2 ACL a tenant can bring, so this fires for hand-written fences (the seed's ``spec.acls``, an
  apibridge fence from before this rule) — where a real cluster leaks.
* **AB312** — an AdminNetworkPolicy ``Allow`` for ingress from default-VPC namespaces whose subject
  holds a fenced attached pod: ANP ACLs are tier 1, evaluated before the fence's tier 2 on OVN with
  ACL tiers, so no priority of the fence can stop it.
* **AB313** — an AdminNetworkPolicy ``Deny`` (tier 1, after the load balancer) that is the first
  admin rule to match an attached pod's API endpoints: it drops the API traffic whatever the
  tenant's policies say.

Pods are grouped (one finding per policy rule, naming a few pods), so 100,000 pods cost one pass.

AB310 is the one of these the live paths show too: ``ApiEgress`` holds its per-pod judgement and its wording,
the finding names the bridges it concerns (``Finding.concerns``, which ``check.verdict`` hands to each bridge
for the operator's Degraded condition and ``render``/``inject``'s warnings; AB313 names them too), and
``pod_api_drops`` answers it for one pod (``doctor``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from apibridge.check.findings import Finding, finding
from apibridge.check.intent import IntentContext, attachment_subnets, intent_context, pod_intent
from apibridge.check.objects.netpol import Endpoint, Policies, allow_rule_yaml, api_endpoints
from apibridge.kubeovn import netpol, rules
from apibridge.kubeovn.dualstack import IPAddress, IPNetwork
from apibridge.model.cluster import Cluster
from apibridge.model.networkpolicy import AdminPeer, AdminPolicy, AdminRule, NetworkPolicy, PolicyRule
from apibridge.model.objects import PodLike, Subnet
from apibridge.plan.mutation import BridgeIndex
from apibridge.plan.types import Plan

SAMPLES = 3
CATCH_ALL = {"ip", "ip4", "ip6", "1"}


@dataclass(frozen=True)
class Attachment:
    provider: str
    subnet: Subnet
    fenced: bool  # a strict bridge's fence, or hand-written to-lport drops on the subnet


@dataclass
class _Group:
    pods: int = 0
    samples: list[str] = field(default_factory=list)

    def add(self, ref: str) -> None:
        self.pods += 1
        if len(self.samples) < SAMPLES and ref not in self.samples:
            self.samples.append(ref)

    def names(self) -> str:
        more = f" and {self.pods - len(self.samples)} more" if self.pods > len(self.samples) else ""
        return ", ".join(self.samples) + more


def to_lport_drop(subnet: Subnet) -> int | None:
    """The highest priority of a catch-all to-lport drop in the subnet's ACLs (None: none)."""
    drops = [
        a.priority
        for a in subnet.acls
        if a.direction == "to-lport" and a.action in ("drop", "reject") and a.match.strip() in CATCH_ALL
    ]
    return max(drops) if drops else None


class _Pods:
    """Per pod: its attachments to default-VPC subnets and whether it intends the API server."""

    def __init__(self, cluster: Cluster, plan: Plan) -> None:
        self.cluster = cluster
        self.plan = plan
        self.index = BridgeIndex(cluster, plan)
        self.ctx: IntentContext = intent_context(cluster, plan)
        self.subnets = dict(cluster.subnets)
        for bp in plan.bridges.values():
            self.subnets[bp.subnet_name] = bp.model_subnet

    def bridged(self, pod: PodLike) -> tuple[list[Attachment], bool, str | None]:
        """The pod's attachments, whether it intends the API server, and the bridge that selects it."""
        vpc = self.cluster.pod_vpc(pod)
        bridges = self.index.selecting(pod, vpc)
        bp = bridges[0] if bridges else None
        out: list[Attachment] = []
        nad = ""
        if bp is not None:
            nad = f"{bp.nad_namespace}/{bp.nad_name}"
            out.append(Attachment(bp.provider, bp.model_subnet, bp.bridge.isolation == "strict"))
        for _, name in attachment_subnets(pod.annotations, pod.namespace, None, self.ctx):
            subnet = self.subnets.get(name)
            if subnet is not None and all(a.subnet.name != name for a in out):
                out.append(Attachment(subnet.provider, subnet, to_lport_drop(subnet) is not None))
        intent = pod_intent(pod.annotations, pod.namespace, bp.bridge if bp else None, self.ctx, nad=nad)
        return out, intent.api and vpc != rules.DEFAULT_VPC, bp.bridge.name if bp else None


class ApiEgress:
    """AB310's judgement, per pod: the NetworkPolicies that isolate the egress of the attachment it reaches the
    API server through, and the API endpoints none of them allows. ``check`` groups it per policy, ``doctor``
    asks it for one pod, and the operator reads it through the verdict (``Finding.concerns``)."""

    def __init__(self, cluster: Cluster, plan: Plan, pods: _Pods | None = None) -> None:
        self.cluster = cluster
        self.plan = plan
        self.pods = pods or _Pods(cluster, plan)
        self.policies = Policies(cluster, plan.kubeovn_version)
        self.endpoints = api_endpoints(cluster)
        self._memo: dict[tuple[str, tuple[tuple[str, str], ...], str], Judged] = {}

    def judge(self, pod: PodLike, via: Attachment) -> Judged:
        """(isolating policies, endpoints they drop) for ``pod``'s egress through ``via``."""
        # pods alike (namespace, labels, provider) get one evaluation: rules and peers are tenant input
        key = (pod.namespace, tuple(sorted(pod.labels.items())), via.provider)
        judged = self._memo.get(key)
        if judged is None:
            verdicts = [
                (ep, self.policies.egress(pod.namespace, pod.labels, via.provider, Endpoint(ep[0]), ep[1]))
                for ep in self.endpoints
            ]
            blocked = tuple(ep for ep, v in verdicts if not v.allowed)
            isolating = next((v.isolating for _, v in verdicts if not v.allowed), ())
            judged = self._memo[key] = (isolating, blocked)
        return judged

    def finding(
        self, np: NetworkPolicy, names: str, provider: str, blocked: tuple[Endpoint_, ...], bridges: Iterable[str]
    ) -> Finding:
        """AB310 on ``np`` for the pods ``names`` (one wording for ``check``, the operator and ``doctor``)."""
        hint = f"add the rule {allow_rule_yaml(blocked)} to spec"
        dropped = ", ".join(f"{ip}:{port}" for ip, port in blocked)
        vips = ", ".join(str(ip) for ip in self.cluster.api_cluster_ips())
        if netpol.honours_policy_for(self.plan.kubeovn_version):
            hint += (
                f"; or annotate the policy {netpol.NETWORK_POLICY_FOR}: ovn so that Kube-OVN "
                f"{self.plan.kubeovn_version} leaves the attachment out of its port group"
            )
        return finding(
            "AB310",
            np.meta.ref,
            "spec.egress",
            f"isolates the egress of {names}, reaching the API server through the attachment "
            f"{provider}; Kube-OVN puts that port into this policy's port group too, and its egress ACLs "
            f"run after the load balancer, where the API traffic is addressed to the endpoints {dropped}, "
            f"not the ClusterIP {vips}: no rule allows them, so the API traffic is dropped",
            hint,
            _concerning(bridges),
        )


def _concerning(bridges: Iterable[str]) -> tuple[str, ...]:
    """``Finding.concerns`` for the bridges whose pods lose their API traffic (AB310, AB313)."""
    return tuple(sorted(f"{rules.APIBRIDGE_KIND.kind}/{b}" for b in set(bridges)))


def pod_api_drops(cluster: Cluster, plan: Plan, pod: PodLike) -> list[Finding]:
    """AB310 for one pod: each NetworkPolicy that drops its API traffic (``doctor``'s link)."""
    if not cluster.network_policies:
        return []
    egress = ApiEgress(cluster, plan)
    attached, wants_api, bridge = egress.pods.bridged(pod)
    if not attached or not wants_api or not egress.endpoints:
        return []
    isolating, blocked = egress.judge(pod, attached[0])
    return [
        egress.finding(np, pod.meta.ref, attached[0].provider, blocked, [bridge] if bridge else []) for np in isolating
    ]


ALWAYS_THERE = ("default", "kube-system")  # namespaces every cluster has, in the input or not


def _default_vpc_namespaces(cluster: Cluster) -> set[str]:
    names = cluster.vpc_namespaces(rules.DEFAULT_VPC)
    for ns in ALWAYS_THERE:
        subnet = cluster.namespace_subnet(ns)
        if subnet is None or subnet.vpc == rules.DEFAULT_VPC:
            names.add(ns)
    return names


def _default_vpc_cidrs(cluster: Cluster, subnets: Iterable[Subnet]) -> list[IPNetwork]:
    return [c for s in subnets if (s.vpc or rules.DEFAULT_VPC) == rules.DEFAULT_VPC for c in s.cidrs]


def _rule_opens(
    np: NetworkPolicy, rule: PolicyRule, cluster: Cluster, default_ns: set[str], cidrs: list[IPNetwork]
) -> str | None:
    """Why ``rule`` lets default-VPC sources in (None: it does not)."""
    if not rule.peers:
        return "it has no from: every source"
    for peer in rule.peers:
        if peer.ip_block is not None:
            block = peer.ip_block.cidr
            hit = next((c for c in cidrs if c.version == block.version and c.overlaps(block)), None)
            if hit is not None:
                return f"its ipBlock {peer.ip_block.cidr} covers default-VPC addresses ({hit})"
            continue
        if peer.namespace_selector is None:
            names = [np.namespace] if np.namespace in default_ns else []
        else:
            sel = peer.namespace_selector
            names = sorted(n for n in default_ns if sel.matches(cluster.namespace_labels(n)))
        if names:
            return f"its peer selects namespace {names[0]} of the default VPC"
    return None


def _admin_subject(anp: AdminPolicy, cluster: Cluster, pod: PodLike) -> bool:
    s = anp.subject
    labels = cluster.namespace_labels(pod.namespace)
    if s.namespaces is not None:
        return s.namespaces.matches(labels)
    return (
        s.pod_namespaces is not None
        and s.pod_namespaces.matches(labels)
        and (s.pods is None or s.pods.matches(pod.labels))
    )


def _admin_peer_whole_namespaces(peer: AdminPeer, cluster: Cluster, default_ns: set[str]) -> set[str]:
    """The default-VPC namespaces all of whose pods ``peer`` selects (a pod selector narrows it: none)."""
    sel = peer.namespaces
    if sel is None and peer.pod_namespaces is not None and (peer.pods is None or not peer.pods.requirements):
        sel = peer.pod_namespaces
    if sel is None:
        return set()
    return {n for n in default_ns if sel.matches(cluster.namespace_labels(n))}


def _admin_ingress_opens(
    anps: Iterable[AdminPolicy], cluster: Cluster, pod: PodLike, default_ns: set[str]
) -> Iterable[tuple[AdminPolicy, AdminRule, str]]:
    """Each ANP ingress ``Allow`` that lets a default-VPC namespace reach ``pod``, with that namespace.

    Kube-OVN gives an ANP rule the ACL priority ``30000 − priority×100 − index`` (v1.16.2
    ``pkg/controller/admin_network_policy.go``), so rules are evaluated by (priority, index); the first
    that matches decides. A ``Deny`` (or a ``Pass``, which hands the packet to tier 2 and the fence) of
    an earlier rule that covers a whole namespace for every port shadows a later ``Allow`` for that
    namespace: only a namespace no earlier rule decided is an opening.
    """
    decided: set[str] = set()
    for anp in anps:
        if not _admin_subject(anp, cluster, pod):
            continue
        for r in anp.ingress:
            if r.action == "Allow":
                opened = sorted(
                    n
                    for p in r.peers
                    if (sel := p.namespaces if p.namespaces is not None else p.pod_namespaces) is not None
                    for n in default_ns - decided
                    if sel.matches(cluster.namespace_labels(n))
                )
                if opened:
                    yield anp, r, opened[0]
            if not r.ports:  # a rule limited to some ports decides only those: it shadows nothing whole
                for p in r.peers:
                    decided |= _admin_peer_whole_namespaces(p, cluster, default_ns)


def _admin_peer_covers(peer: AdminPeer, cluster: Cluster, ip: IPAddress) -> bool:
    if any(ip.version == n.version and ip in n for n in peer.networks):
        return True
    if peer.nodes is not None:
        return any(peer.nodes.matches(n.meta.labels) and ip in n.internal_ips for n in cluster.nodes.values())
    return False


Endpoints = Iterable[tuple[IPAddress, int]]
Endpoint_ = tuple[IPAddress, int]
Judged = tuple[tuple[NetworkPolicy, ...], tuple[Endpoint_, ...]]  # isolating policies, endpoints they drop


def _admin_rule_covers(peers: Iterable[AdminPeer], cluster: Cluster, endpoints: Endpoints) -> bool:
    return any(_admin_peer_covers(p, cluster, ip) for p in peers for ip, _ in endpoints)


def check_policies(cluster: Cluster, plan: Plan) -> list[Finding]:
    """AB310–AB313 (nothing to do, and nothing computed, without policies)."""
    if not cluster.network_policies and not cluster.admin_policies:
        return []
    pods = _Pods(cluster, plan)
    api_egress = ApiEgress(cluster, plan, pods)
    policies = api_egress.policies
    endpoints = api_egress.endpoints
    default_ns = _default_vpc_namespaces(cluster)
    cidrs = _default_vpc_cidrs(cluster, pods.subnets.values())
    anps = sorted((a for a in cluster.admin_policies if not a.baseline), key=lambda a: (a.priority, a.meta.name))
    egress: dict[
        tuple[str, str, tuple[Endpoint_, ...]], tuple[NetworkPolicy, _Group, str, tuple[Endpoint_, ...], set[str]]
    ] = {}
    ingress: dict[tuple[str, int, str], tuple[NetworkPolicy, _Group, str, Attachment, int, int]] = {}
    admin_in: dict[tuple[str, int], tuple[AdminPolicy, _Group, str, int]] = {}
    admin_eg: dict[tuple[str, int], tuple[AdminPolicy, _Group, int, set[str]]] = {}
    for pod in cluster.pods:
        attached, wants_api, bridge = pods.bridged(pod)
        if not attached:
            continue
        ref = pod.meta.ref
        if wants_api and endpoints:
            via = attached[0]
            judged = api_egress.judge(pod, via)
            for np in judged[0]:
                key = (np.ref, via.provider, judged[1])
                entry = egress.setdefault(key, (np, _Group(), via.provider, judged[1], set()))
                entry[1].add(ref)
                if bridge:
                    entry[4].add(bridge)
            for anp in anps:
                if not _admin_subject(anp, cluster, pod):
                    continue
                hit = next((r for r in anp.egress if _admin_rule_covers(r.peers, cluster, endpoints)), None)
                if hit is not None:
                    if hit.action == "Deny":
                        entry2 = admin_eg.setdefault((anp.ref, hit.index), (anp, _Group(), hit.index, set()))
                        entry2[1].add(ref)
                        if bridge:
                            entry2[3].add(bridge)
                    break  # the first admin rule that matches decides (Allow, Deny) or passes to tier 2
        for att in attached:
            drop = to_lport_drop(att.subnet)
            if drop is not None and drop <= netpol.INGRESS_ALLOW:  # a tie is OVN's to break: no fence
                for np in policies.selecting_pod(pod, att.provider):
                    if not np.has_ingress:
                        continue
                    for rule in np.ingress:
                        why = _rule_opens(np, rule, cluster, default_ns, cidrs)
                        if why is not None:
                            key3 = (np.ref, rule.index, att.subnet.name)
                            entry3 = ingress.setdefault(key3, (np, _Group(), why, att, drop, rule.index))
                            entry3[1].add(ref)
            if att.fenced:
                for anp, r, ns in _admin_ingress_opens(anps, cluster, pod, default_ns):
                    entry4 = admin_in.setdefault((anp.ref, r.index), (anp, _Group(), ns, r.index))
                    entry4[1].add(ref)
    out: list[Finding] = []
    shown = ", ".join(f"{ip}:{port}" for ip, port in endpoints)
    for np, group, provider, blocked_eps, bridges in egress.values():
        out.append(api_egress.finding(np, group.names(), provider, blocked_eps, bridges))
    for np, group, why, att, drop, index in ingress.values():
        out.append(
            finding(
                "AB311",
                np.meta.ref,
                f"spec.ingress[{index}]",
                f"allows ingress to the attachment of {group.names()} on subnet {att.subnet.name} ({why}): "
                f"Kube-OVN's to-lport allow {netpol.INGRESS_ALLOW} outranks (or ties) the subnet's to-lport drop "
                f"{drop} in the same stage, so pods of the default VPC reach the attached pods",
                f"raise the subnet's to-lport drop (and its allows) above {netpol.TENANT_REACHABLE_MAX}, as an "
                f"ApiBridge's fence does, or narrow the rule's from",
            )
        )
    for anp, group, ns, index in admin_in.values():
        out.append(
            finding(
                "AB312",
                anp.meta.ref,
                f"spec.ingress[{index}]",
                f"allows ingress from namespace {ns} of the default VPC to {group.names()}, whose attachment is "
                f"fenced: Kube-OVN programs ANP ACLs in tier {netpol.ANP_TIER}, evaluated before the fence's "
                f"tier {netpol.NETPOL_TIER}, so this Allow opens the attachment whatever the fence says",
                "exclude the attached pods from the subject, or use Pass (which hands the decision to tier 2)",
            )
        )
    for anp, group, index, bridges in admin_eg.values():
        out.append(
            finding(
                "AB313",
                anp.meta.ref,
                f"spec.egress[{index}]",
                f"denies egress to the API endpoints {shown} for {group.names()}, which reach the API server "
                f"through their attachment: ANP egress ACLs run after the load balancer in tier {netpol.ANP_TIER}, "
                f"ahead of every NetworkPolicy, so their API traffic is dropped",
                f"put an Allow for {shown} before this rule (or in an ANP of a lower priority number)",
                _concerning(bridges),
            )
        )
    return out
