"""Interval arithmetic for CIDR overlap, in O(n log n).

Kube-OVN's ``checkSubnetConflict`` compares a new subnet with every other one; doing that for every
subnet of the input is quadratic, and the validator runs on 10,000 subnets. CIDRs become closed
integer intervals, and two sweeps over the intervals sorted by start answer "does it overlap
anything, and with what?" for all of them at once. ``RangeIndex`` answers the same question for
one probe interval against a fixed set, in O(log n).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from apibridge.kubeovn import dualstack
from apibridge.kubeovn.dualstack import IPAddress, IPNetwork


def span(net: IPNetwork) -> tuple[int, int]:
    """The closed integer interval a CIDR covers."""
    return dualstack.span(net)


def overlap_partners(spans: Sequence[tuple[int, int]]) -> dict[int, int]:
    """For every interval that overlaps another one, the index of one interval it overlaps.

    Sweep 1 (by start): an interval overlaps some earlier-starting one iff the largest end seen so
    far reaches its start; that holder is its partner. Sweep 2: an interval with no earlier partner
    overlaps a later-starting one iff the next interval in start order starts before it ends (the
    next one has the smallest start of all later ones). Ties in start put the wider interval first,
    so a supernet is found as the partner of the subnets it contains.
    """
    order = sorted(range(len(spans)), key=lambda i: (spans[i][0], -spans[i][1], i))
    partners: dict[int, int] = {}
    best: int | None = None
    for i in order:
        start, end = spans[i]
        if best is not None and spans[best][1] >= start:
            partners[i] = best
        if best is None or end > spans[best][1]:
            best = i
    for pos, i in enumerate(order[:-1]):
        if i not in partners:
            nxt = order[pos + 1]
            if spans[nxt][0] <= spans[i][1]:
                partners[i] = nxt
    return partners


@dataclass(frozen=True)
class _Entry:
    start: int
    end: int
    key: str
    prefixlen: int


class RangeIndex:
    """A fixed set of named CIDRs of one family, queried for overlap with a probe CIDR."""

    def __init__(self, items: Sequence[tuple[IPNetwork, str]]) -> None:
        entries = sorted(
            (_Entry(*span(net), key, net.prefixlen) for net, key in items), key=lambda e: (e.start, -e.end, e.key)
        )
        self._entries = entries
        self._starts = [e.start for e in entries]
        # running maximum of ends, and which entry holds it, for "something before me reaches me"
        self._max_end: list[int] = []
        self._max_at: list[int] = []
        for i, e in enumerate(entries):
            if not self._max_end or e.end > self._max_end[-1]:
                self._max_end.append(e.end)
                self._max_at.append(i)
            else:
                self._max_end.append(self._max_end[-1])
                self._max_at.append(self._max_at[-1])

    def __len__(self) -> int:
        return len(self._entries)

    def overlapping(self, net: IPNetwork) -> Iterator[tuple[str, int]]:
        """(key, prefixlen) of entries overlapping ``net``: the widest one starting before it, then
        those starting inside it, in start order. Lazy, so callers stop at the first that matters."""
        start, end = span(net)
        lo = bisect.bisect_left(self._starts, start)
        if lo > 0 and self._max_end[lo - 1] >= start:
            e = self._entries[self._max_at[lo - 1]]
            yield e.key, e.prefixlen
        for i in range(lo, bisect.bisect_right(self._starts, end)):
            e = self._entries[i]
            yield e.key, e.prefixlen

    def first_overlap(self, net: IPNetwork) -> str | None:
        return next((key for key, _ in self.overlapping(net)), None)


class PointIndex:
    """Sorted addresses of one family: "which of them fall into this CIDR?" in O(log n)."""

    def __init__(self, items: Sequence[tuple[IPAddress, str]]) -> None:
        pairs = sorted((int(ip), str(ip), key) for ip, key in items)
        self._ints = [p[0] for p in pairs]
        self._items = [(p[1], p[2]) for p in pairs]

    def within(self, net: IPNetwork) -> list[tuple[str, str]]:
        """(address, key) of every address inside ``net``, by address."""
        start, end = span(net)
        return self._items[bisect.bisect_left(self._ints, start) : bisect.bisect_right(self._ints, end)]
