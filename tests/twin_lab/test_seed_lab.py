"""The seed's configuration and strict ApiBridges on one running twin (reconciled between them).

Order matters: the module's lab starts with the seed, then is reconciled to the bridges.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from apibridge.cli.lab_cmds import lab_group
from apibridge.twin.lab import Lab
from apibridge.twin.proof import trace
from apibridge.twin.proof.verify import VerifyReport, verify

from .conftest import data, example, running_lab

pytestmark = pytest.mark.ovn
SEED = [example("seed"), data("plain-pod.yaml")]
BRIDGES = [
    example("seed", "cluster.yaml"),
    example("apibridge", "bridges.yaml"),
    example("apibridge", "workload.yaml"),
    data("plain-pod.yaml"),
]
CONTROLLER = "ingress-nginx/ingress-nginx-controller-0"
OPERATOR = "tenant-b/operator-0"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with running_lab("seed") as lab:
        report = lab.up(SEED)
        assert not report.failures
        yield lab


def _verify(lab: Lab, *, adversarial: bool = False) -> VerifyReport:
    netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
    return verify(lab.desired().topology, netns, ca_file=lab.place.ca_file, adversarial=adversarial)


def _api(report: VerifyReport) -> dict[str, str]:
    return {c.exp.source: c.result for c in report.checked if c.exp.kind == "api"}


def test_seed_pods_reach_the_api_and_an_unannotated_pod_does_not(lab: Lab) -> None:
    report = _verify(lab)
    assert _api(report) == {CONTROLLER: "reach", OPERATOR: "reach", "ingress-nginx/backend": "blocked"}
    detail = next(c.detail for c in report.checked if c.exp.kind == "api" and c.exp.source == CONTROLLER)
    assert detail.startswith("HTTP 200 /version, TLS verified")


def test_the_seeds_shared_subnet_leaks_between_tenants(lab: Lab) -> None:
    report = _verify(lab)
    leaks = [c.message() for c in report.leaks()]
    assert (
        f"LEAK: {CONTROLLER} reached {OPERATOR} 100.100.100.3:8080 through the shared attachment subnet "
        "vpc-apiserver-subnet"
    ) in leaks
    assert any(m.startswith(f"LEAK: {OPERATOR} reached {CONTROLLER} 100.100.100.2:") for m in leaks)
    assert len(report.failures) == len(leaks) == 2  # nothing else is off


def test_trace_shows_the_path_to_the_api(lab: Lab) -> None:
    rec = lab.resolve(CONTROLLER)
    topo = lab.desired().topology
    pod = topo.pod(rec.ref)
    assert pod is not None
    request = trace.build_request(topo, pod, rec.netns, "10.96.0.1")
    assert (request.nic, request.datapath, request.port, request.next_hop) == (
        "net1",
        "vpc-apiserver-subnet",
        443,
        "100.100.100.1",
    )
    output, summary = trace.trace(topo, request, lab.daemons.paths.sb_remote, env=lab.daemons.env())
    assert "ct_lb_mark(backends=172.18.0.2:6443)" in output
    assert summary.delivered_to == "node/kind-control-plane ovn0"
    unrouted = trace.build_request(topo, pod, rec.netns, "10.0.2.2:8080")
    _, summary = trace.trace(topo, unrouted, lab.daemons.paths.sb_remote, env=lab.daemons.env())
    assert summary.delivered_to is None


def test_cli_verify_json_and_status(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIBRIDGE_LAB_DIR", str(lab.place.root.parent))
    root = click.Group(commands={"lab": lab_group})
    result = CliRunner().invoke(root, ["lab", "verify", "--name", lab.name, "-o", "json"])
    assert result.exit_code == 1, result.output  # the seed's leak
    doc = json.loads(result.stdout)
    assert set(doc) >= {"probes", "passed", "failed"} and doc["failed"] == 2
    assert set(doc["probes"][0]) >= {"from", "to", "to_pod", "port", "expect", "result", "ok", "detail"}
    status = CliRunner().invoke(root, ["lab", "status", "--name", lab.name, "-o", "json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["healthy"] is True


def test_strict_bridges_close_the_leak_also_adversarially(lab: Lab) -> None:
    report = lab.up(BRIDGES)
    assert report.reconciled and report.kept == ["ingress-nginx/backend", "node/kind-control-plane"]
    assert not report.acl_errors, report.acl_errors
    plain = _verify(lab)
    assert _api(plain) == {CONTROLLER: "reach", OPERATOR: "reach", "ingress-nginx/backend": "blocked"}
    assert plain.failed == 0, [c.message() for c in plain.failures]
    adversarial = _verify(lab, adversarial=True)
    assert adversarial.routes_added
    assert adversarial.failed == 0, [c.message() for c in adversarial.failures]
    assert _api(adversarial)[CONTROLLER] == "reach"
