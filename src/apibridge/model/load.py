"""Read manifests the way ``kubectl apply -f`` does: files, directories, ``-`` for stdin.

Multi-document YAML and JSON, and ``kind: List`` (items are unpacked). Each document keeps its
origin (file and document index) so that every later error can name it. Unparseable input is an
``InputError`` naming the file, the document and the line — never a traceback.

Input is hostile until read (a tenant's manifests reach CI and the webhook's snapshot files), so
reading is bounded: only regular files and ``-`` (a FIFO or a device would hang or never end); at
most ``Limits.max_bytes`` per file; nesting at most ``Limits.max_depth`` levels; YAML aliases may
add at most ``Limits.max_alias_nodes`` nodes per file (the "billion laughs" document expands a few
hundred bytes into billions of nodes once something walks or prints it; go-yaml, which kubectl uses,
refuses "excessive aliasing" for the same reason). An unreadable file or directory entry is an error,
never silently skipped: a check that skipped half its input would report "no findings".

YAML is composed by libyaml (PyYAML's ``CParser``) and turned into Python values here rather than by
PyYAML's generic constructor, which spends most of its time in per-node generator machinery; this
builder is about 3x faster on large dumps, refuses repeated keys as kubectl does, and keeps
timestamps as the strings they were written as (go-yaml does the same when decoding into JSON-like
values, so ``creationTimestamp: 2024-05-01T10:00:00Z`` stays a string).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gc
import json
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from apibridge.base.errors import InputError, Location
from apibridge.base.frozen import fast_init
from apibridge.model import skim

try:  # libyaml composes ~10x faster than the pure-Python parser
    _Parser: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the libyaml build
    _Parser = yaml.SafeLoader

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

MiB = 2**20
DEFAULT_MAX_BYTES = 64 * MiB
DEFAULT_MAX_DEPTH = 100
DEFAULT_MAX_ALIAS_NODES = 100_000


@dataclass(frozen=True)
class Limits:
    """What one input file may cost. ``max_bytes`` has a CLI flag (``--max-file-size``); the others
    are far above what any Kubernetes object needs (the deepest, a CRD's openAPIV3Schema, nests ~40)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH
    max_alias_nodes: int = DEFAULT_MAX_ALIAS_NODES


DEFAULT_LIMITS = Limits()


def format_bytes(n: int) -> str:
    for unit, size in (("Gi", 2**30), ("Mi", MiB), ("Ki", 2**10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return f"{n} bytes"


@fast_init
@dataclass(frozen=True)
class Document:
    """One Kubernetes object as written, with where it came from."""

    body: dict[str, Any]
    source: str
    index: int  # 0-based document index within the source (items of a List share their List's index)
    item: int | None = None  # 0-based position among the List's items (None: the document is the object)

    def location(self, obj: str | None = None, field: str | None = None) -> Location:
        return Location(self.source, self.index, obj, field, self.item)


# ---- which files --------------------------------------------------------------------------------------------
def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _walk_error(exc: OSError) -> None:
    raise InputError(f"cannot read directory entry: {exc.strerror or exc}", Location(exc.filename or "?"))


def _expand(paths: Iterable[str]) -> Iterator[tuple[str, bool]]:
    """(file, found in a directory) for every input path."""
    for raw in paths:
        if raw == "-":
            yield raw, False
            continue
        try:
            st = os.stat(raw)
        except FileNotFoundError:
            raise InputError("no such file or directory", Location(raw)) from None
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", Location(raw)) from None
        if stat.S_ISDIR(st.st_mode):
            found: list[Path] = []
            for top, dirs, names in os.walk(raw, onerror=_walk_error):
                dirs.sort()
                for name in names:
                    if not name.endswith(MANIFEST_SUFFIXES):
                        continue
                    path = os.path.join(top, name)
                    try:
                        entry = os.stat(path)
                    except OSError as exc:
                        raise InputError(f"cannot read: {exc.strerror or exc}", Location(path)) from None
                    if not stat.S_ISREG(entry.st_mode):
                        raise InputError(
                            f"{_kind_of(entry.st_mode)}: only regular files are read from a directory",
                            Location(path),
                        )
                    found.append(Path(path))
            yield from ((str(p), True) for p in sorted(found))
        elif stat.S_ISREG(st.st_mode):
            yield raw, False
        else:
            raise InputError(
                f"{_kind_of(st.st_mode)}: only regular files, directories and - (stdin) are read",
                Location(raw),
                hint=f"to read a stream, pipe it: … | apibridge … - (or cat {raw} | …)",
            )


def _too_big(source: str, limits: Limits) -> InputError:
    return InputError(
        f"larger than the {format_bytes(limits.max_bytes)} limit for one input file",
        Location(source),
        hint="raise it with --max-file-size (e.g. --max-file-size 512Mi) if the file is trusted",
    )


def _read(source: str, limits: Limits = DEFAULT_LIMITS) -> str:
    """The text of ``source``, at most ``limits.max_bytes`` bytes (read no further: /dev/zero never ends)."""
    try:
        if source == "-":
            stream = getattr(sys.stdin, "buffer", None)
            if stream is None:  # a text stream put in place of stdin (tests, embedding)
                text: str = sys.stdin.read(limits.max_bytes + 1)
                if len(text) > limits.max_bytes:
                    raise _too_big(source, limits)
                return text
            data = stream.read(limits.max_bytes + 1)
        else:
            # O_NONBLOCK: opening a FIFO that replaced the file since it was listed must not hang
            fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
            with os.fdopen(fd, "rb") as handle:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise InputError(f"{_kind_of(st.st_mode)}: only regular files are read", Location(source))
                if st.st_size > limits.max_bytes:
                    raise _too_big(source, limits)
                data = handle.read(limits.max_bytes + 1)
        if len(data) > limits.max_bytes:
            raise _too_big(source, limits)
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot read: not UTF-8 text ({exc.reason} at byte {exc.start})", Location(source)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", Location(source)) from None


# ---- YAML: libyaml composes, we construct -----------------------------------------------------------------------
_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"
_IMPLICIT: dict[str | None, list[tuple[str, Any]]] = yaml.resolver.Resolver.yaml_implicit_resolvers
_BUILDING = object()


class _Loader(_Parser):  # type: ignore[misc]
    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> str:
        """``BaseResolver.resolve`` without path resolvers (the safe schema has none), called for every scalar."""
        if kind is ScalarNode:
            if implicit[0]:
                for tag, regexp in _IMPLICIT.get(value[:1], ()):
                    if regexp.match(value):
                        return str(tag)
            return _STR
        return _SEQ if kind is SequenceNode else _MAP


def _binary(loader: Any, node: ScalarNode) -> str:
    try:
        return base64.b64decode(node.value.encode("ascii"), validate=False).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise yaml.constructor.ConstructorError(None, None, f"bad !!binary value: {exc}", node.start_mark) from None


# scalar tag -> converter; timestamps stay strings (see the module docstring)
_SCALARS: dict[str, Callable[[Any, ScalarNode], Any]] = {
    "tag:yaml.org,2002:null": lambda loader, node: None,
    "tag:yaml.org,2002:bool": yaml.constructor.SafeConstructor.construct_yaml_bool,
    "tag:yaml.org,2002:int": yaml.constructor.SafeConstructor.construct_yaml_int,
    "tag:yaml.org,2002:float": yaml.constructor.SafeConstructor.construct_yaml_float,
    "tag:yaml.org,2002:timestamp": lambda loader, node: node.value,
    "tag:yaml.org,2002:binary": _binary,
}


class _LimitError(Exception):
    def __init__(self, message: str, node: Node) -> None:
        super().__init__(message)
        self.message = message
        self.node = node


@dataclass
class _Builder:
    """Turns composed nodes into dicts/lists/scalars, counting what aliases add and how deep it goes."""

    loader: Any
    limits: Limits
    expanded: int = 0  # nodes added by aliases, in this file
    _memo: dict[int, Any] = field(default_factory=dict)

    def build(self, node: Node, depth: int = 0) -> Any:
        """The value of ``node``, a document's root (``depth``: how deep that root is where the text came from)."""
        self._memo.clear()  # anchors are per document
        return self._node(node, depth)[0]

    def _node(self, node: Node, depth: int) -> tuple[Any, int]:
        """(value, number of nodes it stands for once aliases are expanded)."""
        if type(node) is ScalarNode:
            tag = node.tag
            if tag == _STR:
                return node.value, 1
            convert = _SCALARS.get(tag)
            if convert is None:
                raise _LimitError(f"unsupported YAML tag {tag!r}", node)
            return convert(self.loader, node), 1
        key = id(node)
        hit = self._memo.get(key)
        if hit is not None:
            if hit is _BUILDING:
                raise _LimitError("a YAML alias refers to the collection it is in (a recursive object)", node)
            self.expanded += hit[1]
            if self.expanded > self.limits.max_alias_nodes:
                raise _LimitError(
                    f"YAML aliases expand to more than {self.limits.max_alias_nodes:,} nodes "
                    "(limit against alias bombs)",
                    node,
                )
            return hit  # type: ignore[no-any-return]
        if depth >= self.limits.max_depth:
            raise _LimitError(f"nested deeper than {self.limits.max_depth} levels (limit)", node)
        self._memo[key] = _BUILDING
        if type(node) is SequenceNode:
            if node.tag != _SEQ:
                raise _LimitError(f"unsupported YAML tag {node.tag!r}", node)
            items = []
            size = 1
            for child in node.value:
                value, n = self._node(child, depth + 1)
                items.append(value)
                size += n
            result: tuple[Any, int] = (items, size)
        elif type(node) is MappingNode:
            if node.tag != _MAP:
                raise _LimitError(f"unsupported YAML tag {node.tag!r}", node)
            result = self._mapping(node, depth)
        else:  # pragma: no cover - the composer makes only these three
            raise _LimitError(f"unexpected YAML node {type(node).__name__}", node)
        self._memo[key] = result
        return result

    def _mapping(self, node: MappingNode, depth: int) -> tuple[dict[Any, Any], int]:
        out: dict[Any, Any] = {}
        size = 1
        merges: list[dict[Any, Any]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                value, n = self._node(value_node, depth + 1)
                size += n
                sources = value if isinstance(value, list) else [value]
                if not all(isinstance(s, dict) for s in sources):
                    raise _LimitError("a merge key (<<) needs a mapping or a list of mappings", value_node)
                merges.extend(sources)
                continue
            if type(key_node) is not ScalarNode:
                raise _LimitError("a mapping key must be a scalar", key_node)
            key = self._node(key_node, depth + 1)[0]
            if key in out:
                raise _LimitError(f"duplicate key {key!r}", key_node)
            value, n = self._node(value_node, depth + 1)
            out[key] = value
            size += n
        if merges:  # explicit keys win, then earlier merge sources over later ones (YAML merge spec)
            merged: dict[Any, Any] = {}
            for source in merges:
                for k, v in source.items():
                    merged.setdefault(k, v)
            merged.update(out)
            out = merged
        return out, size


def _mark(node: Node, line: int = 0) -> str:
    mark = node.start_mark
    return f" at line {mark.line + line + 1} column {mark.column + 1}" if mark is not None else ""


def _yaml_documents(
    text: str,
    source: str,
    limits: Limits,
    *,
    builder: _Builder | None = None,
    line: int = 0,
    first: int = 0,
    depth: int = 0,
) -> list[Any]:
    """The documents of ``text``; errors name lines and documents counted from ``line`` and ``first`` (the
    place of ``text`` in its file when it is a part of it), and nesting counts from ``depth`` (1 for an item
    of a List, built on its own). ``builder`` carries the file's alias count."""
    loader = _Loader(text)
    if builder is None:
        builder = _Builder(loader, limits)
    builder.loader = loader
    raw_docs: list[Any] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            raw_docs.append(None if node is None else builder.build(node, depth))
    except _LimitError as exc:
        raise InputError(
            f"invalid YAML{_mark(exc.node, line)}: {exc.message}", Location(source, first + len(raw_docs))
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        if "maximum nesting depth" in str(problem):
            problem = f"nested deeper than libyaml's limit ({problem})"
        raise InputError(f"invalid YAML{where}: {problem}", Location(source, first + len(raw_docs))) from None
    finally:
        loader.dispose()
    return raw_docs


# Skim when at least 1/SKIM_WORTH of a file's bytes may be left unbuilt: building costs ~4x what the skim's
# scan and libyaml's parse of the skimmed part cost, so a file with less to skim is built as it is.
SKIM_WORTH = 10


def _valid_yaml(text: str) -> bool:
    """Is ``text`` well-formed YAML? libyaml parses it without making a Python object (about 2 s for 50 MB).
    A skimmed document stands alone (no directives: ``skim`` refuses them), and so does a List item's text
    (a sequence of one entry), so checking their text alone is checking them where they are."""
    try:
        _Parser(text).raw_parse()
    except (yaml.YAMLError, AttributeError):  # AttributeError: the pure-Python parser has no raw_parse
        return False
    return True


def _skimmed_documents(
    text: str, source: str, limits: Limits, skip: skim.Skip, unread: skim.Unread | None = None
) -> list[Any] | None:
    """The documents of ``text`` with a stub for each one ``skip`` ignores, and without the subtrees ``unread``
    names in the others (see ``skim``), built as ``_yaml_documents`` builds them otherwise; None when nothing
    can be skimmed or the text is not one the skim handles (the caller then builds everything, with the errors
    it always had)."""
    stream = skim.documents(text, skip, limits.max_depth, unread)
    if stream is None:
        return None
    units = stream.documents
    lists: dict[int, list[skim.Unit]] = {}
    for i, unit in enumerate(units):
        items = (
            skim.list_items(stream, text, unit.start, unit.end, skip, limits.max_depth) if unit.stub is None else None
        )
        if items and any(item.stub is not None or item.cuts for item in items):
            lists[i] = items
    skimmed = [u for u in units if u.stub is not None]
    items = [item for found in lists.values() for item in found if item.stub is not None]
    cuts = [cut for u in units if u.stub is None for cut in u.cuts]
    cuts += (cut for found in lists.values() for item in found if item.stub is None for cut in item.cuts)
    saved = sum(u.end - u.start for u in (*skimmed, *items)) + sum(end - start for start, end in cuts)
    if saved * SKIM_WORTH < len(text):
        return None  # too little to leave unbuilt to pay for reading it twice
    # what is left unbuilt must still be YAML: libyaml parses it, without building (the rest is built)
    if not _valid_yaml("".join(text[u.start : u.end] for u in skimmed)):
        return None  # the full build reports the error, where it is
    if items and not _valid_yaml("".join(text[item.start : item.end] for item in items)):
        return None
    if cuts and not _valid_yaml("".join(f"---\n{text[start:end]}" for start, end in cuts)):
        return None  # each cut subtree stands alone as a document: a mapping of its one key
    builder = _Builder(None, limits)
    raw_docs: list[Any] = []
    line = 0
    done = 0  # text before this offset is counted in ``line``
    i = 0
    while i < len(units):
        unit = units[i]
        if unit.stub is not None:
            raw_docs.append(unit.stub)  # a fresh dict per unit (skim.Unit)
            i += 1
            continue
        j = i + 1
        if i not in lists:
            while j < len(units) and units[j].stub is None and j not in lists:
                j += 1
        start, end = unit.start, units[j - 1].end
        line += text.count("\n", done, start)
        if i in lists:
            built = _list_items_apart(text, source, limits, builder, unit, lists[i], line, len(raw_docs))
            if built is None:
                return None
        else:
            blank = [cut for u in units[i:j] for cut in u.cuts]
            part = _blank(text, start, end, blank) if blank else text[start:end]
            try:
                built = _yaml_documents(part, source, limits, builder=builder, line=line, first=len(raw_docs))
            except InputError:
                if blank:
                    return None  # the full build reports it, and cannot differ from it
                raise
            if len(built) != j - i:
                return None  # the skim's split is not libyaml's: build it all
        raw_docs.extend(built)
        done, i = start, j
    return raw_docs


def _list_items_apart(
    text: str,
    source: str,
    limits: Limits,
    builder: _Builder,
    unit: skim.Unit,
    items: list[skim.Unit],
    line: int,
    index: int,
) -> list[Any] | None:
    """The ``kind: List`` document ``unit`` built a part at a time: its own keys, then each item that is not
    skimmed on its own (a sequence of one entry, nested as deep as in the List, lines counted where they are),
    so that no more than one item's YAML nodes live at once (a 50 MB export took 940 MB built whole, 270 MB
    like this). None when it does not come out as the List it is, or on any error: the full build then reports
    it, where it is (an alias to an anchor in another item is one)."""
    try:
        head = _yaml_documents(
            _blank(text, unit.start, unit.end, [(it.start, it.end) for it in items]),
            source,
            limits,
            builder=builder,
            line=line,
            first=index,
        )
        if len(head) != 1 or not isinstance(head[0], dict) or head[0].get("kind") != "List":
            return None
        if head[0].get("items") is not None:  # "items:" with all its entries blanked has no value
            return None
        values: list[Any] = []
        at = unit.start
        for it in items:
            if it.stub is not None:
                values.append(dict(it.stub))
                continue
            line += text.count("\n", at, it.start)
            at = it.start
            part = _blank(text, it.start, it.end, list(it.cuts)) if it.cuts else text[it.start : it.end]
            one = _yaml_documents(part, source, limits, builder=builder, line=line, first=index, depth=1)
            if len(one) != 1 or not isinstance(one[0], list) or len(one[0]) != 1:
                return None
            values.append(one[0][0])
    except InputError:
        return None
    head[0]["items"] = values
    return head


def _blank(text: str, start: int, end: int, ranges: list[tuple[int, int]]) -> str:
    """``text[start:end]`` without ``ranges`` (sorted, disjoint), each left as its blank lines so lines still
    count."""
    parts: list[str] = []
    at = start
    for lo, hi in ranges:
        parts.append(text[at:lo])
        parts.append("\n" * text.count("\n", lo, hi))
        at = hi
    parts.append(text[at:end])
    return "".join(parts)


def _frames() -> int:
    frame, n = sys._getframe(), 0
    while frame is not None:
        frame, n = frame.f_back, n + 1  # type: ignore[assignment]
    return n


def _depth_over(root: Any, limit: int) -> bool:
    stack = [(root, 0)]
    while stack:
        obj, depth = stack.pop()
        if depth > limit:
            return True
        children = obj.values() if type(obj) is dict else obj if type(obj) is list else ()
        stack.extend((c, depth + 1) for c in children if type(c) is dict or type(c) is list)
    return False


def _json_loads(text: str, source: str, limits: Limits) -> Any:
    """``json.loads`` with the nesting limit. On CPython 3.11 the C decoder counts nesting against the
    interpreter's recursion limit, so lowering it for the call bounds the depth at no cost; later
    versions count C recursion apart, and the result is walked instead."""
    too_deep = InputError(f"nested deeper than {limits.max_depth} levels (limit)", Location(source, 0))
    if sys.version_info < (3, 12):
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(_frames() + limits.max_depth + 3)
        try:
            return json.loads(text)
        except RecursionError:
            raise too_deep from None
        finally:
            sys.setrecursionlimit(old)
    try:
        value = json.loads(text)
    except RecursionError:
        raise too_deep from None
    if _depth_over(value, limits.max_depth):
        raise too_deep
    return value


def parse_text(
    text: str,
    source: str,
    limits: Limits = DEFAULT_LIMITS,
    skip: skim.Skip | None = None,
    unread: skim.Unread | None = None,
) -> list[Document]:
    """Split ``text`` into documents. JSON (one value) and YAML (``---``-separated) are both accepted.

    With ``skip``, a YAML document or List item of a kind it ignores may come back as a stub
    ``{"apiVersion", "kind"}`` instead of its body (``skim`` says when): for callers that read nothing else
    of such objects. With ``unread`` as well, the other YAML objects may come back without the subtrees it
    names for their kind (``metadata.managedFields``, ``status``): for callers that never read those. Errors
    and limits are those of a full build (but for a key repeated inside what is left unbuilt)."""
    stripped = text.lstrip()
    raw_docs: list[Any] = []
    json_error: json.JSONDecodeError | None = None
    if stripped.startswith(("{", "[")):
        try:
            raw_docs = [_json_loads(text, source, limits)]
        except json.JSONDecodeError as exc:  # may still be YAML flow style, which kubectl accepts
            json_error = exc
    if not raw_docs:
        try:
            skimmed = _skimmed_documents(text, source, limits, skip, unread) if skip is not None else None
            raw_docs = skimmed if skimmed is not None else _yaml_documents(text, source, limits)
        except InputError:
            if json_error is not None:
                at = f"line {json_error.lineno} column {json_error.colno}"
                raise InputError(f"invalid JSON at {at}: {json_error.msg}", Location(source)) from None
            raise
    docs: list[Document] = []
    for index, raw in enumerate(raw_docs):
        if raw is None:
            continue  # empty document between '---' separators
        listed = True
        if isinstance(raw, list):  # a bare JSON array of objects
            items = raw
        elif (isinstance(raw, dict) and raw.get("kind") == "List") or (
            isinstance(raw, dict) and str(raw.get("kind", "")).endswith("List") and "items" in raw
        ):
            items = raw.get("items") or []
            if not isinstance(items, list):
                raise InputError("'items' must be a list", Location(source, index, "List", "items"))
        else:
            items, listed = [raw], False
        for position, item in enumerate(items):
            place = position if listed else None
            if not isinstance(item, dict):
                raise InputError(
                    f"expected a Kubernetes object (a mapping), got {type(item).__name__}",
                    Location(source, index, item=place),
                )
            docs.append(Document(item, source, index, place))
    return docs


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building large acyclic trees (manifests, the model).

    Parsing 100,000 pods allocates millions of containers and none of them form cycles; letting
    the collector scan them repeatedly costs about a third of the load time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_documents(
    paths: Iterable[str],
    limits: Limits = DEFAULT_LIMITS,
    skipped: list[str] | None = None,
    skip: skim.Skip | None = None,
    unread: skim.Unread | None = None,
) -> list[Document]:
    """All documents of all ``paths`` (files, directories, ``-``), in order (``skip``, ``unread``: see
    ``parse_text``).

    A file found in a directory none of whose documents has a ``kind`` (a ``kustomization.yaml``, a Helm
    ``values.yaml``) is not a manifest: it is left out and its name appended to ``skipped``. Named
    explicitly, the same file is an error (the user meant it).
    """
    docs: list[Document] = []
    with no_gc():
        for source, in_directory in _expand(paths):
            found = parse_text(_read(source, limits), source, limits, skip, unread)
            if in_directory and found and not any("kind" in d.body for d in found):
                if skipped is not None:
                    skipped.append(source)
                continue
            docs.extend(found)
    return docs
