"""Deterministic CIDR allocation for ``cidrBlock: auto``.

Each bridge hashes its name to a starting block in the pool and probes forward to the first block
that overlaps nothing taken: every Subnet of every VPC, the API and DNS ClusterIPs, the service
CIDR when known, node addresses and the join subnet. The same input always gives the same answer,
and adding a bridge does not move the others (their hash start does not change, and a bridge whose
Subnet already exists keeps its CIDR).

An IPv6 pool holds 2^72 /120 blocks; a start hashed over all of them reads like noise
(``fd00:100:100:a1:cb10:f57:e971:ca00/120``). IPv6 starts are therefore hashed into the pool's first
``READABLE_BLOCKS`` blocks, and a dual-stack bridge starts its IPv6 probe at the index of its own IPv4
block, so ``100.100.7.0/24`` pairs with ``fd00:100:100::700/120``. Both depend only on the bridge's own
name and block, so the promise above holds.

Taken space is kept as merged, sorted integer intervals per family, so each probe is a binary
search: O((subnets + bridges) log n) overall — no pairwise overlap loop.
"""

from __future__ import annotations

import bisect
import hashlib
import ipaddress
from collections.abc import Iterable

from apibridge.kubeovn import dualstack
from apibridge.kubeovn.dualstack import IPNetwork

READABLE_BLOCKS = 1 << 16  # IPv6 starts: fd00:100:100::XXXX00/120 at most


class PoolExhaustedError(Exception):
    pass


class IntervalSet:
    """Disjoint, sorted, closed integer intervals with O(log n) overlap queries."""

    def __init__(self, intervals: Iterable[tuple[int, int]] = ()) -> None:
        merged: list[tuple[int, int]] = []
        for start, end in sorted(intervals):
            if merged and start <= merged[-1][1] + 1:
                if end > merged[-1][1]:
                    merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        self._starts = [s for s, _ in merged]
        self._ends = [e for _, e in merged]

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self._starts, end) - 1
        return i >= 0 and self._ends[i] >= start

    def add(self, start: int, end: int) -> None:
        """Add an interval, merging it with every interval it overlaps or touches."""
        lo = bisect.bisect_left(self._ends, start - 1)  # first interval that ends at/after start-1
        hi = bisect.bisect_right(self._starts, end + 1)  # intervals from lo to hi-1 touch [start, end]
        if lo < hi:
            start = min(start, self._starts[lo])
            end = max(end, self._ends[hi - 1])
        self._starts[lo:hi] = [start]
        self._ends[lo:hi] = [end]


class Allocator:
    def __init__(self, taken: Iterable[IPNetwork]) -> None:
        by_family: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for net in taken:
            by_family[net.version].append(dualstack.span(net))
        self._taken = {fam: IntervalSet(spans) for fam, spans in by_family.items()}

    def is_free(self, net: IPNetwork) -> bool:
        return not self._taken[net.version].overlaps(*dualstack.span(net))

    def is_free_all(self, nets: Iterable[IPNetwork]) -> bool:
        return all(self.is_free(n) for n in nets)

    def reserve(self, net: IPNetwork) -> None:
        self._taken[net.version].add(*dualstack.span(net))

    def allocate(self, pool: IPNetwork, prefixlen: int, key: str, *, start_index: int | None = None) -> IPNetwork:
        """The first free ``/prefixlen`` block of ``pool``, probing from the block ``key`` hashes to (or from
        ``start_index``, e.g. the index of the bridge's block in the other family's pool)."""
        if prefixlen < pool.prefixlen or prefixlen > pool.max_prefixlen:
            raise ValueError(f"block size /{prefixlen} does not fit pool {pool}")
        count = 1 << (prefixlen - pool.prefixlen)
        size = 1 << (pool.max_prefixlen - prefixlen)
        base = int(pool.network_address)
        window = min(count, READABLE_BLOCKS) if pool.version == 6 else count
        if start_index is not None and 0 <= start_index < count:
            start = start_index
        else:
            start = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % window
        taken = self._taken[pool.version]
        for step in range(count):
            index = (start + step) % count
            lo = base + index * size
            if not taken.overlaps(lo, lo + size - 1):
                taken.add(lo, lo + size - 1)
                return ipaddress.ip_network((lo, prefixlen))
        raise PoolExhaustedError(f"no free /{prefixlen} left in {pool}")


def block_index(pool: IPNetwork, net: IPNetwork) -> int | None:
    """The index of ``net`` among ``pool``'s blocks of its size, or ``None`` when it is not in the pool."""
    if net.version != pool.version or not net.subnet_of(pool):  # type: ignore[arg-type]
        return None
    return (int(net.network_address) - int(pool.network_address)) >> (net.max_prefixlen - net.prefixlen)
