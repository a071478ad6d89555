"""The annotation parsers read a bounded amount: bytes (the API server's annotation limit) and entries."""

from __future__ import annotations

import json
import time

import pytest

from apibridge.kubeovn import networks, routes, rules


def test_a_networks_value_over_the_annotation_limit_is_refused_fast() -> None:
    value = ",".join(f"ns/nad-{i}" for i in range(500_000))  # 7.5 MB, as in the hostile review
    started = time.perf_counter()
    with pytest.raises(networks.NetworksError, match=str(rules.ANNOTATIONS_MAX_BYTES)):
        networks.parse(value)
    assert time.perf_counter() - started < 0.05


def test_too_many_selections_are_refused_with_the_bound() -> None:
    comma = ",".join(f"nad-{i}" for i in range(rules.NETWORKS_MAX_ENTRIES + 1))
    with pytest.raises(networks.NetworksError, match=f"at most {rules.NETWORKS_MAX_ENTRIES}"):
        networks.parse(comma)
    as_json = json.dumps([{"name": f"nad-{i}"} for i in range(rules.NETWORKS_MAX_ENTRIES + 1)])
    with pytest.raises(networks.NetworksError, match=f"at most {rules.NETWORKS_MAX_ENTRIES}"):
        networks.parse(as_json)
    assert len(networks.parse(",".join(f"nad-{i}" for i in range(rules.NETWORKS_MAX_ENTRIES))).selections) == 64


def test_too_many_routes_are_refused_with_the_bound() -> None:
    many = json.dumps([{"dst": f"10.0.{i // 256}.{i % 256}/32", "gw": "1.1.1.1"} for i in range(300)])
    with pytest.raises(routes.RoutesError, match=f"at most {rules.ROUTES_MAX_ENTRIES}"):
        routes.parse(many)
    ok = json.dumps([{"dst": f"10.0.0.{i}/32", "gw": "1.1.1.1"} for i in range(200)])
    assert len(routes.parse(ok)) == 200


@pytest.mark.parametrize("parse", [networks.parse, routes.parse])
def test_deep_nesting_is_a_parse_error_not_a_crash(parse: object) -> None:
    deep = "[" * 100_000
    with pytest.raises(ValueError, match=r"nested too deeply|not valid JSON"):
        parse(deep)  # type: ignore[operator]
