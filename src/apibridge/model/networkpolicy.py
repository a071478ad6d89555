"""NetworkPolicy, AdminNetworkPolicy and BaselineAdminNetworkPolicy as typed objects.

Kube-OVN puts every OVN port of a selected pod into a policy's port group — the bridge's attachment
included (``apibridge.kubeovn.netpol``) — so a tenant's policy decides whether its pods still reach
the API server through the bridge, and an admin's ANP may open an attachment to the default VPC.
The validator and the twin both need the policies, so they are read here once, with the API
server's own defaulting and validation where it changes the meaning:

* ``policyTypes`` absent: ``Ingress``, plus ``Egress`` when egress rules are given (the API server's
  defaulting; Kube-OVN's ``hasIngressRule``/``hasEgressRule`` then read the stored object);
* a port without ``protocol`` is TCP; ``endPort`` needs a numeric ``port`` and is not below it;
* an ``ipBlock`` stands alone in its peer, and its ``except`` entries lie inside its ``cidr``.

Input is tenant-controlled, so rules, peers, ports and excepts are bounded (``MAX_ITEMS`` each):
a policy beyond them is refused with an error naming the field, never evaluated slowly.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from apibridge.kubeovn.dualstack import IPNetwork
from apibridge.model.fields import Fields
from apibridge.model.load import Document
from apibridge.model.objects import Meta
from apibridge.model.selectors import LabelSelector, SelectorError

MAX_ITEMS = 1000  # rules per direction, peers and ports per rule, excepts per ipBlock
PROTOCOLS = ("TCP", "UDP", "SCTP")
Action = Literal["Allow", "Deny", "Pass"]


@dataclass(frozen=True)
class PolicyPort:
    """One ``ports`` entry: ``port`` None means every port of ``protocol``; a str is a named port."""

    protocol: str
    port: int | str | None = None
    end_port: int | None = None

    def covers(self, port: int, protocol: str, named: Mapping[str, int] | None = None) -> bool:
        if protocol.upper() != self.protocol:
            return False
        if self.port is None:
            return True
        if isinstance(self.port, str):
            return named is not None and named.get(self.port) == port
        if self.end_port is not None:
            return self.port <= port <= self.end_port
        return port == self.port

    def describe(self) -> str:
        if self.port is None:
            return f"{self.protocol} (any port)"
        tail = f"-{self.end_port}" if self.end_port is not None else ""
        return f"{self.protocol} {self.port}{tail}"


@dataclass(frozen=True)
class IPBlock:
    cidr: IPNetwork
    excepts: tuple[IPNetwork, ...] = ()

    def contains(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if ip.version != self.cidr.version or ip not in self.cidr:
            return False
        return not any(ip in e for e in self.excepts)


@dataclass(frozen=True)
class Peer:
    """``podSelector``/``namespaceSelector`` (None: not given), or an ``ipBlock``."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


@dataclass(frozen=True)
class PolicyRule:
    index: int
    peers: tuple[Peer, ...]  # empty: every source/destination
    ports: tuple[PolicyPort, ...]  # empty: every port


@dataclass(frozen=True)
class NetworkPolicy:
    meta: Meta
    pod_selector: LabelSelector
    ingress: tuple[PolicyRule, ...]
    egress: tuple[PolicyRule, ...]
    has_ingress: bool  # the policy isolates its pods for ingress (policyTypes, as defaulted)
    has_egress: bool

    @property
    def namespace(self) -> str:
        return self.meta.namespace or "default"

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.meta.name}"


# --- AdminNetworkPolicy / BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1) ----------------


@dataclass(frozen=True)
class AdminPeer:
    """``namespaces`` (a selector), ``pods`` (namespace + pod selector), ``nodes`` or ``networks``."""

    namespaces: LabelSelector | None = None
    pod_namespaces: LabelSelector | None = None
    pods: LabelSelector | None = None
    nodes: LabelSelector | None = None
    networks: tuple[IPNetwork, ...] = ()


@dataclass(frozen=True)
class AdminRule:
    index: int
    name: str
    action: Action
    peers: tuple[AdminPeer, ...]
    ports: tuple[PolicyPort, ...]


@dataclass(frozen=True)
class AdminPolicy:
    meta: Meta
    baseline: bool  # BaselineAdminNetworkPolicy
    priority: int  # 0 for a baseline policy
    subject: AdminPeer  # namespaces, or pods (pod_namespaces + pods)
    ingress: tuple[AdminRule, ...]
    egress: tuple[AdminRule, ...]

    @property
    def ref(self) -> str:
        return self.meta.ref


def _selector(f: Fields, path: str, raw: Any) -> LabelSelector:
    try:
        return LabelSelector.parse(raw)
    except SelectorError as exc:
        raise f.error(path, f"invalid label selector: {exc}") from None


def _items(f: Fields, path: str) -> list[Fields]:
    """The entries of the list at ``path``, each as Fields that name their own index in errors."""
    items = f.list_(path)
    if len(items) > MAX_ITEMS:
        raise f.error(path, f"{len(items)} entries; at most {MAX_ITEMS} are read")
    out = []
    for i, item in enumerate(items):
        if item is None:
            item = {}
        if not isinstance(item, Mapping):
            raise f.error(f"{path}[{i}]", "expected a mapping")
        out.append(Fields(item, f.location, f"{f.prefix}{path}[{i}]"))
    return out


def _strings(f: Fields, path: str) -> list[str]:
    items = f.strs(path)
    if len(items) > MAX_ITEMS:
        raise f.error(path, f"{len(items)} entries; at most {MAX_ITEMS} are read")
    return items


def _network(f: Fields, path: str, text: str | None) -> IPNetwork:
    if not text:
        raise f.error(path, "a CIDR is required")
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        raise f.error(path, f"{text!r} is not a valid CIDR: {exc}") from None


def _ports(f: Fields, path: str) -> tuple[PolicyPort, ...]:
    out: list[PolicyPort] = []
    for pf in _items(f, path):
        protocol = (pf.str_("protocol") or "TCP").upper()
        if protocol not in PROTOCOLS:
            raise pf.error("protocol", f"{protocol!r} is not one of {', '.join(PROTOCOLS)}")
        raw = pf.get("port")
        port: int | str | None
        if raw is None:
            port = None
        elif isinstance(raw, bool) or not isinstance(raw, int | str):
            raise pf.error("port", f"expected a port number or name, got {raw!r}")
        elif isinstance(raw, int):
            if not 0 < raw < 65536:
                raise pf.error("port", f"port {raw} is not in 1-65535")
            port = raw
        else:
            port = raw
        end = pf.int_("endPort")
        if end is not None:
            if not isinstance(port, int):
                raise pf.error("endPort", "endPort needs a numeric port")
            if not port <= end < 65536:
                raise pf.error("endPort", f"endPort {end} is below port {port} or above 65535")
        out.append(PolicyPort(protocol, port, end))
    return tuple(out)


def _peers(f: Fields, path: str) -> tuple[Peer, ...]:
    out: list[Peer] = []
    for pf in _items(f, path):
        if pf.get("ipBlock") is not None:
            if pf.get("podSelector") is not None or pf.get("namespaceSelector") is not None:
                raise pf.error("ipBlock", "an ipBlock peer may not also have podSelector or namespaceSelector")
            cidr = _network(pf, "ipBlock.cidr", pf.str_("ipBlock.cidr"))
            excepts = []
            for j, text in enumerate(_strings(pf, "ipBlock.except")):
                e = _network(pf, f"ipBlock.except[{j}]", text)
                if e.version != cidr.version or not e.subnet_of(cidr):  # type: ignore[arg-type]
                    raise pf.error(f"ipBlock.except[{j}]", f"{e} is not inside the ipBlock's cidr {cidr}")
                excepts.append(e)
            out.append(Peer(ip_block=IPBlock(cidr, tuple(excepts))))
            continue
        pods, nss = pf.get("podSelector"), pf.get("namespaceSelector")
        if pods is None and nss is None:
            raise pf.error("podSelector", "a peer needs podSelector, namespaceSelector or ipBlock")
        out.append(
            Peer(
                _selector(pf, "podSelector", pods) if pods is not None else None,
                _selector(pf, "namespaceSelector", nss) if nss is not None else None,
            )
        )
    return tuple(out)


def _rules(f: Fields, path: str, peers_key: str) -> tuple[PolicyRule, ...]:
    return tuple(PolicyRule(i, _peers(rf, peers_key), _ports(rf, "ports")) for i, rf in enumerate(_items(f, path)))


def parse_network_policy(doc: Document, meta: Meta) -> NetworkPolicy:
    f = Fields(doc.body, meta.location)
    selector = _selector(f, "spec.podSelector", f.get("spec.podSelector"))
    ingress = _rules(f, "spec.ingress", "from")
    egress = _rules(f, "spec.egress", "to")
    types = f.strs("spec.policyTypes")
    for i, t in enumerate(types):
        if t not in ("Ingress", "Egress"):
            raise f.error(f"spec.policyTypes[{i}]", f"{t!r} is not Ingress or Egress")
    if types:
        has_ingress, has_egress = "Ingress" in types, "Egress" in types
    else:  # the API server's defaulting (SetDefaults_NetworkPolicy)
        has_ingress, has_egress = True, bool(egress)
    return NetworkPolicy(meta, selector, ingress, egress, has_ingress, has_egress)


_ACTIONS: dict[str, Action] = {"Allow": "Allow", "Deny": "Deny", "Pass": "Pass"}


def _admin_peer(pf: Fields, *, egress: bool) -> AdminPeer:
    given = [k for k in ("namespaces", "pods", "nodes", "networks") if pf.get(k) is not None]
    allowed = ("namespaces", "pods", "nodes", "networks") if egress else ("namespaces", "pods")
    if len(given) != 1 or given[0] not in allowed:
        raise pf.error(given[0] if given else "namespaces", f"exactly one of {', '.join(allowed)} is required")
    key = given[0]
    if key == "namespaces":
        return AdminPeer(namespaces=_selector(pf, "namespaces", pf.get("namespaces")))
    if key == "pods":
        return AdminPeer(
            pod_namespaces=_selector(pf, "pods.namespaceSelector", pf.get("pods.namespaceSelector")),
            pods=_selector(pf, "pods.podSelector", pf.get("pods.podSelector")),
        )
    if key == "nodes":
        return AdminPeer(nodes=_selector(pf, "nodes", pf.get("nodes")))
    nets = tuple(_network(pf, f"networks[{j}]", t) for j, t in enumerate(_strings(pf, "networks")))
    return AdminPeer(networks=nets)


def _admin_ports(f: Fields, path: str) -> tuple[PolicyPort, ...]:
    out: list[PolicyPort] = []
    for pf in _items(f, path):
        if pf.get("portNumber") is not None:
            out.append(PolicyPort((pf.str_("portNumber.protocol") or "TCP").upper(), pf.int_("portNumber.port")))
        elif pf.get("namedPort") is not None:
            out.append(PolicyPort("TCP", pf.str_("namedPort")))
        elif pf.get("portRange") is not None:
            proto = (pf.str_("portRange.protocol") or "TCP").upper()
            out.append(PolicyPort(proto, pf.int_("portRange.start"), pf.int_("portRange.end")))
        else:
            raise pf.error("portNumber", "one of portNumber, namedPort or portRange is required")
    return tuple(out)


def _admin_rules(f: Fields, path: str, peers_key: str, *, baseline: bool, egress: bool) -> tuple[AdminRule, ...]:
    out = []
    for i, rf in enumerate(_items(f, path)):
        action = _ACTIONS.get(rf.str_("action") or "")
        if action is None or (baseline and action == "Pass"):
            allowed = "Allow, Deny" if baseline else "Allow, Deny, Pass"
            raise rf.error("action", f"action must be one of {allowed}")
        peers = tuple(_admin_peer(pf, egress=egress) for pf in _items(rf, peers_key))
        if not peers:
            raise rf.error(peers_key, "at least one peer is required")
        out.append(AdminRule(i, rf.str_("name") or "", action, peers, _admin_ports(rf, "ports")))
    return tuple(out)


def parse_admin_policy(doc: Document, meta: Meta) -> AdminPolicy:
    f = Fields(doc.body, meta.location)
    baseline = meta.kind == "BaselineAdminNetworkPolicy"
    priority = 0
    if not baseline:
        value = f.int_("spec.priority")
        if value is None or not 0 <= value <= 1000:
            raise f.error("spec.priority", "an integer 0-1000 is required")
        priority = value
    subject_raw = f.get("spec.subject")
    if not isinstance(subject_raw, Mapping):
        raise f.error("spec.subject", "exactly one of namespaces or pods is required")
    subject = _admin_peer(Fields(subject_raw, f.location, "spec.subject"), egress=False)
    return AdminPolicy(
        meta,
        baseline,
        priority,
        subject,
        _admin_rules(f, "spec.ingress", "from", baseline=baseline, egress=False),
        _admin_rules(f, "spec.egress", "to", baseline=baseline, egress=True),
    )
