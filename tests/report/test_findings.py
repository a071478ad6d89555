"""Findings for programs (the exact shape) and for people (grouped, one line each, a summary)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from apibridge.model.cluster import Assumption, load_cluster
from apibridge.plan.types import PlanProblem
from apibridge.report.findings import (
    FindingLike,
    findings_document,
    has_errors,
    object_sources,
    print_assumptions,
    print_findings,
    summary,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass(frozen=True)
class F:
    code: str
    severity: str
    obj: str
    field: str | None
    message: str
    hint: str | None = None


FINDINGS = [
    F("X1", "error", "Subnet/a", "spec.cidrBlock", "overlaps Subnet/b", "pick another CIDR"),
    F("X2", "warning", "Pod/ns/p", None, "no bridge selects this pod"),
    F("X3", "info", "Subnet/a", "spec.acls", "no fence"),
]


def _text(findings: Sequence[FindingLike], sources: dict[str, str] | None = None) -> str:
    buf = io.StringIO()
    print_findings(Console(file=buf, soft_wrap=True, highlight=False), findings, sources=sources)
    return buf.getvalue()


def test_document_shape() -> None:
    doc = findings_document(FINDINGS)
    assert list(doc) == ["findings"]
    keys = ["code", "severity", "object", "field", "message", "hint", "file", "document", "item"]
    assert [list(f) for f in doc["findings"]] == [keys] * 3
    assert doc["findings"][0]["object"] == "Subnet/a"
    assert doc["findings"][1]["field"] is None
    assert doc["findings"][0]["file"] == "" and doc["findings"][0]["document"] is None
    located = findings_document(FINDINGS, {"Subnet/a": ("net.yaml", 2, None)})["findings"][0]
    assert (located["file"], located["document"], located["item"]) == ("net.yaml", 3, None)
    listed = findings_document(FINDINGS, {"Subnet/a": ("export.yaml", 0, 6)})["findings"][0]
    assert (listed["document"], listed["item"]) == (1, 7)


def test_plan_problems_print_like_findings() -> None:
    problem = PlanProblem("P1", "ApiBridge/x", "spec.cidrBlock", "pool exhausted", "set it")
    assert findings_document([problem])["findings"][0]["object"] == "ApiBridge/x"
    assert "pool exhausted" in _text([problem])


def test_errors_decide() -> None:
    assert has_errors(FINDINGS)
    assert not has_errors(FINDINGS[1:])
    assert not has_errors([])


def test_grouped_by_object_in_first_seen_order() -> None:
    lines = _text(FINDINGS).splitlines()
    headers = [line for line in lines if not line.startswith(" ")]
    assert headers == ["Subnet/a", "Pod/ns/p"]
    subnet_block = lines[1 : lines.index("Pod/ns/p")]
    assert any("X1" in line for line in subnet_block) and any("X3" in line for line in subnet_block)
    assert any("hint: pick another CIDR" in line for line in subnet_block)


def test_every_finding_is_one_line_with_code_field_and_message() -> None:
    for f in FINDINGS:
        matching = [line for line in _text(FINDINGS).splitlines() if f.code in line]
        assert len(matching) == 1
        assert f.message in matching[0] and f.severity in matching[0]
        if f.field:
            assert f.field in matching[0]


def test_markup_in_messages_is_printed_literally() -> None:
    text = _text([F("X", "error", "Pod/a/[b]", "metadata.annotations", "value [bold]x[/bold] is bad")])
    assert "[bold]x[/bold]" in text and "Pod/a/[b]" in text


def test_sources_are_named() -> None:
    assert "file.yaml (document 2)" in _text(FINDINGS, sources={"Subnet/a": "file.yaml (document 2)"})


def test_object_sources_cover_the_input_and_skip_assumptions() -> None:
    cluster = load_cluster([str(EXAMPLES / "seed")])
    sources = object_sources(cluster)
    for nad in cluster.nads.values():
        assert sources[nad.meta.ref].startswith(str(EXAMPLES / "seed"))
    for assumption in cluster.assumptions:
        assert (assumption.obj in sources) is not assumption.whole  # field defaults are about input objects


def test_summary_counts() -> None:
    plain = Console(file=io.StringIO(), highlight=False)
    with plain.capture() as cap:
        plain.print(summary(FINDINGS, objects=7))
    text = cap.get()
    assert "1 error" in text and "1 warning" in text and "1 info" in text and "7 objects" in text
    with plain.capture() as cap:
        plain.print(summary([], objects=1))
    assert "no findings" in cap.get() and "1 object " in cap.get()


def test_assumptions() -> None:
    buf = io.StringIO()
    print_assumptions(Console(file=buf, soft_wrap=True), [Assumption("Vpc/ovn-cluster", "the default VPC")])
    assert buf.getvalue().strip() == "info: assumed Vpc/ovn-cluster: the default VPC"
