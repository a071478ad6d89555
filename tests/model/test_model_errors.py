"""Every input error reaches the user as one line naming file, document, object and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apibridge.base.errors import InputError
from apibridge.model.cluster import load_cluster

from .model_kit import namespace, pod, subnet, write_yaml


def load_error(tmp_path: Path, *bodies: dict[str, Any]) -> InputError:
    path = write_yaml(tmp_path / "input.yaml", namespace("first"), *bodies)
    with pytest.raises(InputError) as err:
        load_cluster([path])
    assert "\n" not in str(err.value), "one line"
    assert str(tmp_path / "input.yaml") in str(err.value)
    return err.value


def test_unknown_kind_in_a_modelled_group(tmp_path: Path) -> None:
    err = load_error(tmp_path, {"apiVersion": "kubeovn.io/v1", "kind": "Subnett", "metadata": {"name": "x"}})
    assert err.location.document == 1
    assert err.location.field == "kind"
    assert "Subnett" in str(err)
    assert err.hint and "Subnet" in err.hint  # names the kinds that exist


def test_known_kind_with_another_served_version_of_a_modelled_group(tmp_path: Path) -> None:
    err = load_error(tmp_path, {"apiVersion": "v1", "kind": "Deployment", "metadata": {"name": "d"}})
    assert err.location.document == 1
    assert err.location.field == "apiVersion"
    assert err.hint and "apps/v1" in err.hint


@pytest.mark.parametrize(
    ("api", "kind"), [("apps/v1beta1", "Deployment"), ("kubeovn.io/v2", "Subnet"), ("batch/v1beta1", "CronJob")]
)
def test_wrong_version_of_the_right_group_is_an_error(tmp_path: Path, api: str, kind: str) -> None:
    err = load_error(
        tmp_path,
        {
            "apiVersion": api,
            "kind": kind,
            "metadata": {"name": "x", "namespace": "n"},
            "spec": {"cidrBlock": "10.0.0.0/24", "template": {"spec": {"containers": []}}},
        },
    )
    assert err.location.field == "apiVersion"


def test_bad_cidr_in_a_subnet(tmp_path: Path) -> None:
    err = load_error(tmp_path, subnet("s1", "10.0.0.0/24"), subnet("s2", "10.0.300.0/24"))
    assert err.location.document == 2
    assert err.location.obj == "Subnet/s2"
    assert err.location.field == "spec.cidrBlock"
    assert "10.0.300.0/24" in str(err)


@pytest.mark.parametrize("cidr", ["10.0.0.0", "10.0.0.0/24,10.1.0.0/24", "fd00::/129"])
def test_other_bad_cidr_blocks(tmp_path: Path, cidr: str) -> None:
    err = load_error(tmp_path, subnet("s", cidr))
    assert err.location.field == "spec.cidrBlock"


def test_subnet_without_cidr_block(tmp_path: Path) -> None:
    body = subnet("s", "x")
    del body["spec"]["cidrBlock"]
    assert load_error(tmp_path, body).location.field == "spec.cidrBlock"


def test_non_string_label_value(tmp_path: Path) -> None:
    err = load_error(tmp_path, pod("p", "first", labels={"enabled": True}))  # type: ignore[dict-item]
    assert err.location.obj == "Pod/first/p"
    assert err.location.field == 'metadata.labels["enabled"]'
    assert err.hint and "quote" in err.hint


@pytest.mark.parametrize("value", [8080, 1.10])
def test_numeric_label_value_is_an_error(tmp_path: Path, value: float) -> None:
    err = load_error(tmp_path, namespace("n", labels={"version": value}))  # type: ignore[dict-item]
    assert err.location.field == 'metadata.labels["version"]'


def test_non_string_template_annotation(tmp_path: Path) -> None:
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "first"},
        "spec": {
            "template": {"metadata": {"annotations": {"apibridge.dev/inject": False}}, "spec": {"containers": []}}
        },
    }
    err = load_error(tmp_path, body)
    assert err.location.obj == "Deployment/first/d"
    assert err.location.field == 'spec.template.metadata.annotations["apibridge.dev/inject"]'


def test_duplicate_object_names_both_documents(tmp_path: Path) -> None:
    err = load_error(tmp_path, pod("p", "first"), namespace("other"), pod("p", "first"))
    assert err.location.document == 3
    assert err.location.obj == "Pod/first/p"
    assert "document 2" in str(err)  # where the first definition is


def test_duplicate_across_files(tmp_path: Path) -> None:
    a = write_yaml(tmp_path / "a.yaml", subnet("s", "10.0.0.0/24"))
    b = write_yaml(tmp_path / "b.yaml", subnet("s", "10.1.0.0/24"))
    with pytest.raises(InputError) as err:
        load_cluster([a, b])
    assert err.value.location.source == b
    assert a in str(err.value)


def test_same_name_in_other_namespace_or_kind_is_not_a_duplicate(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "ok.yaml", pod("p", "a"), pod("p", "b"), namespace("p"))
    assert len(load_cluster([path]).pods) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"apiVersion": "v1", "metadata": {"name": "x"}}, "kind"),
        ({"kind": "Pod", "metadata": {"name": "x"}}, "apiVersion"),
        ({"apiVersion": "v1", "kind": "Pod"}, "metadata"),
        ({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "x"}}, "metadata.name"),
    ],
)
def test_incomplete_objects(tmp_path: Path, body: dict[str, Any], field: str) -> None:
    err = load_error(tmp_path, body)
    assert err.location.document == 1
    assert err.location.field == field


def test_unmodelled_objects_pass_through(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path / "ok.yaml",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "x"}},
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
        {"apiVersion": "kubeovn.io/v1", "kind": "IP", "metadata": {"name": "ip"}},
        # another group's kind that happens to share a modelled kind's name
        {"apiVersion": "example.com/v1", "kind": "Subnet", "metadata": {"name": "s"}},
    )
    cluster = load_cluster([path])
    assert [d.body["kind"] for d in cluster.others] == ["ConfigMap", "Widget", "IP", "Subnet"]
    assert "s" not in cluster.subnets


def bridge(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apibridge.dev/v1alpha1",
        "kind": "ApiBridge",
        "metadata": {"name": "b"},
        "spec": {"vpc": "tenant-a", **spec},
    }


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"vpc": None}, "spec.vpc"),
        ({"isolation": "loose"}, "spec.isolation"),
        ({"rollout": "now"}, "spec.rollout"),
        ({"cidrBlock": "100.100.1.5/24"}, "spec.cidrBlock"),  # host bits set
        ({"cidrBlock": "100.100.1.0/24,100.100.2.0/24"}, "spec.cidrBlock"),  # two of a family
        (
            {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}},
            "spec.podSelector.matchExpressions[0].operator",
        ),
        ({"namespaceSelector": ["tenant"]}, "spec.namespaceSelector"),
        ({"destinations": {"extra": [{"cidr": "10.0.0.300"}]}}, "spec.destinations.extra[0].cidr"),
        ({"destinations": {"extra": ["10.0.0.3"]}}, "spec.destinations.extra[0]"),  # the old shorthand
        (
            {"destinations": {"extra": [{"cidr": "10.0.0.0/8", "ports": [{"port": 70000}]}]}},
            "spec.destinations.extra[0].ports[0].port",
        ),
    ],
)
def test_apibridge_spec_errors(tmp_path: Path, spec: dict[str, Any], field: str) -> None:
    err = load_error(tmp_path, bridge(**spec))
    assert err.location.obj == "ApiBridge/b"
    assert err.location.field == field
