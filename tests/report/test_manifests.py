"""YAML and JSON out: the same data back when parsed, in the given order, readable by people."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from apibridge.kubeovn import nadconf, routes
from apibridge.report.manifests import as_list, dump, dump_documents, to_json, to_yaml, to_yaml_documents

NAD: dict[str, Any] = {
    "apiVersion": "k8s.cni.cncf.io/v1",
    "kind": "NetworkAttachmentDefinition",
    "metadata": {"name": "n", "namespace": "kube-system", "labels": {"a": "b"}},
    "spec": {"config": nadconf.render("n.kube-system.ovn")},
}

# JSON-compatible values, as manifests hold them
scalars = st.none() | st.booleans() | st.integers() | st.text()
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20
)
manifests = st.dictionaries(st.text(), values, min_size=1, max_size=6)


@given(manifests)
def test_yaml_round_trips(doc: dict[str, Any]) -> None:
    assert yaml.safe_load(to_yaml(doc)) == doc


@given(st.lists(manifests, min_size=1, max_size=4))
def test_documents_round_trip_in_order(docs: list[dict[str, Any]]) -> None:
    assert list(yaml.safe_load_all(to_yaml_documents(docs))) == docs
    assert json.loads(dump_documents(docs, "json"))["items"] == docs


def test_key_order_is_kept() -> None:
    text = to_yaml(NAD)
    assert [line.split(":")[0] for line in text.splitlines() if not line.startswith(" ")] == list(NAD)
    assert list(json.loads(to_json(NAD))) == list(NAD)


def test_multi_line_strings_are_literal_blocks() -> None:
    text = to_yaml(NAD)
    assert "config: |" in text
    for line in NAD["spec"]["config"].splitlines():
        assert line in text  # each line of the JSON appears verbatim


def test_long_values_are_not_folded() -> None:
    value = routes.format([routes.Route(dst=f"10.96.0.{i}/32", gw="100.100.100.1") for i in range(40)])
    text = to_yaml({"metadata": {"annotations": {"k": value}}})
    assert any(value in line for line in text.splitlines())


def test_lists_are_written_like_kubectl() -> None:
    assert to_yaml({"spec": {"excludeIps": ["a"]}}) == "spec:\n  excludeIps:\n  - a\n"


def test_every_document_starts_with_a_separator() -> None:
    text = to_yaml_documents([{"a": 1}, {"b": 2}])
    assert text.count("---\n") == 2 and text.startswith("---\n")


def test_loader_types_are_written_back() -> None:
    stamp = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC)
    doc = {"metadata": {"creationTimestamp": stamp}, "data": b"\x00\x01"}
    assert yaml.safe_load(to_yaml(doc)) == doc
    as_json = json.loads(to_json(doc))
    assert as_json["metadata"]["creationTimestamp"] == "2024-05-01T10:00:00Z"


def test_list_wrapper_and_dump() -> None:
    assert as_list([NAD]) == {"apiVersion": "v1", "kind": "List", "items": [NAD]}
    assert json.loads(dump({"findings": []}, "json")) == {"findings": []}
    assert yaml.safe_load(dump({"findings": []}, "yaml")) == {"findings": []}
