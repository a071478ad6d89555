"""``apibridge render``: one NAD and one Subnet per bridge, consistent with each other, ready to apply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from apibridge.kubeovn import dualstack, nadconf, rules
from apibridge.model.cluster import load_cluster

from .support import (
    DROPS_API,
    EXAMPLES,
    Invoke,
    assert_one_line_error,
    assert_warns_of_api_drops,
    documents,
    run_installed,
)


def _by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _pairs(docs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(NAD, Subnet) per bridge, matched by the provider the NAD's name and namespace give."""
    subnets = {s["spec"]["provider"]: s for s in _by_kind(docs, "Subnet")}
    pairs = []
    for nad in _by_kind(docs, "NetworkAttachmentDefinition"):
        provider = rules.nad_provider(nad["metadata"]["name"], nad["metadata"]["namespace"])
        assert provider in subnets, f"no Subnet with provider {provider}"
        pairs.append((nad, subnets[provider]))
    return pairs


@pytest.mark.parametrize("example", ["apibridge", "dualstack"])
def test_one_consistent_nad_and_subnet_per_bridge(invoke: Invoke, example: str) -> None:
    result = invoke("render", f"examples/{example}/")
    assert result.exit_code == 0, result.stderr
    docs = documents(result.stdout)
    cluster = load_cluster([str(EXAMPLES / example)])
    assert len(docs) == 2 * len(cluster.bridges)
    pairs = _pairs(docs)
    assert len(pairs) == len(cluster.bridges)
    for nad, subnet in pairs:
        config = nadconf.parse(nad["spec"]["config"])
        provider = subnet["spec"]["provider"]
        # what kube-ovn-controller derives from the NAD == what kube-ovn-cni sends == the Subnet's
        assert provider == rules.nad_provider(nad["metadata"]["name"], nad["metadata"]["namespace"])
        assert provider.endswith(f".{rules.OVN_PROVIDER}")
        assert config.kind == "kube-ovn"
        assert config.cni_provider() == provider
        assert nad["metadata"]["labels"] == subnet["metadata"]["labels"]
        assert nad["metadata"]["labels"][rules.BRIDGE_LABEL] in cluster.bridges


@pytest.mark.parametrize("example", ["apibridge", "dualstack"])
def test_subnets_are_apart_from_everything_else(invoke: Invoke, example: str) -> None:
    docs = documents(invoke("render", f"examples/{example}/").stdout)
    cluster = load_cluster([str(EXAMPLES / example)])
    existing = [c for s in cluster.subnets.values() for c in s.cidrs]
    rendered = [c for s in _by_kind(docs, "Subnet") for c in dualstack.parse_cidrs(s["spec"]["cidrBlock"])]
    for net in rendered:
        assert not any(net.overlaps(other) for other in existing if other.version == net.version)
        assert not any(ip in net for ip in cluster.api_cluster_ips())
    for i, net in enumerate(rendered):
        assert not any(net.overlaps(other) for other in rendered[i + 1 :] if other.version == net.version)


def test_dualstack_subnet_has_one_cidr_per_family(invoke: Invoke) -> None:
    docs = documents(invoke("render", "examples/dualstack/").stdout)
    cluster = load_cluster([str(EXAMPLES / "dualstack")])
    families = {ip.version for ip in cluster.api_cluster_ips()}
    assert families == {4, 6}
    (subnet,) = _by_kind(docs, "Subnet")
    cidrs = dualstack.parse_cidrs(subnet["spec"]["cidrBlock"])
    assert {c.version for c in cidrs} == families
    gateways = dualstack.parse_ips(subnet["spec"]["gateway"])
    for gw in gateways:
        assert any(gw in c for c in cidrs)


def test_explicit_cidr_block_is_kept(invoke: Invoke) -> None:
    cluster = load_cluster([str(EXAMPLES / "apibridge")])
    explicit = {b.name: b.cidr_block for b in cluster.bridges.values() if b.cidr_block != "auto"}
    assert explicit, "the example should show an explicit cidrBlock"
    docs = documents(invoke("render", "examples/apibridge/").stdout)
    by_bridge = {s["metadata"]["labels"][rules.BRIDGE_LABEL]: s for s in _by_kind(docs, "Subnet")}
    for name, cidr in explicit.items():
        assert by_bridge[name]["spec"]["cidrBlock"] == cidr


def test_yaml_is_readable_and_applyable(invoke: Invoke) -> None:
    text = invoke("render", "examples/apibridge/").stdout
    assert text.startswith("---\n")
    assert "config: |" in text  # the NAD config as a literal block, not one escaped line
    for doc in documents(text):
        assert list(doc)[:2] == ["apiVersion", "kind"]
        assert doc["metadata"]["name"]


def test_json_is_a_list_of_the_same_objects(invoke: Invoke) -> None:
    as_yaml = documents(invoke("render", "examples/apibridge/").stdout)
    result = invoke("render", "examples/apibridge/", "-o", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["kind"] == "List" and doc["apiVersion"] == "v1"
    assert doc["items"] == as_yaml


def test_render_is_deterministic(invoke: Invoke) -> None:
    assert invoke("render", "examples/apibridge/").stdout == invoke("render", "examples/apibridge/").stdout


def test_vpc_without_a_bridge_plans_one_on_the_fly(invoke: Invoke) -> None:
    result = invoke("render", "examples/seed/", "--vpc", "tenant-a")
    assert result.exit_code == 0, result.stderr
    pairs = _pairs(documents(result.stdout))
    assert len(pairs) == 1
    assert "tenant-a" in result.stderr  # says it planned one


def test_vpc_with_a_bridge_renders_that_bridge(invoke: Invoke) -> None:
    cluster = load_cluster([str(EXAMPLES / "apibridge")])
    bridge = next(b for b in cluster.bridges.values() if b.cidr_block != "auto")
    docs = documents(invoke("render", "examples/apibridge/", "--vpc", bridge.vpc).stdout)
    (subnet,) = _by_kind(docs, "Subnet")
    assert subnet["metadata"]["labels"][rules.BRIDGE_LABEL] == bridge.name
    assert subnet["spec"]["cidrBlock"] == bridge.cidr_block


def test_no_bridge_and_no_vpc_is_unusable_input(invoke: Invoke) -> None:
    result = invoke("render", "examples/seed/")
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "no ApiBridge", "--vpc")


def test_plan_errors_print_findings_and_no_manifests(invoke: Invoke, tmp_path: Path) -> None:
    # dns: true, but the input has no kube-dns Service: the planner cannot route DNS.
    bridge = tmp_path / "bridge.yaml"
    bridge.write_text(
        "apiVersion: apibridge.dev/v1alpha1\nkind: ApiBridge\nmetadata:\n  name: needs-dns\n"
        "spec:\n  vpc: tenant-a\n  destinations:\n    dns: true\n"
    )
    result = invoke("render", str(EXAMPLES / "seed" / "cluster.yaml"), str(bridge))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "ApiBridge/needs-dns" in result.stderr
    assert "Traceback" not in result.stderr


def test_rendered_objects_are_what_check_expects(invoke: Invoke, tmp_path: Path) -> None:
    """Rendered manifests applied next to their bridges must not make the validator complain."""
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(invoke("render", "examples/apibridge/").stdout)
    result = invoke("check", "examples/apibridge/", str(rendered), "-o", "json")
    errors = [f for f in json.loads(result.stdout)["findings"] if f["severity"] == "error"]
    assert result.exit_code == 0, errors


def test_render_pipes_into_a_real_process() -> None:
    proc = run_installed("apibridge", "render", "examples/apibridge/")
    assert proc.returncode == 0, proc.stderr
    docs = documents(proc.stdout)
    assert {d["kind"] for d in docs} == {"NetworkAttachmentDefinition", "Subnet"}
    assert len(_pairs(docs)) == len(load_cluster([str(EXAMPLES / "apibridge")]).bridges)


def test_unknown_vpc_is_a_finding_not_a_manifest(invoke: Invoke) -> None:
    result = invoke("render", "examples/seed/", "--vpc", "no-such-vpc")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "ApiBridge/no-such-vpc" in result.stderr


RKE2_DNS = """apiVersion: v1
kind: Service
metadata: {name: rke2-coredns-rke2-coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: 10.43.0.10
  clusterIPs: [10.43.0.10]
  ports: [{name: udp-53, port: 53, protocol: UDP}, {name: tcp-53, port: 53, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: resolver, namespace: infra}
spec:
  clusterIP: 10.43.0.53
  clusterIPs: [10.43.0.53]
  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
"""
DNS_BRIDGE = (
    "apiVersion: apibridge.dev/v1alpha1\nkind: ApiBridge\nmetadata:\n  name: needs-dns\n"
    "spec:\n  vpc: tenant-a\n  destinations:\n    dns: true\n"
)


def test_dns_service_of_rke2_is_found_and_the_setting_overrides_it(invoke: Invoke, tmp_path: Path) -> None:
    """Issue 11 item 13: RKE2's DNS Service is not kube-system/kube-dns; ``--dns-service`` names another."""
    (tmp_path / "dns.yaml").write_text(RKE2_DNS)
    (tmp_path / "bridge.yaml").write_text(DNS_BRIDGE)
    files = (str(EXAMPLES / "seed" / "cluster.yaml"), str(tmp_path / "dns.yaml"), str(tmp_path / "bridge.yaml"))
    found = invoke("render", *files, "-o", "json")
    assert found.exit_code == 0, found.stderr
    assert "10.43.0.10" in found.stdout
    named = invoke("render", "--dns-service", "infra/resolver", *files, "-o", "json")
    assert named.exit_code == 0, named.stderr
    assert "10.43.0.53" in named.stdout and "10.43.0.10/32" not in named.stdout
    bad = invoke("render", "--dns-service", "resolver", *files)
    assert bad.exit_code == 2 and "namespace/name" in bad.stderr


def test_render_warns_of_policies_that_drop_the_bridged_pods_api_traffic(invoke: Invoke) -> None:
    """AB310/AB313 do not fail the bridge (its objects are sound), but render must not stay silent on them."""
    result = invoke("render", "examples/apibridge/", str(DROPS_API))
    assert result.exit_code == 0, result.stderr
    assert documents(result.stdout)
    assert_warns_of_api_drops(result.stderr)
