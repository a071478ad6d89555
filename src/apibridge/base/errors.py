"""Errors about the user's input.

Every bad input must reach the user as one clear line naming the file, the document, the object
and the field — never a traceback. ``InputError`` carries those coordinates; the CLI prints
``str(err)`` and exits 2. Lower layers raise it with whatever coordinates they know, and callers
that know more (the loader knows the file and document index) fill the rest in with ``located``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from apibridge.base.frozen import fast_init


@fast_init
@dataclass(frozen=True)
class Location:
    """Where something came from: a file (or ``-``), a 0-based document index (and item, inside a ``kind: List``),
    an object and a field."""

    source: str | None = None
    document: int | None = None
    obj: str | None = None  # "Kind/namespace/name" or "Kind/name"
    field: str | None = None
    item: int | None = None  # 0-based position among the items of the List that document is

    def where(self) -> str:
        """``file (document 2, item 7)``: the file and, when known, the 1-based document and List item."""
        if self.document is None:
            return self.source or ""
        item = f", item {self.item + 1}" if self.item is not None else ""
        return f"{self.source} (document {self.document + 1}{item})"

    def __str__(self) -> str:
        parts: list[str] = []
        if self.source is not None:
            parts.append(self.where())
        if self.obj:
            parts.append(self.obj)
        if self.field:
            parts.append(f"field {self.field}")
        return ": ".join(parts)


class InputError(Exception):
    """The input cannot be used. ``str()`` is the complete message for the user."""

    def __init__(self, message: str, location: Location | None = None, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location or Location()
        self.hint = hint

    def located(self, **coords: object) -> InputError:
        """A copy with missing coordinates filled in (existing ones win: they are more precise)."""
        current = self.location
        updates = {k: v for k, v in coords.items() if getattr(current, k) is None}
        return InputError(self.message, replace(current, **updates), hint=self.hint)  # type: ignore[arg-type]

    def __str__(self) -> str:
        where = str(self.location)
        text = f"{where}: {self.message}" if where else self.message
        return f"{text} (hint: {self.hint})" if self.hint else text
