"""Typed objects for the kinds apibridge reads, built from manifests with Kube-OVN's defaulting.

Each object keeps its original body (``raw``) so that ``inject`` can print the input back with
only our mutation applied, and its ``Location`` so that findings and errors name the file. Subnet
defaults follow ``formatSubnet`` in kube-ovn-controller: CIDR normalised, gateway = first address,
provider ``ovn``, ``vpc: ovn-cluster`` for OVN providers, gatewayType ``distributed``, enableLb
true. Every defaulted field is recorded in ``Subnet.assumed`` so the tools can say what they
assumed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from apibridge.base.errors import InputError, Location
from apibridge.base.frozen import fast_init
from apibridge.kubeovn import dualstack, nadconf, rules
from apibridge.kubeovn.dualstack import IPAddress, IPNetwork
from apibridge.model import crdschema
from apibridge.model.fields import Fields
from apibridge.model.load import Document
from apibridge.model.selectors import LabelSelector, SelectorError


@fast_init
@dataclass(frozen=True)
class Meta:
    kind: str
    name: str
    namespace: str | None
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    location: Location
    uid: str | None = None

    @property
    def ref(self) -> str:
        """``Kind/namespace/name``, or ``Kind/name`` for cluster-scoped objects."""
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Node:
    meta: Meta
    internal_ips: tuple[IPAddress, ...]
    control_plane: bool


@dataclass(frozen=True)
class Namespace:
    meta: Meta


@dataclass(frozen=True)
class ServicePort:
    port: int
    protocol: str  # TCP, UDP, SCTP
    name: str = ""
    target_port: int | str | None = None


@dataclass(frozen=True)
class Service:
    meta: Meta
    cluster_ips: tuple[IPAddress, ...]
    ports: tuple[ServicePort, ...]
    selector: Mapping[str, str] | None
    session_affinity: bool = False  # spec.sessionAffinity: ClientIP (Kube-OVN: the *-session-* load balancers)

    def selects(self, namespace: str, labels: Mapping[str, str]) -> bool:
        """Would the EndpointSlice controller make a pod with these labels a backend? Only in the Service's
        own namespace, and never for a Service without a selector (its endpoints are written by hand)."""
        return (
            bool(self.selector)
            and namespace == self.meta.namespace
            and all(labels.get(k) == v for k, v in (self.selector or {}).items())
        )


@dataclass(frozen=True)
class EndpointPort:
    port: int
    protocol: str
    name: str = ""


@dataclass(frozen=True)
class Endpoints:
    """Backends of a Service, from ``Endpoints`` or ``EndpointSlice`` (both normalised to this)."""

    meta: Meta
    service: str  # the Service's name (same namespace)
    addresses: tuple[IPAddress, ...]
    ports: tuple[EndpointPort, ...]


@dataclass(frozen=True)
class ContainerPort:
    port: int
    protocol: str
    name: str = ""  # a NetworkPolicy may name it (``ports: [{port: https}]``)


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


@fast_init
@dataclass(frozen=True)
class PodLike:
    """A Pod, or the pod template of a workload: what a bridge selects and the webhook mutates.

    ``labels``/``annotations`` are the *pod's* (the template's for workloads); ``meta`` is the owning
    object's. ``template_path`` locates the pod template inside ``raw``.
    """

    meta: Meta
    namespace: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    node_name: str | None
    ports: tuple[ContainerPort, ...]
    template_path: tuple[str, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def is_template(self) -> bool:
        return bool(self.template_path)

    @property
    def pod_name(self) -> str:
        return self.meta.name

    @property
    def status_ips(self) -> tuple[IPAddress, ...]:
        """A Pod's ``status.podIPs`` (else ``status.podIP``) as exported; unreadable entries are skipped."""
        if self.meta.kind != "Pod":
            return ()
        status = self.raw.get("status")
        if not isinstance(status, Mapping):
            return ()
        listed = status.get("podIPs")
        texts = [e.get("ip") for e in listed[:2] if isinstance(e, Mapping)] if isinstance(listed, list) else []
        if not texts:
            texts = [status.get("podIP")]
        out: list[IPAddress] = []
        for text in texts:
            if isinstance(text, str):
                try:
                    out.append(ipaddress.ip_address(text))
                except ValueError:
                    continue
        return tuple(out)


@dataclass(frozen=True)
class Vpc:
    meta: Meta
    namespaces: tuple[str, ...]
    default_subnet: str | None
    static_routes: tuple[Mapping[str, Any], ...] = ()
    policy_routes: tuple[Mapping[str, Any], ...] = ()
    assumed: bool = False  # not in the input: Kube-OVN creates it (the default VPC)


@dataclass(frozen=True)
class Acl:
    direction: str
    priority: int
    match: str
    action: str


@fast_init
@dataclass(frozen=True)
class Subnet:
    meta: Meta
    vpc: str
    cidrs: tuple[IPNetwork, ...]
    gateways: tuple[IPAddress, ...]
    provider: str
    protocol: str
    namespaces: tuple[str, ...]
    exclude_ips: tuple[str, ...]
    gateway_type: str
    private: bool
    allow_subnets: tuple[str, ...]
    acls: tuple[Acl, ...]
    enable_lb: bool
    nat_outgoing: bool
    default: bool
    vlan: str
    raw_cidr: str
    raw_gateway: str | None
    assumed_fields: tuple[str, ...] = ()  # spec fields filled by Kube-OVN's defaulting
    assumed: bool = False  # the whole object is a Kube-OVN default (join, ovn-default)
    namespace_selectors: tuple[LabelSelector, ...] = ()  # spec.namespaceSelectors (``{}`` selects every one)
    in_use: bool = False  # a live Subnet's status says Kube-OVN gave out addresses on it (``rules.subnet_usage``)

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def is_ovn(self) -> bool:
        return rules.is_ovn_provider(self.provider)

    def cidr(self, family: int) -> IPNetwork | None:
        return next((c for c in self.cidrs if c.version == family), None)

    def gateway(self, family: int) -> IPAddress | None:
        return next((g for g in self.gateways if g.version == family), None)

    @property
    def on_host_path(self) -> bool:
        """In kube-ovn-cni's ``ovn40subnets``/``ovn60subnets`` host sets: a default-VPC overlay subnet
        (kube-ovn v1.16.2 pkg/daemon/gateway.go ``getDefaultVpcSubnetsCIDR``; ``logicalGateway`` is not
        modelled, so a VLAN subnet is never in it)."""
        return self.vpc == rules.DEFAULT_VPC and not self.vlan and bool(self.cidrs)

    @property
    def host_masquerades(self) -> bool:
        """The node's host masquerades this subnet's traffic to addresses outside the host sets
        (``ovn40subnets-nat``; kube-ovn v1.16.2 pkg/daemon/gateway.go ``isSubnetNeedNat``)."""
        return self.nat_outgoing and self.on_host_path


@dataclass(frozen=True)
class Nad:
    meta: Meta
    config: nadconf.NadConfig | None
    config_error: str | None

    @property
    def derived_provider(self) -> str | None:
        if self.config is None:
            return None
        return self.config.derived_provider(self.meta.name, self.meta.namespace or "default")


@dataclass(frozen=True)
class ExtraDestination:
    cidr: IPNetwork
    ports: tuple[ServicePort, ...]  # empty: every port


Isolation = Literal["strict", "open"]
Rollout = Literal["none", "restart"]


@dataclass(frozen=True)
class ApiBridge:
    """Our intent: give the pods of one custom VPC the API server (and maybe DNS) through an attachment."""

    meta: Meta
    vpc: str
    namespace_selector: LabelSelector | None  # None: the VPC's namespaces
    pod_selector: LabelSelector
    cidr_block: str  # "auto" or one CIDR per family, comma-joined
    apiserver: bool
    dns: bool
    extra: tuple[ExtraDestination, ...]
    isolation: Isolation
    nad_namespace: str
    rollout: Rollout
    generation: int = 1
    on_the_fly: bool = False  # made from --vpc, not from the input

    @property
    def name(self) -> str:
        return self.meta.name


KNOWN_KINDS = {
    ("v1", "Node"),
    ("v1", "Namespace"),
    ("v1", "Service"),
    ("v1", "Endpoints"),
    ("v1", "Pod"),
    ("discovery.k8s.io/v1", "EndpointSlice"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "ReplicaSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    (rules.KUBEOVN_API, "Vpc"),
    (rules.KUBEOVN_API, "Subnet"),
    (rules.NAD_API, "NetworkAttachmentDefinition"),
    (rules.APIBRIDGE_API, "ApiBridge"),
    (rules.NETWORKING_API, "NetworkPolicy"),
    (rules.ANP_API, "AdminNetworkPolicy"),
    (rules.ANP_API, "BaselineAdminNetworkPolicy"),
}
# The kinds whose ``status`` the model reads: a Node's addresses (``parse_node``), a Pod's podIPs
# (``PodLike.status_ips``). Of every other kind the loader may leave ``status`` unbuilt (``cluster.unread``).
STATUS_READ = frozenset({"Node", "Pod"})
NAMESPACED = {
    "Service",
    "Endpoints",
    "Pod",
    "EndpointSlice",
    "NetworkAttachmentDefinition",
    "NetworkPolicy",
    *WORKLOAD_KINDS,
}


def _str_map_or_none(value: Any) -> dict[str, str] | None:
    """``value`` when it is a plain map of strings (the common case, shared read-only), else ``None``."""
    if value is None:
        return {}
    if type(value) is dict:
        for item in value.values():
            if type(item) is not str:
                return None
        return value
    return None


def meta_of(doc: Document) -> Meta:
    body = doc.body
    kind, api, md = body.get("kind"), body.get("apiVersion"), body.get("metadata")
    if type(kind) is str and kind and type(api) is str and api and type(md) is dict:  # the common case, fast
        name, namespace = md.get("name"), md.get("namespace")
        labels, annotations = _str_map_or_none(md.get("labels")), _str_map_or_none(md.get("annotations"))
        if (
            type(name) is str
            and name
            and (namespace is None or type(namespace) is str)
            and labels is not None
            and annotations is not None
        ):
            if kind in NAMESPACED:
                namespace = namespace or "default"
                ref = f"{kind}/{namespace}/{name}"
            else:
                namespace, ref = None, f"{kind}/{name}"
            uid = md.get("uid")
            location = doc.location(ref)
            return Meta(kind, name, namespace, labels, annotations, location, uid if type(uid) is str else None)
    return _meta_checked(doc)


def _meta_checked(doc: Document) -> Meta:
    body = doc.body
    kind = body.get("kind")
    api = body.get("apiVersion")
    if not isinstance(kind, str) or not kind:
        raise InputError("object has no kind", doc.location(field="kind"))
    if not isinstance(api, str) or not api:
        raise InputError("object has no apiVersion", doc.location(kind, "apiVersion"))
    md = body.get("metadata")
    if not isinstance(md, Mapping):
        raise InputError("object has no metadata", doc.location(kind, "metadata"))
    name = md.get("name")
    if not isinstance(name, str) or not name:
        raise InputError("object has no metadata.name", doc.location(kind, "metadata.name"))
    namespace = md.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise InputError("metadata.namespace must be a string", doc.location(kind, "metadata.namespace"))
    namespace = (namespace or "default") if kind in NAMESPACED else None
    ref = f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
    location = doc.location(ref)
    labels = _str_map_or_none(md.get("labels"))
    annotations = _str_map_or_none(md.get("annotations"))
    if labels is None or annotations is None:  # not a plain map of strings: the precise error
        f = Fields(body, location)
        labels, annotations = f.str_map("metadata.labels"), f.str_map("metadata.annotations")
    uid = md.get("uid")
    return Meta(kind, name, namespace, labels, annotations, location, uid if isinstance(uid, str) else None)


def _fields(doc: Document, meta: Meta) -> Fields:
    return Fields(doc.body, meta.location)


def _ip(f: Fields, path: str, value: str) -> IPAddress:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise f.error(path, f"{value!r} is not a valid IP address") from None


def parse_node(doc: Document, meta: Meta) -> Node:
    f = _fields(doc, meta)
    ips: list[IPAddress] = []
    for i, addr in enumerate(f.list_("status.addresses")):
        if isinstance(addr, Mapping) and addr.get("type") == "InternalIP":
            ips.append(_ip(f, f"status.addresses[{i}].address", str(addr.get("address", ""))))
    cp = any(k in meta.labels for k in rules.CONTROL_PLANE_LABELS)
    return Node(meta, tuple(ips), cp)


def _protocol(f: Fields, path: str) -> str:
    proto = (f.str_(path) or "TCP").upper()
    if proto not in ("TCP", "UDP", "SCTP"):
        raise f.error(path, f"protocol {proto!r} is not TCP, UDP or SCTP")
    return proto


def _port(f: Fields, path: str) -> int:
    port = f.int_(path)
    if port is None or not 0 < port < 65536:
        raise f.error(path, f"expected a port number 1-65535, got {f.get(path)!r}")
    return port


def parse_service(doc: Document, meta: Meta) -> Service:
    f = _fields(doc, meta)
    raw_ips = f.strs("spec.clusterIPs") or ([f.str_("spec.clusterIP") or ""] if f.get("spec.clusterIP") else [])
    ip_field = "spec.clusterIPs" if f.get("spec.clusterIPs") else "spec.clusterIP"
    ips = tuple(_ip(f, ip_field, ip) for ip in raw_ips if ip and ip != "None")
    ports = []
    for i, entry in enumerate(f.list_("spec.ports")):
        p = f"spec.ports[{i}]"
        if not isinstance(entry, Mapping):
            raise f.error(p, "expected a mapping")
        sub = Fields(entry, meta.location, p)
        port = sub.int_("port")
        if port is None or not 0 < port < 65536:
            raise f.error(f"{p}.port", f"expected a port number 1-65535, got {entry.get('port')!r}")
        target = entry.get("targetPort")
        ports.append(
            ServicePort(
                port,
                _protocol(sub, "protocol"),
                str(entry.get("name") or ""),
                target if isinstance(target, int | str) else None,
            )
        )
    selector = f.str_map("spec.selector") if f.get("spec.selector") is not None else None
    affinity = f.str_("spec.sessionAffinity") or "None"
    if affinity not in ("None", "ClientIP"):
        raise f.error("spec.sessionAffinity", f"{affinity!r} is not None or ClientIP")
    return Service(meta, ips, tuple(ports), selector, affinity == "ClientIP")


def parse_endpoints(doc: Document, meta: Meta) -> Endpoints:
    f = _fields(doc, meta)
    addrs: list[IPAddress] = []
    ports: list[EndpointPort] = []
    for i, subset in enumerate(f.list_("subsets")):
        if not isinstance(subset, Mapping):
            raise f.error(f"subsets[{i}]", "expected a mapping")
        sf = Fields(subset, meta.location, f"subsets[{i}]")
        for j, a in enumerate(sf.list_("addresses")):
            ip = a.get("ip") if isinstance(a, Mapping) else None
            addrs.append(_ip(f, f"subsets[{i}].addresses[{j}].ip", str(ip)))
        for j, p in enumerate(sf.list_("ports")):
            if not isinstance(p, Mapping):
                raise f.error(f"subsets[{i}].ports[{j}]", "expected a mapping")
            pf = Fields(p, meta.location, f"subsets[{i}].ports[{j}]")
            ports.append(EndpointPort(_port(pf, "port"), _protocol(pf, "protocol"), str(p.get("name") or "")))
    return Endpoints(meta, meta.name, tuple(addrs), tuple(ports))


def parse_endpointslice(doc: Document, meta: Meta) -> Endpoints:
    f = _fields(doc, meta)
    service = meta.labels.get(rules.SERVICE_NAME_LABEL)
    if not service:
        raise f.error("metadata.labels", "EndpointSlice has no kubernetes.io/service-name label")
    addrs: list[IPAddress] = []
    for i, ep in enumerate(f.list_("endpoints")):
        if not isinstance(ep, Mapping):
            raise f.error(f"endpoints[{i}]", "expected a mapping")
        cond = ep.get("conditions") or {}
        if isinstance(cond, Mapping) and cond.get("ready") is False:
            continue
        for j, a in enumerate(ep.get("addresses") or []):
            addrs.append(_ip(f, f"endpoints[{i}].addresses[{j}]", str(a)))
    ports: list[EndpointPort] = []
    for i, p in enumerate(f.list_("ports")):
        if not isinstance(p, Mapping):
            raise f.error(f"ports[{i}]", "expected a mapping")
        pf = Fields(p, meta.location, f"ports[{i}]")
        ports.append(EndpointPort(_port(pf, "port"), _protocol(pf, "protocol"), str(p.get("name") or "")))
    return Endpoints(meta, service, tuple(addrs), tuple(ports))


_PROTOCOLS = {None: "TCP", "TCP": "TCP", "UDP": "UDP", "SCTP": "SCTP"}


# items (in order) -> the first label or annotation map read with them; pods with equal maps share that one
Shapes = dict[tuple[tuple[str, str], ...], Mapping[str, str]]


def parse_podlike(doc: Document, meta: Meta, shapes: Shapes | None = None) -> PodLike:
    """The pod (or pod template) as read; plain well-formed input takes a fast path (100,000 pods in a
    cluster dump), anything else the checked path, which names the field that is wrong.

    ``shapes``: pods stamped from one template (a Deployment's, a generator's) carry equal label and
    annotation maps; with a table here they share one object each, so per-pod work downstream can be done
    once per distinct (namespace, labels, annotations) by identity (``check.validator``). The maps are read-only.
    """
    path = TEMPLATE_PATHS[meta.kind]
    tmpl: Any = doc.body
    for part in path:
        tmpl = tmpl.get(part) if type(tmpl) is dict else None
    if type(tmpl) is not dict:
        return _parse_podlike_checked(doc, meta)
    if path:
        tmeta = tmpl.get("metadata")
        if tmeta is None:
            labels: Mapping[str, str] | None = {}
            annotations: Mapping[str, str] | None = {}
        elif type(tmeta) is dict:
            labels, annotations = _str_map_or_none(tmeta.get("labels")), _str_map_or_none(tmeta.get("annotations"))
        else:
            labels = annotations = None
        if labels is None or annotations is None:
            return _parse_podlike_checked(doc, meta)
    else:
        labels, annotations = meta.labels, meta.annotations
    spec = tmpl.get("spec")
    node: Any = None
    found: list[tuple[int, str, str]] = []
    if spec is not None:
        if type(spec) is not dict:
            return _parse_podlike_checked(doc, meta)
        node = spec.get("nodeName")
        if node is not None and type(node) is not str:
            return _parse_podlike_checked(doc, meta)
        containers = spec.get("containers")
        if containers is not None:
            if type(containers) is not list:
                return _parse_podlike_checked(doc, meta)
            for c in containers:
                if type(c) is not dict:
                    return _parse_podlike_checked(doc, meta)
                cports = c.get("ports")
                if not cports:
                    continue
                if type(cports) is not list:
                    return _parse_podlike_checked(doc, meta)
                for p in cports:
                    if type(p) is not dict:
                        return _parse_podlike_checked(doc, meta)
                    number, proto = p.get("containerPort"), _PROTOCOLS.get(p.get("protocol"))
                    if type(number) is not int or not 0 < number < 65536 or proto is None:
                        return _parse_podlike_checked(doc, meta)
                    pname = p.get("name")
                    found.append((number, proto, pname if type(pname) is str else ""))
    ports = _container_ports(tuple(found)) if found else ()
    if shapes is not None:
        labels = shapes.setdefault(tuple(labels.items()), labels)
        annotations = shapes.setdefault(tuple(annotations.items()), annotations)
    return PodLike(meta, meta.namespace or "default", labels, annotations, node, ports, path, doc.body)


_PORTS: dict[tuple[tuple[int, str, str], ...], tuple[ContainerPort, ...]] = {}


def _container_ports(found: tuple[tuple[int, str, str], ...]) -> tuple[ContainerPort, ...]:
    """The ``ContainerPort`` tuple for these (port, protocol, name) triples, shared between pods that have the
    same (values are immutable; the table is bounded)."""
    ports = _PORTS.get(found)
    if ports is None:
        if len(_PORTS) >= 4096:
            _PORTS.clear()
        ports = _PORTS[found] = tuple(ContainerPort(*triple) for triple in found)
    return ports


def _parse_podlike_checked(doc: Document, meta: Meta) -> PodLike:
    path = TEMPLATE_PATHS[meta.kind]
    f = _fields(doc, meta)
    prefix = ".".join(path)
    tmpl: Any = doc.body
    for part in path:
        tmpl = tmpl.get(part) if isinstance(tmpl, Mapping) else None
    if not isinstance(tmpl, Mapping):
        raise f.error(prefix, f"{meta.kind} has no pod template")
    tf = Fields(tmpl, meta.location, prefix)
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    if path:
        labels = tf.str_map("metadata.labels")
        annotations = tf.str_map("metadata.annotations")
    else:
        labels, annotations = meta.labels, meta.annotations
    ports: list[ContainerPort] = []
    for ci, c in enumerate(tf.list_("spec.containers")):
        if not isinstance(c, Mapping):
            raise f.error(f"{prefix + '.' if prefix else ''}spec.containers[{ci}]", "expected a mapping")
        for pi, p in enumerate(c.get("ports") or []):
            where = f"{prefix + '.' if prefix else ''}spec.containers[{ci}].ports[{pi}]"
            pf = Fields(p, meta.location, where) if isinstance(p, Mapping) else None
            if pf is None:
                raise f.error(where, "expected a mapping")
            port = pf.int_("containerPort")
            if port is None or not 0 < port < 65536:
                got = p.get("containerPort")
                raise pf.error("containerPort", f"expected a port number 1-65535, got {got!r}")
            ports.append(ContainerPort(port, _protocol(pf, "protocol"), pf.str_("name") or ""))
    node = tf.str_("spec.nodeName")
    return PodLike(meta, meta.namespace or "default", labels, annotations, node, tuple(ports), path, doc.body)


def parse_vpc(doc: Document, meta: Meta) -> Vpc:
    f = _fields(doc, meta)
    return Vpc(
        meta,
        tuple(f.strs("spec.namespaces")),
        f.str_("spec.defaultSubnet"),
        tuple(r for r in f.list_("spec.staticRoutes") if isinstance(r, Mapping)),
        tuple(r for r in f.list_("spec.policyRoutes") if isinstance(r, Mapping)),
    )


def parse_subnet(doc: Document, meta: Meta) -> Subnet:
    """A Subnet after Kube-OVN's ``formatSubnet`` defaulting (recorded in ``assumed_fields``)."""
    f = _fields(doc, meta)
    assumed: list[str] = []
    raw_cidr = f.str_("spec.cidrBlock")
    if not raw_cidr:
        raise f.error("spec.cidrBlock", "Subnet has no cidrBlock")
    try:
        cidrs = tuple(dualstack.parse_cidrs(raw_cidr))
    except ValueError as exc:
        raise f.error("spec.cidrBlock", str(exc)) from None
    if len({c.version for c in cidrs}) != len(cidrs):
        raise f.error("spec.cidrBlock", f"{raw_cidr!r} has more than one CIDR of a family")
    raw_gw = f.str_("spec.gateway")
    if raw_gw:
        try:
            gateways = tuple(dualstack.parse_ips(raw_gw))
        except ValueError as exc:
            raise f.error("spec.gateway", str(exc)) from None
    else:
        # formatSubnet: the first usable address of each CIDR
        gateways = tuple(dualstack.default_gateway(c) for c in cidrs if c.prefixlen < c.max_prefixlen)
        assumed.append("spec.gateway")
    missing = [c for c in cidrs if c.prefixlen < c.max_prefixlen and all(g.version != c.version for g in gateways)]
    if raw_gw and missing:  # AppendGwByCidr: a family without a gateway gets the first address of its CIDR
        gateways = (*gateways, *(dualstack.default_gateway(c) for c in missing))
        assumed.append("spec.gateway")
    provider = f.str_("spec.provider") or ""
    if not provider:
        provider = rules.OVN_PROVIDER
        assumed.append("spec.provider")
    vpc = f.str_("spec.vpc") or ""
    if not vpc and rules.is_ovn_provider(provider):
        vpc = rules.DEFAULT_VPC
        assumed.append("spec.vpc")
    protocol = f.str_("spec.protocol") or ""
    if not protocol:
        protocol = dualstack.protocol_of(list(cidrs))
        assumed.append("spec.protocol")
    gateway_type = f.str_("spec.gatewayType") or ""
    if not gateway_type and vpc == rules.DEFAULT_VPC:
        gateway_type = rules.DEFAULT_GATEWAY_TYPE
        assumed.append("spec.gatewayType")
    enable_lb = f.bool_("spec.enableLb")
    if enable_lb is None:
        enable_lb = True
        assumed.append("spec.enableLb")
    default = bool(f.bool_("spec.default", False))
    # formatSubnet (kube-ovn v1.16.2 pkg/controller/subnet.go): in the default VPC only --default-ls keeps it
    if default and vpc == rules.DEFAULT_VPC and meta.name not in (rules.DEFAULT_SUBNET, rules.JOIN_SUBNET):
        default = False
        assumed.append("spec.default")
    acls: list[Acl] = []
    for i, entry in enumerate(f.list_("spec.acls")):
        if not isinstance(entry, Mapping):
            raise f.error(f"spec.acls[{i}]", "expected a mapping with direction, priority, match, action")
        af = Fields(entry, meta.location, f"spec.acls[{i}]")
        prio = af.int_("priority")
        acls.append(
            Acl(
                af.str_("direction") or "",
                prio if prio is not None else 0,  # Go's zero value: a missing priority is 0
                af.str_("match") or "",
                af.str_("action") or "",
            )
        )
    return Subnet(
        meta=meta,
        vpc=vpc,
        cidrs=cidrs,
        gateways=gateways,
        provider=provider,
        protocol=protocol,
        namespaces=tuple(f.strs("spec.namespaces")),
        exclude_ips=tuple(f.strs("spec.excludeIps")),
        gateway_type=gateway_type,
        private=bool(f.bool_("spec.private", False)),
        allow_subnets=tuple(f.strs("spec.allowSubnets")),
        acls=tuple(acls),
        enable_lb=enable_lb,
        nat_outgoing=bool(f.bool_("spec.natOutgoing", False)),
        default=default,
        vlan=f.str_("spec.vlan") or "",
        raw_cidr=raw_cidr,
        raw_gateway=raw_gw,
        assumed_fields=tuple(assumed),
        namespace_selectors=_selectors(f, "spec.namespaceSelectors"),
        in_use=bool(rules.subnet_usage(doc.body.get("status"))),
    )


def parse_nad(doc: Document, meta: Meta) -> Nad:
    f = _fields(doc, meta)
    raw = f.str_("spec.config")
    try:
        return Nad(meta, nadconf.parse(raw), None)
    except nadconf.NadConfigError as exc:
        return Nad(meta, None, str(exc))


def _selectors(f: Fields, path: str) -> tuple[LabelSelector, ...]:
    out: list[LabelSelector] = []
    for i, raw in enumerate(f.list_(path)):
        try:
            out.append(LabelSelector.parse(raw))
        except SelectorError as exc:
            raise f.error(f"{path}[{i}]", str(exc)) from None
    return tuple(out)


def _selector(f: Fields, path: str) -> LabelSelector | None:
    raw = f.get(path)
    if raw is None:
        return None
    try:
        return LabelSelector.parse(raw)
    except SelectorError as exc:
        raise f.error(path, str(exc)) from None


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def schema_error(doc: Document, meta: Meta) -> InputError | None:
    """The CRD schema's verdict on an ApiBridge as written (``None``: the API server would take it)."""
    errors = crdschema.validate(doc.body)
    if not errors:
        return None
    first, rest = errors[0], errors[1:]
    more = f" (and {len(rest)} more: {'; '.join(f'{e.field}: {e.message}' for e in rest)})" if rest else ""
    hint = first.hint or "the CRD's schema refuses it, as kubectl apply --validate=strict would"
    return InputError(first.message + more, replace(meta.location, field=first.field), hint=hint)


def parse_apibridge(doc: Document, meta: Meta) -> ApiBridge:
    problem = schema_error(doc, meta)
    if problem is not None:
        raise problem
    f = _fields(doc, meta)
    if not _DNS_LABEL.match(meta.name) or len(meta.name) > rules.BRIDGE_NAME_MAX:
        raise f.error(
            "metadata.name",
            f"{meta.name!r} cannot name an attachment: the NAD apibridge-<name> must be a "
            f"DNS-1123 label (lower case, digits, '-'; no dots) of at most 63 characters",
            hint=f"use a name of at most {rules.BRIDGE_NAME_MAX} characters without dots",
        )
    vpc = f.str_("spec.vpc")
    if not vpc:
        raise f.error("spec.vpc", "ApiBridge needs spec.vpc, the custom VPC whose pods get API access")
    cidr_block = f.str_("spec.cidrBlock", "auto") or "auto"
    if cidr_block != "auto":
        try:
            nets = dualstack.parse_cidrs(cidr_block, strict=True)
        except ValueError as exc:
            raise f.error("spec.cidrBlock", f"{exc}; use 'auto' or one CIDR per family") from None
        if len({n.version for n in nets}) != len(nets):
            raise f.error("spec.cidrBlock", "at most one CIDR per family")
    isolation = f.str_("spec.isolation", "strict")
    rollout = f.str_("spec.rollout", "none")
    extra: list[ExtraDestination] = []
    for i, entry in enumerate(f.list_("spec.destinations.extra")):  # shape checked by the schema
        path = f"spec.destinations.extra[{i}]"
        ef = Fields(entry, meta.location, path)
        target = ef.str_("cidr") or ""
        try:
            net = ipaddress.ip_network(target, strict=True)
        except ValueError as exc:
            raise f.error(f"{path}.cidr", f"{target!r} is not an IP or CIDR: {exc}") from None
        ports = tuple(
            ServicePort(int(p["port"]), _protocol(Fields(p, meta.location, f"{path}.ports[{j}]"), "protocol"))
            for j, p in enumerate(ef.list_("ports"))
        )
        extra.append(ExtraDestination(net, ports))
    nad_ns = f.str_("spec.nadNamespace", rules.SEED_NAD_NAMESPACE) or rules.SEED_NAD_NAMESPACE
    gen = f.int_("metadata.generation") or 1
    return ApiBridge(
        meta=meta,
        vpc=vpc,
        namespace_selector=_selector(f, "spec.namespaceSelector"),
        pod_selector=_selector(f, "spec.podSelector") or LabelSelector(),
        cidr_block=cidr_block,
        apiserver=bool(f.bool_("spec.destinations.apiserver", True)),
        dns=bool(f.bool_("spec.destinations.dns", False)),
        extra=tuple(extra),
        isolation="open" if isolation == "open" else "strict",
        nad_namespace=nad_ns,
        rollout="restart" if rollout == "restart" else "none",
        generation=gen,
    )
