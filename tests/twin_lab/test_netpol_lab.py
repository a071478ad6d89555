"""Tenant NetworkPolicies on real OVN (issue 11): API reachability exactly as the policies allow, and no
leak under the adversarial verify with an allow-all ingress policy on an attached pod.

``data/netpol.yaml`` over the demo's bridges: tenant-a denies all egress but allows its controller the
API *endpoint* (172.18.0.2:6443); tenant-b denies all egress (its operator loses the API server) and
allows all ingress — a policy whose port group holds the operator's attachment. With the fence of
before (to-lport drop 2000) that allow (2001) lets the default VPC into the attachment: the test runs
that fence first and requires the verify to catch the leak.
"""

from __future__ import annotations

import pytest

from apibridge.plan import fence
from apibridge.twin.ovn import realize
from apibridge.twin.proof.verify import Checked, VerifyReport, verify

from .conftest import data, example, running_lab

pytestmark = pytest.mark.ovn
INPUT = [example("demo", "cluster.yaml"), example("demo", "3-bridges.yaml"), data("netpol.yaml")]


def _api(result: VerifyReport, source: str) -> list[tuple[str, str]]:
    return [(c.exp.expect, c.result) for c in result.checked if c.exp.kind == "api" and c.exp.source == source]


def _from_default(result: VerifyReport) -> list[Checked]:
    """Probes from the default VPC's CoreDNS pod to the tenant-b operator (eth0 and its attachment)."""
    return [c for c in result.checked if c.exp.source == "kube-system/coredns" and c.exp.to_pod == "tenant-b/operator"]


def test_policies_decide_api_reachability_and_cannot_open_the_fence() -> None:
    with running_lab("np") as lab:
        report = lab.up(INPUT)
        assert report.failures == {}
        topo = lab.desired().topology
        netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
        result = verify(topo, netns, ca_file=lab.place.ca_file, adversarial=True, exhaustive=True)
        bad = [(c.exp.source, c.exp.target, c.exp.port, c.exp.expect, c.result, c.exp.why) for c in result.failures]
        assert result.leaks() == []
        # exactly as allowed: the controller keeps the API server, the operator (deny-all egress) loses it;
        # its bridge intends the API server, so that loss is the verify's one failure (check: AB310)
        assert _api(result, "ingress-nginx/ingress-nginx-controller") == [("reach", "reach")]
        assert _api(result, "tenant-b/operator") == [("reach", "blocked")]
        assert [(s, e, r) for s, _, _, e, r, _ in bad] == [("tenant-b/operator", "reach", "blocked")], bad
        assert "deny-egress" in bad[0][5] and "AB310" in bad[0][5], bad
        # the allow-all ingress policy holds the attachment, and the default VPC still does not get in
        into_attachment = [c for c in _from_default(result) if c.exp.kind == "cross-vpc"]
        assert into_attachment and all(c.result == "blocked" for c in into_attachment)
        # default-deny egress inside tenant-a: the two pods of its VPC no longer reach each other
        same = [c for c in result.checked if c.exp.kind == "same-vpc" and c.exp.source.startswith("ingress-nginx/")]
        assert same and all(c.exp.expect == "blocked" and c.result == "blocked" for c in same)
        # the policies in NB as kube-ovn-controller writes them, and gone again when the input drops them
        nb = realize.current(lab.nb())
        assert "operator.tenant-b.apibridge-tenant-b.kube-system.ovn" in nb.pg_ports["allow.all.ingress.tenant.b"]
        egress = nb.pg_acls["deny.egress.tenant.b"][("from-lport", 2000, "inport == @deny.egress.tenant.b && ip")]
        assert egress["options"] == {"apply-after-lb": "true"} and egress["action"] == "drop"
        lab.up(INPUT[:2])
        nb = realize.current(lab.nb())
        policy_groups = {"deny.egress.ingress.nginx", "allow.api.ingress.nginx", "deny.egress.tenant.b"}
        assert not policy_groups & set(nb.port_groups) and "allow.all.ingress.tenant.b" not in nb.port_groups
        assert not nb.address_sets


def test_the_old_fence_priority_loses_to_an_allow_all_ingress_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The failing input first: the fence as it was (to-lport drop 2000 < policy allow 2001) leaks."""
    monkeypatch.setattr(fence, "ALLOW_DESTINATION", 2100)
    monkeypatch.setattr(fence, "ALLOW_NEIGHBOUR", 2090)
    monkeypatch.setattr(fence, "DROP", 2000)
    with running_lab("npold") as lab:
        report = lab.up(INPUT)
        assert report.failures == {}
        topo = lab.desired().topology
        netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
        result = verify(topo, netns, ca_file=lab.place.ca_file, adversarial=True, exhaustive=True)
        leaks = [(c.exp.source, c.exp.target) for c in _from_default(result) if c.result == "reach"]
        assert leaks, "the old fence should have let the default VPC into the attachment"


def test_dual_stack_policy_allows_one_family_of_endpoints() -> None:
    with running_lab("npds") as lab:
        report = lab.up([example("dualstack"), data("netpol-dualstack.yaml")])
        assert report.failures == {}
        netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
        result = verify(lab.desired().topology, netns, ca_file=lab.place.ca_file, adversarial=True, exhaustive=True)
        bad = [(c.exp.source, c.exp.target, c.exp.expect, c.result) for c in result.failures]
        api = {c.exp.target: (c.exp.expect, c.result) for c in result.checked if c.exp.kind == "api"}
        # the IPv6 endpoint is dropped by the tenant's policy although the bridge intends it: the one failure
        assert api == {"10.96.0.1": ("reach", "reach"), "fd00:10:96::1": ("reach", "blocked")}
        assert [t for _, t, _, _ in bad] == ["fd00:10:96::1"], bad
