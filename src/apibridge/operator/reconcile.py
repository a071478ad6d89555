"""Desired vs. actual for every bridge at once: which NADs and Subnets to create, update or delete.

Level-based, not edge-based: each pass looks at the whole world (the watch cache), plans every bridge
with the same planner ``apibridge render`` uses, and derives the writes from the difference. Nothing
depends on which event woke us, so a controller killed between two writes simply finishes the job on
its next pass — there is no intermediate state to recover.

Ownership rules (the reason this module exists):

* An object is ours only if it carries ``apibridge.dev/bridge: <bridge>`` and
  ``app.kubernetes.io/managed-by: apibridge`` and has the name the planner gives that bridge. A foreign
  object holding the name is never updated, adopted or deleted: the bridge reports ``NameTaken``.
* Updates are written only when something we own differs: the planner's labels, our controller
  ownerReference and the spec keys the planner sets (plus the ones it may omit, so turning
  ``isolation: open`` removes the ACLs). Keys that someone else adds to the spec (Kube-OVN defaulting)
  are left alone, so the controller never fights kube-ovn-controller.
* Deletion has two paths (see ``apibridge.operator``): ownerReferences let Kubernetes' garbage collector
  remove the objects when a bridge is deleted even while the operator is down, and the orphan sweep here
  removes what GC cannot know about — an object left behind when ``nadNamespace`` changes, or one whose
  ownerReference was never written because the controller died between create and status.
  A bridge that exists but cannot be planned (invalid spec), or whose plan the verdict refuses
  (``check.verdict``), keeps its objects: a typo must not cut the API server off from running pods.
  Such a bridge gets no creates and no updates; the webhook stops injecting it.
* A bridge's NAD and Subnet are created both or neither: a name conflict on one blocks the other's create.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from apibridge.base.kinds import Kind
from apibridge.check.findings import Finding
from apibridge.check.verdict import Verdict
from apibridge.kubeovn import rules
from apibridge.model.cluster import Cluster
from apibridge.operator import kube
from apibridge.operator.kube import Rejected
from apibridge.plan.types import BridgePlan, Plan

# Spec keys the planner may leave out of a manifest; when it does, they must be absent on the object too.
OPTIONAL_PLANNED_KEYS: dict[str, tuple[str, ...]] = {"Subnet": ("acls",), "NetworkAttachmentDefinition": ()}

ObjectState = Literal["in-sync", "create", "update", "name-taken", "terminating", "blocked"]


@dataclass(frozen=True)
class Write:
    """One change to make through the API."""

    op: Literal["create", "update", "delete"]
    kind: Kind
    name: str
    namespace: str | None
    bridge: str
    body: dict[str, Any] = field(default_factory=dict)  # create: manifest; update: merge patch
    uid: str | None = None  # delete precondition

    @property
    def ref(self) -> str:
        return f"{self.kind.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind.kind}/{self.name}"


@dataclass(frozen=True)
class ObjectVerdict:
    kind: str
    ref: str
    state: ObjectState
    message: str = ""


@dataclass
class BridgeDecision:
    name: str
    body: Mapping[str, Any]
    plan: BridgePlan | None
    rejected: Rejected | None = None
    writes: list[Write] = field(default_factory=list)
    verdicts: list[ObjectVerdict] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    affecting: list[Finding] = field(default_factory=list)  # the verdict's findings on others about this bridge
    valid: bool = True  # the plan's verdict on this bridge (``check.verdict``): False means no writes
    kept: list[str] = field(default_factory=list)  # for a refused bridge: its objects that exist and stay

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


@dataclass
class Decisions:
    bridges: dict[str, BridgeDecision] = field(default_factory=dict)
    orphans: list[Write] = field(default_factory=list)


def desired_object(manifest: Mapping[str, Any], bridge: Mapping[str, Any]) -> dict[str, Any]:
    """The planner's manifest as created: unchanged, plus our controller ownerReference."""
    body = copy.deepcopy(dict(manifest))
    body["metadata"]["ownerReferences"] = [kube.owner_reference(bridge)]
    return body


def _is_ours(obj: Mapping[str, Any], bridge: str) -> bool:
    labels = kube.labels_of(obj)
    return rules.owned_by_bridge(labels, bridge)


def _owner_refs(actual: Mapping[str, Any], bridge: Mapping[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The ownerReferences the object should have, and whether that differs from what it has."""
    ours = kube.owner_reference(bridge)
    current = [r for r in kube.meta(actual).get("ownerReferences") or [] if isinstance(r, dict)]
    wanted: list[dict[str, Any]] = []
    placed = False
    for r in current:
        if r.get("kind") == ours["kind"] and str(r.get("apiVersion", "")).startswith(f"{rules.APIBRIDGE_GROUP}/"):
            if not placed:  # our reference (or a stale one from an earlier incarnation of the bridge) in place
                wanted.append(ours)
                placed = True
            continue
        wanted.append(r)
    if not placed:
        wanted.append(ours)
    return wanted, wanted != current


def update_patch(
    actual: Mapping[str, Any], manifest: Mapping[str, Any], bridge: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The merge patch that brings ``actual`` to the planner's ``manifest``, or None when nothing we own differs.

    It carries ``metadata.resourceVersion``, so a concurrent change makes it fail with 409 instead of
    overwriting what it did not see.
    """
    kind = str(manifest.get("kind"))
    want_labels = kube.labels_of(manifest)
    have_labels = kube.labels_of(actual)
    labels_differ = any(have_labels.get(k) != v for k, v in want_labels.items())
    # the planner's annotations (a bridge Subnet's VPC subnets, read by the admission policy); others are left alone
    want_ann = kube.meta(manifest).get("annotations") or {}
    have_ann = kube.meta(actual).get("annotations") or {}
    ann_patch = {k: v for k, v in want_ann.items() if have_ann.get(k) != v}
    owners, owners_differ = _owner_refs(actual, bridge)
    want_spec = manifest.get("spec") or {}
    have_spec = actual.get("spec") if isinstance(actual.get("spec"), Mapping) else {}
    assert isinstance(have_spec, Mapping)
    owned = [*want_spec, *(k for k in OPTIONAL_PLANNED_KEYS.get(kind, ()) if k not in want_spec)]
    spec_patch = {k: want_spec.get(k) for k in owned if have_spec.get(k) != want_spec.get(k)}
    if not (labels_differ or ann_patch or owners_differ or spec_patch):
        return None
    md: dict[str, Any] = {"resourceVersion": kube.meta(actual).get("resourceVersion")}
    if labels_differ:
        md["labels"] = want_labels
    if ann_patch:
        md["annotations"] = ann_patch
    if owners_differ:
        md["ownerReferences"] = owners
    patch: dict[str, Any] = {"metadata": md}
    if spec_patch:
        patch["spec"] = spec_patch
    return patch


def _decide_object(
    decision: BridgeDecision, kind: Kind, manifest: Mapping[str, Any], actual: Mapping[str, Any] | None
) -> None:
    name = kube.name_of(manifest)
    namespace = kube.namespace_of(manifest) if kind.namespaced else None
    ref = f"{kind.kind}/{namespace}/{name}" if namespace else f"{kind.kind}/{name}"
    bridge = decision.name
    if actual is None:
        decision.writes.append(Write("create", kind, name, namespace, bridge, desired_object(manifest, decision.body)))
        decision.verdicts.append(ObjectVerdict(kind.kind, ref, "create"))
        return
    if not _is_ours(actual, bridge):
        holder = kube.labels_of(actual).get(rules.BRIDGE_LABEL)
        whose = f"labelled for ApiBridge {holder!r}" if holder else f"without the {rules.BRIDGE_LABEL} label"
        decision.verdicts.append(
            ObjectVerdict(
                kind.kind,
                ref,
                "name-taken",
                f"{ref} already exists {whose}; it is not ours and is left untouched "
                f"(rename or delete it, or rename the ApiBridge)",
            )
        )
        return
    if kube.is_terminating(actual):
        decision.verdicts.append(
            ObjectVerdict(
                kind.kind, ref, "terminating", f"{ref} is being deleted; it will be recreated once it is gone"
            )
        )
        return
    patch = update_patch(actual, manifest, decision.body)
    if patch is None:
        decision.verdicts.append(ObjectVerdict(kind.kind, ref, "in-sync"))
        return
    decision.writes.append(Write("update", kind, name, namespace, bridge, patch))
    decision.verdicts.append(ObjectVerdict(kind.kind, ref, "update"))


def _block_creates(decision: BridgeDecision) -> None:
    """Both or neither: when one of the pair cannot be ours, the other is not created either.

    A NAD without its Subnet (or the reverse) is half an attachment: pods pointed at it fail their
    sandbox. So a name conflict on one object cancels the create of the other, and the condition
    names the object in the way.
    """
    blocked = [v for v in decision.verdicts if v.state == "name-taken"]
    if not blocked:
        return
    in_the_way = ", ".join(v.ref for v in blocked)
    kept: list[Write] = []
    for write in decision.writes:
        if write.op != "create":
            kept.append(write)
            continue
        decision.verdicts = [
            ObjectVerdict(
                v.kind,
                v.ref,
                "blocked",
                f"{v.ref} is not created while {in_the_way} is in the way (a NAD and its Subnet come in pairs)",
            )
            if v.ref == write.ref and v.state == "create"
            else v
            for v in decision.verdicts
        ]
    decision.writes = kept


def decide(
    bridges: Mapping[str, Mapping[str, Any]],
    cluster: Cluster,
    plan: Plan,
    rejected: Sequence[Rejected],
    verdict: Verdict,
    nads: Mapping[tuple[str, str], Mapping[str, Any]],
    subnets: Mapping[str, Mapping[str, Any]],
) -> Decisions:
    """Everything to write, per bridge, plus the orphans to delete.

    ``bridges`` are the ApiBridge API objects by name; ``verdict`` is ``check.verdict.judge``'s for this
    cluster and plan — a bridge it refuses gets no writes at all (its existing objects are kept);
    ``nads``/``subnets`` the objects that exist now.
    """
    out = Decisions()
    rejected_bridges = {r.name: r for r in rejected if r.kind == kube.APIBRIDGE.kind}
    for name in sorted(bridges):
        body = bridges[name]
        bridge_plan = plan.bridges.get(name)
        decision = BridgeDecision(name, body, bridge_plan, rejected_bridges.get(name))
        out.bridges[name] = decision
        judged = verdict.bridges.get(name)
        decision.findings = list(judged.findings) if judged else []
        decision.affecting = list(judged.affecting) if judged else []
        decision.valid = judged is not None and judged.ok and decision.rejected is None
        if bridge_plan is None or kube.is_terminating(body):
            continue
        # The Subnet first: it is the one an admission check (Kube-OVN's) may refuse, and a refused Subnet
        # must not leave its NAD behind (see controller._apply, which stops a bridge's creates at a failure).
        existing_subnet = subnets.get(bridge_plan.subnet_name)
        existing_nad = nads.get((bridge_plan.nad_namespace, bridge_plan.nad_name))
        _decide_object(decision, kube.SUBNET, bridge_plan.subnet, existing_subnet)
        _decide_object(decision, kube.NAD, bridge_plan.nad, existing_nad)
        if not decision.valid:
            decision.kept = [
                ref
                for kind, obj in ((kube.NAD, existing_nad), (kube.SUBNET, existing_subnet))
                if obj is not None and _is_ours(obj, name)
                for ref in [kube.ref({**obj, "kind": kind.kind})]
            ]
            decision.writes = []  # the verdict binds: nothing is created or updated, what exists is kept
            decision.verdicts = [v for v in decision.verdicts if v.state == "name-taken"]
            continue
        _block_creates(decision)
    out.orphans = orphans(bridges, plan, nads, subnets, verdict)
    return out


def orphans(
    bridges: Mapping[str, Mapping[str, Any]],
    plan: Plan,
    nads: Mapping[tuple[str, str], Mapping[str, Any]],
    subnets: Mapping[str, Mapping[str, Any]],
    verdict: Verdict | None = None,
) -> list[Write]:
    """Our objects (labels and name) that no planned bridge wants: the bridge is gone, or moved its NAD."""
    wanted: set[tuple[str, str | None, str]] = set()
    for bp in plan.bridges.values():
        wanted.add((kube.NAD.kind, bp.nad_namespace, bp.nad_name))
        wanted.add((kube.SUBNET.kind, None, bp.subnet_name))
    out: list[Write] = []
    candidates: list[tuple[Kind, Mapping[str, Any]]] = [(kube.NAD, o) for o in nads.values()]
    candidates += [(kube.SUBNET, o) for o in subnets.values()]
    for kind, obj in candidates:
        labels = kube.labels_of(obj)
        bridge = labels.get(rules.BRIDGE_LABEL)
        if not bridge or labels.get(rules.MANAGED_BY_LABEL) != rules.MANAGED_BY:
            continue
        name, namespace = kube.name_of(obj), kube.namespace_of(obj) if kind.namespaced else None
        if name != rules.bridge_object_name(bridge) or (kind.kind, namespace, name) in wanted:
            continue
        if bridge in bridges and (bridge not in plan.bridges or (verdict is not None and not verdict.ok(bridge))):
            continue  # exists but cannot be planned (or is refused) right now: keep what runs
        if kube.is_terminating(obj):
            continue
        uid = kube.meta(obj).get("uid")
        out.append(Write("delete", kind, name, namespace, bridge, uid=str(uid) if uid else None))
    return out
