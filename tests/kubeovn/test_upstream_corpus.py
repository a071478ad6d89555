"""Issue 11 item 16: a corpus of upstream's own unit-test vectors and made-up cases checked against the upstream
parsers (``data/upstream_vectors.yaml``: each cites its repository, path and version, and says which component a
real cluster follows). apibridge's parsers must read each one as that component does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from apibridge.kubeovn import nadconf, networks, routes

CORPUS = yaml.safe_load((Path(__file__).parent / "data" / "upstream_vectors.yaml").read_text())


def _id(case: dict[str, Any]) -> str:
    src = case["source"]
    where = "made-up" if src == "made-up" else f"{src['repo'].split('/')[1]}@{src['version']}"
    return f"{where}:{case.get('value', case.get('dst', case.get('gw')))}"


def test_every_case_cites_its_source_and_component() -> None:
    for case in [*CORPUS["networks"], *CORPUS["routes"], *CORPUS["nadconf"]]:
        src = case["source"]
        assert (src == "made-up" and case["rule"]) or {"repo", "version", "path"} <= set(src), case
        assert case["follows"] in ("Multus", "nad-client", "kube-ovn-cni", "kube-ovn-controller"), case


@pytest.mark.parametrize("case", CORPUS["networks"], ids=_id)
def test_networks_annotation(case: dict[str, Any]) -> None:
    if case["expect"] == "error":
        with pytest.raises(networks.NetworksError):
            networks.parse(case["value"])
        return
    parsed = networks.parse(case["value"])
    got = [{"name": s.name, "namespace": s.namespace, "interface": s.interface} for s in parsed.selections]
    assert got == [{k: e[k] for k in ("name", "namespace", "interface")} for e in case["expect"]]
    names = networks.interface_names(parsed)
    for i, (e, name) in enumerate(zip(case["expect"], names, strict=True), start=1):
        assert name == (e.get("ifname") or e.get("interface") or f"net{i}")


@pytest.mark.parametrize("case", CORPUS["routes"], ids=_id)
def test_routes(case: dict[str, Any]) -> None:
    if "value" in case:
        with pytest.raises(routes.RoutesError):
            routes.parse(case["value"])
    elif "dst" in case:
        assert routes.cni_dst(case["dst"]) is None
    else:
        got = routes.cni_gw(case["gw"])
        assert (None if got is None else str(got)) == (None if case["expect"] == "skipped" else case["expect"])


@pytest.mark.parametrize("case", CORPUS["nadconf"], ids=_id)
def test_nad_config(case: dict[str, Any]) -> None:
    if case["expect"] == "error":
        with pytest.raises(nadconf.NadConfigError):
            nadconf.parse(case["value"])
    else:
        assert nadconf.parse(case["value"]).kind == case["expect"]
