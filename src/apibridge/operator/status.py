"""An ApiBridge's ``status``: what a user (or ``kubectl wait --for=condition=Ready``) reads to trust it.

Three conditions in the ``metav1.Condition`` shape, each with ``observedGeneration``:

* ``Validated`` — the spec parsed and the validator found no error for this bridge or its objects.
* ``Ready`` — the NAD and Subnet exist exactly as planned and the bridge is valid: pods created from now
  on get API access.
* ``Degraded`` — something needs a human: a foreign object holds our name (``NameTaken``), a write failed
  (``ApplyFailed``), selected pods run without the attachment (``PodsPendingRestart``), or a tenant's
  NetworkPolicy drops the API traffic of the bridge's pods (``NetworkPolicyDropsApi``: ``check``'s AB310,
  through the verdict's ``affecting``; the bridge's objects are still written).

``lastTransitionTime`` moves only when a condition's status flips, and ``status_patch`` returns None when
nothing else changed, so a level-based controller that recomputes status on every pass does not write —
and does not wake itself up — when the world is unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apibridge.check.findings import Finding
from apibridge.operator import kube
from apibridge.operator.reconcile import BridgeDecision

READY = "Ready"
VALIDATED = "Validated"
DEGRADED = "Degraded"
POLICY_DROPS_API = "NetworkPolicyDropsApi"  # Degraded's reason for a bridge's ``affecting`` errors (AB310)
MAX_MESSAGE = 1024


@dataclass
class ApplyOutcome:
    """What happened to one bridge in one pass, beyond the pure decision."""

    apply_errors: list[str] = field(default_factory=list)  # "Subnet/x: <message>"
    retrying: bool = False  # a write raced (409); the next pass settles it
    pods_injected: int = 0
    pods_pending: list[str] = field(default_factory=list)  # "ns/name"
    status: dict[str, Any] | None = None  # the status this pass wants (``desired_status``), once computed


def finding_text(finding: Finding) -> str:
    """``CODE (field): message``: a finding as a condition message names it."""
    where = f" ({finding.field})" if finding.field else ""
    return f"{finding.code}{where}: {finding.message}"


def _condition(ctype: str, ok: bool, reason: str, message: str, generation: int) -> dict[str, Any]:
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return {
        "type": ctype,
        "status": "True" if ok else "False",
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
    }


def conditions(decision: BridgeDecision, outcome: ApplyOutcome, generation: int) -> list[dict[str, Any]]:
    """The three conditions, without timestamps (``merge_conditions`` adds them)."""
    # Validated
    if decision.rejected is not None:
        validated = _condition(VALIDATED, False, "InvalidSpec", decision.rejected.message, generation)
    elif decision.errors:
        text = "; ".join(finding_text(f) for f in decision.errors)
        validated = _condition(VALIDATED, False, "ValidationFailed", text, generation)
    else:
        warnings = [f for f in decision.findings if f.severity == "warning"]
        note = (
            (f"{len(warnings)} warning(s): " + "; ".join(finding_text(f) for f in warnings))
            if warnings
            else "no errors"
        )
        validated = _condition(VALIDATED, True, "Valid", note, generation)

    taken = [v for v in decision.verdicts if v.state in ("name-taken", "blocked")]
    terminating = [v for v in decision.verdicts if v.state == "terminating"]

    # Degraded
    if taken:
        degraded = _condition(DEGRADED, True, "NameTaken", "; ".join(v.message for v in taken), generation)
    elif outcome.apply_errors:
        degraded = _condition(DEGRADED, True, "ApplyFailed", "; ".join(outcome.apply_errors), generation)
    elif outcome.pods_pending:
        shown = ", ".join(outcome.pods_pending[:10]) + (" …" if len(outcome.pods_pending) > 10 else "")
        degraded = _condition(
            DEGRADED,
            True,
            "PodsPendingRestart",
            f"{len(outcome.pods_pending)} selected pod(s) run without the attachment and need a restart: {shown}",
            generation,
        )
    elif dropping := [f for f in decision.affecting if f.severity == "error"]:
        text = "; ".join(f"{f.obj}: {finding_text(f)}" for f in dropping)
        degraded = _condition(DEGRADED, True, POLICY_DROPS_API, text, generation)
    else:
        degraded = _condition(DEGRADED, False, "AsExpected", "nothing needs attention", generation)

    # Ready
    plan = decision.plan
    if decision.rejected is not None:
        ready = _condition(READY, False, "InvalidSpec", "the spec is invalid (see Validated)", generation)
    elif plan is None:
        why = "; ".join(finding_text(f) for f in decision.errors) or "the planner produced no objects"
        ready = _condition(READY, False, "PlanFailed", why, generation)
    elif not decision.valid:
        kept = (
            f"; the existing {' and '.join(decision.kept)} are kept as they are"
            if decision.kept
            else "; nothing of it exists"
        )
        ready = _condition(
            READY,
            False,
            "ValidationFailed",
            "the plan has errors (see Validated): no NAD or Subnet is created or updated and no pod is "
            f"injected for this bridge{kept}",
            generation,
        )
    elif taken:
        ready = _condition(READY, False, "NameTaken", "; ".join(v.message for v in taken), generation)
    elif outcome.apply_errors:
        ready = _condition(READY, False, "ApplyFailed", "; ".join(outcome.apply_errors), generation)
    elif terminating:
        ready = _condition(READY, False, "Terminating", "; ".join(v.message for v in terminating), generation)
    elif outcome.retrying:
        ready = _condition(READY, False, "Progressing", "objects are being written", generation)
    else:
        ready = _condition(
            READY,
            True,
            "Reconciled",
            f"NAD {plan.nad_namespace}/{plan.nad_name} and Subnet {plan.subnet_name} match the plan",
            generation,
        )
    return [ready, validated, degraded]


def merge_conditions(
    previous: Sequence[Mapping[str, Any]], new: Sequence[dict[str, Any]], now: str
) -> list[dict[str, Any]]:
    """``new`` with ``lastTransitionTime`` kept from ``previous`` unless the status flipped."""
    before = {str(c.get("type")): c for c in previous if isinstance(c, Mapping)}
    out: list[dict[str, Any]] = []
    for cond in new:
        old = before.get(cond["type"])
        stamp = old.get("lastTransitionTime") if old and old.get("status") == cond["status"] else None
        out.append({**cond, "lastTransitionTime": stamp or now})
    return out


def desired_status(decision: BridgeDecision, outcome: ApplyOutcome, now: str) -> dict[str, Any]:
    """The full status this pass wants the bridge to have."""
    body = decision.body
    generation = int(kube.meta(body).get("generation") or 1)
    current = body.get("status") if isinstance(body.get("status"), Mapping) else {}
    assert isinstance(current, Mapping)
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": merge_conditions(current.get("conditions") or [], conditions(decision, outcome, generation), now),
        "podsInjected": outcome.pods_injected,
        "podsPendingRestart": len(outcome.pods_pending),
    }
    plan = decision.plan
    if plan is not None and decision.valid:
        status.update(
            {
                "nad": f"{plan.nad_namespace}/{plan.nad_name}",
                "subnet": plan.subnet_name,
                "provider": plan.provider,
                "cidrBlock": plan.cidr_block,
                "gateways": [str(g) for g in plan.gateways],
                "routes": [r.to_json() for r in plan.routes],
            }
        )
    else:  # keep what the last good plan reported: the objects are kept too (a refused plan is not reported)
        for key in ("nad", "subnet", "provider", "cidrBlock", "gateways", "routes"):
            if key in current:
                status[key] = current[key]
    return status


def status_patch(current: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> dict[str, Any] | None:
    """The merge patch for ``/status``, or None when ``current`` already says the same."""
    current = current or {}
    if all(current.get(k) == v for k, v in desired.items()):
        return None
    return {"status": dict(desired)}
