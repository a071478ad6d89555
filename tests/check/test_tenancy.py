"""No cross-tenant attachment: ``check`` names the pod, the NAD and its bridge (AB304), and an attachment
without port security (AB305); ``foreign_attachments`` gives the operator the same verdict."""

from __future__ import annotations

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
