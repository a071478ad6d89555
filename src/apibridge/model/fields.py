"""Typed access to fields of a manifest, with errors that name the field.

``Fields(doc, obj_ref)`` wraps one object's body; ``str_("spec.cidrBlock")`` returns a string or
raises ``InputError`` saying which file, document, object and field was wrong and what was expected.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from apibridge.base.errors import InputError, Location


@functools.lru_cache(maxsize=1024)
def _split(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


class Fields:
    def __init__(self, body: Mapping[str, Any], location: Location, prefix: str = "") -> None:
        """``prefix``: where ``body`` sits in the object (``spec.template``), so errors name the full field."""
        self.body = body
        self.location = location
        self.prefix = f"{prefix}." if prefix else ""

    def error(self, path: str, message: str, hint: str | None = None) -> InputError:
        where = f"{self.prefix}{path}"
        return InputError(
            message, Location(self.location.source, self.location.document, self.location.obj, where), hint=hint
        )

    def get(self, path: str) -> Any:
        node: Any = self.body
        for part in _split(path):
            if type(node) is not dict and not isinstance(node, Mapping):  # exact-type check first: hot path
                return None
            node = node.get(part)
        return node

    def str_(self, path: str, default: str | None = None) -> str | None:
        value = self.get(path)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(path, f"expected a string, got {type(value).__name__}")
        return str(value)

    def bool_(self, path: str, default: bool | None = None) -> bool | None:
        value = self.get(path)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(path, f"expected true or false, got {value!r}")
        return value

    def int_(self, path: str, default: int | None = None) -> int | None:
        value = self.get(path)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(path, f"expected an integer, got {value!r}")
        return value

    def list_(self, path: str) -> list[Any]:
        value = self.get(path)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(path, f"expected a list, got {type(value).__name__}")
        return value

    def strs(self, path: str) -> list[str]:
        items = self.list_(path)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise self.error(f"{path}[{i}]", f"expected a string, got {type(item).__name__}")
        return items

    def map_(self, path: str) -> dict[str, Any]:
        value = self.get(path)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.error(path, f"expected a mapping, got {type(value).__name__}")
        return dict(value)

    def str_map(self, path: str) -> dict[str, str]:
        raw = self.get(path)
        if type(raw) is dict and all(type(v) is str for v in raw.values()):
            return raw  # the common case: already a map of strings, shared with the manifest (read-only)
        value = self.map_(path)
        out: dict[str, str] = {}
        for key, item in value.items():
            if not isinstance(item, str):
                raise self.error(
                    f'{path}["{key}"]',
                    f"expected a string value, got {type(item).__name__}",
                    hint='quote values such as "true" or "8080" in labels and annotations',
                )
            out[str(key)] = str(item)
        return out
