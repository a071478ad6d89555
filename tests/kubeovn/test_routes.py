"""The ``<provider>.kubernetes.io/routes`` codec accepts what kube-ovn-cni accepts and merges append-only.

kube-ovn-cni unmarshals the value into ``[]request.Route`` (``dst``/``gw`` strings) at CNI ADD; a
value that is not a JSON list of objects with string fields fails the pod's sandbox.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apibridge.kubeovn import routes
from apibridge.kubeovn.routes import Route, RoutesError

FAST = settings(max_examples=150, deadline=None)

ADDR = st.sampled_from(
    ["", "10.96.0.1/32", "10.96.0.10/32", "fd00:10:96::1/128", "0.0.0.0/0", "172.18.0.0/16", "192.168.7.0/24"]
)
GW = st.sampled_from(["", "100.100.100.1", "fd00:100:100::1", "10.0.1.1"])
EXTRA = st.dictionaries(
    st.sampled_from(["table", "metric", "x-note"]), st.integers(0, 99) | st.text(max_size=5), max_size=2
)
ROUTE = st.builds(Route, dst=ADDR, gw=GW, extra=EXTRA)


@FAST
@given(st.lists(ROUTE, max_size=6))
def test_round_trip(rs: list[Route]) -> None:
    text = routes.format(rs)
    assert routes.parse(text) == rs
    # kube-ovn-cni reads a JSON list of objects; empty fields are omitted like Go's omitempty
    decoded = json.loads(text)
    assert isinstance(decoded, list)
    for obj, r in zip(decoded, rs, strict=True):
        assert ("dst" in obj) == bool(r.dst)
        assert ("gw" in obj) == bool(r.gw)


def test_seed_value_parses() -> None:
    assert routes.parse('[{"dst":"10.96.0.1/32","gw":"100.100.100.1"}]') == [Route("10.96.0.1/32", "100.100.100.1")]
    assert routes.format([Route("10.96.0.1/32", "100.100.100.1")]) == '[{"dst":"10.96.0.1/32","gw":"100.100.100.1"}]'


@pytest.mark.parametrize("value", [None, ""])  # whitespace only fails: test_routes_go_semantics.py
def test_blank_is_no_routes(value: str | None) -> None:
    assert routes.parse(value) == []


@pytest.mark.parametrize(
    "value",
    [
        "10.96.0.1/32 via 100.100.100.1",  # not JSON
        "[{",  # truncated
        '{"dst":"10.96.0.1/32","gw":"100.100.100.1"}',  # an object, not a list
        '"10.96.0.1/32"',
        "[1]",  # element not an object
        '["10.96.0.1/32"]',
        '[{"dst":5}]',  # dst must be a string
        '[{"dst":"10.96.0.1/32","gw":["100.100.100.1"]}]',
    ],
)
def test_values_kube_ovn_cni_rejects_are_errors(value: str) -> None:
    with pytest.raises(RoutesError):
        routes.parse(value)


# ---- merge -----------------------------------------------------------------------------------------------
@FAST
@given(st.lists(ROUTE, max_size=5), st.lists(ROUTE, max_size=5))
def test_merge_is_append_only_and_idempotent(existing: list[Route], wanted: list[Route]) -> None:
    merged = routes.merge(existing, wanted)
    assert merged[: len(existing)] == existing  # nothing the pod had is removed, rewritten or reordered
    routed = {r.dst for r in merged}
    assert {r.dst for r in wanted} <= routed  # every wanted destination is routed
    added = merged[len(existing) :]
    assert all(r in wanted for r in added)  # only wanted routes are added
    assert not {r.dst for r in added} & {r.dst for r in existing}  # a routed dst is never routed again
    assert routes.merge(merged, wanted) == merged  # idempotent


@FAST
@given(st.lists(ROUTE, max_size=5), st.lists(ROUTE, max_size=5))
def test_merge_result_round_trips(existing: list[Route], wanted: list[Route]) -> None:
    merged = routes.merge(existing, wanted)
    assert routes.parse(routes.format(merged)) == merged


def test_merge_never_routes_a_destination_twice() -> None:
    a1 = Route("10.96.0.1/32", "100.100.100.1")
    a2 = Route("10.96.0.1/32", "100.100.100.254")
    merged = routes.merge([], [a1, a2])
    assert [r.dst for r in merged] == ["10.96.0.1/32"]


def test_null_is_no_routes_like_kube_ovn_cni() -> None:
    assert routes.parse("null") == []
