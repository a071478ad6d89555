"""No cross-tenant attachment: ``check`` names the pod, the NAD and its bridge (AB304), and an attachment
without port security (AB305); ``foreign_attachments`` gives the operator the same verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from apibridge.check.objects.tenancy import foreign_attachments
from apibridge.plan.planner import plan

from .kit import bridge, by_code, load, pod, service, vpc
from .tenancy_cases import BRIDGE, CASES, NAD, NAD_NS, Case

CLUSTER = [service("default", "kubernetes", "10.96.0.1"), vpc("vpc1", "ns1"), vpc("vpc2", "ns2", cidr="10.0.2.0/24")]
CLUSTER += [bridge(BRIDGE, "vpc1")]


def _run(case: Case) -> tuple[list[str], list[str], list[object]]:
    from apibridge.check.validator import check

    cluster = load(*CLUSTER, pod("p", case.namespace, case.annotations))
    findings = [f for f in check(cluster, plan(cluster)) if f.obj == f"Pod/{case.namespace}/p"]
    return (
        [f.field for f in by_code(findings, "AB304")],
        [f.field for f in by_code(findings, "AB305")],
        [f for f in by_code(findings, "AB304") + by_code(findings, "AB305")],
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_check_judges_every_attachment_attempt(case: Case) -> None:
    foreign, open_ports, found = _run(case)
    field = f'metadata.annotations["{case.key}"]'
    if case.verdict == "ok":
        assert found == []
    elif case.verdict == "foreign":
        assert foreign == [field]
        assert open_ports == []
    else:
        assert open_ports == [field]
        assert foreign == []


def test_the_finding_names_the_pod_the_nad_and_the_bridge() -> None:
    case = next(c for c in CASES if c.id == "foreign-comma")
    cluster = load(*CLUSTER, pod("p", case.namespace, case.annotations))
    from apibridge.check.validator import check

    (f,) = by_code(check(cluster, plan(cluster)), "AB304")
    assert f.severity == "error"
    assert f.obj == "Pod/ns2/p"
    assert f"{NAD_NS}/{NAD}" in f.message and f"ApiBridge {BRIDGE}" in f.message
    assert "vpc2" in f.message and "vpc1" in f.message


def test_operator_gets_the_same_verdict_per_bridge() -> None:
    pods = [pod(f"p{i}", c.namespace, c.annotations) for i, c in enumerate(CASES)]
    cluster = load(*CLUSTER, *pods)
    found = foreign_attachments(cluster, plan(cluster))
    expected = {f"Pod/{c.namespace}/p{i}" for i, c in enumerate(CASES) if c.verdict == "foreign"}
    assert {a.pod for a in found} == expected
    assert {a.bridge for a in found} == {BRIDGE}
    assert {a.nad for a in found} == {f"{NAD_NS}/{NAD}"}


def test_a_workload_template_is_judged_like_a_pod() -> None:
    case = next(c for c in CASES if c.id == "foreign-primary-names-subnet")
    deploy = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: d, namespace: ns2}}
spec:
  selector: {{matchLabels: {{app: d}}}}
  template:
    metadata:
      labels: {{app: d}}
      annotations: {case.annotations!r}
    spec: {{containers: [{{name: c, image: x}}]}}
"""
    cluster = load(*CLUSTER, deploy)
    from apibridge.check.validator import check

    (f,) = by_code(check(cluster, plan(cluster)), "AB304")
    assert f.obj == "Deployment/ns2/d"
    assert f.field == f'spec.template.metadata.annotations["{case.key}"]'


KUBESPRAY = Path(__file__).resolve().parents[1] / "twin_lab" / "data" / "kubespray" / "cluster.yaml"
BRIDGES = """\
apiVersion: apibridge.dev/v1alpha1
kind: ApiBridge
metadata: {name: alpha}
spec: {vpc: alpha, podSelector: {matchLabels: {app: cert-manager}}}
---
apiVersion: apibridge.dev/v1alpha1
kind: ApiBridge
metadata: {name: beta}
spec: {vpc: beta, podSelector: {matchLabels: {app: external-secrets}}}
"""
BORROWER = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: batch, namespace: beta}
spec:
  selector: {matchLabels: {app: batch}}
  template:
    metadata:
      labels: {app: batch}
      annotations: {k8s.v1.cni.cncf.io/networks: kube-system/apibridge-alpha}
    spec: {containers: [{name: batch, image: busybox}]}
"""


@pytest.mark.parametrize("beta_bridge", [True, False], ids=["beta-has-a-bridge", "beta-has-none"])
def test_hints_for_a_foreign_pod_suggest_only_its_own_vpcs_bridge(beta_bridge: bool) -> None:
    """A beta pod that attaches alpha's bridge: AB211's hint offered alpha's routes key and gateway."""
    from apibridge.check.validator import check

    bridges = BRIDGES if beta_bridge else BRIDGES.split("---\n")[0]
    cluster = load(KUBESPRAY.read_text(), bridges, BORROWER)
    the_plan = plan(cluster)
    found = [f for f in check(cluster, the_plan) if f.obj == "Deployment/beta/batch"]
    assert {"AB211", "AB304"} <= {f.code for f in found}, found
    alpha = the_plan.bridges["alpha"]
    for f in found:
        assert str(alpha.gateways[0]) not in f.hint and alpha.provider not in f.hint + f.field, f
    own = "ApiBridge beta of its own VPC beta" if beta_bridge else "an ApiBridge for its own VPC beta"
    for f in by_code(found, "AB211") + by_code(found, "AB304"):
        assert own in f.hint, f
