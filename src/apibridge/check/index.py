"""The validator's view of the cluster: the input plus what the plan would apply, indexed once.

Rules ask the same questions millions of times on a 100,000-pod input — which Subnet carries this
provider, which NAD is ``ns/name``, which subnets of this VPC overlap that route — so each answer
is a dict or a sorted index built here once, never a scan of all subnets per pod.

The plan's NAD and Subnet of each bridge are part of the view (they replace an input object of the
same name, as applying them would): the validator then judges the cluster *as it will be*, and a
bridge whose explicit ``cidrBlock`` clashes with a subnet is caught by the ordinary Subnet rules.
Findings about a planned object are reported on its ApiBridge, the object a user edits.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass, field

from apibridge.kubeovn import rules
from apibridge.kubeovn.dualstack import IPAddress, IPNetwork
from apibridge.model.cluster import Cluster
from apibridge.model.objects import Nad, Subnet
from apibridge.plan.types import BridgePlan, Plan

from .intervals import PointIndex, RangeIndex


def effective_gateway(subnet: Subnet, family: int) -> IPAddress | None:
    """The gateway Kube-OVN uses for ``family`` (the model already appended ``AppendGwByCidr``'s default)."""
    return subnet.gateway(family)


def is_attachment_subnet(subnet: Subnet) -> bool:
    """A Subnet for a Multus attachment of a kube-ovn NAD: provider ``<nad>.<ns>.ovn``."""
    return rules.nad_of_provider(subnet.provider) is not None


@dataclass
class View:
    cluster: Cluster
    plan: Plan
    subnets: dict[str, Subnet]
    nads: dict[tuple[str, str], Nad]
    planned_subnets: dict[str, BridgePlan]  # subnet name -> the bridge that plans it
    planned_nads: dict[tuple[str, str], BridgePlan]
    by_provider: dict[str, list[Subnet]]  # Subnet.provider -> subnets, by name
    api_ips: tuple[IPAddress, ...]
    service_ips: dict[IPAddress, str]  # every Service ClusterIP -> "ns/name"
    service_cidrs: tuple[IPNetwork, ...]  # where ClusterIPs come from, as far as we can tell
    service_cidrs_assumed: str  # how ``service_cidrs`` were assumed ("" when given: --service-cidr)
    service_index: dict[int, PointIndex]  # family -> every Service ClusterIP, with its "ns/name"
    api_endpoints: tuple[IPAddress, ...]
    _vpc_index: dict[tuple[str, int], RangeIndex] = field(default_factory=dict, repr=False)

    def subnets_for_provider(self, provider: str) -> list[Subnet]:
        return self.by_provider.get(rules.subnet_provider(provider), [])

    def vpc_index(self, vpc: str, family: int) -> RangeIndex | None:
        """The primary-network (provider ``ovn``) subnets of ``vpc``: what eth0's VPC router reaches."""
        return self._vpc_index.get((vpc, family))

    def subnet_owner(self, name: str) -> BridgePlan | None:
        return self.planned_subnets.get(name)


def service_range(plan: Plan, api_ips: tuple[IPAddress, ...]) -> tuple[tuple[IPNetwork, ...], str]:
    """The service CIDRs, and how they were assumed ("" when given with ``--service-cidr``).

    Without the flag, per family of the API ClusterIPs: Kube-OVN's and kubeadm's default 10.96.0.0/12 when it
    holds the API ClusterIP, else the ``rules.ASSUMED_SERVICE_PREFIX`` network around it (10.43.0.0/16 for
    RKE2's 10.43.0.1): kube-apiserver gives the kubernetes Service the first address of its range
    (``GetIndexedIP(serviceCIDR, 1)``, pkg/controlplane/services.go), so the range holds at least that one.
    """
    if plan.service_cidrs:
        return plan.service_cidrs, ""
    default = ipaddress.ip_network(rules.SERVICE_CIDR)
    nets: list[IPNetwork] = []
    said: list[str] = []
    for ip in api_ips:
        if any(n.version == ip.version for n in nets):
            continue
        if ip in default:
            nets.append(default)
            said.append(f"{default} (Kube-OVN's and kubeadm's default, which holds the API ClusterIP {ip})")
        else:
            net = ipaddress.ip_network(f"{ip}/{rules.ASSUMED_SERVICE_PREFIX[ip.version]}", strict=False)
            nets.append(net)
            said.append(f"{net} (the /{net.prefixlen} around the API ClusterIP {ip})")
    return tuple(nets), "; ".join(said)


def build_view(cluster: Cluster, plan: Plan) -> View:
    subnets = dict(cluster.subnets)
    nads = dict(cluster.nads)
    planned_subnets: dict[str, BridgePlan] = {}
    planned_nads: dict[tuple[str, str], BridgePlan] = {}
    for name in sorted(plan.bridges):
        bp = plan.bridges[name]
        subnets[bp.subnet_name] = bp.model_subnet
        planned_subnets[bp.subnet_name] = bp
        key = (bp.nad_namespace, bp.nad_name)
        nads[key] = bp.model_nad
        planned_nads[key] = bp
    by_provider: dict[str, list[Subnet]] = defaultdict(list)
    vpc_items: dict[tuple[str, int], list[tuple[IPNetwork, str]]] = defaultdict(list)
    for name in sorted(subnets):
        s = subnets[name]
        by_provider[s.provider].append(s)
        if s.provider == rules.OVN_PROVIDER and s.vpc:
            for cidr in s.cidrs:
                vpc_items[(s.vpc, cidr.version)].append((cidr, s.name))
    service_ips: dict[IPAddress, str] = {}
    for (ns, svc_name), svc in sorted(cluster.services.items()):
        for ip in svc.cluster_ips:
            service_ips.setdefault(ip, f"{ns}/{svc_name}")
    api_ips = cluster.api_cluster_ips()
    service_cidrs, assumed = service_range(plan, api_ips)
    service_items: dict[int, list[tuple[IPAddress, str]]] = defaultdict(list)
    for ip, ref in service_ips.items():
        service_items[ip.version].append((ip, ref))
    endpoints = [a for ep in cluster.service_endpoints(*rules.KUBERNETES_SERVICE) for a in ep.addresses]
    return View(
        cluster=cluster,
        plan=plan,
        subnets=subnets,
        nads=nads,
        planned_subnets=planned_subnets,
        planned_nads=planned_nads,
        by_provider=dict(by_provider),
        api_ips=api_ips,
        service_ips=service_ips,
        service_cidrs=service_cidrs,
        service_cidrs_assumed=assumed,
        service_index={fam: PointIndex(items) for fam, items in service_items.items()},
        api_endpoints=tuple(dict.fromkeys(endpoints)),
        _vpc_index={key: RangeIndex(items) for key, items in vpc_items.items()},
    )
