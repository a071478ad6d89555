"""Issue 11 item 11: the routes annotation read as Go's ``encoding/json`` reads it into ``[]request.Route``
(kube-ovn v1.16.2 pkg/daemon/handler.go handleAdd, pkg/request/cniserver.go ``Route{Destination `json:"dst"`,
Gateway `json:"gw"`}``).

- a non-empty value that is only whitespace is not JSON: ``json.Unmarshal`` fails, the sandbox fails;
- ``[null]`` unmarshals to one zero ``Route``: no dst, no gw — a default route;
- object keys match the struct tags case-insensitively (``"Dst"``, ``"GW"``); the last of duplicates wins;
- ``null`` for a string field leaves it empty.
"""

from __future__ import annotations

import pytest

from apibridge.kubeovn import routes
from apibridge.plan.mutation import pod_mutation


@pytest.mark.parametrize("value", [" ", "\n\t"])
def test_whitespace_only_fails_like_json_unmarshal(value: str) -> None:
    with pytest.raises(routes.RoutesError):
        routes.parse(value)


def test_empty_or_absent_is_no_routes() -> None:
    assert routes.parse(None) == [] and routes.parse("") == [] and routes.parse("null") == []


def test_null_element_is_a_zero_route_a_default_route() -> None:
    assert [(r.dst, r.gw) for r in routes.parse("[null]")] == [("", "")]


def test_keys_match_case_insensitively_and_null_is_empty() -> None:
    parsed = routes.parse('[{"Dst": "10.96.0.1/32", "GW": "100.100.100.1"}, {"dst": null, "gw": "1.1.1.1"}]')
    assert [(r.dst, r.gw) for r in parsed] == [("10.96.0.1/32", "100.100.100.1"), ("", "1.1.1.1")]
    assert routes.parse('[{"dst": "1.0.0.0/8", "DST": "2.0.0.0/8"}]')[0].dst == "2.0.0.0/8"


def test_a_number_for_a_string_field_still_fails() -> None:
    with pytest.raises(routes.RoutesError):
        routes.parse('[{"Dst": 5}]')


def test_the_mutation_replaces_a_whitespace_only_value() -> None:
    from plan.test_planner import seed_plan  # tests/ is on sys.path

    bp = seed_plan()
    key = f"{bp.provider}.kubernetes.io/routes"
    changes = pod_mutation({key: "  "}, "tenant-a", bp)
    assert routes.parse(changes[key])
