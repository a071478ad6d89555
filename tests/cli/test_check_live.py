"""``apibridge check --kubeconfig`` on the real API server: the cluster's listed kinds are a closed world (a NAD
a pod names that the cluster lacks is missing: an error), files given alongside are applied on top of it, and
the same objects as files alone stay open-world (unknown: a warning)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from apibridge.kubeovn import rules
from kube.cluster import KubeCluster
from kube.incluster import api_endpoint_slice, apply_all, reset

from .support import Invoke

pytestmark = [pytest.mark.kube]

NS = "live-check"
NETWORKS = rules.NETWORKS_ANNOTATION


def world() -> list[dict[str, Any]]:
    """A tenant VPC with a pod that attaches a macvlan NAD (nothing to do with API access)."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        {
            "apiVersion": rules.KUBEOVN_API,
            "kind": "Vpc",
            "metadata": {"name": "live-vpc"},
            "spec": {"namespaces": [NS]},
        },
        {
            "apiVersion": rules.KUBEOVN_API,
            "kind": "Subnet",
            "metadata": {"name": "live-subnet"},
            "spec": {"vpc": "live-vpc", "protocol": "IPv4", "cidrBlock": "10.77.0.0/24", "namespaces": [NS]},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "app", "namespace": NS, "annotations": {NETWORKS: f"{NS}/macvlan-conf"}},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
        },
    ]


def macvlan() -> dict[str, Any]:
    return {
        "apiVersion": rules.NAD_API,
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "macvlan-conf", "namespace": NS},
        "spec": {"config": '{"cniVersion": "0.3.1", "type": "macvlan"}'},
    }


@pytest.fixture
def live(kube: KubeCluster) -> KubeCluster:
    reset(kube)
    apply_all(kube, world()[:1])
    kube.wait(lambda: kube.get("v1", "serviceaccounts", "default", NS), what=f"namespace {NS}'s ServiceAccount")
    apply_all(kube, world()[1:])
    return kube


def findings(stdout: str) -> dict[str, dict[str, Any]]:
    return {f"{f['code']} {f['object']}": f for f in json.loads(stdout)["findings"]}


def test_a_nad_the_cluster_lacks_is_missing_but_unknown_in_files(
    live: KubeCluster, invoke: Invoke, tmp_path: Path
) -> None:
    pod = f"Pod/{NS}/app"
    # files alone: open world, the NAD is unknown (a warning) and check passes
    files = tmp_path / "world.yaml"
    files.write_text(yaml.safe_dump_all(world()))
    offline = invoke("check", str(files), "--service-cidr", "10.96.0.0/12", "-o", "json")
    assert offline.exit_code == 0, offline.output
    assert findings(offline.stdout)[f"AB044 {pod}"]["severity"] == "warning"
    # the live cluster: the NADs were listed, so it is missing (an error) and check fails
    result = invoke("check", "--kubeconfig", str(live.kubeconfig), "-o", "json")
    assert result.exit_code == 1, result.output
    found = findings(result.stdout)
    assert f"AB044 {pod}" not in found
    error = found[f"AB031 {pod}"]
    assert error["severity"] == "error" and "does not exist in the cluster" in error["message"], error
    assert error["file"] == "cluster"
    # the same cluster with the NAD in a file applied on top: nothing missing
    nad_file = tmp_path / "nad.yaml"
    nad_file.write_text(yaml.safe_dump(macvlan()))
    with_file = invoke("check", "--kubeconfig", str(live.kubeconfig), str(nad_file), "-o", "json")
    assert with_file.exit_code == 0, with_file.output
    assert not {k for k in findings(with_file.stdout) if k.startswith(("AB031", "AB044"))}
    # once the cluster has it, too
    apply_all(live, [macvlan()])
    assert invoke("check", "--kubeconfig", str(live.kubeconfig)).exit_code == 0


def test_a_file_replaces_the_cluster_object_of_the_same_name(live: KubeCluster, invoke: Invoke, tmp_path: Path) -> None:
    """The file's Subnet (a gateway outside its CIDR) is what gets checked, not the cluster's sound one."""
    subnet = world()[2]
    subnet["spec"]["gateway"] = "10.99.0.1"
    changed = tmp_path / "subnet.yaml"
    changed.write_text(yaml.safe_dump(subnet))
    apply_all(live, [macvlan()])
    before = invoke("check", "--kubeconfig", str(live.kubeconfig), "-o", "json")
    assert before.exit_code == 0, before.output
    after = invoke("check", "--kubeconfig", str(live.kubeconfig), str(changed), "-o", "json")
    assert after.exit_code == 1, after.output
    about = [f for f in json.loads(after.stdout)["findings"] if f["object"] == "Subnet/live-subnet"]
    assert any(f["severity"] == "error" and f["file"] == str(changed) for f in about), about


def test_a_vpc_the_cluster_lacks_is_missing_but_unknown_in_files(
    live: KubeCluster, invoke: Invoke, tmp_path: Path
) -> None:
    """Vpcs are listed completely: a Subnet naming one the cluster lacks stays pending there (an error); the
    same Subnet in files alone names a VPC merely not in the input (a warning)."""
    apply_all(live, [macvlan()])
    orphan = {
        "apiVersion": rules.KUBEOVN_API,
        "kind": "Subnet",
        "metadata": {"name": "live-orphan"},
        "spec": {"vpc": "live-gone", "protocol": "IPv4", "cidrBlock": "10.78.0.0/24"},
    }
    apply_all(live, [orphan])
    files = tmp_path / "world.yaml"
    files.write_text(yaml.safe_dump_all([*world(), macvlan(), orphan]))
    offline = invoke("check", str(files), "--service-cidr", "10.96.0.0/12", "-o", "json")
    assert offline.exit_code == 0, offline.output
    assert findings(offline.stdout)["AB017 Subnet/live-orphan"]["severity"] == "warning"
    result = invoke("check", "--kubeconfig", str(live.kubeconfig), "-o", "json")
    assert result.exit_code == 1, result.output
    found = findings(result.stdout)
    assert "AB017 Subnet/live-orphan" not in found
    error = found["AB028 Subnet/live-orphan"]
    assert error["severity"] == "error" and "does not exist in the cluster" in error["message"], error


def test_a_file_pod_in_a_namespace_the_cluster_lacks_is_refused(
    live: KubeCluster, invoke: Invoke, tmp_path: Path
) -> None:
    """Namespaces are listed completely: a file's pod in a namespace the cluster does not have is one the API
    server refuses (an error); from files alone the namespace is only implied."""
    apply_all(live, [macvlan()])
    stray = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "stray", "namespace": "live-nowhere"},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
    }
    pod_file = tmp_path / "stray.yaml"
    pod_file.write_text(yaml.safe_dump(stray))
    offline = invoke("check", str(pod_file), "--service-cidr", "10.96.0.0/12", "-o", "json")
    assert offline.exit_code == 0, offline.output
    assert not [k for k in findings(offline.stdout) if k.startswith("AB046")]
    result = invoke("check", "--kubeconfig", str(live.kubeconfig), str(pod_file), "-o", "json")
    assert result.exit_code == 1, result.output
    error = findings(result.stdout)["AB046 Pod/live-nowhere/stray"]
    assert error["severity"] == "error" and error["field"] == "metadata.namespace", error
    assert "does not exist in the cluster" in error["message"]
    # the pods the cluster itself holds are in namespaces it has: nothing to report
    assert not [k for k in findings(result.stdout) if k.startswith("AB046") and "stray" not in k]


def test_kube_ovns_own_objects_the_cluster_lacks_are_reported_not_assumed(
    live: KubeCluster, invoke: Invoke, tmp_path: Path
) -> None:
    """Vpcs and Subnets are listed completely: without kube-ovn-controller's default VPC and Subnets (this API
    server runs no Kube-OVN) they do not exist — a warning each (AB029) — where files alone assume them."""
    apply_all(live, [macvlan()])
    files = tmp_path / "world.yaml"
    files.write_text(yaml.safe_dump_all([*world(), macvlan()]))
    offline = invoke("check", str(files), "--service-cidr", "10.96.0.0/12", "-o", "json")
    assert offline.exit_code == 0, offline.output
    assert not [k for k in findings(offline.stdout) if k.startswith("AB029")]
    result = invoke("check", "--kubeconfig", str(live.kubeconfig), "-o", "json")
    assert result.exit_code == 0, result.output  # warnings: checked as Kube-OVN would create them
    found = findings(result.stdout)
    for obj in (f"Vpc/{rules.DEFAULT_VPC}", f"Subnet/{rules.DEFAULT_SUBNET}", f"Subnet/{rules.JOIN_SUBNET}"):
        warning = found[f"AB029 {obj}"]
        assert warning["severity"] == "warning" and "does not exist in the cluster" in warning["message"], warning
    # once kube-ovn-controller's objects are there, nothing is assumed
    apply_all(
        live,
        [
            {"apiVersion": rules.KUBEOVN_API, "kind": "Vpc", "metadata": {"name": rules.DEFAULT_VPC}, "spec": {}},
            {
                "apiVersion": rules.KUBEOVN_API,
                "kind": "Subnet",
                "metadata": {"name": rules.JOIN_SUBNET},
                "spec": {"protocol": "IPv4", "cidrBlock": rules.JOIN_CIDR, "gateway": "100.64.0.1"},
            },
            {
                "apiVersion": rules.KUBEOVN_API,
                "kind": "Subnet",
                "metadata": {"name": rules.DEFAULT_SUBNET},
                "spec": {
                    "protocol": "IPv4",
                    "cidrBlock": rules.DEFAULT_CIDR,
                    "default": True,
                    "vpc": rules.DEFAULT_VPC,
                },
            },
        ],
    )
    again = invoke("check", "--kubeconfig", str(live.kubeconfig), "-o", "json")
    assert again.exit_code == 0, again.output
    assert not [k for k in findings(again.stdout) if k.startswith("AB029")], again.stdout


def test_a_tenant_policy_in_the_cluster_that_drops_the_api_is_found(live: KubeCluster, invoke: Invoke) -> None:
    """NetworkPolicies are listed too: a default-deny egress policy in a namespace a bridge selects drops its
    API traffic through the attachment (AB310, an error), whether the policy comes from a file or the cluster."""
    apply_all(
        live,
        [
            macvlan(),
            api_endpoint_slice("kubernetes-live-check"),
            {
                "apiVersion": rules.APIBRIDGE_API,
                "kind": "ApiBridge",
                "metadata": {"name": "live-bridge"},
                "spec": {"vpc": "live-vpc", "cidrBlock": "10.79.0.0/24", "podSelector": {}},
            },
        ],
    )
    before = invoke("check", "--kubeconfig", str(live.kubeconfig), "-o", "json")
    assert not [k for k in findings(before.stdout) if k.startswith("AB310")], before.output
    deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny-egress", "namespace": NS},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"]},
    }
    apply_all(live, [deny])
    result = invoke("check", "--kubeconfig", str(live.kubeconfig), "-o", "json")
    assert result.exit_code == 1, result.output
    error = findings(result.stdout)[f"AB310 NetworkPolicy/{NS}/deny-egress"]
    assert error["severity"] == "error" and "172.18.0.2" in error["message"] + error.get("hint", ""), error


def test_check_without_files_or_cluster_is_a_usage_error(invoke: Invoke) -> None:
    result = invoke("check")
    assert result.exit_code == 2 and "--kubeconfig" in result.stderr


def test_an_unreachable_cluster_is_one_line_and_exit_2(invoke: Invoke, tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "x",
                "clusters": [
                    {"name": "x", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}}
                ],
                "users": [{"name": "x", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
            }
        )
    )
    result = invoke("check", "--kubeconfig", str(config))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "error:" in result.stderr
