"""A least-recently-used memo bounded by entries *and* bytes: what the webhook may remember per review.

Reviews are tenant input. A memo keyed by what a pod carries (its namespace, its annotation values) grows
with whatever tenants send unless it is bounded twice: by entries (many small keys) and by bytes (a few
huge ones). The byte count is the caller's estimate (``size``), typically the lengths of the strings in
key and value; an entry larger than ``max_entry_bytes`` is never stored — computing it again is cheaper
than letting one review pin megabytes.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedLRU(Generic[K, V]):
    def __init__(self, max_entries: int, max_bytes: int, max_entry_bytes: int | None = None) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_bytes // 16 if max_entry_bytes is None else max_entry_bytes
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        found = self._items.get(key)
        if found is None:
            return None
        self._items.move_to_end(key)
        return found[0]

    def put(self, key: K, value: V, size: int) -> None:
        """Remember ``value`` (``size`` bytes with its key), evicting the least recently used to make room."""
        if size > self.max_entry_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self._items[key] = (value, size)
        self.bytes += size
        while len(self._items) > self.max_entries or self.bytes > self.max_bytes:
            _, (_, dropped) = self._items.popitem(last=False)
            self.bytes -= dropped

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0
