"""The plan's verdict, per bridge: may this bridge's NAD and Subnet be written and its pods injected?

One function decides it for every consumer — ``check``, ``render`` and ``inject`` on the command line,
the operator (which creates nothing for a bridge that fails) and the webhook (which injects nothing for
it) — so that no component acts on a plan another refuses. A bridge fails when the planner could not
plan it, or when the validator reports an error about the bridge itself or about one of the two
objects the plan gives it (its NAD and its Subnet, as the cluster would hold them). Other errors in the
cluster (a hand-written seed subnet, a broken pod) are the validator's to report; they do not stop a
bridge that is itself sound.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from apibridge.check.findings import Finding, from_problem, sort_findings
from apibridge.check.validator import check
from apibridge.kubeovn import rules
from apibridge.model.cluster import Cluster
from apibridge.plan.types import BridgePlan, Plan


def bridge_refs(name: str, bridge_plan: BridgePlan | None) -> frozenset[str]:
    """The objects a bridge's findings are about: the bridge, and the NAD and Subnet it owns."""
    subnet = bridge_plan.subnet_name if bridge_plan else rules.bridge_object_name(name)
    refs = {f"{rules.APIBRIDGE_KIND.kind}/{name}", f"{rules.SUBNET_KIND.kind}/{subnet}"}
    if bridge_plan is not None:
        refs.add(f"{rules.NAD_KIND.kind}/{bridge_plan.nad_namespace}/{bridge_plan.nad_name}")
    return frozenset(refs)


@dataclass(frozen=True)
class BridgeVerdict:
    """One bridge's verdict: ``ok`` means its objects may be written and its pods injected."""

    name: str
    plan: BridgePlan | None
    findings: tuple[Finding, ...]  # about the bridge and its objects, every severity
    # about other objects but concerning this bridge (``Finding.concerns``): a tenant's NetworkPolicy that drops
    # its pods' API traffic (AB310). They do not fail the bridge — its objects are sound, the policy is the
    # tenant's — but every consumer shows them (the operator's Degraded condition, ``doctor``)
    affecting: tuple[Finding, ...] = ()

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def ok(self) -> bool:
        return self.plan is not None and not self.errors


@dataclass(frozen=True)
class Verdict:
    """The verdict on every bridge of a plan, plus all the validator's findings it was drawn from."""

    bridges: dict[str, BridgeVerdict] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()

    def ok(self, name: str) -> bool:
        found = self.bridges.get(name)
        return found is not None and found.ok

    @property
    def failed(self) -> list[BridgeVerdict]:
        """The bridges that may not be acted on, by name."""
        return [v for _, v in sorted(self.bridges.items()) if not v.ok]

    def affecting(self, names: Iterable[str] | None = None) -> list[Finding]:
        """The findings on other objects that concern the bridges ``names`` (all: None), deduplicated, sorted:
        what ``render``/``inject`` warn of, since they do not fail the bridge."""
        chosen = self.bridges if names is None else {n: self.bridges[n] for n in names if n in self.bridges}
        return sort_findings(list(dict.fromkeys(f for v in chosen.values() for f in v.affecting)))

    @property
    def errors(self) -> list[Finding]:
        """The errors that make bridges fail (deduplicated, sorted): what ``render``/``inject`` print."""
        return sort_findings([f for v in self.failed for f in v.errors])


def _with_problems(found: Sequence[Finding], plan: Plan) -> list[Finding]:
    """The validator's findings plus any planner problem it did not report itself."""
    codes = {(f.code, f.obj) for f in found}
    return [*found, *(from_problem(p) for p in plan.problems if (p.code, p.obj) not in codes)]


def judge(cluster: Cluster, plan: Plan, findings: Iterable[Finding] | None = None) -> Verdict:
    """The verdict on every bridge ``plan`` was made for (the cluster's, and any planned on the fly).

    ``findings`` are the validator's findings for this cluster and plan when the caller has them already;
    otherwise the validator runs here.
    """
    found = _with_problems(list(check(cluster, plan) if findings is None else findings), plan)
    by_obj: dict[str, list[Finding]] = {}
    concerning: dict[str, list[Finding]] = {}
    for f in found:
        by_obj.setdefault(f.obj, []).append(f)
        for ref in f.concerns:
            concerning.setdefault(ref, []).append(f)
    prefix = f"{rules.APIBRIDGE_KIND.kind}/"
    planned_for = {p.obj.removeprefix(prefix) for p in plan.problems if p.obj.startswith(prefix)}
    names = set(cluster.bridges) | set(plan.bridges) | planned_for
    bridges: dict[str, BridgeVerdict] = {}
    for name in sorted(names):
        bridge_plan = plan.bridges.get(name)
        about = [f for ref in sorted(bridge_refs(name, bridge_plan)) for f in by_obj.get(ref, ())]
        affecting = tuple(sort_findings(concerning.get(f"{prefix}{name}", [])))
        bridges[name] = BridgeVerdict(name, bridge_plan, tuple(sort_findings(about)), affecting)
    return Verdict(bridges, tuple(sort_findings(found)))
