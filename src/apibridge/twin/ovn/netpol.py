"""NetworkPolicies as kube-ovn-controller programs them: a port group per policy, address sets, ACLs.

Follows ``pkg/controller/network_policy.go handleUpdateNp`` and ``pkg/ovs/ovn-nb-acl.go`` at v1.16.2
(names, priorities and stages in ``apibridge.kubeovn.netpol``):

* the port group ``<np>.<ns>`` holds every OVN port of each selected pod — the bridge's attachment
  too — unless ``ovn.kubernetes.io/network_policy_for`` (honoured from release-1.16) leaves it out;
* per direction the policy has, per IP family of the selected ports' subnets: a default drop 2000
  (``outport``/``inport == @pg && ip``), and per rule an allow and an except address set with the
  selected peers' addresses (rules without peers: ``0.0.0.0/0``/``::/0``), an allow-related 2001
  ACL per port entry, and a separate ACL with the ipBlocks and their excepts inline; egress ACLs
  carry ``apply-after-lb`` (they see the backend after the load balancer);
* with IPv6 selected (standard enforcement), ``icmp6`` allow-stateless 2001 both ways.

OVN 23.03 has no ACL ``tier`` column: the twin's ACLs carry none (Kube-OVN writes tier 2 for all of
these and for Subnet ACLs, so within this twin nothing changes order). ANP/BANP (tiers 1 and 3)
are not programmed: see docs/networkpolicy.md. What ``check`` finds about them on bridged pods (AB312 an
ANP opens a fenced attachment, AB313 an ANP drops the API traffic) the twin's probes cannot show, so
``admin_findings`` hands those findings to ``lab verify``, which fails on them rather than pass a path a
real cluster drops (or call an attachment sealed that a real cluster opens).
"""

from __future__ import annotations

from collections.abc import Iterable

from apibridge.check.findings import Finding
from apibridge.check.objects.netpol import Policies
from apibridge.check.objects.policies import check_policies
from apibridge.kubeovn import netpol, rules
from apibridge.model.cluster import Cluster
from apibridge.model.networkpolicy import IPBlock, NetworkPolicy, Peer, PolicyPort, PolicyRule
from apibridge.plan.types import Plan

from .topology import AclRule, AddressSet, PortGroup, Topology, TwinPod

ANY = {4: "0.0.0.0/0", 6: "::/0"}
UNPROGRAMMED = ("AB312", "AB313")  # check's AdminNetworkPolicy findings on bridged pods: tier 1, not in this OVN


def _port_matches(base: str, ports: tuple[PolicyPort, ...], named: dict[str, int]) -> list[str]:
    """``newNetworkPolicyACLMatch``'s port part: one match per port entry (a named port unknown in the
    policy's namespace, or a named port with endPort, gives none: nothing is allowed for it)."""
    if not ports:
        return [base]
    out = []
    for p in ports:
        proto = p.protocol.lower()
        if p.port is None:
            out.append(f"{base} && {proto}")
        elif p.end_port is None:
            number = named.get(p.port) if isinstance(p.port, str) else p.port
            if number is not None:
                out.append(f"{base} && {proto}.dst == {number}")
        elif isinstance(p.port, int):
            out.append(f"{base} && {p.port} <= {proto}.dst <= {p.end_port}")
    return out


def _ipblock_match(blocks: Iterable[IPBlock], family: int, key: str) -> str | None:
    """``newIPBlockACLMatch``'s address part: each block with its excepts inline, OR'd."""
    parts = []
    for b in blocks:
        if b.cidr.version != family:
            continue
        cidr = f"{key} == {b.cidr}"
        excepts = [str(e) for e in b.excepts if e.version == family]
        parts.append(f"{cidr} && {key} != {{{', '.join(excepts)}}}" if excepts else cidr)
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return " || ".join(f"({p})" if "&&" in p else p for p in parts)


class _Programmer:
    def __init__(self, topo: Topology, cluster: Cluster, version: str) -> None:
        self.topo = topo
        self.policies = Policies(cluster, version)
        self.pods = [p for p in topo.pods if p.failure is None]
        self.cidr_families = {s.name: {c.version for c in s.cidrs} for s in topo.switches}
        self.named = {ns: dict(m) for ns, m in self.policies.named_ports().items()}

    def selected_ports(self, np: NetworkPolicy) -> tuple[list[str], set[int]]:
        providers = self.policies.providers(np)
        ports: list[str] = []
        families: set[int] = set()
        for pod in self.pods:
            if pod.namespace != np.namespace or not np.pod_selector.matches(pod.labels):
                continue
            for nic in pod.nics:
                if nic.switch in self.cidr_families and netpol.applies_to(nic.provider, providers):
                    ports.append(nic.lsp)
                    families |= self.cidr_families[nic.switch]
        return ports, families

    def peer_addresses(self, np: NetworkPolicy, rule: PolicyRule, family: int) -> list[str]:
        if not rule.peers:
            return [ANY[family]]
        providers = self.policies.providers(np)
        out: list[str] = []
        for peer in rule.peers:
            if peer.ip_block is not None:
                continue
            for pod in self.pods:
                if not self._selects(np, peer, pod):
                    continue
                for nic in pod.nics:
                    if netpol.applies_to(nic.provider, providers):
                        out += [str(ip) for ip in nic.ips if ip.version == family]
        return sorted(set(out))

    def _selects(self, np: NetworkPolicy, peer: Peer, pod: TwinPod) -> bool:
        if peer.namespace_selector is None:
            if pod.namespace != np.namespace:
                return False
        elif not peer.namespace_selector.matches(self.policies.cluster.namespace_labels(pod.namespace)):
            return False
        return peer.pod_selector is None or peer.pod_selector.matches(pod.labels)

    def program(self, np: NetworkPolicy) -> None:
        pg = netpol.port_group(np.meta.name, np.namespace)
        ports, families = self.selected_ports(np)
        ids = {"np": f"{np.namespace}/{netpol.policy_name(np.meta.name)}", **rules.VENDOR}
        acls: list[AclRule] = []
        if np.has_ingress:
            acls += self.direction(np, pg, ids, families, "ingress", np.ingress)
        if np.has_egress:
            acls += self.direction(np, pg, ids, families, "egress", np.egress)
        if 6 in families:  # CreateGatewayACL (standard enforcement)
            gw = netpol.EGRESS_ALLOW
            acls.append(AclRule("from-lport", gw, "icmp6", "allow-stateless", dict(ids), apply_after_lb=True))
            acls.append(AclRule("to-lport", netpol.INGRESS_ALLOW, "icmp6", "allow-stateless", dict(ids)))
        self.topo.port_groups.append(PortGroup(pg, tuple(ports), ids, tuple(acls)))

    def direction(
        self, np: NetworkPolicy, pg: str, ids: dict[str, str], families: set[int], direction: str,
        rules_: tuple[PolicyRule, ...],
    ) -> list[AclRule]:  # fmt: skip
        egress = direction == "egress"
        lport = "from-lport" if egress else "to-lport"
        port_key, side = ("inport", "dst") if egress else ("outport", "src")
        base = f"{port_key} == @{pg} && ip"
        named = self.named.get(np.namespace, {})

        def acl(priority: int, match: str, action: str, name: str) -> AclRule:
            return AclRule(lport, priority, match, action, dict(ids), name=name, apply_after_lb=egress)

        drop = netpol.EGRESS_DROP if egress else netpol.INGRESS_DROP
        acls = [acl(drop, base, "drop", f"{np.namespace}/{np.meta.name}")] if families else []
        allow = netpol.EGRESS_ALLOW if egress else netpol.INGRESS_ALLOW
        sets_ids = {"np": f"{np.namespace}/{netpol.policy_name(np.meta.name)}/{direction}", **rules.VENDOR}
        for family in sorted(families):
            key = f"{netpol.family_match(family)}.{side}"
            entries: list[PolicyRule | None] = list(rules_) or [None]
            for rule in entries:
                index = rule.index if rule is not None else None
                allow_as = netpol.address_set(np.meta.name, np.namespace, direction, "allow", family, index)
                except_as = netpol.address_set(np.meta.name, np.namespace, direction, "except", family, index)
                selected = self.peer_addresses(np, rule, family) if rule is not None else []
                self.topo.address_sets.append(AddressSet(allow_as, tuple(selected), sets_ids))
                self.topo.address_sets.append(AddressSet(except_as, (), sets_ids))
                name = netpol.acl_name(np.meta.name, np.namespace, direction, family, index)
                ports = rule.ports if rule is not None else ()
                if selected or rule is None:
                    allowed = f"{base} && {key} == ${allow_as} && {key} != ${except_as}"
                    acls += [acl(allow, m, "allow-related", name) for m in _port_matches(allowed, ports, named)]
                blocks = [p.ip_block for p in (rule.peers if rule else ()) if p.ip_block is not None]
                l3 = _ipblock_match(blocks, family, key)
                if l3 is not None:
                    bname = netpol.acl_name(np.meta.name, np.namespace, direction, family, index, ipblock=True)
                    acls += [
                        acl(allow, m, "allow-related", bname) for m in _port_matches(f"{base} && ({l3})", ports, named)
                    ]
        return acls


def program_policies(topo: Topology, cluster: Cluster, version: str) -> None:
    """Add every NetworkPolicy's port group, address sets and ACLs to ``topo`` (pods already built)."""
    for anp in cluster.admin_policies:
        topo.notes.append(
            f"{anp.meta.ref}: not programmed — OVN 23.03 has no ACL tiers, and Kube-OVN's tier "
            f"{netpol.BANP_TIER if anp.baseline else netpol.ANP_TIER} cannot be imitated by priority "
            f"(docs/networkpolicy.md; `apibridge check` judges it: AB312, AB313)"
        )
    if not cluster.network_policies:
        return
    programmer = _Programmer(topo, cluster, version)
    for np in cluster.network_policies:
        programmer.program(np)


def admin_findings(cluster: Cluster, plan: Plan) -> list[Finding]:
    """``check``'s findings on the AdminNetworkPolicies the twin does not program (``UNPROGRAMMED``)."""
    if not cluster.admin_policies:
        return []
    return [f for f in check_policies(cluster, plan) if f.code in UNPROGRAMMED]
