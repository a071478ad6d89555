"""Pod rules: the networks annotation, the NADs it names, the attachment subnets and the routes.

Everything here is what Multus and kube-ovn-cni do at sandbox creation, where a mistake either
fails the pod (unparseable annotations, an unbound provider) or — worse — starts it without the
route it needed. A pod selected by an ApiBridge is judged *after* the bridge's injection, so a clash
between the injected annotations and hand-written ones shows up here too.

Speed: 100,000 pods share a few dozen distinct annotation sets. ``PodAnalyzer`` keys the whole
analysis on what it depends on (namespace, primary subnet, VPC, bridge, the relevant annotations)
and pins cached results to each pod; per pod the cost is a dict lookup and the findings it has.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from apibridge.kubeovn import networks, routes, rules
from apibridge.model.cluster import IMPLIED, Cluster
from apibridge.model.objects import Nad, PodLike, Subnet
from apibridge.plan.mutation import pod_mutation
from apibridge.plan.types import BridgePlan

from ..findings import CODES, Finding, finding
from ..index import View, effective_gateway
from ..intent import intent_context, pod_intent
from .routes import Iface, Problem, RouteContext, check_route, parse_dst
from .tenancy import own_way
from .unreached import CODE as UNREACHED
from .unreached import unreached

SUFFIX_ROUTES = rules.provider_key_suffix(rules.ROUTES)
SUFFIX_LS = rules.provider_key_suffix(rules.LOGICAL_SWITCH)
SUFFIX_DEFAULT_ROUTE = rules.provider_key_suffix(rules.DEFAULT_ROUTE)
_RELEVANT_SUFFIXES = (*rules.MUTATION_KEY_SUFFIXES, SUFFIX_DEFAULT_ROUTE)  # what the mutation writes, and more


def annotation_field(key: str) -> str:
    return f'metadata.annotations["{key}"]'


@dataclass(frozen=True)
class Template:
    """A pod finding without the pod: code, field below the pod's metadata, text."""

    code: str
    field: str
    message: str
    hint: str


@dataclass(frozen=True)
class Attachment:
    provider: str  # the NAD's provider: what the routes annotation key uses
    full_provider: str  # with ".<ifname>" when the same NAD is attached twice
    kind: Literal["ovn", "ipam"]
    nad: tuple[str, str]
    subnet: Subnet | None


@dataclass
class PodAnalysis:
    """What one distinct (namespace, placement, bridge, annotations) combination yields, and which pods have it."""

    namespace: str
    vpc: str | None
    bridge: str | None
    templates: list[Template] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    api_subnets: set[str] = field(default_factory=set)  # attachment subnets that carry API traffic
    clusterip_subnets: set[str] = field(default_factory=set)  # ... that carry any ClusterIP traffic
    handwritten_api: list[str] = field(default_factory=list)  # other providers routing the API (AB114)
    api_families: set[int] = field(default_factory=set)  # API ClusterIP families routed via a default-VPC attachment
    nad_refs: list[tuple[str, str]] = field(default_factory=list)
    providers_named: set[str] = field(default_factory=set)  # providers of the pod's provider-scoped keys
    pods: int = 0  # how many pods share this analysis
    samples: list[str] = field(default_factory=list)  # the smallest few of their refs, sorted (for messages)

    def count(self, refs: list[str]) -> None:
        """More pods with this analysis; keep the ``SAMPLES`` smallest refs so messages do not depend on order."""
        self.pods += len(refs)
        self.samples = heapq.nsmallest(SAMPLES, [*self.samples, *refs])


SAMPLES = 3


class _Notes:
    """Collects templates; marks values that came from the bridge's injection."""

    def __init__(self, injected: Mapping[str, str], bridge: BridgePlan | None) -> None:
        self.items: list[Template] = []
        self.injected = injected
        self.bridge = bridge

    def add(self, code: str, key: str, suffix: str, message: str, hint: str) -> None:
        if key in self.injected and self.bridge is not None:
            message += f" (value after {self.bridge.bridge.meta.ref} injects its annotations)"
        self.items.append(Template(code, annotation_field(key) + suffix, message, hint))

    def problem(self, key: str, p: Problem) -> None:
        self.add(p.code, key, p.suffix, p.message, p.hint)


T = TypeVar("T")


def _parsed_once(cache: dict[str, T | str], value: str, parse: Callable[[str], T], error: type[ValueError]) -> T | str:
    """``parse(value)``, or its error message, computed once per distinct annotation value."""
    found = cache.get(value)
    if found is None:
        try:
            found = parse(value)
        except error as exc:
            found = str(exc)
        cache[value] = found
    return found


class PodAnalyzer:
    def __init__(self, view: View) -> None:
        self.view = view
        self._cache: dict[tuple[object, ...], PodAnalysis] = {}
        self._networks: dict[str, networks.NetworksAnnotation | str] = {}
        self._routes: dict[str, list[routes.Route] | str] = {}
        self._nad_route_families: dict[tuple[str, str], set[int]] = {}
        names: dict[str, list[str]] = defaultdict(list)
        for ns, name in sorted(view.nads):
            names[name].append(ns)
        self._nad_namespaces = dict(names)
        self._nad_namespace_set = {ns for ns, _ in view.cluster.nads}  # namespaces whose NADs the input has
        self.services = view.service_index
        self.intents = intent_context(view.cluster, view.plan)

    # ---- parsing, once per distinct value --------------------------------------------------------------
    def _parse_networks(self, value: str) -> networks.NetworksAnnotation | str:
        return _parsed_once(self._networks, value, networks.parse, networks.NetworksError)

    def _parse_routes(self, value: str) -> list[routes.Route] | str:
        return _parsed_once(self._routes, value, routes.parse, routes.RoutesError)

    def _nad_api_families(self, key: tuple[str, str], nad: Nad | None) -> set[int]:
        """Families of API ClusterIPs that the NAD config's own ``routes`` carry (kube-ovn-cni adds them)."""
        if key not in self._nad_route_families:
            fams: set[int] = set()
            for r in nad.config.routes if nad is not None and nad.config is not None else []:
                dst = parse_dst(str(r.get("dst", ""))) if isinstance(r, dict) else None
                if dst is not None:
                    fams.update(ip.version for ip in self.view.api_ips if ip.version == dst.version and ip in dst)
            self._nad_route_families[key] = fams
        return self._nad_route_families[key]

    # ---- the analysis ------------------------------------------------------------------------------------
    def analyse(self, pod: PodLike, primary: Subnet | None, vpc: str | None, bridge: BridgePlan | None) -> PodAnalysis:
        relevant = tuple(
            sorted(
                (k, v)
                for k, v in pod.annotations.items()
                if k == rules.NETWORKS_ANNOTATION or k.endswith(_RELEVANT_SUFFIXES)
            )
        )
        key = (
            pod.namespace,
            primary.name if primary else None,
            vpc,
            bridge.bridge.meta.name if bridge else None,
            relevant,
        )
        result = self._cache.get(key)
        if result is None:
            result = self._analyse(pod.namespace, primary, vpc, bridge, dict(relevant))
            self._cache[key] = result
        return result

    def analyses(self) -> Iterable[PodAnalysis]:
        """Every distinct analysis made so far, in the order first seen."""
        return self._cache.values()

    def _analyse(
        self, namespace: str, primary: Subnet | None, vpc: str | None, bridge: BridgePlan | None, ann: dict[str, str]
    ) -> PodAnalysis:
        injected: dict[str, str] = {}
        if bridge is not None:
            try:
                injected = pod_mutation(ann, namespace, bridge)
            except (networks.NetworksError, routes.RoutesError):
                injected = {}  # the pod's own value is broken; reported below, nothing injected
        eff = {**ann, **injected}
        notes = _Notes(injected, bridge)
        result = PodAnalysis(namespace, vpc, bridge.bridge.name if bridge else None)
        result.providers_named = {k[: -len(s)] for k in eff for s in _RELEVANT_SUFFIXES if k.endswith(s)}
        primary_ls = eff.get(rules.PRIMARY_LOGICAL_SWITCH_ANNOTATION)
        if primary_ls and primary_ls not in self.view.subnets:
            notes.add(
                "AB039",
                rules.PRIMARY_LOGICAL_SWITCH_ANNOTATION,
                "",
                f"logical_switch {primary_ls!r} names no Subnet; kube-ovn-controller cannot allocate eth0's address",
                "name an existing Subnet of the pod's VPC",
            )
        attachments = self._attachments(namespace, eff, injected, bridge, notes, result)
        result.attachments = attachments
        self._routes_rules(namespace, eff, attachments, primary, vpc, bridge, notes, result)
        # AB214 (unreached.py): the intent, read as lab verify reads it, against the path found above
        own_nad = f"{bridge.nad_namespace}/{bridge.nad_name}" if bridge else ""
        intent = pod_intent(ann, namespace, bridge.bridge if bridge else None, self.intents, nad=own_nad)
        found = [(t.code, t.field) for t in notes.items]
        for key, message, hint in unreached(intent, vpc, result.api_families, found):
            notes.add(UNREACHED, key, "", message, hint)
        result.templates = notes.items
        return result

    def _attachments(
        self,
        namespace: str,
        eff: dict[str, str],
        injected: Mapping[str, str],
        bridge: BridgePlan | None,
        notes: _Notes,
        result: PodAnalysis,
    ) -> list[Attachment]:
        raw = eff.get(rules.NETWORKS_ANNOTATION)
        if raw is None:
            return []
        key = rules.NETWORKS_ANNOTATION
        parsed = self._parse_networks(raw)
        if isinstance(parsed, str):
            notes.add(
                "AB030",
                key,
                "",
                f"{parsed}; Multus refuses the pod",
                "write [namespace/]name[@interface] "
                'items separated by commas, or a JSON list of {"name", "namespace"} objects',
            )
            return []
        names = Counter(networks.interface_names(parsed))
        clashes = sorted(n for n, c in names.items() if c > 1)
        if clashes:
            notes.add(
                "AB042",
                key,
                "",
                f"two attachments would get interface {', '.join(clashes)} (Multus names "
                "unnamed ones net<position>); Multus fails the pod",
                "name the interfaces explicitly with @<ifname> so that they differ",
            )
        counts = Counter(sel.ref(namespace) for sel in parsed.selections)
        out: list[Attachment] = []
        last = len(parsed.selections) - 1
        for i, sel in enumerate(parsed.selections):
            ref = sel.ref(namespace)
            result.nad_refs.append(ref)
            was_injected = key in injected and i == last
            # a bridge's own NAD (injected now, or by an earlier inject/webhook): AB115 on the bridge says it
            ours = was_injected or (bridge is not None and ref == (bridge.nad_namespace, bridge.nad_name))
            nad_ns, nad_name = ref
            if sel.namespace and sel.namespace not in (namespace, rules.MULTUS_GLOBAL_NAMESPACE) and not ours:
                notes.add(
                    "AB038",
                    key,
                    "",
                    f"{sel.namespace}/{sel.name} is in namespace {sel.namespace}, not in the "
                    f"pod's namespace {namespace} or {rules.MULTUS_GLOBAL_NAMESPACE}; with Multus "
                    "namespaceIsolation on, the reference is refused",
                    f"keep Multus namespaceIsolation off, or put the NAD in {rules.MULTUS_GLOBAL_NAMESPACE} "
                    f"or in {namespace}",
                )
            nad = self.view.nads.get(ref)
            kind: Literal["ovn", "ipam"]
            if nad is None:
                # Open world: input is usually partial, so an absent NAD is unknown, not missing. It is an
                # error only with evidence that it should be there (AB031), else a warning (AB044). NADs
                # listed from a live cluster are a closed world: absent there is missing (AB031).
                others = [ns for ns in self._nad_namespaces.get(nad_name, []) if ns != nad_ns]
                implied = "" if sel.namespace else f" (no namespace given, so the pod's namespace {namespace})"
                derived = rules.nad_provider(nad_name, nad_ns)
                listed = rules.NAD_KIND.kind in self.view.cluster.listed
                evidence = (
                    f"a NAD of that name is in namespace {others[0]}"
                    if others
                    else f"Subnet {subnets[0].name} names its provider {derived}"
                    if (subnets := self.view.subnets_for_provider(derived))
                    else f"the input has namespace {nad_ns}'s other NADs"
                    if nad_ns in self._nad_namespace_set and not listed
                    else "the cluster's NADs were listed from the API server"
                    if listed
                    else ""
                )
                hint = (
                    f"did you mean {others[0]}/{nad_name}? Write the NAD's namespace in the reference"
                    if others
                    else f"create NetworkAttachmentDefinition {nad_ns}/{nad_name}, or include it in the input"
                )
                if evidence:
                    notes.add(
                        "AB031",
                        key,
                        "",
                        f"NetworkAttachmentDefinition {nad_ns}/{nad_name}{implied} "
                        f"{self.view.cluster.absent(rules.NAD_KIND.kind)}, though {evidence}; Multus fails the pod",
                        hint,
                    )
                else:
                    notes.add(
                        "AB044",
                        key,
                        "",
                        f"NetworkAttachmentDefinition {nad_ns}/{nad_name}{implied} is not in the input, so it "
                        "is not checked (if the cluster lacks it too, Multus fails the pod)",
                        f"include {nad_ns}/{nad_name} in the input to check it",
                    )
                provider, kind = rules.nad_provider(nad_name, nad_ns), "ovn"
            elif nad.config is None or nad.config.kind in ("foreign", "empty"):
                continue  # broken config: reported on the NAD; foreign: not Kube-OVN's business
            else:
                kind = "ovn" if nad.config.kind == "kube-ovn" else "ipam"
                provider = rules.nad_provider(nad_name, nad_ns, ipam_only=kind == "ipam")
            twice = counts[ref] > 1 and bool(sel.interface)
            full = rules.nad_provider(
                nad_name, nad_ns, ipam_only=kind == "ipam", ifname=sel.interface if twice else None
            )
            subnet = self._attachment_subnet(full, eff, notes)
            out.append(Attachment(provider, full, kind, ref, subnet))
        return out

    def _attachment_subnet(self, provider: str, eff: dict[str, str], notes: _Notes) -> Subnet | None:
        """``getPodAttachmentNet``: the provider's logical_switch annotation, else the Subnet with that provider."""
        ls_key = rules.provider_key(provider, rules.LOGICAL_SWITCH)
        named = eff.get(ls_key)
        if named:
            subnet = self.view.subnets.get(named)
            if subnet is None:
                notes.add(
                    "AB039",
                    ls_key,
                    "",
                    f"logical_switch {named!r} names no Subnet; kube-ovn-controller "
                    f"cannot allocate the {provider} attachment",
                    "name an existing Subnet, or remove the annotation to use the Subnet whose provider matches",
                )
            elif subnet.provider != rules.subnet_provider(provider):
                notes.add(
                    "AB040",
                    ls_key,
                    "",
                    f"logical_switch {named!r} has provider {subnet.provider!r}, not "
                    f"{rules.subnet_provider(provider)!r}; the attachment lands on a subnet that was not made "
                    "for it",
                    "remove the annotation, or point it at the Subnet made for this NAD",
                )
            return subnet
        candidates = self.view.subnets_for_provider(provider)
        return candidates[0] if candidates else None

    def _routes_rules(
        self,
        namespace: str,
        eff: dict[str, str],
        attachments: list[Attachment],
        primary: Subnet | None,
        vpc: str | None,
        bridge: BridgePlan | None,
        notes: _Notes,
        result: PodAnalysis,
    ) -> None:
        ctx = RouteContext(self.view, self.services, vpc, primary)
        by_provider: dict[str, Attachment] = {}
        for a in attachments:
            by_provider.setdefault(a.provider, a)
            by_provider.setdefault(a.full_provider, a)
        api_families: set[int] = set()
        for a in attachments:
            dr_key = rules.provider_key(a.full_provider, rules.DEFAULT_ROUTE)
            if a.kind == "ovn" and eff.get(dr_key, "").strip().lower() == "true":
                notes.add(
                    "AB205",
                    dr_key,
                    "",
                    f"default_route \"true\" makes {a.provider}'s interface the pod's default route, replacing eth0's",
                    "remove the annotation; route only the destinations the attachment is for",
                )
        for key in sorted(k for k in eff if k.endswith(SUFFIX_ROUTES)):
            provider = key[: -len(SUFFIX_ROUTES)]
            iface: Iface
            att: Attachment | None = None
            if provider == rules.OVN_PROVIDER:
                iface = Iface(provider, "primary", primary)
            else:
                att = by_provider.get(provider)
                if att is None:
                    notes.add(
                        "AB210",
                        key,
                        "",
                        f"the pod attaches no network with provider {provider!r}; "
                        "kube-ovn-cni never reads this annotation",
                        f"attach the NAD in {rules.NETWORKS_ANNOTATION}, or fix the provider part of the key",
                    )
                    continue
                iface = Iface(provider, att.kind, att.subnet)
            parsed = self._parse_routes(eff[key])
            if isinstance(parsed, str):
                notes.add(
                    "AB201",
                    key,
                    "",
                    f'{parsed}; kube-ovn-cni fails the pod\'s sandbox ("invalid routes for pod {namespace}/...")',
                    'write a JSON list: [{"dst":"10.96.0.1/32","gw":"<attachment subnet gateway>"}]',
                )
                continue
            carried_api: set[int] = set()
            for i, route in enumerate(parsed):
                outcome = check_route(i, route, iface, ctx)
                for p in outcome.problems:
                    notes.problem(key, p)
                carried_api |= outcome.api_families
                if att is not None and att.subnet is not None and outcome.carries_clusterip:
                    result.clusterip_subnets.add(att.subnet.name)
            if att is not None and carried_api:
                api_families |= carried_api
                if att.kind == "ovn" and att.subnet is not None and att.subnet.vpc == rules.DEFAULT_VPC:
                    result.api_families |= carried_api
                if att.subnet is not None:
                    result.api_subnets.add(att.subnet.name)
                if bridge is None or provider != bridge.provider:
                    result.handwritten_api.append(provider)
                if bridge is not None and provider != bridge.provider:
                    nad_ns, nad_name = att.nad
                    notes.add(
                        "AB116",
                        rules.NETWORKS_ANNOTATION,
                        "",
                        f"already routes the API server through {nad_ns}/{nad_name} ({key}); "
                        f"{bridge.bridge.meta.ref} adds {bridge.nad_namespace}/{bridge.nad_name}: two routes "
                        "for the same ClusterIP through two gateways",
                        "apibridge inject --replace-attachment swaps the old attachment and its routes for the "
                        "bridge's; or remove them from the pod",
                    )
        for a in attachments:
            fams = self._nad_api_families(a.nad, self.view.nads.get(a.nad))
            api_families |= fams
            if fams and a.kind == "ovn" and a.subnet is not None and a.subnet.vpc == rules.DEFAULT_VPC:
                result.api_families |= fams
            if fams and a.subnet is not None:
                result.api_subnets.add(a.subnet.name)
                result.clusterip_subnets.add(a.subnet.name)
        self._api_coverage(vpc, attachments, api_families, notes)

    def _api_coverage(
        self, vpc: str | None, attachments: list[Attachment], api_families: set[int], notes: _Notes
    ) -> None:
        api_ips = self.view.api_ips
        if not api_ips or vpc is None or vpc == rules.DEFAULT_VPC:
            return
        api_atts = [
            a for a in attachments if a.kind == "ovn" and a.subnet is not None and a.subnet.vpc == rules.DEFAULT_VPC
        ]
        if not api_atts:
            return
        att = api_atts[0]
        nad = self.view.nads.get(att.nad)
        config = nad.config if nad is not None else None
        # the key kube-ovn-cni reads (a NAD without provider: eth0's), not the one named after the NAD
        if config is not None and config.kind == "kube-ovn":
            key = config.routes_key()
        else:
            key = rules.provider_key(att.provider, rules.ROUTES)
        wanted = sorted({ip.version for ip in api_ips})
        if not api_families:
            shown = ", ".join(f"{ip}/{ip.max_prefixlen}" for ip in api_ips)
            gw = (effective_gateway(att.subnet, api_ips[0].version) if att.subnet else None) or "<gateway>"
            owner = self.view.subnet_owner(att.subnet.name) if att.subnet else None
            foreign = owner is not None and owner.bridge.vpc != vpc  # another tenant's bridge (AB304)
            notes.add(
                "AB211",
                rules.NETWORKS_ANNOTATION if foreign else key,  # where to remove it, not where to finish it
                "",
                f"the pod attaches {att.nad[0]}/{att.nad[1]} (subnet "
                f"{att.subnet.name if att.subnet else '?'} in the default VPC) but routes no API ClusterIP "
                f"({shown}) through it: it gets the interface, not the API server",
                own_way(self.view.plan, vpc)
                if foreign
                else f'add {key}: \'[{{"dst":"{api_ips[0]}/{api_ips[0].max_prefixlen}","gw":"{gw}"}}]\'',
            )
        elif len(wanted) > 1 and len(api_families) < len(wanted):
            missing = [ip for ip in api_ips if ip.version not in api_families]
            notes.add(
                "AB213",
                key,
                "",
                f"the API server is dual-stack but only IPv{min(api_families)} is routed "
                f"through the attachment; {', '.join(map(str, missing))} stays unreachable",
                "clients use the family of KUBERNETES_SERVICE_HOST; route both if any client may use the other",
            )


def pin(pod: PodLike, analysis: PodAnalysis) -> list[Finding]:
    """The analysis' templates as findings on this pod (or workload), fields below its pod template."""
    prefix = ".".join(pod.template_path) + "." if pod.template_path else ""
    ref = pod.meta.ref
    return [
        Finding(t.code, CODES[t.code].severity, ref, prefix + t.field, t.message, t.hint) for t in analysis.templates
    ]


def _network_keys(value: object) -> list[str]:
    if not isinstance(value, Mapping):
        return []
    return sorted(
        str(k)
        for k in value
        if isinstance(k, str)
        and (
            k == rules.NETWORKS_ANNOTATION
            or k.endswith(_RELEVANT_SUFFIXES)
            or k == rules.PRIMARY_LOGICAL_SWITCH_ANNOTATION
        )
    )


def namespace_absent(cluster: Cluster, namespace: str) -> bool:
    """Does a live cluster's complete listing of Namespaces lack ``namespace`` (AB046)? From files alone the
    model implies the namespace (open world: it is merely not in the input), so never."""
    if "Namespace" not in cluster.listed:
        return False
    ns = cluster.namespaces.get(namespace)
    return ns is None or ns.meta.location.source == IMPLIED


def absent_namespace(pod: PodLike) -> Finding:
    """AB046 on a pod (or workload) whose namespace is ``namespace_absent``: one from a file applied on top,
    whose create the API server refuses (``namespaces "x" not found``)."""
    return finding(
        "AB046",
        pod.meta.ref,
        "metadata.namespace",
        f"namespace {pod.namespace!r} does not exist in the cluster, so the API server refuses this object",
        f"create Namespace {pod.namespace} first, or fix metadata.namespace",
    )


def misplaced(pod: PodLike) -> list[Finding]:
    """Pod network annotations where no pod will carry them (AB043): on a workload's own metadata instead
    of its pod template's, or indented out of the template's ``metadata`` (``spec.template.annotations``,
    ``spec.annotations``). Kubernetes keeps them there without a word, and the pods start without the
    attachment or its routes: the pod that wanted the API server does not get it."""
    if not pod.template_path:
        return []
    out: list[Finding] = []
    template_ref = ".".join(pod.template_path)
    places: list[tuple[str, object]] = [("metadata.annotations", pod.meta.annotations)]
    node: object = pod.raw
    walked: list[str] = []
    for part in pod.template_path:  # every level down to the template: a mis-indented block lands on one
        if not isinstance(node, Mapping):
            break
        if walked:
            places.append((".".join(walked) + ".annotations", node.get("annotations")))
        node = node.get(part)
        walked.append(part)
    if isinstance(node, Mapping):
        places.append((template_ref + ".annotations", node.get("annotations")))
        spec = node.get("spec")
        if isinstance(spec, Mapping):
            places.append((template_ref + ".spec.annotations", spec.get("annotations")))
    for where, value in places:
        keys = _network_keys(value)
        if keys:
            out.append(
                Finding(
                    "AB043",
                    CODES["AB043"].severity,
                    pod.meta.ref,
                    where,
                    f"{', '.join(keys)} at {where}: no pod carries annotations from there, so the pods start "
                    "without this attachment or its routes",
                    f"move them to {template_ref}.metadata.annotations (the pod template's own metadata)",
                )
            )
    return out
