"""Read manifests the way ``kubectl apply -f`` does: files, directories, ``-`` for stdin.

Multi-document YAML and JSON, and ``kind: List`` (items are unpacked). Each document keeps its
origin (file and document index) so that every later error can name it. Unparseable input is an
``InputError`` naming the file, the document and the line — never a traceback.
"""

from __future__ import annotations

import contextlib
import gc
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from apibridge.base.errors import InputError, Location

try:  # the C loader is ~10x faster on large inputs
    _Loader: type[yaml.SafeLoader | yaml.CSafeLoader] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the libyaml build
    _Loader = yaml.SafeLoader

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def _no_duplicate_keys(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    """kubectl refuses a mapping that repeats a key; YAML's "last one wins" would silently lose an
    object when two documents run together without ``---``."""
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # unhashable key: the base constructor reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node))


class _StrictLoader(_Loader):  # type: ignore[valid-type,misc]
    pass


_StrictLoader.add_constructor("tag:yaml.org,2002:map", _no_duplicate_keys)


@dataclass(frozen=True)
class Document:
    """One Kubernetes object as written, with where it came from."""

    body: dict[str, Any]
    source: str
    index: int  # 0-based document index within the source (items of a List share their List's index)

    def location(self, obj: str | None = None, field: str | None = None) -> Location:
        return Location(self.source, self.index, obj, field)


def _expand(paths: Iterable[str]) -> Iterator[str]:
    for raw in paths:
        if raw == "-":
            yield raw
            continue
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
            yield from (str(p) for p in files)
        elif path.exists():
            yield raw
        else:
            raise InputError("no such file or directory", Location(raw))


def _read(source: str) -> str:
    try:
        if source == "-":
            return sys.stdin.read()
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", Location(source)) from None


def parse_text(text: str, source: str) -> list[Document]:
    """Split ``text`` into documents. JSON (one value) and YAML (``---``-separated) are both accepted."""
    stripped = text.lstrip()
    raw_docs: list[Any] = []
    json_error: json.JSONDecodeError | None = None
    if stripped.startswith(("{", "[")):
        try:
            raw_docs = [json.loads(text)]
        except json.JSONDecodeError as exc:  # may still be YAML flow style, which kubectl accepts
            json_error = exc
    if not raw_docs:
        raw_docs = []
        try:
            for raw in yaml.load_all(text, Loader=_StrictLoader):
                raw_docs.append(raw)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            if json_error is not None:
                at = f"line {json_error.lineno} column {json_error.colno}"
                raise InputError(f"invalid JSON at {at}: {json_error.msg}", Location(source)) from None
            raise InputError(f"invalid YAML{where}: {problem}", Location(source, len(raw_docs))) from None
    docs: list[Document] = []
    for index, raw in enumerate(raw_docs):
        if raw is None:
            continue  # empty document between '---' separators
        if isinstance(raw, list):  # a bare JSON array of objects
            items = raw
        elif (isinstance(raw, dict) and raw.get("kind") == "List") or (
            isinstance(raw, dict) and str(raw.get("kind", "")).endswith("List") and "items" in raw
        ):
            items = raw.get("items") or []
            if not isinstance(items, list):
                raise InputError("'items' must be a list", Location(source, index, "List", "items"))
        else:
            items = [raw]
        for item in items:
            if not isinstance(item, dict):
                raise InputError(
                    f"expected a Kubernetes object (a mapping), got {type(item).__name__}", Location(source, index)
                )
            docs.append(Document(item, source, index))
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


def load_documents(paths: Iterable[str]) -> list[Document]:
    """All documents of all ``paths`` (files, directories, ``-``), in order."""
    docs: list[Document] = []
    with no_gc():
        for source in _expand(paths):
            docs.extend(parse_text(_read(source), source))
    return docs
