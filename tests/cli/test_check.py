"""``apibridge check``: exit codes follow the findings, the JSON shape is the contract, text is readable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from apibridge.model.cluster import load_cluster
from apibridge.model.objects import Meta

from .clusters import KUBESPRAY_API, OPEN_BRIDGE, SEED_NAD, SEED_SUBNET, TENANT_VPC, stream
from .support import EXAMPLES, REPO, Invoke, example_inputs, run_installed

FINDING_KEYS = {"code", "severity", "object", "field", "message", "hint", "file", "document", "item"}
INPUTS = example_inputs()


def _findings(invoke: Invoke, *paths: str) -> tuple[int, list[dict[str, object]]]:
    result = invoke("check", *paths, "-o", "json")
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, json.loads(result.stdout)["findings"]


@pytest.mark.parametrize("example", sorted(INPUTS))
def test_json_shape_and_exit_code(invoke: Invoke, example: str) -> None:
    result = invoke("check", *INPUTS[example], "-o", "json")
    doc = json.loads(result.stdout)
    assert set(doc) == {"findings"}
    for finding in doc["findings"]:
        assert set(finding) == FINDING_KEYS
        assert finding["severity"] in ("error", "warning", "info")
        assert finding["code"] and finding["message"] and finding["object"]
    has_error = any(f["severity"] == "error" for f in doc["findings"])
    assert result.exit_code == (1 if has_error else 0)


@pytest.mark.parametrize("example", sorted(INPUTS))
def test_yaml_output_says_the_same_as_json(invoke: Invoke, example: str) -> None:
    as_json = json.loads(invoke("check", *INPUTS[example], "-o", "json").stdout)
    as_yaml = yaml.safe_load(invoke("check", *INPUTS[example], "-o", "yaml").stdout)
    assert as_yaml == as_json


def test_the_seed_is_flagged_and_the_bridges_are_clean(invoke: Invoke) -> None:
    code, findings = _findings(invoke, "examples/seed/")
    assert code == 1
    seed_objects = {m.ref for m in _metas("seed")}
    assert any(f["severity"] == "error" and f["object"] in seed_objects for f in findings)
    for clean in ("apibridge", "dualstack"):
        code, findings = _findings(invoke, f"examples/{clean}/")
        assert code == 0, findings
        assert not [f for f in findings if f["severity"] == "error"]


def _metas(example: str) -> list[Meta]:
    cluster = load_cluster([str(EXAMPLES / example)])
    return [
        *(n.meta for n in cluster.nads.values()),
        *(s.meta for s in cluster.subnets.values()),
        *(p.meta for p in cluster.pods),
        *(b.meta for b in cluster.bridges.values()),
        *(v.meta for v in cluster.vpcs.values()),
    ]


def test_text_groups_by_object_and_ends_with_a_summary(invoke: Invoke) -> None:
    _, findings = _findings(invoke, "examples/seed/")
    result = invoke("check", "examples/seed/")
    lines = result.stdout.splitlines()
    headers = [line for line in lines if line and not line.startswith(" ")]
    objects = list(dict.fromkeys(str(f["object"]) for f in findings))
    assert [h.split()[0] for h in headers[:-1]] == objects  # one header per object, in order
    summary = lines[-1]
    errors = sum(f["severity"] == "error" for f in findings)
    warnings = sum(f["severity"] == "warning" for f in findings)
    assert f"{errors} error" in summary and f"{warnings} warning" in summary
    for finding in findings:
        assert any(str(finding["code"]) in line and str(finding["message"]) in line for line in lines)
        if finding["hint"]:
            assert any(f"hint: {finding['hint']}" in line for line in lines)


def test_text_names_the_file_of_each_object(invoke: Invoke) -> None:
    _, findings = _findings(invoke, "examples/seed/")
    result = invoke("check", "examples/seed/")
    sources = {m.ref: m.location.source for m in _metas("seed")}
    for finding in findings:
        source = sources.get(str(finding["object"]))
        if source:
            source = str(Path(source).relative_to(REPO))
            header = next(line for line in result.stdout.splitlines() if line.startswith(str(finding["object"])))
            assert source in header


def test_assumptions_go_to_stderr(invoke: Invoke) -> None:
    cluster = load_cluster([str(EXAMPLES / "seed")])
    assert cluster.assumptions
    result = invoke("check", "examples/seed/")
    for assumption in cluster.assumptions:
        assert f"assumed {assumption.obj}: {assumption.what}" in result.stderr
        assert assumption.what not in result.stdout


def test_machine_output_keeps_stderr_quiet_and_stdout_pure(invoke: Invoke) -> None:
    result = invoke("check", "examples/seed/", "-o", "json")
    json.loads(result.stdout)
    assert result.stderr == ""


def test_stdin_and_files_agree(invoke: Invoke) -> None:
    files = sorted((EXAMPLES / "apibridge").glob("*.yaml"))
    text = "\n---\n".join(Path(f).read_text() for f in files)
    from_stdin = invoke("check", "-", "-o", "json", input=text)
    from_dir = invoke("check", "examples/apibridge/", "-o", "json")
    assert from_stdin.exit_code == from_dir.exit_code

    def located_elsewhere(doc: dict[str, Any]) -> list[dict[str, Any]]:  # file and document differ, by design
        return [{k: v for k, v in f.items() if k not in ("file", "document", "item")} for f in doc["findings"]]

    assert located_elsewhere(json.loads(from_stdin.stdout)) == located_elsewhere(json.loads(from_dir.stdout))
    assert {f["file"] for f in json.loads(from_stdin.stdout)["findings"] if f["file"]} == {"-"}


def test_installed_program_exit_codes_and_json() -> None:
    seed = run_installed("apibridge", "check", "examples/seed/", "-o", "json")
    assert seed.returncode == 1
    assert any(f["severity"] == "error" for f in json.loads(seed.stdout)["findings"])
    clean = run_installed("apibridge", "check", "examples/apibridge/", "-o", "json")
    assert clean.returncode == 0, clean.stdout


# ---- check UX (issue #10, item 7), on a kubespray-style cluster -------------------------------------------
KUBESPRAY_SEED = stream(KUBESPRAY_API, TENANT_VPC, OPEN_BRIDGE)


def _kubespray(tmp_path: Path) -> Path:
    (tmp_path / "cluster.yaml").write_text(KUBESPRAY_SEED)
    return tmp_path


def test_json_findings_carry_file_and_document(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("check", str(_kubespray(tmp_path)), "-o", "json")
    doc = json.loads(result.stdout)
    about_bridge = [f for f in doc["findings"] if f["object"] == "ApiBridge/alpha"]
    assert about_bridge, doc
    assert about_bridge[0]["file"] == str(tmp_path / "cluster.yaml") and about_bridge[0]["document"] == 4


SEEDED_INGRESS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: ingress-nginx-controller, namespace: alpha}
spec:
  selector: {matchLabels: {app: ingress}}
  template:
    metadata:
      labels: {app: ingress}
      annotations:
        k8s.v1.cni.cncf.io/networks: kube-system/api-ovn-nad
        api-ovn-nad.kube-system.ovn.kubernetes.io/routes: '[{"dst":"10.233.0.1/32","gw":"100.100.100.1"}]'
    spec: {containers: [{name: controller, image: registry.k8s.io/ingress-nginx/controller:v1.11.2}]}
"""
SEED_ONE_TENANT = stream(SEED_NAD, SEED_SUBNET, SEEDED_INGRESS)


def test_fail_on_warning_and_min_severity(invoke: Invoke, tmp_path: Path) -> None:
    (tmp_path / "cluster.yaml").write_text(stream(KUBESPRAY_API, TENANT_VPC))  # no bridge: the seed's setup
    (tmp_path / "seed.yaml").write_text(SEED_ONE_TENANT)
    path = str(tmp_path)
    plain = invoke("check", path, "-o", "json")
    severities = {f["severity"] for f in json.loads(plain.stdout)["findings"]}
    assert plain.exit_code == 0 and "warning" in severities and "error" not in severities  # isolation: open
    assert invoke("check", path, "--fail-on", "warning").exit_code == 1
    quiet = invoke("check", path, "--min-severity", "warning", "-o", "json")
    assert {f["severity"] for f in json.loads(quiet.stdout)["findings"]} == {"warning"}
    text = invoke("check", path, "--min-severity", "warning")
    assert "info:" not in text.stderr and "•" not in text.stdout


def test_an_empty_input_is_an_error_unless_allowed(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("check", str(tmp_path))
    assert result.exit_code == 2 and "no Kubernetes objects" in result.stderr and "--allow-empty" in result.stderr
    assert "no findings" not in result.stdout
    assert invoke("check", str(tmp_path), "--allow-empty").exit_code == 0


def test_a_file_without_kind_in_a_directory_is_skipped_with_an_info_line(invoke: Invoke, tmp_path: Path) -> None:
    _kubespray(tmp_path)
    (tmp_path / "kustomization.yaml").write_text("resources: [cluster.yaml]\n")
    result = invoke("check", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert f"info: skipped {tmp_path / 'kustomization.yaml'}" in result.stderr
    named = invoke("check", str(tmp_path / "kustomization.yaml"))  # named on its own: the user meant it
    assert named.exit_code == 2


def test_did_you_mean_for_a_misspelled_vpc(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("render", str(_kubespray(tmp_path)), "--vpc", "alpah")
    assert result.exit_code == 1 and result.stdout == ""
    assert "did you mean alpha?" in result.stderr


def test_dns_whose_service_has_no_ready_endpoint_is_an_error(invoke: Invoke) -> None:
    """RKE2's CoreDNS not ready (the EndpointSlice lists both replicas ready: false): a bridge naming DNS
    gets nothing, and check says which Service has no endpoints (the lab proves it: test_intent_lab). On the
    Service, not the bridge: the bridge stays sound (the operator still makes it, its API access goes on)."""
    data = "tests/twin_lab/data"
    code, findings = _findings(invoke, f"{data}/rke2/cluster.yaml", f"{data}/rke2-dns-not-ready.yaml")
    (dns,) = [f for f in findings if f["severity"] != "info"]
    assert code == 1 and (dns["code"], dns["object"]) == ("AB117", "Service/kube-system/rke2-coredns-rke2-coredns")
    assert "the DNS Service kube-system/rke2-coredns-rke2-coredns has no endpoints" in str(dns["message"])
    assert "ApiBridge web names DNS" in str(dns["message"])
    rendered = invoke("render", f"{data}/rke2/cluster.yaml", f"{data}/rke2-dns-not-ready.yaml")
    assert rendered.exit_code == 0 and "name: apibridge-web" in rendered.stdout, rendered.stderr


def test_items_of_a_list_are_located_by_document_and_item(invoke: Invoke, tmp_path: Path) -> None:
    """``kubectl get -o yaml`` writes a List: every item was reported as "(document 1)"."""
    items = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"team-{i}"}} for i in range(6)]
    items.append(
        {
            "apiVersion": "kubeovn.io/v1",
            "kind": "Subnet",
            "metadata": {"name": "alpha-net"},
            "spec": {"protocol": "IPv4", "cidrBlock": "10.10.0.0/24", "gateway": "10.10.1.1"},
        }
    )
    export = tmp_path / "export.yaml"
    export.write_text(KUBESPRAY_API + "---\n" + yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    text = invoke("check", str(export), "--min-severity", "error")
    assert f"Subnet/alpha-net  {export} (document 2, item 7)" in text.stdout, text.stdout
    _, findings = _findings(invoke, str(export))
    (gw,) = [f for f in findings if f["code"] == "AB001"]
    assert (gw["file"], gw["document"], gw["item"]) == (str(export), 2, 7)
    api = [f for f in findings if f["object"] == "Service/default/kubernetes"]
    assert all(f["item"] is None for f in api)
