"""The ApiBridge CRD: a valid structural schema that accepts what the model accepts, and no more.

``parse_apibridge`` (src/apibridge/model/objects.py) is the reference: every ApiBridge in examples/
must pass the schema, every spec the schema accepts must parse, and every explicit-form spec that
parses must pass the schema (the file-only leniencies — shorthands, "" for the default — are the
documented exception, and are not generated here).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apibridge.base.errors import InputError
from apibridge.model.load import Document, load_documents
from apibridge.model.objects import meta_of, parse_apibridge

from .support import K8S_VERSIONS, REPO, load_crd, schema

VALIDATOR = jsonschema.Draft7Validator(schema())


def examples() -> list[dict[str, Any]]:
    docs = load_documents([str(REPO / "examples")]) if (REPO / "examples").is_dir() else []
    return [d.body for d in docs if d.body.get("kind") == "ApiBridge"]


def bridge(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "apibridge.dev/v1alpha1",
        "kind": "ApiBridge",
        "metadata": {"name": "b"},
        "spec": spec,
    }
    if status is not None:
        obj["status"] = status
    return obj


def schema_accepts(obj: dict[str, Any]) -> bool:
    return VALIDATOR.is_valid(obj)


def parser_accepts(obj: dict[str, Any]) -> bool:
    doc = Document(obj, "test", 0)
    try:
        parse_apibridge(doc, meta_of(doc))
    except InputError:
        return False
    return True


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_the_crd_is_a_valid_kubernetes_object(version: str) -> None:
    kubernetes_validate.validate(load_crd(), version, strict=True)


def test_crd_identity() -> None:
    crd = load_crd()
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "apibridges.apibridge.dev"
    assert spec["group"] == "apibridge.dev" and spec["scope"] == "Cluster"
    assert spec["names"]["kind"] == "ApiBridge" and spec["names"]["shortNames"] == ["abr"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert list(columns) == ["VPC", "CIDR", "Provider", "Ready", "Injected", "Age"]
    assert columns["Ready"] == '.status.conditions[?(@.type=="Ready")].status'


def _walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = [(path, node)]
    for name, child in (node.get("properties") or {}).items():
        out += _walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        out += _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        out += _walk(node["additionalProperties"], f"{path}{{}}")
    return out


def test_the_schema_is_structural() -> None:
    """The rules apiextensions enforces: a type everywhere, defaults valid, no properties+additionalProperties."""
    for path, node in _walk(schema()):
        assert "type" in node, f"{path or '<root>'} has no type"
        assert not ("properties" in node and "additionalProperties" in node), path
        for forbidden in ("$ref", "anyOf", "oneOf", "allOf", "not", "additionalItems", "definitions"):
            assert forbidden not in node, f"{path}: {forbidden} is not allowed in a structural schema"
        if "default" in node:
            jsonschema.Draft7Validator(node).validate(node["default"])
    assert schema()["properties"]["metadata"] == {"type": "object"}


def test_every_example_apibridge_is_accepted() -> None:
    found = examples()
    assert found, "examples/ holds ApiBridges"
    for obj in found:
        errors = [e.message for e in VALIDATOR.iter_errors(obj)]
        assert not errors, f"{obj['metadata']['name']}: {errors}"
        assert parser_accepts(obj)


GOOD_STATUS = {
    "observedGeneration": 2,
    "conditions": [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Applied",
            "message": "NAD and Subnet are in place",
            "lastTransitionTime": "2026-11-27T10:00:00Z",
            "observedGeneration": 2,
        },
        {"type": "Validated", "status": "True", "reason": "Valid", "message": ""},
        {"type": "Degraded", "status": "False", "reason": "AsExpected", "message": ""},
    ],
    "nad": "kube-system/apibridge-b",
    "subnet": "apibridge-b",
    "provider": "apibridge-b.kube-system.ovn",
    "cidrBlock": "100.100.3.0/24",
    "gateways": ["100.100.3.1"],
    "routes": [{"dst": "10.96.0.1/32", "gw": "100.100.3.1"}],
    "podsInjected": 3,
    "podsPendingRestart": 0,
}


def test_a_full_spec_and_status_are_accepted() -> None:
    obj = bridge(
        {
            "vpc": "tenant-a",
            "namespaceSelector": {
                "matchLabels": {"tenant": "a"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}],
            },
            "podSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
            "cidrBlock": "100.100.3.0/24, fd00:100:100::/120",
            "destinations": {
                "apiserver": True,
                "dns": True,
                "extra": [
                    {"cidr": "192.0.2.10"},
                    {"cidr": "198.51.100.0/24", "ports": [{"port": 443}, {"port": 53, "protocol": "UDP"}]},
                ],
            },
            "isolation": "open",
            "nadNamespace": "apibridge",
            "rollout": "restart",
        },
        GOOD_STATUS,
    )
    assert [e.message for e in VALIDATOR.iter_errors(obj)] == []
    assert parser_accepts(obj)


@pytest.mark.parametrize(
    ("spec", "status"),
    [
        ({}, None),  # no vpc
        ({"vpc": ""}, None),
        ({"vpc": 7}, None),
        ({"vpc": "v", "cidrBlock": "10.0.0.0"}, None),  # no prefix length
        ({"vpc": "v", "cidrBlock": "automatic"}, None),
        ({"vpc": "v", "cidrBlock": "10.0.0.0/24,10.0.1.0/24,fd00::/120"}, None),  # three CIDRs
        ({"vpc": "v", "isolation": "closed"}, None),
        ({"vpc": "v", "rollout": "always"}, None),
        ({"vpc": "v", "destinations": {"apiserver": "yes"}}, None),
        ({"vpc": "v", "destinations": {"extra": ["10.0.0.1"]}}, None),  # file shorthand, not in the API
        ({"vpc": "v", "destinations": {"extra": [{"ports": [{"port": 443}]}]}}, None),  # no cidr
        ({"vpc": "v", "destinations": {"extra": [{"cidr": "10.0.0.1", "ports": [{"port": 0}]}]}}, None),
        ({"vpc": "v", "destinations": {"extra": [{"cidr": "10.0.0.1", "ports": [{"port": 65536}]}]}}, None),
        (
            {"vpc": "v", "destinations": {"extra": [{"cidr": "10.0.0.1", "ports": [{"port": 1, "protocol": "ICMP"}]}]}},
            None,
        ),
        ({"vpc": "v", "podSelector": {"matchExpressions": [{"key": "a", "operator": "Has"}]}}, None),
        ({"vpc": "v", "namespaceSelector": {"matchLabels": {"a": 1}}}, None),
        ({"vpc": "v", "nadNamespace": "Kube_System"}, None),
        ({"vpc": "v"}, {"conditions": [{"type": "Happy", "status": "True"}]}),
        ({"vpc": "v"}, {"conditions": [{"type": "Ready", "status": "yes"}]}),
        ({"vpc": "v"}, {"podsInjected": -1}),
    ],
)
def test_bad_apibridges_are_rejected(spec: dict[str, Any], status: dict[str, Any] | None) -> None:
    assert not schema_accepts(bridge(spec, status))


def test_missing_spec_is_rejected() -> None:
    obj = bridge({"vpc": "v"})
    del obj["spec"]
    assert not schema_accepts(obj)


# ---- the schema and the parser agree on the explicit form ------------------------------------------------
_cidrs = st.sampled_from(
    [
        "auto",
        "100.100.2.0/24",
        "100.100.2.0/24,fd00:100:100::/120",
        "fd00::/120",
        "10.0.0.0",
        "auto,",
        "10.0.0.0/24;fd00::/64",
    ]
)
_selector = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "matchLabels": st.dictionaries(st.sampled_from(["a", "b"]), st.sampled_from(["x", "y"]), max_size=2),
            "matchExpressions": st.lists(
                st.fixed_dictionaries(
                    {"key": st.sampled_from(["a", "b"]), "operator": st.sampled_from(["In", "NotIn", "Exists", "Bad"])},
                    optional={"values": st.lists(st.sampled_from(["x", "y"]), min_size=1, max_size=2)},
                ),
                max_size=2,
            ),
        },
    ),
)
_ports = st.lists(
    st.fixed_dictionaries(
        {"port": st.sampled_from([0, 1, 443, 65535, 65536])},
        optional={"protocol": st.sampled_from(["TCP", "UDP", "SCTP", "ICMP"])},
    ),
    max_size=2,
)
_extra = st.lists(
    st.fixed_dictionaries(
        {"cidr": st.sampled_from(["192.0.2.10", "198.51.100.0/24", "fd00::1"])}, optional={"ports": _ports}
    ),
    max_size=2,
)
_specs = st.fixed_dictionaries(
    {"vpc": st.sampled_from(["tenant-a", ""])},
    optional={
        "namespaceSelector": _selector,
        "podSelector": _selector,
        "cidrBlock": _cidrs,
        "destinations": st.fixed_dictionaries(
            {}, optional={"apiserver": st.booleans(), "dns": st.booleans(), "extra": _extra}
        ),
        "isolation": st.sampled_from(["strict", "open", "closed"]),
        "nadNamespace": st.sampled_from(["kube-system", "apibridge"]),
        "rollout": st.sampled_from(["none", "restart", "always"]),
    },
)


def _drop_none(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if v is not None}


@settings(max_examples=400)
@given(spec=_specs)
def test_schema_and_parser_agree(spec: dict[str, Any]) -> None:
    obj = bridge(_drop_none(copy.deepcopy(spec)))
    exprs_ok = all(
        (e["operator"] in ("In", "NotIn")) == bool(e.get("values"))
        for sel in (spec.get("namespaceSelector"), spec.get("podSelector"))
        if sel
        for e in sel.get("matchExpressions", [])
    )
    if schema_accepts(obj) and exprs_ok:
        # values-vs-operator pairing is a semantic rule the API server's LabelSelector validation
        # enforces, not the schema; everything else the schema lets through must parse.
        assert parser_accepts(obj), obj
    if parser_accepts(obj):
        assert schema_accepts(obj), [e.message for e in VALIDATOR.iter_errors(obj)]
