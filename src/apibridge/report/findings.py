"""Findings and assumptions, for people (grouped, coloured text) and for programs (a stable shape).

The machine shape is a contract — scripts and CI parse it — so it is exactly
``{"findings": [{"code", "severity", "object", "field", "message", "hint", "file", "document", "item"}]}``
and nothing else: ``file`` is where the object was read (empty when it was not: assumed or planned objects),
``document`` its 1-based document number in that file (``null`` when unknown) and ``item`` its 1-based
position among the items when that document is a ``kind: List`` (``null`` otherwise).
The text form groups findings by the object they are about, names the file that object came from,
and ends with one summary line, because a reviewer reads per object and a CI log is scanned for the
last line. Validator findings and the planner's problems have the same fields, so both print here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape

from apibridge.base.errors import Location
from apibridge.model.cluster import Assumption, Cluster

SEVERITIES = ("error", "warning", "info")
_MARK = {"error": "✗", "warning": "!", "info": "•"}


class FindingLike(Protocol):
    """What a finding has: ``apibridge.check.findings.Finding`` and ``apibridge.plan.types.PlanProblem``."""

    @property
    def code(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def obj(self) -> str: ...
    @property
    def field(self) -> str | None: ...
    @property
    def message(self) -> str: ...
    @property
    def hint(self) -> str | None: ...


Origin = tuple[str, int | None, int | None]  # file, 0-based document index, 0-based List item


def finding_record(finding: FindingLike, origins: Mapping[str, Origin] | None = None) -> dict[str, Any]:
    """One finding in the machine shape (``obj`` is spelled ``object`` there)."""
    source, document, item = (origins or {}).get(finding.obj, ("", None, None))
    return {
        "code": finding.code,
        "severity": finding.severity,
        "object": finding.obj,
        "field": finding.field,
        "message": finding.message,
        "hint": finding.hint,
        "file": source,
        "document": None if document is None else document + 1,
        "item": None if item is None else item + 1,
    }


def findings_document(
    findings: Iterable[FindingLike], origins: Mapping[str, Origin] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """``{"findings": [...]}``, in the order given."""
    return {"findings": [finding_record(f, origins) for f in findings]}


def at_least(findings: Iterable[FindingLike], severity: str) -> list[FindingLike]:
    """The findings of ``severity`` or worse (``info`` keeps all)."""
    worst = SEVERITIES.index(severity)
    return [f for f in findings if f.severity in SEVERITIES and SEVERITIES.index(f.severity) <= worst]


def has_errors(findings: Iterable[FindingLike]) -> bool:
    return any(f.severity == "error" for f in findings)


def counts(findings: Iterable[FindingLike]) -> Counter[str]:
    return Counter(f.severity for f in findings)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 or word == "info" else f"{n} {word}s"


def summary(findings: Sequence[FindingLike], objects: int | None = None) -> str:
    """``✗ 2 errors, 1 warning, 0 info (14 objects checked)`` (rich markup)."""
    c = counts(findings)
    scope = f" ({_plural(objects, 'object')} checked)" if objects is not None else ""
    if not findings:
        return f"[ok]✓ no findings[/ok]{escape(scope)}"
    parts = [f"[{s}]{_plural(c[s], s)}[/{s}]" if c[s] else _plural(c[s], s) for s in SEVERITIES]
    mark = "[error]✗[/error]" if c["error"] else "[warning]![/warning]" if c["warning"] else "[ok]✓[/ok]"
    return f"{mark} {', '.join(parts)}{escape(scope)}"


def object_origins(cluster: Cluster) -> dict[str, Origin]:
    """``Kind/ns/name`` -> (file, 0-based document index, 0-based List item) for every object read from the input."""
    metas = [
        *(x.meta for x in cluster.nodes.values()),
        *(x.meta for x in cluster.namespaces.values()),
        *(x.meta for x in cluster.services.values()),
        *(e.meta for es in cluster.endpoints.values() for e in es),
        *(x.meta for x in cluster.pods),
        *(x.meta for x in cluster.vpcs.values()),
        *(x.meta for x in cluster.subnets.values()),
        *(x.meta for x in cluster.nads.values()),
        *(x.meta for x in cluster.bridges.values()),
        *(x.meta for x in cluster.network_policies),
        *(x.meta for x in cluster.admin_policies),
    ]
    out: dict[str, Origin] = {}
    for meta in metas:
        loc = meta.location
        if loc.source is None or loc.source.startswith("("):  # "(assumed)", "(implied)", "(--vpc)"
            continue
        out.setdefault(meta.ref, (loc.source, loc.document, loc.item))
    return out


def object_sources(cluster: Cluster) -> dict[str, str]:
    """``Kind/ns/name`` -> ``file (document N, item M)`` for every object read from the input."""
    return {
        ref: Location(source, document, item=item).where()
        for ref, (source, document, item) in object_origins(cluster).items()
    }


def print_findings(
    console: Console, findings: Sequence[FindingLike], *, sources: Mapping[str, str] | None = None
) -> None:
    """Findings grouped by object (in order of first appearance), one line each, hint underneath."""
    groups: dict[str, list[FindingLike]] = {}
    for f in findings:
        groups.setdefault(f.obj, []).append(f)
    width = max((len(f.severity) for f in findings), default=0)
    for obj, items in groups.items():
        where = (sources or {}).get(obj)
        suffix = f"  [muted]{escape(where)}[/muted]" if where else ""
        console.print(f"[object]{escape(obj or '(cluster)')}[/object]{suffix}")
        for f in items:
            style = f.severity if f.severity in SEVERITIES else "info"
            field = f"[field]{escape(f.field)}[/field]: " if f.field else ""
            console.print(
                f"  [{style}]{_MARK.get(f.severity, '-')} {f.severity:<{width}}[/{style}] "
                f"[code]{escape(f.code)}[/code] {field}{escape(f.message)}"
            )
            if f.hint:
                console.print(f"  {' ' * (width + 2)} [muted]hint: {escape(f.hint)}[/muted]")


def print_assumptions(console: Console, assumptions: Iterable[Assumption]) -> None:
    """What the model took as Kube-OVN or kubeadm would have it: ``info: assumed <object>: <what>``."""
    for a in assumptions:
        console.print(f"[info]info:[/info] assumed [object]{escape(a.obj)}[/object]: {escape(a.what)}")
