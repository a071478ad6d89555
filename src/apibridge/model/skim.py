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
# (apiVersion, kind) -> the subtrees the caller never reads of an object it does read: top-level keys and keys
# one level below them ("status", "metadata.managedFields")
Unread = Callable[[str, str], tuple[str, ...]]

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
    cuts: tuple[tuple[int, int], ...] = ()  # of a unit that is built: text of subtrees it may leave unbuilt


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
    unread: Unread | None = None,
) -> list[Unit]:
    """``spans`` (unit start, content start, end) as units, with a stub for each that may be skimmed. Each
    pattern runs once over the region; the loops only sort its matches into units."""
    starts = [start for _, start, _ in spans]
    lo, hi = bisect_right(anywhere, region[0] - 1), bisect_right(anywhere, region[1])
    # units with a line at the key column that is not a plain key (or a sequence document): neither skimmed
    # nor cut, their keys may hide in other syntax
    odd = {bisect_right(starts, m.start()) - 1 for m in _lines(_BAD_LINE[column], t, *region)}
    if column == 0:  # documents whose first line is no key: a comment first (fine) or a sequence (not)
        slow = {bisect_right(starts, m.end()) - 1 for m in _lines(_NOT_KEY_FIRST, t, *region)}
        if spans and spans[0][0] == spans[0][1]:
            slow.add(0)  # the implicit first document
        odd.update(k for k in slow if k not in odd and not _first_is_key(text, spans[k][1], spans[k][2]))
    bad = odd | {bisect_right(starts, at) - 1 for at in anywhere[lo:hi]}
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
    paths: dict[tuple[str, ...], tuple[str, ...]] = {}  # fields -> the subtrees left unread
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
        cuts: tuple[tuple[int, int], ...] = ()
        if stub is None and unread is not None and k not in odd:
            if found not in paths:
                named = _api_kind(found)
                paths[found] = unread(*named) if named is not None else ()
            if paths[found]:
                cuts = _cuts(text, t, start, end, column, paths[found], max_depth)
        units.append(Unit(at, end, None if stub is None else dict(stub), cuts))
    return units


def _key_at(column: int, name: str) -> re.Pattern[str]:
    """``name:`` at ``column``, as a ``\\n``-led pattern; group 1 is None when its value is a block (on the
    lines below)."""
    key = (column, name)
    pattern = _KEY_LINES.get(key)
    if pattern is None:
        pattern = _KEY_LINES[key] = re.compile(
            r"\n" + " " * column + re.escape(name) + r":(?:[ \t]*(?=\n)|([ \t][^\n]*|\Z))"
        )
    return pattern


def _odd_at(column: int) -> re.Pattern[str]:
    """A line at ``column`` that is not a plain key, a ``- `` entry or a comment (``_BAD_LINE`` at that column)."""
    pattern = _ODD.get(column)
    if pattern is None:
        pattern = _ODD[column] = re.compile(r"\n" + " " * column + r"(?![ \t]|" + _KEY + r"|-(?:[ \t]|$)|\#|$)", re.M)
    return pattern


def _block_end(column: int) -> re.Pattern[str]:
    """The first line after a block key at ``column`` that is no longer its value: content at the key's column
    or left of it, other than a ``- `` entry at the key's column (kubectl's sequences are not indented)."""
    pattern = _ENDS.get(column)
    if pattern is None:
        pattern = _ENDS[column] = re.compile(
            r"\n(?! {" + str(column + 1) + r"}|" + " " * column + r"- |[ \t]*(?:\n|\Z))"
        )
    return pattern


_KEY_LINES: dict[tuple[int, str], re.Pattern[str]] = {}
_ODD: dict[int, re.Pattern[str]] = {}
_ENDS: dict[int, re.Pattern[str]] = {}
_CUT_BAD = re.compile(r"[&*!]|<<|\?(?:[ \t\n]|\Z)")  # what _BAD_ANYWHERE refuses, in the cut text itself
_INDENTED: dict[int, re.Pattern[str]] = {}


def _only_block(t: str, column: int, name: str, lo: int, hi: int) -> tuple[int, int] | None:
    """The one ``name:`` block at ``column`` among the lines starting in ``[lo, hi)``: (its key line's start, its
    end); None when there is none, when the key is there more than once (a repeated key is left to the builder
    to report) or its value is not a block."""
    found = list(_lines(_key_at(column, name), t, lo, hi))
    if len(found) != 1 or found[0].group(1) is not None:
        return None
    start = found[0].start()
    after = _block_end(column).search(t, found[0].end(), hi + 1)
    return start, after.start() if after is not None and after.start() < hi else hi


def _cuts(
    text: str, t: str, start: int, end: int, column: int, paths: tuple[str, ...], max_depth: int
) -> tuple[tuple[int, int], ...]:
    """The text of the subtrees ``paths`` of the unit ``text[start:end]`` whose keys are at ``column``, where it
    may be left unbuilt: a block (``key:`` with its value on the lines below) that occurs once where it is,
    whose text has no anchor, alias, tag, merge or complex key, and whose nesting is provably within
    ``max_depth`` (the bound of the module docstring: block levels from its deepest indentation, one level
    per flow opener that is not closed at once)."""
    out: list[tuple[int, int]] = []
    for path in paths:
        top, _, sub = path.partition(".")
        block = _only_block(t, column, top, start, end)
        if block is not None and sub:  # the key below: where every line at its column is a plain key
            if next(_lines(_odd_at(column + 2), t, block[0] + 1, block[1]), None) is None:
                block = _only_block(t, column + 2, sub, block[0] + 1, block[1])
            else:
                block = None
        if block is None:
            continue
        lo, hi = block
        if _CUT_BAD.search(text, lo, hi):
            continue
        openers = (
            text.count("[", lo, hi) + text.count("{", lo, hi) - text.count("[]", lo, hi) - text.count("{}", lo, hi)
        )
        deepest = (max_depth - 2 - openers) // 2 - 1  # a line indented this far may nest too deep: build it
        if deepest <= column + 2:
            continue
        indented = _INDENTED.get(deepest)
        if indented is None:
            indented = _INDENTED[deepest] = re.compile(r"\n {" + str(deepest) + "}")
        if indented.search(t, lo + 1, hi + 1) is None:
            out.append(block)
    return tuple(sorted(out))


def _api_kind(found: tuple[str, ...]) -> tuple[str, str] | None:
    """(apiVersion, kind) of a unit whose apiVersion/kind lines are ``found`` (name, value, …), when both are
    there once, as plain strings."""
    if len(found) != 4 or not found[1] or not found[3] or found[0] == found[2]:
        return None
    api, kind = (found[1], found[3]) if found[0] == "apiVersion" else (found[3], found[1])
    if not _plain_str(api) or not _plain_str(kind):
        return None
    return api, kind


def _stub(found: tuple[str, ...], skip: Skip) -> dict[str, str] | None:
    """The stub for a unit whose apiVersion/kind lines are ``found`` (name, value, …), if it may be skimmed."""
    named = _api_kind(found)
    if named is None or not skip(*named):
        return None
    return {"apiVersion": named[0], "kind": named[1]}


@dataclass
class Stream:
    """The units of one YAML text, and what they may skim."""

    documents: list[Unit]
    t: str  # "\n" + the text (see ``_lines``)
    anywhere: list[int]  # see ``_bad_anywhere``
    unread: Unread | None = None  # the subtrees a built unit may leave unbuilt (``Unit.cuts``)


def documents(text: str, skip: Skip, max_depth: int, unread: Unread | None = None) -> Stream | None:
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
    units = _units(text, t, spans, 0, (0, len(text)), skip, max_depth, anywhere, unread)
    return Stream(units, t, anywhere, unread)


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
    return _units(text, t, spans, 2, (cuts[0], stop), skip, max_depth, stream.anywhere, stream.unread)
