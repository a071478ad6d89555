"""The plan's verdict binds the operator, per bridge (``check.verdict.judge``).

The case that was found: ``cidrBlock`` holding the API ClusterIP got ``Validated=False … AB014`` and yet a
Subnet with the ClusterIP as gateway. Now a refused bridge gets no NAD and no Subnet while a sound one goes
on, its condition says why, and a bridge that becomes invalid keeps what exists but gets no more writes.
"""

from __future__ import annotations

from opkit import applied, bridge, run, with_uid, world

from apibridge.operator.status import READY, VALIDATED, ApplyOutcome, conditions


def _by_type(decision: object) -> dict[str, dict[str, object]]:
    return {c["type"]: c for c in conditions(decision, ApplyOutcome(), 1)}  # type: ignore[arg-type]


def test_a_bridge_with_plan_errors_gets_nothing_while_a_sound_one_goes_on() -> None:
    bad = with_uid(bridge("edge2", vpc="tenant-b", cidrBlock="10.96.0.0/24"), uid="uid-2")
    good = with_uid(bridge("tenant-a"))
    decisions = run(world(good, bad))
    assert decisions.bridges["edge2"].writes == []
    assert not decisions.bridges["edge2"].valid
    assert [w.kind.kind for w in decisions.bridges["tenant-a"].writes] == ["Subnet", "NetworkAttachmentDefinition"]
    conds = _by_type(decisions.bridges["edge2"])
    assert conds[VALIDATED]["status"] == "False" and "AB014" in str(conds[VALIDATED]["message"])
    assert conds[READY]["status"] == "False"
    assert "no NAD or Subnet is created" in str(conds[READY]["message"])
    assert "nothing of it exists" in str(conds[READY]["message"])


def test_a_bridge_of_a_missing_vpc_creates_nothing() -> None:
    decisions = run(world(with_uid(bridge("ghost", vpc="vpc-ghost"))))
    assert decisions.bridges["ghost"].writes == []
    assert "AB111" in str(_by_type(decisions.bridges["ghost"])[VALIDATED]["message"])


def test_a_bridge_that_becomes_invalid_keeps_its_objects_and_gets_no_updates() -> None:
    b = with_uid(bridge("tenant-a"))
    objs = applied(run(world(b)), "tenant-a")
    broken = with_uid(bridge("tenant-a", cidrBlock="10.96.0.0/24"), generation=2)
    decisions = run(world(broken, *objs))
    decision = decisions.bridges["tenant-a"]
    assert decision.writes == []  # the Subnet's CIDR is not rewritten to the refused one
    assert decisions.orphans == []  # and nothing is deleted
    message = str(_by_type(decision)[READY]["message"])
    assert "NetworkAttachmentDefinition/kube-system/apibridge-tenant-a" in message
    assert "Subnet/apibridge-tenant-a are kept" in message
