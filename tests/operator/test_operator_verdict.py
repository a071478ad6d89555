"""The plan's verdict binds the operator, per bridge (``check.verdict.judge``).

The case that was found: ``cidrBlock`` holding the API ClusterIP got ``Validated=False … AB014`` and yet a
Subnet with the ClusterIP as gateway. Now a refused bridge gets no NAD and no Subnet while a sound one goes
on, its condition says why, and a bridge that becomes invalid keeps what exists but gets no more writes.
"""

from __future__ import annotations

from opkit import applied, bridge, deny_egress, pod, run, with_uid, world

from apibridge.operator.status import DEGRADED, READY, VALIDATED, ApplyOutcome, conditions


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


def test_a_tenant_egress_policy_that_drops_the_api_endpoints_degrades_the_bridge_naming_it() -> None:
    """The verdict ``check`` gives (AB310) reaches the bridge's status: the bridge's objects are still written
    (they are sound; the tenant's policy is the tenant's), and Degraded names the policy and the endpoint."""
    decisions = run(world(with_uid(bridge("tenant-a")), pod("app"), deny_egress()))
    decision = decisions.bridges["tenant-a"]
    assert decision.valid and [w.kind.kind for w in decision.writes] == ["Subnet", "NetworkAttachmentDefinition"]
    degraded = _by_type(decision)[DEGRADED]
    assert degraded["status"] == "True" and degraded["reason"] == "NetworkPolicyDropsApi"
    message = str(degraded["message"])
    assert "AB310" in message and "NetworkPolicy/ingress-nginx/deny-egress" in message and "172.18.0.2:6443" in message
    assert _by_type(decision)[VALIDATED]["status"] == "True"


def test_an_egress_policy_that_allows_the_endpoints_leaves_the_bridge_as_expected() -> None:
    allow = deny_egress(egress=[{"to": [{"ipBlock": {"cidr": "172.18.0.2/32"}}]}])
    decisions = run(world(with_uid(bridge("tenant-a")), pod("app"), allow))
    assert _by_type(decisions.bridges["tenant-a"])[DEGRADED]["status"] == "False"


def test_the_operator_watches_network_policies() -> None:
    """Without them in its cache the controller would never see the policy (kube.WATCHED feeds the cache)."""
    from apibridge.kubeovn.rules import NETWORKPOLICY_KIND
    from apibridge.operator import kube

    assert NETWORKPOLICY_KIND in kube.WATCHED
