"""The allocator hands out blocks that are free, inside the pool, and the same ones every time."""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apibridge.kubeovn.dualstack import IPNetwork
from apibridge.plan.allocator import Allocator, IntervalSet, PoolExhaustedError

FAST = settings(max_examples=150, deadline=None)

POOL_V4 = ipaddress.ip_network("10.0.0.0/20")  # 16 blocks of /24
POOL_V6 = ipaddress.ip_network("fd00:100::/116")  # 16 blocks of /120


def nets_near(pool: IPNetwork, min_prefix: int, max_prefix: int) -> st.SearchStrategy[IPNetwork]:
    """Networks in and around ``pool`` (the pool's supernet twice its size)."""
    outer = pool.supernet(1)
    return st.builds(
        lambda off, plen: ipaddress.ip_network((int(outer.network_address) + off, plen), strict=False),
        st.integers(0, outer.num_addresses - 1),
        st.integers(min_prefix, max_prefix),
    )


KEYS = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=12),
    min_size=1,
    max_size=20,
    unique=True,
)


def blocks(pool: IPNetwork, prefixlen: int) -> list[IPNetwork]:
    return list(pool.subnets(new_prefix=prefixlen))


def run(taken: list[IPNetwork], pool: IPNetwork, prefixlen: int, keys: list[str]) -> list[IPNetwork | None]:
    alloc = Allocator(taken)
    out: list[IPNetwork | None] = []
    for key in keys:
        try:
            out.append(alloc.allocate(pool, prefixlen, key))
        except PoolExhaustedError:
            out.append(None)
    return out


@FAST
@given(st.sampled_from([(POOL_V4, 24, 18, 28), (POOL_V6, 120, 114, 124)]), st.data(), KEYS)
def test_allocations_are_free_inside_the_pool_and_disjoint(
    case: tuple[IPNetwork, int, int, int], data: st.DataObject, keys: list[str]
) -> None:
    pool, prefixlen, lo, hi = case
    taken = data.draw(st.lists(nets_near(pool, lo, hi), max_size=12))
    free = [b for b in blocks(pool, prefixlen) if not any(b.overlaps(t) for t in taken)]
    got = run(taken, pool, prefixlen, keys)
    allocated = [n for n in got if n is not None]
    # exactly as many succeed as there are free blocks; after that the pool is exhausted, and stays so
    assert len(allocated) == min(len(keys), len(free))
    assert got[: len(allocated)] == allocated
    for net in allocated:
        assert net.prefixlen == prefixlen
        assert net.subnet_of(pool)  # type: ignore[arg-type]
        assert not any(net.overlaps(t) for t in taken)  # type: ignore[arg-type]
    assert len(set(allocated)) == len(allocated)  # no two allocations share a block (blocks are aligned)
    # deterministic: the same input gives the same answer
    assert run(taken, pool, prefixlen, keys) == got


@FAST
@given(KEYS)
def test_first_allocation_depends_only_on_the_key_and_taken_space(keys: list[str]) -> None:
    # A bridge's block is a function of its name and of what is taken — not of call history elsewhere.
    for key in keys:
        a = Allocator([]).allocate(POOL_V4, 24, key)
        b = Allocator([ipaddress.ip_network("192.168.0.0/16")]).allocate(POOL_V4, 24, key)
        assert a == b


def test_exhaustion() -> None:
    alloc = Allocator([ipaddress.ip_network("10.0.0.0/24")])
    pool = ipaddress.ip_network("10.0.0.0/23")
    assert alloc.allocate(pool, 24, "x") == ipaddress.ip_network("10.0.1.0/24")
    with pytest.raises(PoolExhaustedError, match=re.escape("10.0.0.0/23")):
        alloc.allocate(pool, 24, "y")
    with pytest.raises(PoolExhaustedError):
        Allocator([ipaddress.ip_network("10.0.0.0/8")]).allocate(pool, 24, "z")


@pytest.mark.parametrize("prefixlen", [22, 33])
def test_block_size_must_fit_the_pool(prefixlen: int) -> None:
    with pytest.raises(ValueError):
        Allocator([]).allocate(ipaddress.ip_network("10.0.0.0/23"), prefixlen, "x")


def test_families_are_independent() -> None:
    alloc = Allocator([ipaddress.ip_network("::/0")])  # every IPv6 address taken
    assert alloc.allocate(POOL_V4, 24, "x").subnet_of(POOL_V4)
    with pytest.raises(PoolExhaustedError):
        alloc.allocate(POOL_V6, 120, "x")


def test_is_free_and_reserve() -> None:
    alloc = Allocator([ipaddress.ip_network("10.0.0.0/24")])
    assert not alloc.is_free(ipaddress.ip_network("10.0.0.128/25"))
    assert alloc.is_free(ipaddress.ip_network("10.0.1.0/24"))
    alloc.reserve(ipaddress.ip_network("10.0.1.0/24"))
    assert not alloc.is_free(ipaddress.ip_network("10.0.1.7/32"))
    assert alloc.allocate(ipaddress.ip_network("10.0.0.0/22"), 24, "k") in {
        ipaddress.ip_network("10.0.2.0/24"),
        ipaddress.ip_network("10.0.3.0/24"),
    }


def test_reserved_space_is_never_allocated_even_if_it_partly_overlaps() -> None:
    alloc = Allocator([ipaddress.ip_network("10.0.0.0/24")])
    explicit = ipaddress.ip_network("10.0.0.0/23")  # e.g. an explicit cidrBlock overlapping an existing subnet
    alloc.reserve(explicit)
    pool = ipaddress.ip_network("10.0.0.0/22")
    got = []
    for key in ("a", "b", "c"):  # 10.0.2.0/24 and 10.0.3.0/24 are all that is left
        try:
            got.append(alloc.allocate(pool, 24, key))
        except PoolExhaustedError:
            break
    assert not any(n.overlaps(explicit) for n in got)


SPANS = st.lists(st.tuples(st.integers(0, 200), st.integers(0, 30)).map(lambda t: (t[0], t[0] + t[1])), max_size=15)


@FAST
@given(SPANS, st.integers(0, 240), st.integers(0, 30))
def test_interval_set_overlap_matches_brute_force(spans: list[tuple[int, int]], start: int, length: int) -> None:
    end = start + length
    s = IntervalSet(spans)
    assert s.overlaps(start, end) == any(a <= end and start <= b for a, b in spans)
    if not s.overlaps(start, end):
        s.add(start, end)
        assert s.overlaps(start, end)
        assert s.overlaps(end, end + 5)
