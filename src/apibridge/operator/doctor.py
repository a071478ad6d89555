"""``apibridge doctor POD``: walk, against a live cluster, the chain one pod's API access depends on.

The seed's recipe only works when every link holds, and each link is owned by a different component —
the ApiBridge (or a hand-written annotation) selects the pod, the NAD must be a kube-ovn NAD whose config
provider equals the one Kube-OVN *derives* (``<nad>.<ns>.ovn``), exactly one Subnet must carry that
provider, in the default VPC with its load balancers and a gateway inside its CIDR, the pod must carry the
networks/routes/logical_switch annotations, kube-ovn-controller must have written ``allocated`` and
``routed``, and Multus must report the attachment on ``net1`` with an address in the subnet. When API
access fails, the user sees only a timeout; ``doctor`` names the first broken link and how to fix it.

Every link is checked (a later link may fail *because* of an earlier one, so the verdict is the first
broken link in chain order). Which pods a bridge selects, and with which NAD, provider and routes, comes
from the same planner ``render`` and the controller use, over the objects read from the cluster; every
annotation key comes from ``apibridge.kubeovn.rules``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Literal

from apibridge.base.errors import InputError, Location
from apibridge.base.kinds import Kind
from apibridge.kubeovn import dualstack, netstatus, networks, rules
from apibridge.kubeovn import routes as routes_codec
from apibridge.kubeovn.dualstack import IPAddress, IPNetwork, host_prefix
from apibridge.model.cluster import Cluster
from apibridge.model.objects import PodLike, Subnet
from apibridge.operator import kube
from apibridge.operator.client import ApiError, Client
from apibridge.plan.mutation import bridge_for, opted_out
from apibridge.plan.planner import plan as make_plan
from apibridge.plan.types import BridgePlan

LinkStatus = Literal["ok", "broken", "warning", "skipped"]


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
        return {"pod": self.pod, "healthy": self.healthy, "bridge": self.bridge, "nad": self.nad,
                "provider": self.provider, "subnet": self.subnet, "links": [x.to_json() for x in self.links],
                "broken": broken.to_json() if broken else None}


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


# ---- the chain ----------------------------------------------------------------------------------------
@dataclass
class _Target:
    """What the pod should be attached to: from its bridge, or from its hand-written annotation."""

    nad_namespace: str
    nad_name: str
    bridge: BridgePlan | None


def _find_pod(cluster: Cluster, namespace: str, name: str) -> PodLike:
    for pod in cluster.pods:
        if pod.meta.kind == "Pod" and pod.namespace == namespace and pod.pod_name == name:
            return pod
    raise InputError("could not be read into the model", Location(obj=f"Pod/{namespace}/{name}"))


def _target(walk: _Walk, cluster: Cluster, pod: PodLike, bridge_plan: BridgePlan | None,
            bridges_exist: bool) -> _Target | None:
    title = "an ApiBridge (or a hand-written annotation) gives the pod the attachment"
    if bridge_plan is not None:
        walk.ok("selection", title, f"ApiBridge {bridge_plan.bridge.name} selects the pod "
                                    f"(VPC {bridge_plan.bridge.vpc})")
        return _Target(bridge_plan.nad_namespace, bridge_plan.nad_name, bridge_plan)
    try:
        parsed = networks.parse(pod.annotations.get(rules.NETWORKS_ANNOTATION))
    except networks.NetworksError as exc:
        walk.broken("selection", title, f"no ApiBridge selects the pod, and its {rules.NETWORKS_ANNOTATION} "
                                        f"annotation is malformed: {exc}",
                    "fix the annotation (Multus rejects the pod as it is), or let an ApiBridge select the pod")
        return None
    refs = [sel.ref(pod.namespace) for sel in parsed.selections]
    kube_ovn = [r for r in refs if (nad := cluster.nad(*r)) is not None and nad.config is not None
                and nad.config.kind == "kube-ovn"]
    candidates = kube_ovn or refs
    chosen = candidates[0] if candidates else None
    if chosen is None:
        vpc = cluster.pod_vpc(pod) or "?"
        if vpc == rules.DEFAULT_VPC:
            walk.ok("selection", title, f"the pod is in the default VPC {vpc}: its switch carries the cluster load "
                                        "balancers, so it reaches the API server without an attachment")
            return None
        why = (f"the pod opts out with {rules.INJECT_ANNOTATION}: \"false\"" if opted_out(pod.annotations)
               else "no ApiBridge selects it" if bridges_exist else "there is no ApiBridge in the cluster")
        walk.broken("selection", title,
                    f"{why}, and its {rules.NETWORKS_ANNOTATION} annotation names no attachment",
                    f"create an ApiBridge with spec.vpc: {vpc} whose namespaceSelector and podSelector match "
                    f"this pod (then recreate the pod), or add the seed's annotations by hand")
        return None
    walk.ok("selection", title, f"no ApiBridge selects the pod; checking the hand-written attachment "
                                f"{chosen[0]}/{chosen[1]} from its {rules.NETWORKS_ANNOTATION} annotation")
    return _Target(chosen[0], chosen[1], None)


def _check_nad(walk: _Walk, cluster: Cluster, target: _Target) -> str:
    """The NAD links; returns the provider to follow (the derived one)."""
    ref = f"{target.nad_namespace}/{target.nad_name}"
    derived = rules.nad_provider(target.nad_name, target.nad_namespace)
    nad = cluster.nad(target.nad_namespace, target.nad_name)
    owner = (f"the operator creates it for ApiBridge {target.bridge.bridge.name}: is the operator running? "
             f"(kubectl get apibridge {target.bridge.bridge.name} -o yaml shows why not in status.conditions)"
             if target.bridge else "create it (apibridge render prints one), or fix the pod's networks annotation")
    if nad is None:
        walk.broken("nad.exists", f"NetworkAttachmentDefinition {ref} exists", f"NAD {ref} was not found", owner)
        return derived
    walk.ok("nad.exists", f"NetworkAttachmentDefinition {ref} exists", "found")
    if nad.config is None or nad.config.kind != "kube-ovn":
        what = f"spec.config is not valid: {nad.config_error}" if nad.config is None else (
            f"its config is {nad.config.kind!r}, not type: {rules.NAD_TYPE}; Kube-OVN ignores it")
        walk.broken("nad.type", f"NAD {ref} is a kube-ovn NAD", what,
                    f'set spec.config to a "type": "{rules.NAD_TYPE}" config with "provider": "{derived}"')
        return derived
    walk.ok("nad.type", f"NAD {ref} is a kube-ovn NAD", f"type: {rules.NAD_TYPE}")
    sent = nad.config.cni_provider()
    title = f"NAD {ref} provider is the derived {derived}"
    if sent != derived:
        walk.broken("nad.provider", title,
                    f"spec.config says provider {sent!r}"
                    + (" (empty: kube-ovn-cni uses 'ovn')" if not nad.config.provider else "")
                    + f", but kube-ovn-controller derives {derived!r} from the NAD's name and namespace: "
                      f"kube-ovn-cni waits for {rules.provider_key(sent, rules.IP_ADDRESS)} and the pod never starts",
                    f'set "provider": "{derived}" in the NAD config (and in the Subnet\'s spec.provider)')
    else:
        walk.ok("nad.provider", title, f"provider {derived}")
    return derived


def _check_subnet(walk: _Walk, cluster: Cluster, pod: PodLike, provider: str, target: _Target) -> Subnet | None:
    ls_key = rules.provider_key(provider, rules.LOGICAL_SWITCH)
    pinned = pod.annotations.get(ls_key)
    title = f"exactly one Subnet serves provider {provider}"
    if pinned:
        subnet = cluster.subnets.get(pinned)
        if subnet is None:
            walk.broken("subnet.provider", title, f"the pod's {ls_key} names Subnet {pinned!r}, which does not exist",
                        f"create Subnet {pinned} or remove the annotation from the pod template")
            return None
        walk.ok("subnet.provider", title, f"the pod's {ls_key} pins Subnet {pinned}")
        return subnet
    found = sorted(cluster.subnets_by_provider(provider), key=lambda s: s.name)
    if not found:
        fix = (f"the operator creates Subnet {target.bridge.subnet_name} for ApiBridge {target.bridge.bridge.name}: "
               f"check the bridge's status" if target.bridge
               else f"create a Subnet with spec.provider: {provider} (apibridge render prints one)")
        walk.broken("subnet.provider", title,
                    f"no Subnet has spec.provider {provider}: kube-ovn-controller fails the pod with "
                    f"\"provider {provider} is not bound to any subnet\"", fix)
        return None
    if len(found) > 1:
        names = ", ".join(s.name for s in found)
        walk.broken("subnet.provider", title,
                    f"{len(found)} Subnets carry provider {provider} ({names}); Kube-OVN picks one at random",
                    "keep one Subnet per provider, or pin one with the pod's logical_switch annotation")
        return found[0]
    walk.ok("subnet.provider", title, f"Subnet {found[0].name}")
    return found[0]


def _check_subnet_shape(walk: _Walk, subnet: Subnet, target: _Target) -> None:
    name = subnet.name
    if subnet.vpc not in ("", rules.DEFAULT_VPC):  # empty: Kube-OVN defaults it to the default VPC
        walk.broken("subnet.vpc", f"Subnet {name} is in VPC {rules.DEFAULT_VPC}",
                    f"it is in VPC {subnet.vpc!r}; only the default VPC's load balancers carry the API ClusterIP",
                    f"set spec.vpc: {rules.DEFAULT_VPC} (or leave it empty) on Subnet {name}")
    else:
        walk.ok("subnet.vpc", f"Subnet {name} is in VPC {rules.DEFAULT_VPC}", f"vpc {subnet.vpc}")
    if not subnet.enable_lb:
        walk.broken("subnet.lb", f"Subnet {name} has the cluster load balancers", "spec.enableLb is false: "
                    "the ClusterIP is never DNATed on the attachment's switch",
                    f"set spec.enableLb: true on Subnet {name}")
    else:
        walk.ok("subnet.lb", f"Subnet {name} has the cluster load balancers", "enableLb true")
    outside = [str(g) for g in subnet.gateways if not any(g in c for c in subnet.cidrs)]
    title = f"Subnet {name} gateway is inside its CIDR"
    if outside or not subnet.gateways:
        walk.broken("subnet.gateway", title,
                    f"gateway {', '.join(outside) or '(none)'} is not in {subnet.raw_cidr}",
                    "set spec.gateway to an address of spec.cidrBlock (usually the first one)")
    else:
        walk.ok("subnet.gateway", title, f"gateway {', '.join(str(g) for g in subnet.gateways)} in {subnet.raw_cidr}")
    title = f"Subnet {name} is fenced by ACLs"
    if target.bridge is not None and target.bridge.bridge.isolation == "strict":
        missing = [a for a in target.bridge.acls if a not in subnet.acls]
        if missing:
            walk.broken("subnet.fence", title,
                        f"{len(missing)} of the {len(target.bridge.acls)} planned ACLs are missing: the attachment "
                        f"reaches the whole default VPC", f"let the operator reconcile ApiBridge "
                        f"{target.bridge.bridge.name} (is it running?), or apply `apibridge render`'s Subnet")
        else:
            walk.ok("subnet.fence", title, f"{len(target.bridge.acls)} ACLs as planned")
    elif subnet.acls:
        walk.ok("subnet.fence", title, f"{len(subnet.acls)} ACLs")
    else:
        walk.warn("subnet.fence", title, "no ACLs: pods on this subnet reach the whole default VPC and each other",
                  "use an ApiBridge with isolation: strict, or add ACLs (apibridge render shows the fence)")


def _expected_routes(cluster: Cluster, subnet: Subnet | None, target: _Target) -> list[routes_codec.Route]:
    if target.bridge is not None:
        return list(target.bridge.routes)
    out: list[routes_codec.Route] = []
    for ip in cluster.api_cluster_ips():
        gw = subnet.gateway(ip.version) if subnet else None
        out.append(routes_codec.Route(dst=host_prefix(ip), gw=str(gw) if gw else ""))
    return out


def _check_annotations(walk: _Walk, cluster: Cluster, pod: PodLike, provider: str, subnet: Subnet | None,
                       target: _Target) -> str:
    """The pod's own annotations; returns the interface name Multus gives the attachment."""
    want = (target.nad_namespace, target.nad_name)
    ref = f"{want[0]}/{want[1]}"
    ifname = f"{rules.ATTACHMENT_IFNAME_PREFIX}1"
    recreate = ("the pod was created without the mutation (webhook unavailable, or the pod predates the bridge): "
                "recreate it (kubectl rollout restart its owner, or spec.rollout: restart on the bridge)"
                if target.bridge else "add it to the pod template and recreate the pod")
    try:
        parsed = networks.parse(pod.annotations.get(rules.NETWORKS_ANNOTATION))
    except networks.NetworksError as exc:
        walk.broken("pod.networks", f"the pod's {rules.NETWORKS_ANNOTATION} lists {ref}", f"malformed: {exc}",
                    "fix the annotation; Multus rejects it")
        parsed = networks.NetworksAnnotation("comma", ())
    else:
        positions = [i for i, sel in enumerate(parsed.selections) if sel.ref(pod.namespace) == want]
        if positions:
            ifname = networks.interface_names(parsed)[positions[0]]
            walk.ok("pod.networks", f"the pod's {rules.NETWORKS_ANNOTATION} lists {ref}", f"as {ifname}")
        else:
            walk.broken("pod.networks", f"the pod's {rules.NETWORKS_ANNOTATION} lists {ref}",
                        f"it is {pod.annotations.get(rules.NETWORKS_ANNOTATION)!r}" if parsed.selections
                        else "the annotation is missing", recreate)
    routes_key = rules.provider_key(provider, rules.ROUTES)
    title = f"the pod's {routes_key} routes the API ClusterIP via the gateway"
    expected = _expected_routes(cluster, subnet, target)
    try:
        have = routes_codec.parse(pod.annotations.get(routes_key))
    except routes_codec.RoutesError as exc:
        walk.broken("pod.routes", title, f"malformed ({exc}): kube-ovn-cni fails the pod's sandbox",
                    "write a JSON list of {\"dst\": ..., \"gw\": ...} objects")
    else:
        by_dst = {r.dst: r.gw for r in have}
        wrong = [f"no route to {r.dst} (want via {r.gw or '?'})" if r.dst not in by_dst
                 else f"{r.dst} goes via {by_dst[r.dst] or '(no gateway)'}, not the subnet gateway {r.gw or '?'}"
                 for r in expected if by_dst.get(r.dst) != r.gw or not r.gw]
        if not expected:
            walk.broken("pod.routes", title, "the default/kubernetes Service has no ClusterIP to route",
                        "check the Service default/kubernetes")
        elif wrong:
            walk.broken("pod.routes", title, "; ".join(wrong),
                        recreate if target.bridge else f"set {routes_key} to {routes_codec.format(expected)}")
        else:
            walk.ok("pod.routes", title, ", ".join(f"{r.dst} via {r.gw}" for r in expected))
    ls_key = rules.provider_key(provider, rules.LOGICAL_SWITCH)
    pinned = pod.annotations.get(ls_key)
    title = f"the pod's {ls_key} names the attachment subnet"
    if pinned and subnet is not None and pinned != subnet.name:
        walk.broken("pod.logical_switch", title, f"it names {pinned!r}, not {subnet.name}",
                    f"set it to {subnet.name} or remove it")
    elif pinned:
        walk.ok("pod.logical_switch", title, pinned)
    else:
        walk.ok("pod.logical_switch", title, "unset: Kube-OVN picks the Subnet by provider")
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
            walk.warn("kubeovn.address", f"the allocated address is in Subnet {subnet.name}",
                      f"{ip} is not in {subnet.raw_cidr}", "recreate the pod after fixing the Subnet")
    else:
        walk.broken("kubeovn.allocated", f"kube-ovn-controller allocated an address ({allocated})",
                    f"{allocated} is not \"true\": kube-ovn-controller did not allocate the attachment",
                    "look at the pod's events (PodNetworkAllocationFailed, \"provider ... is not bound to any "
                    "subnet\") and at kube-ovn-controller's log")
    routed = rules.provider_key(provider, rules.ROUTED)
    if pod.annotations.get(routed) == "true":
        walk.ok("kubeovn.routed", f"kube-ovn-controller routed the port ({routed})", "true")
    else:
        where = f" (node {pod.node_name})" if pod.node_name else " — the pod is not scheduled yet"
        walk.broken("kubeovn.routed", f"kube-ovn-controller routed the port ({routed})",
                    f"{routed} is not \"true\"{where}",
                    "wait for scheduling, then check kube-ovn-controller's log for the pod")


def _check_multus(walk: _Walk, pod: PodLike, target: _Target, subnet: Subnet | None, ifname: str) -> None:
    ref = f"{target.nad_namespace}/{target.nad_name}"
    title = f"Multus attached {ref} on {ifname} with an address in the subnet"
    try:
        entries = netstatus.parse(pod.annotations.get(rules.NETWORK_STATUS_ANNOTATION))
    except netstatus.NetworkStatusError as exc:
        walk.broken("multus.status", title, f"{rules.NETWORK_STATUS_ANNOTATION} is {exc}",
                    "Multus did not attach the network: is Multus installed and the pod's sandbox running? "
                    "(kubectl describe pod shows the CNI error)")
        return
    entry = next((e for e in entries if e.name == ref), None)
    if entry is None:
        names = ", ".join(e.name for e in entries) or "nothing"
        walk.broken("multus.status", title, f"{rules.NETWORK_STATUS_ANNOTATION} has no entry for {ref} "
                                            f"(it lists {names})",
                    "Multus did not attach the NAD: check the networks annotation and Multus' log")
        return
    interface = entry.interface
    ips = list(entry.ips)
    if interface != ifname:
        walk.broken("multus.status", title, f"the {ref} entry is on interface {interface or '(none)'}, not {ifname}",
                    f"attach the NAD as {ifname} (first in the networks annotation, or name the interface)")
    elif subnet is not None and not _in_subnet(ips, subnet.cidrs):
        walk.broken("multus.status", title,
                    f"{ifname} has {', '.join(ips) or 'no address'}, not in {subnet.raw_cidr}",
                    "recreate the pod; if it persists, the NAD's provider and the Subnet do not match")
    else:
        walk.ok("multus.status", title, f"{ifname} {', '.join(ips)}")


def diagnose_objects(namespace: str, name: str, objects: list[dict[str, Any]]) -> Diagnosis:
    """Walk the chain for pod ``namespace/name`` over ``objects`` (which must include the pod)."""
    diagnosis = Diagnosis(pod=f"{namespace}/{name}")
    walk = _Walk(diagnosis)
    cluster, _ = kube.build_cluster(objects)
    pod = _find_pod(cluster, namespace, name)
    plan = make_plan(cluster)
    bridge_plan = bridge_for(cluster, plan, pod)
    target = _target(walk, cluster, pod, bridge_plan, bool(cluster.bridges))
    if target is None:
        return diagnosis
    diagnosis.bridge = bridge_plan.bridge.name if bridge_plan else None
    diagnosis.nad = f"{target.nad_namespace}/{target.nad_name}"
    provider = _check_nad(walk, cluster, target)
    diagnosis.provider = provider
    subnet = _check_subnet(walk, cluster, pod, provider, target)
    if subnet is not None:
        diagnosis.subnet = subnet.name
        _check_subnet_shape(walk, subnet, target)
    ifname = _check_annotations(walk, cluster, pod, provider, subnet, target)
    _check_kube_ovn(walk, pod, provider, subnet)
    _check_multus(walk, pod, target, subnet, ifname)
    return diagnosis


# ---- reading the cluster --------------------------------------------------------------------------------
async def _list(client: Client, kind: Kind) -> list[dict[str, Any]]:
    """All objects of ``kind``; an API that does not serve the kind (CRD not installed) has none."""
    try:
        return await client.list(kind)
    except ApiError as exc:
        if exc.code == 404:
            return []
        raise


async def diagnose(client: Client, namespace: str, name: str) -> Diagnosis:
    """Read what the chain depends on and walk it. Raises ``InputError`` when the pod does not exist."""
    pod = await client.get(kube.POD, name, namespace)
    if pod is None:
        raise InputError(f"pod {namespace}/{name} not found")
    objects: list[dict[str, Any]] = [pod]
    for kind in (kube.APIBRIDGE, kube.SUBNET, kube.VPC, kube.NAD, kube.NAMESPACE, kube.NODE):
        objects += await _list(client, kind)
    for svc_ns, svc_name in sorted(kube.PLANNED_SERVICES):
        svc = await client.get(kube.SERVICE, svc_name, svc_ns)
        if svc is not None:
            objects.append(svc)
    return diagnose_objects(namespace, name, [kube.slim(o) if o.get("kind") == "Node" else o for o in objects])
