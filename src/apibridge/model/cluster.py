"""The cluster as Kube-OVN sees it: indexed objects, defaults it would create, pod placement.

``Cluster.from_documents`` types every document, rejects what it cannot use (unknown kinds in
groups we model, duplicates) with an ``InputError`` naming the file, and fills in what Kube-OVN or
kubeadm/kind create on their own — the default VPC ``ovn-cluster``, the ``join`` and ``ovn-default``
subnets, the ``default/kubernetes`` Service — recording each as an ``Assumption`` so tools can say
what they assumed. Given an ``AssumedNode`` (the twin passes its own: it must realize the cluster on
some node) it also assumes that node when the input has none, and the API endpoints on the
control-plane nodes; the model itself knows no particular lab or node.

Pod placement follows ``getPodDefaultSubnet``: the pod's ``ovn.kubernetes.io/logical_switch``, then
the namespace's — as the input has it, else as ``handleAddNamespace`` computes it (``namespace_subnets``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from apibridge.base import kinds
from apibridge.base.errors import InputError, Location
from apibridge.kubeovn import dualstack, rules
from apibridge.kubeovn.dualstack import IPAddress, IPNetwork
from apibridge.model import objects as o
from apibridge.model.load import DEFAULT_LIMITS, Document, Limits, load_documents, no_gc
from apibridge.model.networkpolicy import AdminPolicy, NetworkPolicy, parse_admin_policy, parse_network_policy

# Kinds of well-known groups that we read past without modelling them (kept for `inject`).
PASSTHROUGH_KINDS = {
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "PersistentVolumeClaim",
    "PersistentVolume",
    "Ingress",
    "IngressClass",
    "LimitRange",
    "ResourceQuota",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "StorageClass",
    "PriorityClass",
    "CustomResourceDefinition",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "Event",
    "Lease",
    "ControllerRevision",
    "IP",
    "Vlan",
    "ProviderNetwork",
    "VpcNatGateway",
    "IptablesEIP",
    "OvnEip",
    "SecurityGroup",
    "VpcDns",
    "SwitchLBRule",
    "IPPool",
    "QoSPolicy",
    "VpcEgressGateway",
}
MODELLED_GROUPS = {
    "v1",
    "apps/v1",
    "batch/v1",
    "discovery.k8s.io/v1",
    rules.KUBEOVN_API,
    rules.NAD_API,
    rules.APIBRIDGE_API,
}

KUBE_SYSTEM = "kube-system"
IMPLIED = "(implied)"  # the source of an object the model implies (a pod's Namespace absent from the input)


@dataclass(frozen=True)
class AssumedNode:
    """The node to assume when the input has none: a control-plane node with one InternalIP."""

    name: str
    internal_ip: str
    why: str  # how the assumption reads, e.g. "one kind control-plane node"


def _group(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


@dataclass(frozen=True)
class Assumption:
    """Something not in the input that we took as Kube-OVN or kind would have it."""

    obj: str
    what: str
    whole: bool = True  # the object itself is assumed; False: only fields of an input object


def _assumed_meta(kind: str, name: str, namespace: str | None = None) -> o.Meta:
    ref = f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
    return o.Meta(kind, name, namespace, {}, {}, Location("(assumed)", None, ref))


_PARSERS: dict[str, Callable[[Document, o.Meta], Any]] = {
    "Node": o.parse_node,
    "Service": o.parse_service,
    "Endpoints": o.parse_endpoints,
    "EndpointSlice": o.parse_endpointslice,
    "Vpc": o.parse_vpc,
    "Subnet": o.parse_subnet,
    "NetworkAttachmentDefinition": o.parse_nad,
    "ApiBridge": o.parse_apibridge,
    "Namespace": lambda doc, meta: o.Namespace(meta),
    "NetworkPolicy": parse_network_policy,
    "AdminNetworkPolicy": parse_admin_policy,
    "BaselineAdminNetworkPolicy": parse_admin_policy,
    **{k: o.parse_podlike for k in ("Pod", *o.WORKLOAD_KINDS)},
}

# (apiVersion, kind) -> its parser, for the kinds the model reads: one lookup on the path every object takes
_READ = {(api, kind): _PARSERS[kind] for api, kind in o.KNOWN_KINDS}


@dataclass
class Cluster:
    documents: list[Document] = field(default_factory=list)
    nodes: dict[str, o.Node] = field(default_factory=dict)
    namespaces: dict[str, o.Namespace] = field(default_factory=dict)
    services: dict[tuple[str, str], o.Service] = field(default_factory=dict)
    endpoints: dict[tuple[str, str], list[o.Endpoints]] = field(default_factory=dict)
    pods: list[o.PodLike] = field(default_factory=list)
    vpcs: dict[str, o.Vpc] = field(default_factory=dict)
    subnets: dict[str, o.Subnet] = field(default_factory=dict)
    nads: dict[tuple[str, str], o.Nad] = field(default_factory=dict)
    bridges: dict[str, o.ApiBridge] = field(default_factory=dict)
    network_policies: list[NetworkPolicy] = field(default_factory=list)  # in input order
    admin_policies: list[AdminPolicy] = field(default_factory=list)  # ANPs and BANPs, in input order
    others: list[Document] = field(default_factory=list)
    assumptions: list[Assumption] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)  # files in a directory without any kind
    # Kinds listed completely from a live API server (``check --kubeconfig``): for these an object that is not
    # here does not exist (closed world). Every other kind, and everything read from files, is open world: an
    # object the input does not contain is unknown, not missing.
    listed: frozenset[str] = frozenset()
    _assumed: set[Assumption] = field(default_factory=set, repr=False)  # the same, for O(1) membership
    _shapes: o.Shapes = field(default_factory=dict, repr=False)  # pods' label/annotation maps, shared when equal
    _ns_subnet: dict[str, o.Subnet | None] = field(default_factory=dict, repr=False)
    _ns_listing: dict[str, list[o.Subnet]] | None = field(default=None, repr=False)
    _ns_vpcs: dict[str, list[o.Vpc]] | None = field(default=None, repr=False)  # namespace -> VPCs listing it
    _vpc_default: dict[str, o.Subnet] | None = field(default=None, repr=False)
    _selecting: list[o.Subnet] | None = field(default=None, repr=False)  # Subnets with namespaceSelectors

    def _invalidate(self) -> None:
        self._ns_subnet.clear()
        self._ns_listing = None
        self._ns_vpcs = None
        self._vpc_default = None
        self._selecting = None

    # ---- building ---------------------------------------------------------------------------------
    @classmethod
    def from_documents(cls, docs: Iterable[Document], *, assume_node: AssumedNode | None = None) -> Cluster:
        cluster = cls()
        seen: dict[tuple[str, str | None, str], Document] = {}
        with no_gc():
            for doc in docs:
                cluster.add_document(doc, seen)
            cluster.apply_defaults(assume_node=assume_node)
        return cluster

    @classmethod
    def tolerant(
        cls,
        docs: Iterable[Document],
        *,
        assume_node: AssumedNode | None = None,
    ) -> tuple[Cluster, list[tuple[Document, InputError]]]:
        """Like ``from_documents``, but an object the model refuses is left out and returned with its
        error instead of failing the whole cluster: what a controller needs when one bad object in the
        API server must not stop it serving the others."""
        cluster = cls()
        seen: dict[tuple[str, str | None, str], Document] = {}
        rejected: list[tuple[Document, InputError]] = []
        with no_gc():
            for doc in docs:
                try:
                    cluster.add_document(doc, seen)
                except InputError as exc:
                    rejected.append((doc, exc))
            cluster.apply_defaults(assume_node=assume_node)
        return cluster, rejected

    def add_document(self, doc: Document, seen: dict[tuple[str, str | None, str], Document] | None = None) -> None:
        kind = doc.body.get("kind")
        api = doc.body.get("apiVersion")
        if not isinstance(kind, str) or not isinstance(api, str):
            o.meta_of(doc)  # raises the precise error
            return
        parser = _READ.get((api, kind))
        if parser is None:
            if _ignored_memo(api, kind):  # the common case in a cluster export: ConfigMaps, Secrets, Events…
                self.others.append(doc)
                return
            served = next((a for a, k in o.KNOWN_KINDS if k == kind), None)
            if served is not None and _group(served) == _group(api):
                raise InputError(
                    f"apiVersion {api!r} is not served for kind {kind}",
                    doc.location(kind, "apiVersion"),
                    hint=f"use {served}",
                )
            if kind in PASSTHROUGH_KINDS or api not in MODELLED_GROUPS:
                self.others.append(doc)
                return
            if kind in _PARSERS:
                raise InputError(
                    f"apiVersion {api!r} is not served for kind {kind}",
                    doc.location(kind, "apiVersion"),
                    hint=f"use {next(a for a, k in o.KNOWN_KINDS if k == kind)}",
                )
            known = sorted(k for a, k in o.KNOWN_KINDS if a == api)
            raise InputError(
                f"unknown kind {kind!r} in {api}",
                doc.location(kind, "kind"),
                hint=f"known kinds in {api}: {', '.join(known)}" if known else None,
            )
        meta = o.meta_of(doc)
        key = (kind, meta.namespace, meta.name)
        if seen is not None:
            if key in seen:
                first = seen[key]
                raise InputError(f"defined twice (first in {first.location().where()})", meta.location)
            seen[key] = doc
        self.documents.append(doc)
        if parser is o.parse_podlike:  # most of a cluster dump: no placement cache depends on pods
            self.pods.append(parser(doc, meta, self._shapes))
            return
        obj = parser(doc, meta)
        self._index(obj)

    def _index(self, obj: Any) -> None:
        if isinstance(obj, o.Node):
            self.nodes[obj.meta.name] = obj
        elif isinstance(obj, o.Namespace):
            self.namespaces[obj.meta.name] = obj
        elif isinstance(obj, o.Service):
            self.services[(obj.meta.namespace or "default", obj.meta.name)] = obj
        elif isinstance(obj, o.Endpoints):
            self.endpoints.setdefault((obj.meta.namespace or "default", obj.service), []).append(obj)
        elif isinstance(obj, o.PodLike):
            self.pods.append(obj)
        elif isinstance(obj, o.Vpc):
            self.vpcs[obj.meta.name] = obj
        elif isinstance(obj, o.Subnet):
            self.subnets[obj.meta.name] = obj
        elif isinstance(obj, o.Nad):
            self.nads[(obj.meta.namespace or "default", obj.meta.name)] = obj
        elif isinstance(obj, o.ApiBridge):
            self.bridges[obj.meta.name] = obj
        elif isinstance(obj, NetworkPolicy):
            self.network_policies.append(obj)
        elif isinstance(obj, AdminPolicy):
            self.admin_policies.append(obj)
        self._invalidate()

    def _assume(self, obj: str, what: str, *, whole: bool = True) -> None:
        assumption = Assumption(obj, what, whole)
        if assumption not in self._assumed:  # a set: a list scan made 10,000 defaulted subnets quadratic
            self._assumed.add(assumption)
            self.assumptions.append(assumption)

    def apply_defaults(self, *, assume_node: AssumedNode | None = None) -> None:
        """Add what Kube-OVN (and, for the twin, kind) would have created, recording each assumption."""
        if rules.DEFAULT_VPC not in self.vpcs:
            self.vpcs[rules.DEFAULT_VPC] = o.Vpc(_assumed_meta("Vpc", rules.DEFAULT_VPC), (), None, assumed=True)
            self._assume(f"Vpc/{rules.DEFAULT_VPC}", "the default VPC, created by kube-ovn-controller")
        # Kube-OVN's dual-stack install defaults when the API Service is dual-stack (install.sh).
        api = self.services.get(rules.KUBERNETES_SERVICE)
        # IPv6 only: install.sh's IPv6 branch defaults fd00:100:64::/112 and fd00:10:16::/112 (v1.16.2)
        families = {ip.version for ip in api.cluster_ips} if api is not None else set()
        dual, v6 = families == {4, 6}, families == {6}
        join_cidr = f"{rules.JOIN_CIDR},{rules.JOIN_CIDR_V6}" if dual else rules.JOIN_CIDR_V6 if v6 else rules.JOIN_CIDR
        default_cidr = (
            f"{rules.DEFAULT_CIDR},{rules.DEFAULT_CIDR_V6}"
            if dual
            else rules.DEFAULT_CIDR_V6
            if v6
            else rules.DEFAULT_CIDR
        )
        if rules.JOIN_SUBNET not in self.subnets:
            self.subnets[rules.JOIN_SUBNET] = _default_subnet(rules.JOIN_SUBNET, join_cidr)
            self._assume(f"Subnet/{rules.JOIN_SUBNET}", f"node switch {join_cidr} (--node-switch-cidr)")
        if self.default_subnet() is None:
            self.subnets[rules.DEFAULT_SUBNET] = _default_subnet(rules.DEFAULT_SUBNET, default_cidr, default=True)
            self._assume(f"Subnet/{rules.DEFAULT_SUBNET}", f"default subnet {default_cidr} (--default-cidr)")
        if assume_node is not None and not self.nodes:
            name, node_ip = assume_node.name, assume_node.internal_ip
            meta = o.Meta(
                "Node",
                name,
                None,
                {rules.CONTROL_PLANE_LABELS[0]: ""},
                {},
                Location("(assumed)", None, f"Node/{name}"),
            )
            self.nodes[name] = o.Node(meta, (ipaddress.ip_address(node_ip),), True)
            self._assume(f"Node/{name}", f"{assume_node.why}, InternalIP {node_ip}")
        if rules.KUBERNETES_SERVICE not in self.services:
            ns, name = rules.KUBERNETES_SERVICE
            ip = ipaddress.ip_address(rules.DEFAULT_API_CLUSTER_IP)
            self.services[rules.KUBERNETES_SERVICE] = o.Service(
                _assumed_meta("Service", name, ns),
                (ip,),
                (o.ServicePort(rules.DEFAULT_API_PORT, "TCP", "https"),),
                None,
            )
            self._assume(f"Service/{ns}/{name}", f"ClusterIP {ip} port {rules.DEFAULT_API_PORT} (kubeadm default)")
        if assume_node is not None and rules.KUBERNETES_SERVICE not in self.endpoints:
            cps = [n for n in self.nodes.values() if n.control_plane] or list(self.nodes.values())[:1]
            addrs = tuple(ip for n in cps for ip in n.internal_ips)
            ns, name = rules.KUBERNETES_SERVICE
            api_ports = self.services[rules.KUBERNETES_SERVICE].ports
            api_port_name = api_ports[0].name if api_ports else "https"
            self.endpoints[rules.KUBERNETES_SERVICE] = [
                o.Endpoints(
                    _assumed_meta("Endpoints", name, ns),
                    name,
                    addrs,
                    # named as the Service's port: Kube-OVN pairs Service and endpoint ports by name
                    (o.EndpointPort(rules.DEFAULT_APISERVER_PORT, "TCP", api_port_name),),
                )
            ]
            shown = ", ".join(str(a) for a in addrs)
            self._assume(f"Endpoints/{ns}/{name}", f"control-plane node addresses {shown} port 6443")
        for subnet in sorted(self.subnets.values(), key=lambda s: s.name):
            if subnet.assumed_fields and not subnet.assumed:
                self._assume(
                    subnet.meta.ref,
                    "Kube-OVN fills in " + ", ".join(f"{f}: {_field_value(subnet, f)}" for f in subnet.assumed_fields),
                    whole=False,
                )
        for pod in self.pods:
            if pod.namespace not in self.namespaces:
                meta = o.Meta(
                    "Namespace",
                    pod.namespace,
                    None,
                    {rules.NAMESPACE_NAME_LABEL: pod.namespace},
                    {},
                    Location(IMPLIED, None, f"Namespace/{pod.namespace}"),
                )
                self.namespaces[pod.namespace] = o.Namespace(meta)
        self._invalidate()

    def api_service_assumed(self) -> bool:
        """The input has no ``default/kubernetes`` Service: its ClusterIP is a guess."""
        svc = self.services.get(rules.KUBERNETES_SERVICE)
        return svc is None or svc.meta.location.source == "(assumed)"

    def assume_api_service_in(self, service_cidrs: Iterable[IPNetwork]) -> bool:
        """Without the ``kubernetes`` Service in the input: take the first address of each family's service CIDR,
        as kube-apiserver gives it (``GetIndexedIP(serviceCIDR, 1)`` in pkg/controlplane/services.go). False
        when the input has the Service, or no CIDR is given (the kubeadm default stays, as an assumption)."""
        nets = list(service_cidrs)
        if not self.api_service_assumed() or not nets:
            return False
        firsts: dict[int, IPAddress] = {}
        for net in nets:
            firsts.setdefault(net.version, net.network_address + 1)
        cidrs = ",".join(str(n) for n in nets)
        self.assume_api_service(tuple(firsts[v] for v in sorted(firsts)), f"first address of --service-cidr {cidrs}")
        return True

    def assume_api_service(self, ips: tuple[IPAddress, ...], why: str) -> None:
        """Take ``ips`` as the ``kubernetes`` Service's ClusterIPs (the input has no Service), saying why."""
        ns, name = rules.KUBERNETES_SERVICE
        ref = f"Service/{ns}/{name}"
        self.services[rules.KUBERNETES_SERVICE] = o.Service(
            _assumed_meta("Service", name, ns),
            ips,
            (o.ServicePort(rules.DEFAULT_API_PORT, "TCP", "https"),),
            None,
        )
        shown = ",".join(str(ip) for ip in ips)
        kept = [a for a in self.assumptions if a.obj != ref]
        self.assumptions[:] = [*kept, Assumption(ref, f"ClusterIP {shown} port {rules.DEFAULT_API_PORT} ({why})")]
        self._assumed = set(self.assumptions)

    # ---- questions Kube-OVN answers -----------------------------------------------------------------
    def default_subnet(self) -> o.Subnet | None:
        for s in self.subnets.values():
            if s.default and s.vpc == rules.DEFAULT_VPC:
                return s
        return self.subnets.get(rules.DEFAULT_SUBNET)

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        ns = self.namespaces.get(namespace)
        labels = dict(ns.meta.labels) if ns else {}
        labels.setdefault(rules.NAMESPACE_NAME_LABEL, namespace)
        return labels

    def namespace_subnet(self, namespace: str) -> o.Subnet | None:
        """The subnet a namespace's pods land in by default: the first of ``namespace_subnets``
        (``getPodDefaultSubnet`` takes the first with free addresses)."""
        if namespace in self._ns_subnet:
            return self._ns_subnet[namespace]
        subnets = self.namespace_subnets(namespace)
        result = subnets[0] if subnets else None
        self._ns_subnet[namespace] = result
        return result

    def namespace_subnets(self, namespace: str) -> list[o.Subnet]:
        """The namespace's ``ovn.kubernetes.io/logical_switch`` list as kube-ovn-controller computes it.

        An annotation in the input (what Kube-OVN wrote on an exported namespace) is taken as it is.
        Otherwise kube-ovn v1.16.2 ``pkg/controller/namespace.go handleAddNamespace``: every Subnet whose
        ``spec.namespaces`` lists the namespace or one of whose ``namespaceSelectors`` selects its labels; the
        ``defaultSubnet`` of a custom VPC whose ``spec.namespaces`` lists it goes first (never for
        kube-system); with none of these, the default subnet of a VPC listing it (``status.defaultLogicalSwitch``,
        ``getVpcSubnets``), else ``--default-ls``. Subnets are taken in name order (the Go lister's order is
        unspecified).
        """
        ns = self.namespaces.get(namespace)
        annotated = ns.meta.annotations.get(rules.PRIMARY_LOGICAL_SWITCH_ANNOTATION) if ns else None
        if annotated:
            named = [self.subnets.get(part.strip()) for part in annotated.split(",")]
            if named and named[0] is not None:
                return [s for s in named if s is not None]
        chosen = {s.name: s for s in self._listing().get(namespace, [])}
        if self._selecting is None:
            self._selecting = sorted((s for s in self.subnets.values() if s.namespace_selectors), key=lambda s: s.name)
        if self._selecting:
            labels = self.namespace_labels(namespace)
            for s in self._selecting:
                if any(sel.matches(labels) for sel in s.namespace_selectors):
                    chosen.setdefault(s.name, s)
        out = [chosen[name] for name in sorted(chosen)]
        listing_vpcs = self._vpc_listing().get(namespace, [])
        if namespace != KUBE_SYSTEM:
            for v in listing_vpcs:
                first = self.subnets.get(v.default_subnet) if v.default_subnet else None
                if v.meta.name != rules.DEFAULT_VPC and first is not None and first.vpc == v.meta.name:
                    out.insert(0, first)
        if out:
            return out
        for v in listing_vpcs:
            default = self.vpc_default_subnet(v.meta.name)
            if default is not None:
                return [default]
        default = self.default_subnet()
        return [default] if default is not None else []

    def _listing(self) -> dict[str, list[o.Subnet]]:
        """namespace -> Subnets whose ``spec.namespaces`` list it, by name (built once per change)."""
        if self._ns_listing is None:
            listing: dict[str, list[o.Subnet]] = {}
            for s in sorted(self.subnets.values(), key=lambda s: s.name):
                for ns in s.namespaces:
                    listing.setdefault(ns, []).append(s)
            self._ns_listing = listing
        return self._ns_listing

    def _vpc_listing(self) -> dict[str, list[o.Vpc]]:
        """namespace -> VPCs whose ``spec.namespaces`` list it, by name (built once per change: a scan of every
        VPC per namespace made 1,000 VPCs quadratic)."""
        if self._ns_vpcs is None:
            listing: dict[str, list[o.Vpc]] = {}
            for v in sorted(self.vpcs.values(), key=lambda v: v.meta.name):
                for ns in dict.fromkeys(v.namespaces):
                    listing.setdefault(ns, []).append(v)
            self._ns_vpcs = listing
        return self._ns_vpcs

    def vpc_default_subnet(self, vpc: str) -> o.Subnet | None:
        """``Vpc.spec.defaultSubnet``, else the VPC's subnet marked ``default: true`` (vpc.go getVpcSubnets)."""
        v = self.vpcs.get(vpc)
        named = self.subnets.get(v.default_subnet) if v and v.default_subnet else None
        if named is not None and named.vpc == vpc and named.is_ovn:
            return named
        if self._vpc_default is None:
            self._vpc_default = {}
            for s in sorted(self.subnets.values(), key=lambda s: s.name):
                if s.default and s.is_ovn:
                    self._vpc_default.setdefault(s.vpc, s)
        return self._vpc_default.get(vpc)

    def pod_subnet(self, pod: o.PodLike) -> o.Subnet | None:
        """The subnet of the pod's primary interface (``getPodDefaultSubnet``)."""
        annotated = pod.annotations.get(rules.PRIMARY_LOGICAL_SWITCH_ANNOTATION)
        if annotated:
            return self.subnets.get(annotated)
        return self.namespace_subnet(pod.namespace)

    def pod_vpc(self, pod: o.PodLike) -> str | None:
        subnet = self.pod_subnet(pod)
        return subnet.vpc if subnet else None

    def vpc_namespaces(self, vpc: str) -> set[str]:
        """Namespaces whose pods land in ``vpc`` by default."""
        names = set(self.namespaces)
        for s in self.subnets.values():
            names.update(s.namespaces)
        for v in self.vpcs.values():
            names.update(v.namespaces)
        return {n for n in names if (sub := self.namespace_subnet(n)) is not None and sub.vpc == vpc}

    def service(self, namespace: str, name: str) -> o.Service | None:
        return self.services.get((namespace, name))

    def service_endpoints(self, namespace: str, name: str) -> list[o.Endpoints]:
        """The endpoints Kube-OVN programs for a Service: its EndpointSlices when the input has any.

        kube-ovn v1.16.2 ``pkg/controller/endpoint_slice.go handleUpdateEndpointSlice`` lists EndpointSlices by
        ``kubernetes.io/service-name`` and never reads Endpoints; an export holding both (``kubectl get
        ep,endpointslices``) would otherwise count every backend twice. Endpoints alone (an older export)
        stand for the slices kube-controller-manager's EndpointSliceMirroring controller makes of them.
        """
        found = self.endpoints.get((namespace, name), [])
        slices = [e for e in found if e.meta.kind == "EndpointSlice"]
        return slices or found

    def service_backed(self, namespace: str, name: str) -> bool | None:
        """Does the Service have a backend for Kube-OVN's load balancer to DNAT to?

        True: its endpoints list a ready address, or (none in the input) a pod or pod template its selector
        picks; False: its endpoints list none ready (``parse_endpointslice`` drops not-ready ones, as the
        load balancer never gets them), or the cluster's EndpointSlices were listed and it has none;
        None: the input says nothing either way (no endpoints, no pod the selector picks: unknown).
        """
        found = self.service_endpoints(namespace, name)
        if found:
            return any(e.addresses for e in found)
        svc = self.service(namespace, name)
        if svc is not None and any(svc.selects(p.namespace, p.labels) for p in self.pods):
            return True
        return False if kinds.ENDPOINTSLICE.kind in self.listed else None

    def api_cluster_ips(self) -> tuple[IPAddress, ...]:
        svc = self.services.get(rules.KUBERNETES_SERVICE)
        return svc.cluster_ips if svc else ()

    def api_endpoints_off_nodes(self) -> tuple[IPAddress, ...]:
        """API endpoints that are no node's InternalIP (an external load balancer, a VIP).

        Only node InternalIPs get the 30000 reroute to their node (kube-ovn v1.16.2 pkg/controller/init.go,
        ``util.NodeRouterPolicyPriority``, ``ip4.dst == <node ip>``); any other endpoint leaves by the 29000
        reroute to the node's ``ovn0`` and the host, which masquerades only ``natOutgoing`` subnets
        (pkg/daemon/gateway_linux.go, ``-m set --match-set ovn40subnets-nat src ... -j OVN-MASQUERADE``):
        without it the reply never comes back.
        """
        nodes = {ip for _, ip in self.node_ips()}
        found = [a for ep in self.service_endpoints(*rules.KUBERNETES_SERVICE) for a in ep.addresses]
        return tuple(dict.fromkeys(a for a in found if a not in nodes))

    def node_ips(self) -> list[tuple[str, IPAddress]]:
        return [(n.meta.name, ip) for n in self.nodes.values() for ip in n.internal_ips]

    def absent(self, kind: str) -> str:
        """How a finding says an object of ``kind`` is not here: missing when listed, else unknown."""
        return "does not exist in the cluster" if kind in self.listed else "is not in the input"

    def nad(self, namespace: str, name: str) -> o.Nad | None:
        return self.nads.get((namespace, name))

    def subnets_by_provider(self, provider: str) -> list[o.Subnet]:
        wanted = rules.subnet_provider(provider)
        return [s for s in self.subnets.values() if s.provider == wanted]


def _field_value(subnet: o.Subnet, path: str) -> str:
    """The defaulted value of a Subnet spec field, as Kube-OVN's formatSubnet writes it."""
    # only the asked field is formatted: 10,000 Subnets with defaulted fields are described on every load
    if path == "spec.gateway":
        return ",".join(str(g) for g in subnet.gateways)
    values = {
        "spec.provider": subnet.provider,
        "spec.vpc": subnet.vpc,
        "spec.protocol": subnet.protocol,
        "spec.gatewayType": subnet.gateway_type,
        "spec.enableLb": "true" if subnet.enable_lb else "false",
        "spec.default": "true" if subnet.default else "false",
    }
    return values.get(path, "?")


def _default_subnet(name: str, cidr: str, *, default: bool = False) -> o.Subnet:
    nets = tuple(dualstack.parse_cidrs(cidr))
    return o.Subnet(
        meta=_assumed_meta("Subnet", name),
        vpc=rules.DEFAULT_VPC,
        cidrs=nets,
        gateways=tuple(dualstack.default_gateway(n) for n in nets),
        provider=rules.OVN_PROVIDER,
        protocol=dualstack.protocol_of(list(nets)),
        namespaces=(),
        exclude_ips=(),
        gateway_type=rules.DEFAULT_GATEWAY_TYPE,
        private=False,
        allow_subnets=(),
        acls=(),
        enable_lb=name != rules.JOIN_SUBNET,
        nat_outgoing=name != rules.JOIN_SUBNET,
        default=default,
        vlan="",
        raw_cidr=cidr,
        raw_gateway=None,
        assumed=True,
    )


def ignored(api: str, kind: str) -> bool:
    """Does ``Cluster.add_document`` put an object of this apiVersion and kind in ``others`` without reading
    more of it than these two fields? (The loader may then skim its body: ``model.skim``.)"""
    if (api, kind) in o.KNOWN_KINDS:
        return False
    served = next((a for a, k in o.KNOWN_KINDS if k == kind), None)
    if served is not None and _group(served) == _group(api):
        return False  # an error: built, so that it is reported as before
    return kind in PASSTHROUGH_KINDS or api not in MODELLED_GROUPS


def unread(api: str, kind: str) -> tuple[str, ...]:
    """The subtrees of an object of this apiVersion and kind that the model never reads, so that the loader may
    leave them unbuilt (``model.skim``): ``metadata.managedFields`` of every kind it reads, and ``status`` of
    those whose status it does not read (``objects.STATUS_READ``). A ``kubectl get -o yaml`` export is mostly
    these: they made a 50 MB export of Deployments and Pods take 17 s to load."""
    if (api, kind) not in o.KNOWN_KINDS:
        return ()
    return UNREAD_META if kind in o.STATUS_READ else UNREAD_META_AND_STATUS


UNREAD_META = ("metadata.managedFields",)
UNREAD_META_AND_STATUS = ("metadata.managedFields", "status")

_IGNORED: dict[tuple[str, str], bool] = {}


def _ignored_memo(api: str, kind: str) -> bool:
    key = (api, kind)
    hit = _IGNORED.get(key)
    if hit is None:
        if len(_IGNORED) > 4096:  # a file may name any number of kinds: keep the memo bounded
            _IGNORED.clear()
        hit = _IGNORED[key] = ignored(api, kind)
    return hit


def load_cluster(
    paths: Iterable[str], *, assume_node: AssumedNode | None = None, limits: Limits = DEFAULT_LIMITS
) -> Cluster:
    """Load manifests from ``paths`` into a ``Cluster`` (errors are ``InputError``). Objects the model
    ignores are read as far as ``ignored`` needs (their bodies are checked for YAML syntax and the limits)."""
    skipped: list[str] = []
    docs = load_documents(paths, limits, skipped, skip=_ignored_memo, unread=unread)
    cluster = Cluster.from_documents(docs, assume_node=assume_node)
    cluster.skipped_files = skipped
    return cluster
