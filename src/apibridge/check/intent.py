"""What a pod *means* to reach, read from the intent and never from the wiring that is being judged.

A proof that derives its expectations from the configuration it checks cannot fail: a routes
annotation keyed to the wrong NAD would make "API blocked" the expected result. So the answer to
"what should this pod reach" comes from evidence of intent only, and both ``check`` (offline) and
the twin's ``lab verify`` (with packets) ask this one function:

* a pod an **ApiBridge** selects intends each of the bridge's destinations: the API ClusterIPs on
  the ``kubernetes`` Service's ports (``apiserver: true``), the cluster DNS Service's ClusterIPs on its
  DNS ports (``dns: true``; the Service ``apibridge.plan.dns`` takes), every ``extra`` CIDR on its
  ports (none: any port). They are read from the ApiBridge's spec and the Services, not from the plan's
  routes or ACLs;
* a pod that **hand-writes an attachment to a subnet of the default VPC** — a NAD whose provider
  (derived from its name, ``<nad>.<ns>.ovn``, or written in its config) or a ``logical_switch``
  annotation lands on such a subnet — intends the API server: that is what the seed's fix is for;
* a pod whose **routes annotation names an API ClusterIP** (any provider's key, any gateway, even
  ``10.96.0.1`` without ``/32``) intends the API server at the addresses it names;
* everything else intends nothing beyond its own VPC.

The bridge's own NAD and provider do not count as hand-written evidence, so a bridge with
``apiserver: false`` does not come to intend the API server through its own injection.
Reading is lenient on purpose: an annotation that Kube-OVN would refuse still tells what its
author wanted.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from apibridge.check.objects.netpol import Endpoint, Policies, api_endpoints
from apibridge.kubeovn import networks, rules
from apibridge.kubeovn.dualstack import IPAddress, IPNetwork
from apibridge.model.cluster import Cluster
from apibridge.model.objects import ApiBridge
from apibridge.plan.dns import DEFAULT_DNS_PORTS, find_dns_service
from apibridge.plan.types import Plan, PortSpec

WantKind = Literal["api", "dns", "extra"]
DNS_PORTS = DEFAULT_DNS_PORTS
_ROUTES_SUFFIX = rules.provider_key_suffix(rules.ROUTES)
MAX_ROUTES_READ = 256  # entries of one routes annotation looked at (tenant-controlled input is bounded)


@dataclass(frozen=True)
class Want:
    """One destination a pod intends to reach, on these ports (empty: any), and why it does."""

    kind: WantKind
    network: IPNetwork
    ports: tuple[PortSpec, ...]
    why: str
    evidence: str = ""  # the annotation that shows the intent ("" for a bridge: its spec does)
    # the pod's own NetworkPolicies drop it (see ``with_policies``): intended by the bridge, refused by the tenant
    blocked_by: str = ""
    service: str = ""  # ``namespace/name`` of the Service whose ClusterIP this is (a DNS want), for messages

    def covers(self, ip: IPAddress, port: int | None = None, protocol: str | None = None) -> bool:
        if ip not in self.network:
            return False
        if port is None or not self.ports:
            return True
        return any(p.port == port and (protocol is None or p.protocol == protocol.upper()) for p in self.ports)


@dataclass(frozen=True)
class PodIntent:
    wants: tuple[Want, ...] = ()

    def want(self, ip: IPAddress, port: int | None = None, protocol: str | None = None) -> Want | None:
        """The first intended destination that covers ``ip`` (on ``port``/``protocol``), if any."""
        return next((w for w in self.wants if w.covers(ip, port, protocol)), None)

    def of_kind(self, kind: WantKind) -> tuple[Want, ...]:
        return tuple(w for w in self.wants if w.kind == kind)

    @property
    def api(self) -> bool:
        return any(w.kind == "api" for w in self.wants)


NO_INTENT = PodIntent()


@dataclass(frozen=True)
class IntentContext:
    """The few facts about the cluster the intent is read against (built once per input)."""

    api_ips: tuple[IPAddress, ...]
    api_ports: tuple[PortSpec, ...]
    dns_ips: tuple[IPAddress, ...]
    default_vpc_subnets: Mapping[str, tuple[int, ...]]  # name -> IP families, every subnet of the default VPC
    default_vpc_providers: Mapping[str, str] = field(default_factory=dict)  # attachment provider -> subnet name
    nad_providers: Mapping[tuple[str, str], str] = field(default_factory=dict)  # NAD -> its config's provider
    dns_ports: tuple[PortSpec, ...] = DNS_PORTS  # the DNS Service's DNS ports, by name
    dns_service: str = ""  # ``namespace/name`` of the DNS Service taken


def intent_context(cluster: Cluster, plan: Plan | None = None) -> IntentContext:
    """The context for ``cluster`` as ``plan`` would leave it (its bridges' NADs and Subnets included)."""
    subnets = dict(cluster.subnets)
    nads = dict(cluster.nads)
    for bp in plan.bridges.values() if plan is not None else ():
        subnets[bp.subnet_name] = bp.model_subnet
        nads[(bp.nad_namespace, bp.nad_name)] = bp.model_nad
    default_subnets: dict[str, tuple[int, ...]] = {}
    providers: dict[str, str] = {}
    for name in sorted(subnets):
        s = subnets[name]
        if (s.vpc or rules.DEFAULT_VPC) != rules.DEFAULT_VPC or name == rules.JOIN_SUBNET:
            continue
        default_subnets[name] = tuple(sorted({c.version for c in s.cidrs}))
        if s.provider != rules.OVN_PROVIDER:
            providers.setdefault(s.provider, name)
    nad_providers = {
        key: nad.config.cni_provider()
        for key, nad in sorted(nads.items())
        if nad.config is not None and nad.config.kind == "kube-ovn" and nad.config.cni_provider()
    }
    api = cluster.service(*rules.KUBERNETES_SERVICE)
    api_ports = tuple(PortSpec(p.port, p.protocol) for p in api.ports) if api and api.ports else ()
    dns = plan.dns if plan is not None and plan.dns is not None else find_dns_service(cluster)
    return IntentContext(
        api_ips=cluster.api_cluster_ips(),
        api_ports=api_ports or (PortSpec(rules.DEFAULT_API_PORT, "TCP"),),
        dns_ips=dns.service.cluster_ips if dns.service else (),
        dns_ports=dns.ports,
        dns_service=dns.ref if dns.service else "",
        default_vpc_subnets=default_subnets,
        default_vpc_providers=providers,
        nad_providers=nad_providers,
    )


@functools.lru_cache(maxsize=256)  # the cluster's API and DNS addresses, asked once per distinct pod shape
def _host(ip: IPAddress) -> IPNetwork:
    return ipaddress.ip_network(f"{ip}/{ip.max_prefixlen}")


def bridge_wants(bridge: ApiBridge, ctx: IntentContext) -> tuple[Want, ...]:
    """The destinations an ApiBridge's spec names, resolved against the cluster's Services."""
    why = f"ApiBridge {bridge.meta.name} selects it"
    out: list[Want] = []
    if bridge.apiserver:
        out += [Want("api", _host(ip), ctx.api_ports, why) for ip in ctx.api_ips]
    if bridge.dns:
        out += [Want("dns", _host(ip), ctx.dns_ports, why, service=ctx.dns_service) for ip in ctx.dns_ips]
    for extra in bridge.extra:
        ports = tuple(PortSpec(p.port, p.protocol) for p in extra.ports)
        out.append(Want("extra", extra.cidr, ports, why))
    return tuple(out)


def _lenient_dsts(value: str) -> Iterable[IPNetwork]:
    """Every ``dst`` a routes annotation names, read as generously as possible (``10.96.0.1`` too)."""
    try:
        data = json.loads(value)
    except ValueError:
        return
    if not isinstance(data, list):
        return
    for entry in data[:MAX_ROUTES_READ]:
        dst = entry.get("dst") if isinstance(entry, dict) else None
        if isinstance(dst, str) and dst.strip():
            try:
                yield ipaddress.ip_network(dst.strip(), strict=False)
            except ValueError:
                continue


def attachment_subnets(
    annotations: Mapping[str, str], namespace: str, own: tuple[str, str] | None, ctx: IntentContext
) -> list[tuple[str, str]]:
    """(``ns/nad``, default-VPC subnet) of every hand-written attachment that lands in the default VPC."""
    try:
        selections = networks.parse(annotations.get(rules.NETWORKS_ANNOTATION)).selections
    except networks.NetworksError:
        return []
    out: list[tuple[str, str]] = []
    for sel in selections:
        ns, name = sel.ref(namespace)
        if (ns, name) == own:
            continue
        derived = rules.nad_provider(name, ns)
        providers = [derived] + ([rules.nad_provider(name, ns, ifname=sel.interface)] if sel.interface else [])
        subnet = None
        for provider in providers:  # a logical_switch annotation names the subnet outright
            ls = annotations.get(rules.provider_key(provider, rules.LOGICAL_SWITCH))
            if ls and ls in ctx.default_vpc_subnets:
                subnet = ls
                break
        configured = ctx.nad_providers.get((ns, name))
        subnet = (
            subnet
            or ctx.default_vpc_providers.get(rules.subnet_provider(derived))
            or (ctx.default_vpc_providers.get(configured) if configured else None)
        )
        if subnet is not None:
            out.append((f"{ns}/{name}", subnet))
    return out


def pod_intent(
    annotations: Mapping[str, str], namespace: str, bridge: ApiBridge | None, ctx: IntentContext, *, nad: str = ""
) -> PodIntent:
    """What a pod with these (its own, not injected) annotations intends to reach.

    ``bridge`` is the ApiBridge that selects the pod (None: none does); ``nad`` its NAD as
    ``ns/name``, whose attachment and routes are the bridge's doing, not the author's.
    """
    wants: list[Want] = list(bridge_wants(bridge, ctx)) if bridge is not None else []
    own_ns, _, own_name = nad.partition("/")
    own = (own_ns, own_name) if own_name else None
    own_provider = rules.subnet_provider(rules.nad_provider(own_name, own_ns)) if own else None
    named: dict[IPAddress, tuple[str, str]] = {}
    for key in sorted(annotations):
        if not key.endswith(_ROUTES_SUFFIX) or key[: -len(_ROUTES_SUFFIX)] == own_provider:
            continue
        for dst in _lenient_dsts(annotations[key]):
            for ip in ctx.api_ips:
                if ip.version == dst.version and ip in dst:
                    named.setdefault(ip, (f"its annotation {key} routes the API ClusterIP {ip}", key))
    attached = attachment_subnets(annotations, namespace, own, ctx)
    for ip in ctx.api_ips:
        why, evidence = named.get(ip, ("", ""))
        if not why:
            fitting = [(ref, s) for ref, s in attached if ip.version in ctx.default_vpc_subnets.get(s, ())]
            if fitting:
                ref, subnet = fitting[0]
                why = f"it attaches {ref}, on subnet {subnet} of the default VPC (the way to the API server)"
                evidence = rules.NETWORKS_ANNOTATION
        if why and not any(w.kind == "api" and w.covers(ip) for w in wants):
            wants.append(Want("api", _host(ip), ctx.api_ports, why, evidence))
    return PodIntent(tuple(wants)) if wants else NO_INTENT


def service_endpoints(cluster: Cluster, service: tuple[str, str]) -> tuple[tuple[IPAddress, int], ...]:
    """The backends of a Service as the load balancer DNATs to them (the API server's: ``api_endpoints``)."""
    if service == rules.KUBERNETES_SERVICE:
        return api_endpoints(cluster)
    out = [(ip, p.port) for eps in cluster.endpoints.get(service, ()) for ip in eps.addresses for p in eps.ports]
    return tuple(dict.fromkeys(out))


def with_policies(
    intent: PodIntent,
    namespace: str,
    labels: Mapping[str, str],
    provider: str,
    policies: Policies,
    cluster: Cluster,
) -> PodIntent:
    """``intent`` with each destination the pod's own NetworkPolicies drop marked ``blocked_by``.

    The pod's traffic leaves through its port of ``provider`` (the bridge's attachment); Kube-OVN's
    egress ACLs judge it after the load balancer, so API and DNS wants are judged at their Services'
    endpoints, an ``extra`` single address as itself (a wider ``extra`` CIDR is not judged). A
    tenant's policy is intent too: what it refuses is not expected to be reached.
    """
    if not policies or not intent.wants:
        return intent
    out: list[Want] = []
    for want in intent.wants:
        if want.kind == "api":
            targets = service_endpoints(cluster, rules.KUBERNETES_SERVICE)
        elif want.kind == "dns":
            # the Service the want was resolved from (RKE2's, kubespray's… : plan.dns.find_dns_service)
            ref = want.service or find_dns_service(cluster).ref
            dns_ns, _, dns_name = ref.partition("/")
            targets = tuple(
                (ip, p.port) for ip, _ in service_endpoints(cluster, (dns_ns, dns_name)) for p in want.ports
            )
        elif want.network.num_addresses == 1:
            targets = tuple((want.network.network_address, p.port) for p in want.ports) or (
                (want.network.network_address, 0),
            )
        else:
            targets = ()
        for ip, port in targets:
            if ip.version != want.network.version:
                continue  # each ClusterIP is DNATed to endpoints of its own family
            protocols = [p.protocol for p in want.ports if p.port == port] or ["TCP"]
            verdict = policies.egress(namespace, labels, provider, Endpoint(ip), port, protocols[0])
            if not verdict.allowed:
                want = replace(
                    want,
                    blocked_by=f"NetworkPolicy {verdict.policies} isolates its egress and allows no connection to "
                    f"{ip}:{port} (egress ACLs see the endpoint after the load balancer)",
                )
                break
        out.append(want)
    return PodIntent(tuple(out))
