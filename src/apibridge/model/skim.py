"""Find the documents (and ``kind: List`` items) of a YAML stream that the caller ignores, without building them.

Why: ``apibridge check`` models a handful of kinds; a ``kubectl get -A -o yaml`` export is mostly ConfigMaps,
Secrets, Events and the like, and building every node of those in Python made a 50 MB file take 40 s. The
loader asks this module which documents it may leave unbuilt; it builds the rest as before and stands a stub
``{"apiVersion": …, "kind": …}`` in for each skimmed one (all the model reads of an ignored kind).

What keeps this honest on hostile input. libyaml parses the text of the skimmed units without building
anything (``raw_parse``) and the loader builds everything else, so every unit is valid YAML or the file is
built in full, with the error it always had. A ``---`` line at column 0 is a document start (libyaml refuses
one inside a quoted scalar or a flow collection: the unit cut there does not parse, and the file is built).
When the units built do not come out as many as the skim counted, the file is built in full too. A unit (a
document, or an item of a List at column 0) is skimmed only when its text shows, line by line, that building
it could not fail or cost more than the limits allow:

* its keys are at one column and every line at that column is a plain key (``name:``), a ``- `` entry or a
  comment, so no key is hidden in quoted, flow or complex (``?``) syntax;
* exactly one ``apiVersion:`` and one ``kind:`` line, each a single plain token that resolves to a string
  (``kind: Yes`` is a bool in YAML 1.1) and does not continue on the next line;
* no ``&``, ``*`` or ``!`` anywhere (no anchor, alias or tag: the alias-bomb limit and tag errors need the
  builder) and no ``<<`` (merge keys);
* nesting provably within the limit: block nesting needs one column per level (two for a sequence in a
  mapping), flow nesting one ``[`` or ``{`` per level, so ``2 * (deepest indentation + 1) + openers + 2``
  bounds the depth.

Anything else is built, with the errors it always had. What a skimmed body does not get is the check the
builder makes beyond YAML syntax: a key repeated inside it (``data`` or ``metadata`` twice, or a key twice
within ``data``) is not reported for a kind the caller ignores (``inject``, which passes such objects through,
builds them and still reports it). A repeated ``apiVersion`` or ``kind`` line is: that unit is built.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import yaml

Skip = Callable[[str, str], bool]  # (apiVersion, kind) -> the caller ignores objects of this kind

_IMPLICIT = yaml.resolver.Resolver.yaml_implicit_resolvers
_CONTENT = re.compile(r"^[ \t]*[^\s#]", re.M)
_DEEP_FROM = 20  # a line indented this far (with "- ", "? ", ": " prefixes) makes its unit "maybe deep"
_KEY = r"[A-Za-z][\w.-]*:(?:[ \t]|$)"  # a plain key and its colon
# Anywhere in a unit, what makes it "build it": an anchor, alias, tag or merge key, a complex key ("? "),
# a deeply indented line. Each is a pass over the text for positions (rare in manifests).
_BAD_ANYWHERE = {  # a literal that must be in the text for the pattern to match: a fast test first
    "&": re.compile("&"),
    "*": re.compile(r"\*"),
    "!": re.compile("!"),
    "<<": re.compile("<<"),
    "?": re.compile(r"\?(?:[ \t\n]|\Z)"),  # "? " even in a comment or a value: rare, so cheap to build
}
_DEEP = re.compile(r"\n[ \t?:-]{" + str(_DEEP_FROM) + ",}")
# At the key column: a line that is not a plain key, a "- " entry, a comment or (documents) a document start
_BAD_LINE = {
    0: re.compile(r"\n(?!" + _KEY + r"|-(?:[ \t]|$)|\#|---(?:[ \t\n]|\Z)|[ \t]|$)", re.M),
    # List items: a line left of the keys (other than an item's "- "), an item whose first line is not a key
    2: re.compile(r"\n(?:(?!- |  |\#|$)| (?! )|  (?!" + _KEY + r"|-(?:[ \t]|$)|\#|[ \t]|$)|- (?!" + _KEY + "))", re.M),
}
# apiVersion/kind at the key column, with the value when it is a plain token that ends on its line (the next
# line with content starts at the key column or left of it, or is a comment)
_VALUE = r"[ \t]+([A-Za-z0-9][\w./-]*)[ \t]*(?:\#[^\n]*)?"
_FIELDS = {
    column: re.compile(
        r"\n"
        + ("" if column == 0 else "(?:- |  )")
        + r"(apiVersion|kind):(?:"
        + _VALUE
        + r"(?=\n(?:[ \t]*\n)*(?: {0,"
        + str(column)
        + r"}[^ \t\n]|[ \t]*\#)|\n?\Z))?",
        re.M,
    )
    for column in (0, 2)
}
# the same fields, and the document starts, in one findall: (marker, name, value)
_DOCUMENT_FIELDS = re.compile(r"\n(?:(---)[ \t]*(?=\n|\Z)|" + _FIELDS[0].pattern[2:] + ")", re.M)
_FIRST = re.compile(r"(?:[ \t]*(?:\#[^\n]*)?\n)*([^\s#])")


class Unit(NamedTuple):
    """One document, or one item of a List, as text ``[start, end)`` of the stream."""

    start: int
    end: int
    stub: dict[str, str] | None  # {"apiVersion", "kind"} when the unit may be skimmed (a dict of its own)


def _plain_str(value: str) -> bool:
    """Does this plain scalar resolve to a string (not a bool, null, number or timestamp)?"""
    return not any(regexp.match(value) for _, regexp in _IMPLICIT.get(value[:1], ()))


_KEY_AT = re.compile(_KEY, re.M)


def _first_is_key(text: str, start: int, end: int) -> bool:
    """Does the document's first line with content (past blank and comment lines) start with a plain key at
    column 0? (Not a "- " entry: a sequence document, whose items the loader unpacks.)"""
    if _KEY_AT.match(text, start, end):
        return True  # the common case: the document starts with its first key
    first = _FIRST.match(text, start, end)
    if first is None:
        return False
    at = first.start(1)
    return at == text.rfind("\n", 0, at) + 1 and _KEY_AT.match(text, at, end) is not None


def _lines(pattern: re.Pattern[str], t: str, lo: int, hi: int) -> Iterator[re.Match[str]]:
    """Matches of a ``\\n``-led ``pattern`` in ``t`` (the text after a newline) at the lines that start in
    ``[lo, hi)`` of the text; ``match.start()`` is the line's start in the text. (A leading literal makes a
    pattern scan ~5x faster than ``^`` with MULTILINE: these run over every byte of 50 MB.)"""
    return (m for m in pattern.finditer(t, lo, hi + 1) if m.start() < hi)


def _bad_anywhere(text: str, t: str) -> list[int]:
    """Where ``text`` has something from ``_BAD_ANYWHERE`` or ``_DEEP`` (sorted)."""
    found = [m.start() for c, pattern in _BAD_ANYWHERE.items() if c in text for m in pattern.finditer(text)]
    found += (m.start() for m in _lines(_DEEP, t, 0, len(text)))
    return sorted(found)


_MARKER_LINE = re.compile(r"\n---[ \t]*(?=\n|\Z)")  # a lookahead: "---\n---" is two
_MARKER_WITH_CONTENT = re.compile(r"\n---[ \t]+[^\s]")
_NOT_KEY_FIRST = re.compile(r"\n---[ \t]*(?=\n(?!" + _KEY + "))", re.M)  # a document whose first line is no key


def _units(
    text: str,
    t: str,
    spans: list[tuple[int, int, int]],
    column: int,
    region: tuple[int, int],
    skip: Skip,
    max_depth: int,
    anywhere: list[int],
) -> list[Unit]:
    """``spans`` (unit start, content start, end) as units, with a stub for each that may be skimmed. Each
    pattern runs once over the region; the loops only sort its matches into units."""
    starts = [start for _, start, _ in spans]
    lo, hi = bisect_right(anywhere, region[0] - 1), bisect_right(anywhere, region[1])
    bad = {bisect_right(starts, at) - 1 for at in anywhere[lo:hi]}
    bad.update(bisect_right(starts, m.start()) - 1 for m in _lines(_BAD_LINE[column], t, *region))
    if column == 0:  # documents whose first line is no key: a comment first (fine) or a sequence (not)
        slow = {bisect_right(starts, m.end()) - 1 for m in _lines(_NOT_KEY_FIRST, t, *region)}
        if spans and spans[0][0] == spans[0][1]:
            slow.add(0)  # the implicit first document
        bad.update(k for k in slow if k not in bad and not _first_is_key(text, spans[k][1], spans[k][2]))
    fields: list[list[str]] = [[] for _ in spans]  # per unit: name, value, name, value, …
    if column == 0 and region == (0, len(text)):  # all documents: one findall, in order, split at the markers
        k = 0 if spans and spans[0][1] == 0 else -1  # an implicit first document, then one per marker
        for marker, name, value in _DOCUMENT_FIELDS.findall(t):
            if marker:
                k += 1
            elif k >= 0:
                fields[k] += (name, value)
    else:
        for m in _lines(_FIELDS[column], t, *region):
            k = bisect_right(starts, m.start()) - 1
            if k >= 0:
                fields[k] += m.groups("")
    budget = max_depth - 2 * (_DEEP_FROM + 1) - 2  # flow openers a unit may have (see the module docstring)
    decided: dict[tuple[str, ...], dict[str, str] | None] = {}  # fields -> the stub they allow
    units: list[Unit] = []
    for k, (at, start, end) in enumerate(spans):
        stub = None
        found = tuple(fields[k])
        if k not in bad:
            if found in decided:
                stub = decided[found]
            else:
                stub = decided[found] = _stub(found, skip)
            if stub is not None and text.count("[", start, end) + text.count("{", start, end) > budget:
                stub = None
        units.append(Unit(at, end, None if stub is None else dict(stub)))
    return units


def _stub(found: tuple[str, ...], skip: Skip) -> dict[str, str] | None:
    """The stub for a unit whose apiVersion/kind lines are ``found`` (name, value, …), if it may be skimmed."""
    if len(found) != 4 or not found[1] or not found[3] or found[0] == found[2]:
        return None
    api, kind = (found[1], found[3]) if found[0] == "apiVersion" else (found[3], found[1])
    if not _plain_str(api) or not _plain_str(kind) or not skip(api, kind):
        return None
    return {"apiVersion": api, "kind": kind}


@dataclass
class Stream:
    """The units of one YAML text, and what they may skim."""

    documents: list[Unit]
    t: str  # "\n" + the text (see ``_lines``)
    anywhere: list[int]  # see ``_bad_anywhere``


def documents(text: str, skip: Skip, max_depth: int) -> Stream | None:
    """The stream's documents in libyaml's order, or None when this text is not one the skim handles
    (directives, ``...`` document ends, a ``---`` with content on its line, CR line ends)."""
    if text.startswith(("\ufeff", "%", "...")) or "\r" in text or "\n%" in text or "\n..." in text:
        return None
    t = "\n" + text
    if _MARKER_WITH_CONTENT.search(t):
        return None  # "--- |", "--- {…}", "--- # note": rare, built as they are
    marks = [(m.start(), min(m.end(), len(text))) for m in _MARKER_LINE.finditer(t)]
    spans = [(at, start, marks[i + 1][0] if i + 1 < len(marks) else len(text)) for i, (at, start) in enumerate(marks)]
    first = marks[0][0] if marks else len(text)
    if _CONTENT.search(text, 0, first):
        spans.insert(0, (0, 0, first))  # content before the first ---: an implicit document
    anywhere = _bad_anywhere(text, t)
    return Stream(_units(text, t, spans, 0, (0, len(text)), skip, max_depth, anywhere), t, anywhere)


_LIST_KIND = re.compile(r"\nkind:[ \t]+List[ \t]*(?:\#.*)?$", re.M)
_ITEMS = re.compile(r"\nitems:[ \t]*\n")
_ITEM = re.compile(r"\n(?=\S)")


def list_items(stream: Stream, text: str, start: int, end: int, skip: Skip, max_depth: int) -> list[Unit] | None:
    """The items of the ``kind: List`` document ``text[start:end]`` written as ``kubectl get -o yaml`` writes
    them (``items:`` at column 0, each item a ``- `` line at column 0), or None for any other document."""
    t = stream.t
    if sum(1 for _ in _lines(_LIST_KIND, t, start, end)) != 1:
        return None
    heads = list(_lines(_ITEMS, t, start, end))
    if len(heads) != 1:
        return None
    begin = heads[0].end() - 1
    cuts: list[int] = []
    stop = end
    for line in _lines(_ITEM, t, begin, end):
        if text.startswith("- ", line.start()):
            cuts.append(line.start())
        elif not text.startswith("#", line.start()):
            stop = line.start()  # the next key of the List ends its items
            break
    if not cuts or _CONTENT.search(text, begin, cuts[0]):
        return None
    spans = [(at, at, cuts[i + 1] if i + 1 < len(cuts) else stop) for i, at in enumerate(cuts)]
    return _units(text, t, spans, 2, (cuts[0], stop), skip, max_depth, stream.anywhere)
