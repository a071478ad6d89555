"""``judge``: one verdict per bridge, drawn from the planner's problems and the validator's errors."""

from __future__ import annotations

import yaml

from apibridge.check.verdict import bridge_refs, judge
from apibridge.model.cluster import Cluster
from apibridge.model.load import Document
from apibridge.plan.planner import plan

BASE = """\
apiVersion: v1
kind: Service
metadata: {name: kubernetes, namespace: default}
spec: {clusterIP: 10.96.0.1, clusterIPs: [10.96.0.1], ports: [{name: https, port: 443, protocol: TCP}]}
---
apiVersion: kubeovn.io/v1
kind: Vpc
metadata: {name: vpc1}
spec: {namespaces: [t1]}
---
apiVersion: kubeovn.io/v1
kind: Vpc
metadata: {name: vpc2}
spec: {namespaces: [t2]}
---
apiVersion: kubeovn.io/v1
kind: Subnet
metadata: {name: s1}
spec: {vpc: vpc1, cidrBlock: 10.1.0.0/24, namespaces: [t1]}
---
apiVersion: kubeovn.io/v1
kind: Subnet
metadata: {name: s2}
spec: {vpc: vpc2, cidrBlock: 10.2.0.0/24, namespaces: [t2]}
---
apiVersion: apibridge.dev/v1alpha1
kind: ApiBridge
metadata: {name: good}
spec: {vpc: vpc1}
"""


def _cluster(extra: str = "") -> Cluster:
    text = BASE + ("---\n" + extra if extra else "")
    return Cluster.from_documents([Document(b, "t.yaml", i) for i, b in enumerate(yaml.safe_load_all(text))])


def test_a_sound_bridge_is_ok() -> None:
    cluster = _cluster()
    verdict = judge(cluster, plan(cluster))
    assert verdict.ok("good")
    assert verdict.failed == [] and verdict.errors == []


def test_a_bridge_whose_cidr_holds_the_api_clusterip_fails_and_the_other_goes_on() -> None:
    cluster = _cluster(
        "apiVersion: apibridge.dev/v1alpha1\nkind: ApiBridge\nmetadata: {name: bad}\n"
        "spec: {vpc: vpc2, cidrBlock: 10.96.0.0/24}\n"
    )
    the_plan = plan(cluster)
    assert "bad" in the_plan.bridges  # the planner made it; the validator refuses it
    verdict = judge(cluster, the_plan)
    assert verdict.ok("good")
    assert not verdict.ok("bad")
    assert [f.code for f in verdict.bridges["bad"].errors] == ["AB014"]
    assert {f.obj for f in verdict.errors} <= bridge_refs("bad", the_plan.bridges["bad"])


def test_a_bridge_of_a_vpc_that_is_not_there_fails() -> None:
    cluster = _cluster(
        "apiVersion: apibridge.dev/v1alpha1\nkind: ApiBridge\nmetadata: {name: ghost}\nspec: {vpc: vpc-ghost}\n"
    )
    verdict = judge(cluster, plan(cluster))
    assert not verdict.ok("ghost")
    assert "AB111" in [f.code for f in verdict.bridges["ghost"].errors]
    assert verdict.ok("good")


def test_a_bridge_the_planner_could_not_plan_fails() -> None:
    cluster = _cluster(
        "apiVersion: apibridge.dev/v1alpha1\nkind: ApiBridge\nmetadata: {name: nodns}\n"
        "spec: {vpc: vpc2, destinations: {apiserver: false, dns: true}}\n"
    )
    verdict = judge(cluster, plan(cluster))
    assert not verdict.ok("nodns")
    assert "AB102" in [f.code for f in verdict.bridges["nodns"].errors]


def test_a_policy_finding_about_a_bridges_pods_reaches_the_bridges_verdict_without_failing_it() -> None:
    """AB310 is about the tenant's NetworkPolicy, but it concerns the bridge whose pods it drops: the one verdict
    carries it to every consumer (operator status, doctor) as ``affecting``, and the bridge stays sound."""
    from apibridge.check.verdict import judge
    from apibridge.plan.planner import plan

    from .kit import DENY_EGRESS, bridge, load, netpol, node, pod, vpc

    cluster = load(
        vpc("vpc1", "ns1"),
        node("kind-control-plane", "172.18.0.2"),
        bridge("b"),
        pod("app", "ns1"),
        netpol("deny", **DENY_EGRESS),
    )
    verdict = judge(cluster, plan(cluster))
    b = verdict.bridges["b"]
    assert b.ok
    assert [(f.code, f.obj) for f in b.affecting] == [("AB310", "NetworkPolicy/ns1/deny")]
