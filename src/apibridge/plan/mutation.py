"""Which pods a bridge selects, and the annotations it adds to them.

The mutation is what the webhook patches, what ``inject`` prints and what the twin's pods get:
* ``k8s.v1.cni.cncf.io/networks`` gains ``<nadNamespace>/<nad>`` in the form the pod already uses
  (comma text is extended as written; a JSON list gets one more element);
* ``<provider>.kubernetes.io/logical_switch`` names the bridge's subnet (only if unset);
* ``<provider>.kubernetes.io/routes`` gains one route per destination not routed yet, appended to
  the JSON text the pod already has;
* ``<provider>.kubernetes.io/port_security: "true"`` (only if unset): Kube-OVN then locks the attachment
  port to its own MAC and IPs, so a pod cannot spoof another pod's address on the bridge's subnet. A pod
  that set it to anything else keeps its value; ``check`` (AB305) and the chart's policy refuse it.
It is append-only and idempotent: applying it to its own output changes nothing, and it never
removes or rewrites a value it did not add. A pod opts out with ``apibridge.dev/inject: "false"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, Literal

from apibridge.base.errors import InputError
from apibridge.kubeovn import networks, routes, rules
from apibridge.model.cluster import Cluster
from apibridge.model.load import Document
from apibridge.model.objects import KNOWN_KINDS, TEMPLATE_PATHS, PodLike, meta_of, parse_podlike
from apibridge.plan.types import BridgePlan, Plan


def opted_out(annotations: Mapping[str, str]) -> bool:
    return annotations.get(rules.INJECT_ANNOTATION, "").strip().lower() == "false"


class BridgeIndex:
    """Which bridges select a pod (or pod template): the one definition of selection.

    A bridge selects a pod of its own VPC (the pod's subnet decides, as in Kube-OVN) that does not opt
    out, whose namespace matches ``namespaceSelector`` (unset: any namespace of the VPC) and whose
    labels match ``podSelector``. Namespace selectors are evaluated once per (bridge, namespace), so
    the validator's pass over 100,000 pods and the webhook's hot path stay cheap.
    """

    def __init__(self, cluster: Cluster, plan: Plan) -> None:
        self.cluster = cluster
        self.plan = plan
        self._ns_match: dict[tuple[str, str], bool] = {}

    def _namespace_ok(self, bridge_plan: BridgePlan, namespace: str) -> bool:
        selector = bridge_plan.bridge.namespace_selector
        if selector is None:
            return True
        key = (bridge_plan.bridge.name, namespace)
        hit = self._ns_match.get(key)
        if hit is None:
            if len(self._ns_match) > _MEMO_LIMIT:
                self._ns_match.clear()
            hit = self._ns_match[key] = selector.matches(self.cluster.namespace_labels(namespace))
        return hit

    def namespace_bridges(self, namespace: str) -> list[BridgePlan]:
        """The bridges that may select pods of ``namespace`` (its VPC's, namespace selector matching)."""
        subnet = self.cluster.namespace_subnet(namespace)
        candidates = self.plan.by_vpc.get(subnet.vpc, ()) if subnet is not None else ()
        return [bp for bp in candidates if self._namespace_ok(bp, namespace)]

    def selecting(self, pod: PodLike, vpc: str | Literal[False] | None = False) -> list[BridgePlan]:
        """Every bridge that selects ``pod``, by name; the first is the one that injects it. ``vpc``: the
        pod's VPC when the caller already placed it (saves placing it twice per pod)."""
        if opted_out(pod.annotations):
            return []
        if vpc is False:
            vpc = self.cluster.pod_vpc(pod)
        candidates = self.plan.by_vpc.get(vpc, ()) if vpc is not None else ()
        return [
            bp
            for bp in candidates
            if self._namespace_ok(bp, pod.namespace) and bp.bridge.pod_selector.matches(pod.labels)
        ]

    def bridge_for(self, pod: PodLike) -> BridgePlan | None:
        """The bridge that injects ``pod``: the first (by name) of its VPC that selects it."""
        found = self.selecting(pod)
        return found[0] if found else None


_MEMO_LIMIT = 100_000


def bridge_for(cluster: Cluster, plan: Plan, pod: PodLike) -> BridgePlan | None:
    """The bridge that injects ``pod`` (one-off; build a ``BridgeIndex`` for many pods)."""
    return BridgeIndex(cluster, plan).bridge_for(pod)


def _append_routes_text(value: str, added: list[routes.Route]) -> str:
    """Insert ``added`` before the closing bracket of the JSON list ``value``, keeping its text."""
    body = value.rstrip()
    inner = body[:-1].rstrip()
    items = ",".join(routes.compact_json(r.to_json(), plain=not r.extra) for r in added)
    separator = "" if inner.endswith("[") else ","
    return f"{inner}{separator}{items}]"


def pod_mutation(annotations: Mapping[str, str], namespace: str, bridge_plan: BridgePlan) -> dict[str, str]:
    """Annotation values to set (changed keys only). Raises ``NetworksError``/``RoutesError`` on values
    that Multus or kube-ovn-cni would reject — the caller decides how to report them."""
    changes: dict[str, str] = {}
    networks_key, ls_key, routes_key, ps_key = rules.mutation_keys(bridge_plan.provider)
    current = annotations.get(networks_key)
    parsed = networks.parse(current)
    want = (bridge_plan.nad_namespace, bridge_plan.nad_name)
    if not any(sel.ref(namespace) == want for sel in parsed.selections):
        changes[networks_key] = networks.append(
            current,
            networks.NetworkSelection(
                name=bridge_plan.nad_name,
                namespace=bridge_plan.nad_namespace,
                interface=networks.free_interface(parsed),
            ),
        )
    if not annotations.get(ls_key):
        changes[ls_key] = bridge_plan.subnet_name
    if ps_key not in annotations:
        changes[ps_key] = rules.PORT_SECURITY_ON
    raw_routes = annotations.get(routes_key)
    existing = routes.parse(raw_routes) if raw_routes and raw_routes.strip() else []  # blank: replaced
    merged = routes.merge(existing, list(bridge_plan.routes))
    added = merged[len(existing) :]
    if added:
        keep_text = bool(raw_routes and raw_routes.rstrip().endswith("]"))
        changes[routes_key] = _append_routes_text(raw_routes or "", added) if keep_text else routes.format(merged)
    return changes


def api_attachments(
    annotations: Mapping[str, str], namespace: str, api_ips: tuple[Any, ...], bridge_plan: BridgePlan
) -> list[tuple[tuple[str, str], str]]:
    """The pod's other attachments that route an API ClusterIP: ((nad namespace, nad name), provider).

    An attachment is the pod's API attachment when its provider's routes annotation (``<nad>.<ns>.ovn``,
    the provider Kube-OVN derives) has a destination that contains an API ClusterIP — the seed's
    hand-written fix, or an older bridge's."""
    try:
        selections = networks.parse(annotations.get(rules.NETWORKS_ANNOTATION)).selections
    except networks.NetworksError:
        return []
    found = []
    for sel in selections:
        ref = sel.ref(namespace)
        if ref == (bridge_plan.nad_namespace, bridge_plan.nad_name):
            continue
        provider = rules.nad_provider(ref[1], ref[0])
        try:
            dsts = [
                routes.cni_dst(r.dst) for r in routes.parse(annotations.get(rules.provider_key(provider, rules.ROUTES)))
            ]
        except routes.RoutesError:
            continue
        if any(d is not None and ip.version == d.version and ip in d for d in dsts for ip in api_ips):
            found.append((ref, provider))
    return found


def replace_attachments(
    annotations: Mapping[str, str], namespace: str, api_ips: tuple[Any, ...], bridge_plan: BridgePlan
) -> tuple[dict[str, str], set[str]]:
    """``--replace-attachment``: the pod's annotations without its other API attachments (the NAD in the
    networks annotation and every ``<provider>.kubernetes.io/*`` key of it), and the keys removed."""
    old = api_attachments(annotations, namespace, api_ips, bridge_plan)
    if not old:
        return dict(annotations), set()
    refs = {ref for ref, _ in old}
    prefixes = tuple(rules.provider_key(provider, "") for _, provider in old)
    out = {k: v for k, v in annotations.items() if not k.startswith(prefixes)}
    removed = {k for k in annotations if k.startswith(prefixes)}
    parsed = networks.parse(annotations.get(rules.NETWORKS_ANNOTATION))
    kept = tuple(sel for sel in parsed.selections if sel.ref(namespace) not in refs)
    if kept:
        out[rules.NETWORKS_ANNOTATION] = networks.NetworksAnnotation(parsed.form, kept).format()
    else:
        out.pop(rules.NETWORKS_ANNOTATION, None)
        removed.add(rules.NETWORKS_ANNOTATION)
    return out, removed


def mutate_annotations(
    cluster: Cluster, plan: Plan, pod: PodLike, index: BridgeIndex | None = None
) -> tuple[BridgePlan | None, dict[str, str]]:
    """The bridge selecting ``pod`` and the annotation changes it needs (empty when none)."""
    bridge_plan = (index or BridgeIndex(cluster, plan)).bridge_for(pod)
    if bridge_plan is None:
        return None, {}
    return bridge_plan, pod_mutation(pod.annotations, pod.namespace, bridge_plan)


def apply_to_body(
    body: Mapping[str, Any],
    template_path: tuple[str, ...],
    changes: Mapping[str, str],
    removed: Iterable[str] = (),
) -> dict[str, Any]:
    """The manifest with ``changes`` set on the pod (template) annotations; ``body`` is not modified.

    Only the mappings on the path down to the annotations are copied; everything else is shared
    with the input (callers treat manifests as read-only values).
    """
    out = dict(body)
    node: dict[str, Any] = out
    for part in (*template_path, "metadata"):
        child = node.get(part)
        node[part] = dict(child) if isinstance(child, Mapping) else {}
        node = node[part]
    annotations = node.get("annotations")
    merged = {**annotations, **changes} if isinstance(annotations, Mapping) else dict(changes)
    for key in removed:
        if key not in changes:
            merged.pop(key, None)
    node["annotations"] = merged
    return out


def _annotation_error(pod: PodLike, key: str, exc: ValueError) -> InputError:
    prefix = ".".join(pod.template_path)
    where = f'{prefix + "." if prefix else ""}metadata.annotations["{key}"]'
    return InputError(
        f"cannot add to this annotation: {exc}",
        replace(pod.meta.location, field=where),
        hint="fix the annotation; Multus or kube-ovn-cni would reject it too",
    )


def _changes(
    index: BridgeIndex, pod: PodLike, api_ips: tuple[Any, ...], replace_attachment: bool
) -> tuple[BridgePlan | None, dict[str, str], set[str]]:
    """The bridge that injects ``pod``, the annotations it sets and the ones it removes."""
    bridge_plan = index.bridge_for(pod)
    changes: dict[str, str] = {}
    removed: set[str] = set()
    if bridge_plan is not None:
        base: Mapping[str, str] = pod.annotations
        if replace_attachment:
            base, removed = replace_attachments(pod.annotations, pod.namespace, api_ips, bridge_plan)
        try:
            rewritten = {k: v for k, v in base.items() if pod.annotations.get(k) != v}
            changes = {**rewritten, **pod_mutation(base, pod.namespace, bridge_plan)}
        except networks.NetworksError as exc:
            raise _annotation_error(pod, rules.NETWORKS_ANNOTATION, exc) from None
        except routes.RoutesError as exc:
            key = rules.provider_key(bridge_plan.provider, rules.ROUTES)
            raise _annotation_error(pod, key, exc) from None
    return bridge_plan, changes, removed


def inject_documents(
    cluster: Cluster, plan: Plan, documents: list[Document], *, replace_attachment: bool = False
) -> list[dict[str, Any]]:
    """Every document's body, with the mutation applied to each Pod and pod template a bridge selects.

    ``replace_attachment``: a pod that already routes the API through another attachment (the seed's
    hand-written one) loses it, routes included, and gets the bridge's instead of a second one."""
    api_ips = cluster.api_cluster_ips()
    out: list[dict[str, Any]] = []
    known = {id(p.raw): p for p in cluster.pods}  # already parsed when the cluster was built
    index = BridgeIndex(cluster, plan)
    # The bridge and the changes depend only on the pod's namespace, labels and annotations; pods from one
    # template share those maps (``objects.parse_podlike``), so each distinct shape is worked out once. The
    # pod is kept in the value: its maps stay alive, so their ids cannot be reused while the table lives.
    shapes: dict[tuple[str, int, int], tuple[BridgePlan | None, dict[str, str], set[str], PodLike]] = {}
    for doc in documents:
        kind, api = doc.body.get("kind"), doc.body.get("apiVersion")
        if isinstance(kind, str) and kind in TEMPLATE_PATHS and (api, kind) in KNOWN_KINDS:
            pod = known.get(id(doc.body)) or parse_podlike(doc, meta_of(doc))
            shape = (pod.namespace, id(pod.labels), id(pod.annotations))
            found = shapes.get(shape)
            if found is None:
                found = shapes[shape] = (*_changes(index, pod, api_ips, replace_attachment), pod)
            changes, removed = found[1], found[2]
            if changes or removed:
                out.append(apply_to_body(doc.body, pod.template_path, changes, removed))
                continue
        out.append(doc.body)
    return out
