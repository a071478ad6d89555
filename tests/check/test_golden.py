"""The seed's configuration as written, and the same scenario through ApiBridges.

The seed (NAD ``kube-system/api-ovn-nad``, Subnet ``vpc-apiserver-subnet`` 100.100.100.0/24 with its
provider, a custom-VPC pod with the two annotations) works: the validator must not call any of it
an error. What it lacks is a fence (AB302), and once a second tenant's pods attach to the same
subnet, the tenants share one L2 segment (AB301). The planner's version of the same intent — one
NAD and one fenced subnet per VPC, annotations injected — must come out clean: no error, no warning.
"""

from __future__ import annotations

from apibridge.check.findings import Finding

from .kit import SEED, SEED_ANNOTATIONS, bridge, codes, node, pod, run, seed_pod, service, vpc

SEED_YAML = """
apiVersion: "k8s.cni.cncf.io/v1"
kind: NetworkAttachmentDefinition
metadata:
  name: api-ovn-nad
  namespace: kube-system
spec:
  config: '{
      "cniVersion": "0.3.0",
      "type": "kube-ovn",
      "server_socket": "/run/openvswitch/kube-ovn-daemon.sock",
      "provider": "api-ovn-nad.kube-system.ovn"
    }'
---
apiVersion: kubeovn.io/v1
kind: Subnet
metadata:
  name: vpc-apiserver-subnet
spec:
  protocol: IPv4
  cidrBlock: 100.100.100.0/24
  provider: api-ovn-nad.kube-system.ovn
"""

TENANT_A = """
apiVersion: kubeovn.io/v1
kind: Vpc
metadata: {name: tenant-a}
spec: {namespaces: [ingress-nginx]}
---
apiVersion: kubeovn.io/v1
kind: Subnet
metadata: {name: tenant-a-subnet}
spec: {vpc: tenant-a, protocol: IPv4, cidrBlock: 10.0.1.0/24, gateway: 10.0.1.1, namespaces: [ingress-nginx]}
"""

TENANT_B = """
apiVersion: kubeovn.io/v1
kind: Vpc
metadata: {name: tenant-b}
spec: {namespaces: [tenant-b]}
---
apiVersion: kubeovn.io/v1
kind: Subnet
metadata: {name: tenant-b-subnet}
spec: {vpc: tenant-b, protocol: IPv4, cidrBlock: 10.0.2.0/24, gateway: 10.0.2.1, namespaces: [tenant-b]}
"""

INGRESS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: ingress-nginx}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: ingress-nginx}
      annotations:
        k8s.v1.cni.cncf.io/networks: kube-system/api-ovn-nad
        api-ovn-nad.kube-system.ovn.kubernetes.io/routes: '[{"dst":"10.96.0.1/32","gw":"100.100.100.1"}]'
    spec: {containers: [{name: controller, image: ingress-nginx}]}
"""

OPERATOR = """
apiVersion: v1
kind: Pod
metadata:
  name: operator
  namespace: tenant-b
  labels: {app: operator}
  annotations:
    k8s.v1.cni.cncf.io/networks: kube-system/api-ovn-nad
    api-ovn-nad.kube-system.ovn.kubernetes.io/routes: '[{"dst":"10.96.0.1/32","gw":"100.100.100.1"}]'
spec: {containers: [{name: operator, image: operator}]}
"""

CLUSTER = [node(), service("default", "kubernetes", "10.96.0.1")]
SECURITY = {"AB301", "AB302"}


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


def test_seed_as_written_has_no_error_only_the_missing_fence() -> None:
    findings = run(*CLUSTER, SEED_YAML, TENANT_A, INGRESS)
    assert errors(findings) == []
    assert "AB302" in codes(findings)
    fence = next(f for f in findings if f.code == "AB302")
    assert (fence.obj, fence.field, fence.severity) == ("Subnet/vpc-apiserver-subnet", "spec.acls", "warning")
    # the only other remark is Multus namespaceIsolation (the NAD is in kube-system, the pod is not)
    assert codes(findings) <= {"AB302", "AB038"}


def test_seed_with_two_tenants_shares_one_segment() -> None:
    findings = run(*CLUSTER, SEED_YAML, TENANT_A, TENANT_B, INGRESS, OPERATOR)
    assert {f.code for f in errors(findings)} == {"AB301"}
    shared = next(f for f in findings if f.code == "AB301")
    assert shared.obj == "Subnet/vpc-apiserver-subnet"
    assert "tenant-a" in shared.message and "tenant-b" in shared.message
    assert codes(findings) - {"AB038"} == SECURITY


def test_seed_routes_are_checked_against_the_seed_subnet_gateway() -> None:
    bad = INGRESS.replace('"gw":"100.100.100.1"', '"gw":"100.100.200.1"')
    findings = run(*CLUSTER, SEED_YAML, TENANT_A, bad)
    [gw] = [f for f in findings if f.code == "AB208"]
    assert gw.obj == "Deployment/ingress-nginx/ingress-nginx-controller"
    assert gw.field == ('spec.template.metadata.annotations["api-ovn-nad.kube-system.ovn.kubernetes.io/routes"][0].gw')
    assert "100.100.100.1" in gw.hint


def test_the_same_scenario_through_api_bridges_is_clean() -> None:
    bridges = [
        bridge("tenant-a", "tenant-a", podSelector={"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}}),
        bridge("tenant-b", "tenant-b", cidrBlock="100.100.2.0/24"),
    ]
    plain_ingress = INGRESS.replace(
        """      annotations:
        k8s.v1.cni.cncf.io/networks: kube-system/api-ovn-nad
        api-ovn-nad.kube-system.ovn.kubernetes.io/routes: '[{"dst":"10.96.0.1/32","gw":"100.100.100.1"}]'
""",
        "",
    )
    findings = run(*CLUSTER, TENANT_A, TENANT_B, plain_ingress, pod("operator", "tenant-b"), *bridges)
    assert [f for f in findings if f.severity in ("error", "warning")] == []
    assert codes(findings) <= {"AB115"}  # info: NADs in kube-system, pods elsewhere


def test_dual_stack_bridge_is_clean() -> None:
    dual = """
apiVersion: kubeovn.io/v1
kind: Vpc
metadata: {name: tenant-a}
spec: {namespaces: [ingress-nginx]}
---
apiVersion: kubeovn.io/v1
kind: Subnet
metadata: {name: tenant-a-subnet}
spec: {vpc: tenant-a, cidrBlock: "10.0.1.0/24,fd00:10:0:1::/64", gateway: "10.0.1.1,fd00:10:0:1::1",
       namespaces: [ingress-nginx]}
"""
    findings = run(
        node("n", "172.18.0.2", "fc00::2"),
        service("default", "kubernetes", "10.96.0.1", "fd00:10:96::1"),
        dual,
        pod("web", "ingress-nginx"),
        bridge("tenant-a", "tenant-a"),
    )
    assert [f for f in findings if f.severity in ("error", "warning")] == []


def test_bridge_injection_beside_the_seed_setup_only_informs() -> None:
    """Pods already wired by hand keep working; the bridge says it adds its own attachment."""
    findings = run(*SEED, pod("app", "ns1", SEED_ANNOTATIONS), bridge("b", "vpc1"))
    assert "AB114" in codes(findings)
    assert errors(findings) == []


def test_seed_pod_in_a_second_namespace_of_the_same_vpc_is_not_a_second_tenant() -> None:
    findings = run(*SEED[:2], vpc("vpc1", "ns1", "ns1b"), seed_pod("a", "ns1"), seed_pod("b", "ns1b"))
    assert "AB301" not in codes(findings)
