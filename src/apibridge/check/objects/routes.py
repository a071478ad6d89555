"""One route of a ``<provider>.kubernetes.io/routes`` annotation, judged as kube-ovn-cni applies it.

kube-ovn-cni (``configureContainerNic``) turns each ``{"dst", "gw"}`` into a ``RouteReplace`` on the
interface of that provider: an empty ``dst`` is a default route (replacing eth0's), a ``dst`` that
``net.ParseCIDR`` rejects (``10.96.0.1`` without ``/32``) or a ``gw`` that ``net.ParseIP`` rejects is
logged and skipped, an empty ``gw`` is an on-link route, and kernel errors ("network is unreachable"
for a gw off the interface's subnet) are only logged. The pod starts either way — without the
route. Each of those silent outcomes is a finding here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from apibridge.kubeovn import routes
from apibridge.kubeovn.dualstack import IPAddress, IPNetwork
from apibridge.kubeovn.routes import Route
from apibridge.model.objects import Subnet

from ..index import View, effective_gateway
from ..intervals import PointIndex

IfaceKind = Literal["primary", "ovn", "ipam"]


@dataclass(frozen=True)
class Iface:
    """The interface a routes annotation applies to: eth0 (``ovn``), a kube-ovn attachment, or IPAM-only."""

    provider: str
    kind: IfaceKind
    subnet: Subnet | None


@dataclass(frozen=True)
class Problem:
    """A finding about one route, before it is pinned to a pod (the same text serves many pods)."""

    code: str
    suffix: str  # appended to the annotation's field: "[0].gw"
    message: str
    hint: str


@dataclass
class RouteOutcome:
    problems: list[Problem] = field(default_factory=list)
    api_families: set[int] = field(default_factory=set)  # families whose API ClusterIP this route carries
    carries_clusterip: bool = False  # dst covers some Service ClusterIP


@dataclass(frozen=True)
class RouteContext:
    """What a route is judged against, beyond its interface: the pod's VPC and primary subnet."""

    view: View
    services: dict[int, PointIndex]
    vpc: str | None
    primary: Subnet | None


parse_dst = routes.cni_dst
parse_gw = routes.cni_gw


def _is_default(dst: IPNetwork | None, raw: str) -> bool:
    return not raw or (dst is not None and dst.prefixlen == 0)


def check_route(index: int, route: Route, iface: Iface, ctx: RouteContext) -> RouteOutcome:
    out = RouteOutcome()
    at = f"[{index}]"
    dst = parse_dst(route.dst) if route.dst else None
    gw = parse_gw(route.gw) if route.gw else None
    attachment = iface.kind != "primary"
    if route.dst and dst is None:
        host = parse_gw(route.dst)
        fix = f"write {route.dst}/{host.max_prefixlen}" if host else "write address/prefix, e.g. 10.96.0.1/32"
        out.problems.append(
            Problem(
                "AB202",
                f"{at}.dst",
                f'dst {route.dst!r} is not a CIDR; kube-ovn-cni logs "invalid route destination" and skips the route',
                fix,
            )
        )
    if route.gw and gw is None:
        out.problems.append(
            Problem(
                "AB203",
                f"{at}.gw",
                f"gw {route.gw!r} is not an IP address; kube-ovn-cni skips the route",
                "write the gateway address of the interface's subnet",
            )
        )
    default = _is_default(dst, route.dst)
    if default and iface.kind == "ovn":
        what = "an empty dst" if not route.dst else f"dst {route.dst}"
        out.problems.append(
            Problem(
                "AB205",
                f"{at}.dst",
                f"{what} is a default route: kube-ovn-cni replaces eth0's "
                f"default route with one through {iface.provider}, and the pod loses its own VPC's "
                "egress",
                "route only the destinations the attachment is for (e.g. 10.96.0.1/32)",
            )
        )
    if dst is not None and gw is not None and dst.version != gw.version:
        out.problems.append(
            Problem(
                "AB209",
                f"{at}.gw",
                f"gw {gw} is IPv{gw.version} but dst {dst} is IPv{dst.version}; the kernel refuses the route",
                f"use the IPv{dst.version} gateway of the subnet",
            )
        )
        return out
    subnet = iface.subnet
    if not route.gw and attachment and route.dst:
        cidr = subnet.cidr(dst.version) if (subnet is not None and dst is not None) else None
        on_link = cidr is not None and dst is not None and dst.subnet_of(cidr)  # type: ignore[arg-type]
        if not on_link and dst is not None:
            gw_hint = effective_gateway(subnet, dst.version) if subnet is not None else None
            target = dst.network_address if dst.num_addresses == 1 else dst
            out.problems.append(
                Problem(
                    "AB204",
                    f"{at}.gw",
                    f"route to {dst} has no gw: the pod ARPs for {target} on "
                    f"{iface.provider}'s interface, and OVN answers no ARP for a load-balancer VIP "
                    "or off-subnet address",
                    f'set "gw": "{gw_hint}"' if gw_hint else "set gw to the attachment subnet's gateway",
                )
            )
    gw_ok = False
    if gw is not None and subnet is not None:
        cidr = subnet.cidr(gw.version)
        if cidr is None or gw not in cidr:
            where = f"{subnet.name} ({subnet.raw_cidr})"
            expect = effective_gateway(subnet, gw.version)
            out.problems.append(
                Problem(
                    "AB208",
                    f"{at}.gw",
                    f"gw {gw} is outside the interface's subnet {where}; "
                    'the kernel answers "network is unreachable" and kube-ovn-cni only logs it',
                    f"use the subnet's gateway {expect}" if expect else f"add an IPv{gw.version} CIDR to {subnet.name}",
                )
            )
        else:
            gw_ok = True
    if dst is None:
        if default and route.dst == "" and attachment:
            out.api_families.update({gw.version} if gw else {4, 6})
        return out
    covered = [ip for ip in ctx.view.api_ips if ip.version == dst.version and ip in dst]
    if covered:
        out.api_families.add(dst.version)
        out.carries_clusterip = True
    elif ctx.services.get(dst.version) and ctx.services[dst.version].within(dst):
        out.carries_clusterip = True
    if not attachment or default:
        return out
    expect = effective_gateway(subnet, dst.version) if subnet is not None else None
    if covered and gw_ok and expect is not None and gw != expect:
        owner = subnet.name if subnet is not None else "the subnet"
        out.problems.append(
            Problem(
                "AB212",
                f"{at}.gw",
                f"the route to the API ClusterIP {covered[0]} goes via "
                f"{gw}, not via {owner}'s gateway {expect}: the gateway is the router port that "
                "leads to the API server",
                f'set "gw": "{expect}"',
            )
        )
    if dst.prefixlen < dst.max_prefixlen:
        _width(out, at, dst, covered, ctx)
        _own_vpc(out, at, dst, iface, ctx)
    return out


def _width(out: RouteOutcome, at: str, dst: IPNetwork, covered: list[IPAddress], ctx: RouteContext) -> None:
    index = ctx.services.get(dst.version)
    services = [name for _, name in index.within(dst)] if index else []
    services = list(dict.fromkeys(services))
    wide_range = next((c for c in ctx.view.service_cidrs if c.version == dst.version and c.overlaps(dst)), None)
    if not (covered or services or wide_range):
        return
    what = (
        f"{len(services)} Service ClusterIP(s) ({', '.join(services[:3])}{', ...' if len(services) > 3 else ''})"
        if services
        else f"part of the service range {wide_range}"
    )
    target = ", ".join(f"{ip}/{ip.max_prefixlen}" for ip in covered) or "each ClusterIP"
    out.problems.append(
        Problem(
            "AB206",
            f"{at}.dst",
            f"dst {dst} covers {what}: their traffic leaves through the "
            "attachment, so Services whose endpoints are in the pod's own VPC break",
            f"route only what the attachment is for: {target}",
        )
    )


def _own_vpc(out: RouteOutcome, at: str, dst: IPNetwork, iface: Iface, ctx: RouteContext) -> None:
    if ctx.vpc is None:
        return
    index = ctx.view.vpc_index(ctx.vpc, dst.version)
    if index is None:
        return
    primary = ctx.primary.name if ctx.primary else None
    for name, prefixlen in index.overlapping(dst):
        # the pod's own subnet is a connected route: it still wins unless dst is at least as specific
        if name != primary or dst.prefixlen >= prefixlen:
            out.problems.append(
                Problem(
                    "AB207",
                    f"{at}.dst",
                    f"dst {dst} overlaps subnet {name} of the pod's own "
                    f"VPC {ctx.vpc}: traffic to it leaves through {iface.provider}'s interface "
                    "instead of eth0",
                    f"narrow dst so that it excludes {name}",
                )
            )
            return
