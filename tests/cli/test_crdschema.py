"""ApiBridge input against the CRD's own schema (issue #10, item 4): the chart's CRD is the one source, the CLI
accepts exactly what it accepts, and every example and README snippet passes.

The corpus in tests/data/apibridges is shared with the real-API-server test (dry-run, strict field validation).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from apibridge.model import crdschema
from apibridge.model.load import load_documents

from .clusters import INGRESS, KUBESPRAY_API, TENANT_VPC, stream
from .support import REPO, Invoke, assert_one_line_error

CORPUS = REPO / "tests" / "data" / "apibridges"
VALID = sorted((CORPUS / "valid").glob("*.yaml"))
INVALID = sorted((CORPUS / "invalid").glob("*.yaml"))

DB_STATEFULSET = """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: alpha}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: postgres:16}]}
"""
KUBESPRAY = stream(KUBESPRAY_API, TENANT_VPC, INGRESS, DB_STATEFULSET)


def chart_crd() -> Path:
    """The chart's CRD file, wherever the chart keeps it (crds/, or a template/files directory)."""
    (found,) = sorted((REPO / "deploy" / "chart").rglob(crdschema.CRD_RESOURCE))
    return found


def test_the_shipped_schema_is_byte_identical_to_the_charts() -> None:
    shipped = REPO / "src" / "apibridge" / "model" / crdschema.CRD_RESOURCE
    assert shipped.read_bytes() == chart_crd().read_bytes(), (
        f"copy {chart_crd().relative_to(REPO)} to {shipped.relative_to(REPO)}: the CLI checks with the chart's schema"
    )
    assert crdschema.crd_text() == chart_crd().read_text(encoding="utf-8")


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_corpus(path: Path) -> None:
    (doc,) = load_documents([str(path)])
    assert crdschema.validate(doc.body) == []
    load_documents([str(path)])


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_corpus(path: Path) -> None:
    expected = re.match(r"# field: (.*)", path.read_text()).group(1)  # type: ignore[union-attr]
    (doc,) = load_documents([str(path)])
    errors = crdschema.validate(doc.body)
    assert errors, f"{path.name} passed the schema"
    assert errors[0].field == expected, errors


def test_the_corpus_is_not_empty() -> None:
    assert len(VALID) >= 4 and len(INVALID) >= 15


def _readme_bridges() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for readme in [
        REPO / "README.md",
        *sorted(REPO.glob("examples/**/README.md")),
        *sorted(REPO.glob("deploy/**/*.md")),
    ]:
        for block in re.findall(r"```ya?ml\n(.*?)```", readme.read_text(), flags=re.S):
            for doc in yaml.safe_load_all(block):
                if isinstance(doc, dict) and doc.get("kind") == "ApiBridge":
                    out.append((str(readme.relative_to(REPO)), doc))
    return out


def test_every_readme_snippet_and_example_passes_the_schema() -> None:
    snippets = _readme_bridges()
    assert any(src == "README.md" for src, _ in snippets)
    readme = next(doc for src, doc in snippets if src == "README.md")
    assert readme["spec"]["destinations"]["extra"], "the README shows an extra destination"
    docs = load_documents([str(REPO / "examples"), str(REPO / "src" / "apibridge" / "twin" / "demo_scenario")])
    bridges = [(d.source, d.body) for d in docs if d.body.get("kind") == "ApiBridge"]
    assert len(bridges) >= 3
    for source, body in [*snippets, *bridges]:
        assert crdschema.validate(body) == [], source


# ---- the CLI: the new user's misspelled bridge (issue #10, first list) ---------------------------------------
MISSPELLED = """\
apiVersion: apibridge.dev/v1alpha1
kind: ApiBridge
metadata: {name: alpha}
spec:
  vpc: alpha
  podSelecter: {matchLabels: {app.kubernetes.io/name: ingress-nginx}}
  destinations:
    extras: [{cidr: 10.233.0.20/32}]
"""


@pytest.mark.parametrize("command", ["check", "inject", "render"])
def test_a_misspelled_field_is_an_error_not_a_widened_bridge(invoke: Invoke, tmp_path: Path, command: str) -> None:
    (tmp_path / "cluster.yaml").write_text(KUBESPRAY)
    (tmp_path / "bridge.yaml").write_text(MISSPELLED)
    args = {
        "check": ["check", str(tmp_path)],
        "render": ["render", str(tmp_path)],
        "inject": ["inject", "-f", str(tmp_path / "cluster.yaml"), "--cluster", str(tmp_path)],
    }[command]
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert_one_line_error(
        result.stderr,
        "bridge.yaml (document 1)",
        "ApiBridge/alpha",
        "field spec.podSelecter",
        'unknown field "spec.podSelecter"',
        "spec.destinations.extras",
        "did you mean podSelector?",
    )


def test_the_readme_ports_shorthand_shows_the_accepted_form(invoke: Invoke, tmp_path: Path) -> None:
    (tmp_path / "cluster.yaml").write_text(KUBESPRAY)
    (tmp_path / "bridge.yaml").write_text(
        "apiVersion: apibridge.dev/v1alpha1\nkind: ApiBridge\nmetadata: {name: alpha}\n"
        "spec: {vpc: alpha, destinations: {extra: [{cidr: 10.96.0.20, ports: [8443]}]}}\n"
    )
    result = invoke("check", str(tmp_path))
    assert result.exit_code == 2
    assert_one_line_error(
        result.stderr, "field spec.destinations.extra[0].ports[0]", "must be of type object", "write {port: 8443}"
    )
