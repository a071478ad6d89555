"""NetworkPolicy as Kube-OVN enforces it on a pod's OVN ports: who may send, who may receive.

One evaluator for ``check`` (does a tenant's egress policy drop the API traffic through the bridge?)
and for the twin's verify (must this pod reach that one?), so both judge policies the same way —
the way ``pkg/controller/network_policy.go`` and ``pkg/ovs/ovn-nb-acl.go`` (v1.16.2) program them:

* a policy applies to a port when its ``podSelector`` selects the pod in the policy's namespace and
  the port's provider passes the policy's ``ovn.kubernetes.io/network_policy_for`` (honoured only
  from release-1.16; before, every OVN port of the pod — attachments included — is in the group);
* a port in the port group of any policy with the direction is isolated: drop 2000, and any allow
  2001 of any of those policies lets a connection through (the union, as Kubernetes defines it);
* egress ACLs are evaluated after the load balancer: the destination is the *backend* (the API
  server's endpoint, node-IP:6443), never the ClusterIP;
* an allow rule matches by its peers — none: everything; an ``ipBlock`` (``except`` inline); pod and
  namespace selectors: the addresses of the selected pods' interfaces whose provider passes the
  policy's ``network_policy_for`` — and by its ports, a named port resolved in the *policy's*
  namespace, first definition wins (``NamedPort.AddNamedPortByPod``).

``lax`` enforcement (TCP/UDP/SCTP only) is not modelled: the default, ``standard``, is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from apibridge.kubeovn import netpol, rules
from apibridge.kubeovn.dualstack import IPAddress
from apibridge.model.cluster import Cluster
from apibridge.model.networkpolicy import NetworkPolicy, Peer, PolicyRule
from apibridge.model.objects import PodLike
from apibridge.plan.settings import KUBEOVN_VERSION


@dataclass(frozen=True)
class Endpoint:
    """One end of a connection: an address, and the pod interface it belongs to when it is a pod's."""

    ip: IPAddress
    namespace: str | None = None
    labels: Mapping[str, str] | None = None
    provider: str = rules.OVN_PROVIDER


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    isolating: tuple[NetworkPolicy, ...] = ()  # the policies whose port group holds the port (this direction)
    allowed_by: tuple[NetworkPolicy, PolicyRule] | None = None

    @property
    def policies(self) -> str:
        return ", ".join(p.ref for p in self.isolating)


OPEN = Verdict(True)


@dataclass
class Policies:
    """The cluster's NetworkPolicies, indexed by namespace, judged for Kube-OVN ``version``."""

    cluster: Cluster
    version: str = KUBEOVN_VERSION
    _by_ns: dict[str, list[NetworkPolicy]] = field(default_factory=dict, init=False)
    _named: dict[str, dict[str, int]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for np in self.cluster.network_policies:
            self._by_ns.setdefault(np.namespace, []).append(np)
        for pod in self.cluster.pods:
            named = self._named.setdefault(pod.namespace, {})
            for port in pod.ports:
                if port.name:
                    named.setdefault(port.name, port.port)

    def named_ports(self) -> Mapping[str, Mapping[str, int]]:
        """namespace -> port name -> number (the first pod to declare a name wins, as in Kube-OVN)."""
        return self._named

    def __bool__(self) -> bool:
        return bool(self._by_ns)

    def providers(self, np: NetworkPolicy) -> frozenset[str] | None:
        if not netpol.honours_policy_for(self.version):
            return None
        return netpol.parse_policy_for(np.meta.annotations.get(netpol.NETWORK_POLICY_FOR))

    def selecting(self, namespace: str, labels: Mapping[str, str], provider: str) -> list[NetworkPolicy]:
        """The policies whose port group holds this pod's port of ``provider``."""
        return [
            np
            for np in self._by_ns.get(namespace, ())
            if np.pod_selector.matches(labels) and netpol.applies_to(provider, self.providers(np))
        ]

    def selecting_pod(self, pod: PodLike, provider: str) -> list[NetworkPolicy]:
        return self.selecting(pod.namespace, pod.labels, provider)

    def _peer_matches(self, np: NetworkPolicy, peer: Peer, other: Endpoint) -> bool:
        if peer.ip_block is not None:
            return peer.ip_block.contains(other.ip)
        if other.namespace is None or other.labels is None:
            return False  # not a pod: only ipBlocks (and rules without peers) name it
        if not netpol.applies_to(other.provider, self.providers(np)):
            return False
        if peer.namespace_selector is None:
            if other.namespace != np.namespace:
                return False
        elif not peer.namespace_selector.matches(self.cluster.namespace_labels(other.namespace)):
            return False
        return peer.pod_selector is None or peer.pod_selector.matches(other.labels)

    def rule_allows(self, np: NetworkPolicy, rule: PolicyRule, other: Endpoint, port: int, protocol: str) -> bool:
        if rule.peers and not any(self._peer_matches(np, p, other) for p in rule.peers):
            return False
        named = self._named.get(np.namespace, {})
        return not rule.ports or any(p.covers(port, protocol, named) for p in rule.ports)

    def _verdict(
        self, namespace: str, labels: Mapping[str, str], provider: str, other: Endpoint, port: int, protocol: str, *,
        egress: bool,
    ) -> Verdict:  # fmt: skip
        isolating = tuple(
            np for np in self.selecting(namespace, labels, provider) if (np.has_egress if egress else np.has_ingress)
        )
        if not isolating:
            return OPEN
        for np in isolating:
            for rule in np.egress if egress else np.ingress:
                if self.rule_allows(np, rule, other, port, protocol):
                    return Verdict(True, isolating, (np, rule))
        return Verdict(False, isolating)

    def egress(
        self, namespace: str, labels: Mapping[str, str], provider: str, dst: Endpoint, port: int, protocol: str = "TCP"
    ) -> Verdict:
        """May the pod's port of ``provider`` open a connection to ``dst`` (its backend address) on ``port``?"""
        return self._verdict(namespace, labels, provider, dst, port, protocol, egress=True)

    def ingress(
        self, namespace: str, labels: Mapping[str, str], provider: str, src: Endpoint, port: int, protocol: str = "TCP"
    ) -> Verdict:
        """May ``src`` open a connection to the pod's port of ``provider`` on ``port``?"""
        return self._verdict(namespace, labels, provider, src, port, protocol, egress=False)


def api_endpoints(cluster: Cluster) -> tuple[tuple[IPAddress, int], ...]:
    """The API server's backends, as the switch load balancer DNATs to them: ``default/kubernetes``'s
    endpoints, else the control-plane nodes' InternalIPs on 6443 (what kubeadm registers)."""
    out: list[tuple[IPAddress, int]] = []
    for eps in cluster.endpoints.get(rules.KUBERNETES_SERVICE, ()):
        ports = [p.port for p in eps.ports] or [rules.DEFAULT_APISERVER_PORT]
        out += [(ip, port) for ip in eps.addresses for port in ports]
    if not out:
        nodes = [n for n in cluster.nodes.values() if n.control_plane] or list(cluster.nodes.values())
        out = [(ip, rules.DEFAULT_APISERVER_PORT) for n in nodes for ip in n.internal_ips]
    return tuple(dict.fromkeys(out))


def allow_rule_yaml(endpoints: tuple[tuple[IPAddress, int], ...]) -> str:
    """The egress rule that lets a pod reach ``endpoints`` (one line of YAML flow style)."""
    ips = dict.fromkeys(ip for ip, _ in endpoints)
    cidrs = ", ".join(f"{{ipBlock: {{cidr: {ip}/{ip.max_prefixlen}}}}}" for ip in ips)
    ports = ", ".join(f"{{protocol: TCP, port: {p}}}" for p in dict.fromkeys(p for _, p in endpoints))
    return f"egress: [{{to: [{cidrs}], ports: [{ports}]}}]"
