"""No silent defaults (issue #10, item 5), on manifests shaped like real clusters: kubespray (service CIDR
10.233.0.0/18, API ClusterIP 10.233.0.1, three API endpoints) and RKE2 (10.43.0.0/16, 10.43.0.1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .clusters import (
    BRIDGE,
    INGRESS,
    KUBESPRAY_API,
    RKE2_API,
    SEED_NAD,
    SEED_SUBNET,
    TENANT_VPC,
    stream,
)
from .support import Invoke, documents

TENANT = stream(TENANT_VPC, BRIDGE)
JOBS = """\
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: alpha}
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        spec: {restartPolicy: OnFailure, containers: [{name: report, image: busybox}]}
---
apiVersion: v1
kind: Pod
metadata: {name: debug, namespace: alpha}
spec: {containers: [{name: sh, image: busybox}]}
"""
WORKLOADS = stream(INGRESS, JOBS)
KUBESPRAY_ENDPOINTS = """\
apiVersion: v1
kind: Endpoints
metadata: {name: kubernetes, namespace: default}
subsets:
- addresses: [{ip: 192.168.10.11}, {ip: 192.168.10.12}, {ip: 192.168.10.13}]
  ports: [{name: https, port: 6443, protocol: TCP}]
"""


def _routes(stdout: str) -> set[str]:
    out = set()
    for doc in documents(stdout):
        spec = doc.get("spec", {})
        template = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get("template") or doc
        for key, value in (template.get("metadata", {}).get("annotations") or {}).items():
            if key.endswith(".kubernetes.io/routes"):
                out |= {r["dst"] for r in json.loads(value)}
    return out


@pytest.fixture
def cluster_dir(tmp_path: Path) -> Path:
    (tmp_path / "tenant.yaml").write_text(TENANT)
    (tmp_path / "endpoints.yaml").write_text(KUBESPRAY_ENDPOINTS)  # Endpoints without the Service
    (tmp_path / "deploy.yaml").write_text(WORKLOADS)
    return tmp_path


@pytest.mark.parametrize(("cidr", "api"), [("10.233.0.0/18", "10.233.0.1/32"), ("10.43.0.0/16", "10.43.0.1/32")])
def test_inject_takes_the_api_clusterip_from_the_service_cidr(
    invoke: Invoke, cluster_dir: Path, cidr: str, api: str
) -> None:
    """It wrote "dst":"10.96.0.1/32" and exited 0, with only an info line on stderr."""
    result = invoke(
        "inject", "-f", str(cluster_dir / "deploy.yaml"), "--cluster", str(cluster_dir), "--service-cidr", cidr
    )
    assert result.exit_code == 0, result.stderr
    assert _routes(result.stdout) == {api}


@pytest.mark.parametrize("command", ["check", "render", "inject"])
def test_without_the_service_or_a_service_cidr_the_commands_refuse(
    invoke: Invoke, cluster_dir: Path, command: str
) -> None:
    args = {
        "check": ["check", str(cluster_dir)],
        "render": ["render", str(cluster_dir)],
        "inject": ["inject", "-f", str(cluster_dir / "deploy.yaml"), "--cluster", str(cluster_dir)],
    }[command]
    result = invoke(*args)
    assert result.exit_code == 2 and result.stdout == ""
    assert "no Service default/kubernetes" in result.stderr and "--service-cidr" in result.stderr
    assert "--assume-default-service" in result.stderr
    assert invoke(*args, "--assume-default-service").exit_code == 0


def test_assume_default_service_says_so(invoke: Invoke, cluster_dir: Path) -> None:
    result = invoke(
        "inject", "-f", str(cluster_dir / "deploy.yaml"), "--cluster", str(cluster_dir), "--assume-default-service"
    )
    assert _routes(result.stdout) == {"10.96.0.1/32"}
    checked = invoke("check", str(cluster_dir), "--service-cidr", "10.233.0.0/18")
    assert "assumed Service/default/kubernetes: ClusterIP 10.233.0.1 port 443 (first address of --service-cidr" in (
        checked.stderr
    )


# ---- stacked attachments (issue #10, item 6) ---------------------------------------------------------------
MACVLAN_NAD = """\
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: macvlan-conf, namespace: default}
spec:
  config: '{"cniVersion": "0.3.1", "type": "macvlan", "master": "eth1",
            "ipam": {"type": "host-local", "subnet": "192.168.200.0/24"}}'
"""
KUBESPRAY_SEEDED = stream(KUBESPRAY_API, SEED_NAD, MACVLAN_NAD, SEED_SUBNET)
SEEDED_STATEFULSET = """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db-operator, namespace: alpha}
spec:
  serviceName: db-operator
  selector: {matchLabels: {app: db-operator}}
  template:
    metadata:
      labels: {app: db-operator}
      annotations:
        k8s.v1.cni.cncf.io/networks: default/macvlan-conf,kube-system/api-ovn-nad
        api-ovn-nad.kube-system.ovn.kubernetes.io/routes: '[{"dst":"10.233.0.1/32","gw":"100.100.100.1"}]'
    spec: {containers: [{name: operator, image: quay.io/example/db-operator:1.4}]}
"""


def _template_annotations(stdout: str) -> dict[str, str]:
    (doc,) = documents(stdout)
    return doc["spec"]["template"]["metadata"]["annotations"]  # type: ignore[no-any-return]


def test_stacked_attachment_is_a_warning_naming_both(invoke: Invoke, tmp_path: Path) -> None:
    (tmp_path / "cluster.yaml").write_text(stream(KUBESPRAY_SEEDED, TENANT))
    (tmp_path / "sts.yaml").write_text(SEEDED_STATEFULSET)
    result = invoke("check", str(tmp_path), "-o", "json")
    stacked = [f for f in json.loads(result.stdout)["findings"] if f["code"] == "AB116"]
    assert [f["object"] for f in stacked] == ["StatefulSet/alpha/db-operator"]
    assert stacked[0]["severity"] == "warning"
    assert "kube-system/api-ovn-nad" in stacked[0]["message"]
    assert "kube-system/apibridge-alpha" in stacked[0]["message"]


def test_inject_replace_attachment_swaps_the_old_one_routes_included(invoke: Invoke, tmp_path: Path) -> None:
    (tmp_path / "cluster.yaml").write_text(stream(KUBESPRAY_SEEDED, TENANT))
    (tmp_path / "sts.yaml").write_text(SEEDED_STATEFULSET)
    args = ("inject", "-f", str(tmp_path / "sts.yaml"), "--cluster", str(tmp_path))
    stacked = _template_annotations(invoke(*args).stdout)
    assert stacked["k8s.v1.cni.cncf.io/networks"].count("/") == 3  # macvlan, the seed's and the bridge's
    result = invoke(*args, "--replace-attachment")
    assert result.exit_code == 0, result.stderr
    swapped = _template_annotations(result.stdout)
    nets = swapped["k8s.v1.cni.cncf.io/networks"]
    assert nets.startswith("default/macvlan-conf,kube-system/apibridge-alpha") and "api-ovn-nad" not in nets
    assert not any(k.startswith("api-ovn-nad.kube-system.ovn.") for k in swapped)
    routes = json.loads(swapped["apibridge-alpha.kube-system.ovn.kubernetes.io/routes"])
    assert [r["dst"] for r in routes] == ["10.233.0.1/32"]
    # idempotent: injecting the output again changes nothing
    (tmp_path / "out.yaml").write_text(result.stdout)
    again = invoke(
        "inject", "-f", str(tmp_path / "out.yaml"), "--cluster", str(tmp_path / "cluster.yaml"), "--replace-attachment"
    )
    assert _template_annotations(again.stdout) == swapped


# ---- open-world input (issue #10, item 6) ------------------------------------------------------------------
MACVLAN_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: ingress-nginx-controller, namespace: alpha}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: ingress-nginx}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: ingress-nginx}
      annotations: {k8s.v1.cni.cncf.io/networks: alpha/macvlan-ext}
    spec: {containers: [{name: controller, image: registry.k8s.io/ingress-nginx/controller:v1.11.2}]}
"""


def test_a_nad_the_input_does_not_contain_is_unknown_not_missing(invoke: Invoke, tmp_path: Path) -> None:
    """inject printed the Deployment and exited 1 ("these pods still will not reach the API server")."""
    (tmp_path / "deploy.yaml").write_text(MACVLAN_DEPLOYMENT)
    (tmp_path / "cluster.yaml").write_text(stream(RKE2_API, TENANT_VPC))
    (tmp_path / "bridge.yaml").write_text(BRIDGE)
    result = invoke(
        "inject",
        "-f",
        str(tmp_path / "deploy.yaml"),
        "--cluster",
        str(tmp_path / "cluster.yaml"),
        "--cluster",
        str(tmp_path / "bridge.yaml"),
    )
    assert result.exit_code == 0, result.stderr
    assert _routes(result.stdout) == {"10.43.0.1/32"}
    checked = invoke("check", str(tmp_path), "-o", "json")
    assert checked.exit_code == 0
    codes = {f["code"]: f["severity"] for f in json.loads(checked.stdout)["findings"]}
    assert codes.get("AB044") == "warning" and "AB031" not in codes


# ---- a bridge CIDR inside the service range, known or inferred (new-user trial after issue #10) -------------
RKE2_DNS = """\
apiVersion: v1
kind: Service
metadata:
  name: rke2-coredns-rke2-coredns
  namespace: kube-system
  labels: {k8s-app: kube-dns, app.kubernetes.io/name: rke2-coredns}
spec:
  clusterIP: 10.43.0.10
  selector: {app.kubernetes.io/instance: rke2-coredns, k8s-app: kube-dns}
  ports: [{name: udp-53, port: 53, protocol: UDP}, {name: tcp-53, port: 53, protocol: TCP}]
"""


def _bridge_at(cidr: str) -> str:
    return BRIDGE.replace("spec: {vpc: alpha}", f"spec: {{vpc: alpha, cidrBlock: {cidr}}}")


def _check(invoke: Invoke, tmp_path: Path, *docs: str, flags: tuple[str, ...] = ()) -> tuple[int, list[dict[str, str]]]:
    (tmp_path / "cluster.yaml").write_text(stream(*docs))
    result = invoke("check", str(tmp_path), "-o", "json", *flags)
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, [f for f in json.loads(result.stdout)["findings"] if f["severity"] != "info"]


def test_a_bridge_cidr_holding_a_service_clusterip_is_an_error(invoke: Invoke, tmp_path: Path) -> None:
    """10.43.0.8/29 holds RKE2's DNS ClusterIP 10.43.0.10: a pod given that address is a load-balancer VIP."""
    code, found = _check(invoke, tmp_path, RKE2_API, RKE2_DNS, TENANT_VPC, _bridge_at("10.43.0.8/29"))
    assert code == 1
    hits = [f for f in found if f["object"] == "ApiBridge/alpha" and f["severity"] == "error"]
    assert [f["code"] for f in hits] == ["AB047"], found
    assert "10.43.0.10" in hits[0]["message"] and "Service/kube-system/rke2-coredns-rke2-coredns" in hits[0]["message"]
    assert invoke("render", str(tmp_path)).exit_code == 1  # the bridge's own Subnet is unsound: nothing to apply


def test_a_bridge_cidr_in_the_range_around_the_api_clusterip_is_a_warning_naming_the_assumption(
    invoke: Invoke, tmp_path: Path
) -> None:
    """It was accepted silently unless --service-cidr was given; the range holds 10.43.0.1 at least."""
    code, found = _check(invoke, tmp_path, RKE2_API, TENANT_VPC, _bridge_at("10.43.200.0/24"))
    assert code == 0 and [(f["code"], f["object"]) for f in found] == [("AB048", "ApiBridge/alpha")], found
    message = found[0]["message"]
    assert "10.43.0.0/16" in message and "API ClusterIP 10.43.0.1" in message and "--service-cidr" in message
    # the range given: precise both ways (kubespray's /18 leaves 10.233.100.0/24 outside; RKE2's /16 does not)
    given = _check(
        invoke, tmp_path, RKE2_API, TENANT_VPC, _bridge_at("10.43.200.0/24"), flags=("--service-cidr", "10.43.0.0/16")
    )
    assert [f["code"] for f in given[1]] == ["AB025"]
    kubespray = (KUBESPRAY_API, TENANT_VPC, _bridge_at("10.233.100.0/24"))
    assert [f["code"] for f in _check(invoke, tmp_path, *kubespray)[1]] == ["AB048"]
    assert _check(invoke, tmp_path, *kubespray, flags=("--service-cidr", "10.233.0.0/18")) == (0, [])
