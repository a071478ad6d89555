"""The Cluster view: what Kube-OVN/kubeadm create on their own, and where pods land.

Pod placement follows Kube-OVN's ``getPodDefaultSubnet`` and namespace controller: the pod's
``ovn.kubernetes.io/logical_switch`` > the namespace's annotation > a Subnet listing the namespace in
``spec.namespaces`` > a Vpc listing it (its ``defaultSubnet``) > the default subnet ``ovn-default``.
"""

from __future__ import annotations

import ipaddress

import pytest

from apibridge.model.cluster import Cluster
from apibridge.model.load import Document

from .model_kit import TEST_NODE, Body, cluster, namespace, pod, service, subnet, vpc, workload

LS = "ovn.kubernetes.io/logical_switch"


def test_empty_input_assumes_what_kube_ovn_and_kubeadm_create() -> None:
    c = cluster()
    assert "ovn-cluster" in c.vpcs and c.vpcs["ovn-cluster"].assumed
    join = c.subnets["join"]
    assert join.cidrs == (ipaddress.ip_network("100.64.0.0/16"),)
    assert join.vpc == "ovn-cluster"
    default = c.default_subnet()
    assert default is not None and default.name == "ovn-default"
    assert default.cidrs == (ipaddress.ip_network("10.16.0.0/16"),)
    assert default.gateways == (ipaddress.ip_address("10.16.0.1"),)
    assert c.api_cluster_ips() == (ipaddress.ip_address("10.96.0.1"),)
    svc = c.service("default", "kubernetes")
    assert svc is not None and [p.port for p in svc.ports] == [443]
    assumed = {a.obj for a in c.assumptions}
    assert assumed == {"Vpc/ovn-cluster", "Subnet/join", "Subnet/ovn-default", "Service/default/kubernetes"}
    assert all(a.what for a in c.assumptions)  # each says what was assumed


def test_nothing_is_assumed_for_what_the_input_has() -> None:
    c = cluster(
        vpc("ovn-cluster"),
        subnet("join", "100.65.0.0/16"),
        subnet("ovn-default", "10.17.0.0/16"),
        service("default", "kubernetes", "10.100.0.1"),
    )
    # no object is assumed; only the spec fields Kube-OVN fills in on the given subnets are named
    assert {a.obj for a in c.assumptions} == {"Subnet/join", "Subnet/ovn-default"}
    assert all(a.what.startswith("Kube-OVN fills in spec.gateway: ") for a in c.assumptions)
    assert c.subnets["join"].cidrs == (ipaddress.ip_network("100.65.0.0/16"),)
    assert c.api_cluster_ips() == (ipaddress.ip_address("10.100.0.1"),)


def test_default_true_counts_only_for_the_default_ls() -> None:
    """kube-ovn v1.16.2 pkg/controller/subnet.go formatSubnet resets ``default: true`` on a default-VPC subnet
    not named by ``--default-ls`` (ovn-default); the controller still creates ovn-default (issue 11 item 9)."""
    c = cluster(subnet("my-default", "10.20.0.0/16", default=True), pod("p", "ns"))
    assert not c.subnets["my-default"].default
    default = c.default_subnet()
    assert default is not None and default.name == "ovn-default"
    assert c.pod_subnet(c.pods[0]) is default
    assert any("spec.default: false" in a.what for a in c.assumptions if a.obj == "Subnet/my-default")
    # a custom VPC's subnet keeps it: it is that VPC's default subnet (getVpcSubnets)
    c = cluster(vpc("va", namespaces=["x"]), subnet("va-d", "10.1.0.0/24", vpc="va", default=True), pod("p", "x"))
    assert c.subnets["va-d"].default and c.pod_subnet(c.pods[0]) is c.subnets["va-d"]


def test_dual_stack_api_service_gives_dual_stack_default_subnets() -> None:
    c = cluster(service("default", "kubernetes", "10.96.0.1", "fd00:10:96::1"))
    for name in ("join", "ovn-default"):
        assert {n.version for n in c.subnets[name].cidrs} == {4, 6}
        assert c.subnets[name].protocol == "Dual"


def test_a_given_node_is_assumed_with_the_api_endpoints() -> None:
    c = cluster(assume_node=TEST_NODE)
    assert len(c.nodes) == 1
    (node,) = c.nodes.values()
    assert node.control_plane and node.internal_ips
    eps = c.endpoints[("default", "kubernetes")]
    assert [a for e in eps for a in e.addresses] == list(node.internal_ips)
    assert {f"Node/{node.meta.name}", "Endpoints/default/kubernetes"} <= {a.obj for a in c.assumptions}
    assert node.meta.name == TEST_NODE.name and [str(ip) for ip in node.internal_ips] == [TEST_NODE.internal_ip]
    assert cluster().nodes == {}  # only when a node is given: the model knows no lab


def test_namespaces_of_pods_are_implied() -> None:
    c = cluster(pod("p", "implied"))
    assert "implied" in c.namespaces
    assert c.namespace_labels("implied")["kubernetes.io/metadata.name"] == "implied"


def test_namespace_labels_include_the_automatic_name_label() -> None:
    c = cluster(namespace("ns", labels={"tenant": "a"}))
    assert c.namespace_labels("ns") == {"tenant": "a", "kubernetes.io/metadata.name": "ns"}


# ---- placement ---------------------------------------------------------------------------------------
def placement_cluster(*extra: dict) -> Cluster:  # type: ignore[type-arg]
    """Namespace ``ns`` is claimed by every mechanism at once; each test removes the stronger ones."""
    return cluster(
        vpc("va", namespaces=["ns", "only-vpc"], default_subnet="va-main"),
        subnet("va-aaa", "10.1.0.0/24", vpc="va"),  # sorts first, but is not the VPC's defaultSubnet
        subnet("va-main", "10.1.1.0/24", vpc="va"),
        vpc("vb"),
        subnet("vb-listed", "10.2.0.0/24", vpc="vb", namespaces=["ns", "only-subnet"]),
        vpc("vc"),
        subnet("vc-annotated", "10.3.0.0/24", vpc="vc"),
        vpc("vd"),
        subnet("vd-pod", "10.4.0.0/24", vpc="vd"),
        *extra,
    )


def where(c: Cluster, ns: str, annotations: dict[str, str] | None = None) -> tuple[str | None, str | None]:
    p = next(p for p in c.pods if p.namespace == ns and dict(p.annotations) == (annotations or {}))
    s = c.pod_subnet(p)
    return (s.name if s else None), c.pod_vpc(p)


def test_pod_annotation_wins_over_everything() -> None:
    c = placement_cluster(namespace("ns", annotations={LS: "vc-annotated"}), pod("p", "ns", annotations={LS: "vd-pod"}))
    assert where(c, "ns", {LS: "vd-pod"}) == ("vd-pod", "vd")


def test_namespace_annotation_wins_over_subnet_and_vpc_lists() -> None:
    c = placement_cluster(namespace("ns", annotations={LS: "vc-annotated"}), pod("p", "ns"))
    assert where(c, "ns") == ("vc-annotated", "vc")


def test_namespace_annotation_with_several_subnets_takes_the_first() -> None:
    c = placement_cluster(namespace("ns", annotations={LS: "vc-annotated,vd-pod"}), pod("p", "ns"))
    assert where(c, "ns") == ("vc-annotated", "vc")


def test_vpc_default_subnet_comes_first_then_subnet_lists() -> None:
    """kube-ovn v1.16.2 pkg/controller/namespace.go handleAddNamespace: the default subnet of a custom VPC that
    lists the namespace is prepended to the subnets that list or select it; pods take the first."""
    c = placement_cluster(pod("p", "ns"))
    assert where(c, "ns") == ("va-main", "va")
    assert [s.name for s in c.namespace_subnets("ns")] == ["va-main", "vb-listed"]
    c = placement_cluster(pod("p", "only-subnet"))
    assert where(c, "only-subnet") == ("vb-listed", "vb")


def test_kube_system_never_gets_a_vpc_default_subnet_prepended() -> None:
    c = cluster(
        vpc("va", namespaces=["kube-system"], default_subnet="va-main"),
        subnet("va-main", "10.1.1.0/24", vpc="va"),
        subnet("listed", "10.2.0.0/24", namespaces=["kube-system"]),
        pod("p", "kube-system"),
    )
    assert where(c, "kube-system") == ("listed", "ovn-cluster")


def test_namespace_selectors_place_a_namespace() -> None:
    """Subnet ``namespaceSelectors`` (matchLabels / matchExpressions; ``{}`` selects every namespace)."""
    c = cluster(
        vpc("va"),
        subnet("va-sel", "10.1.0.0/24", vpc="va", namespaceSelectors=[{"matchLabels": {"tenant": "a"}}]),
        subnet(
            "vb-expr",
            "10.2.0.0/24",
            namespaceSelectors=[{"matchExpressions": [{"key": "team", "operator": "In", "values": ["b"]}]}],
        ),
        namespace("a1", labels={"tenant": "a"}),
        namespace("b1", labels={"team": "b"}),
        namespace("other"),
        pod("p", "a1"),
        pod("p", "b1"),
        pod("p", "other"),
    )
    assert where(c, "a1") == ("va-sel", "va")
    assert where(c, "b1") == ("vb-expr", "ovn-cluster")
    assert where(c, "other") == ("ovn-default", "ovn-cluster")
    assert c.vpc_namespaces("va") == {"a1"}


def test_an_empty_namespace_selector_selects_every_namespace() -> None:
    c = cluster(vpc("va"), subnet("va-all", "10.1.0.0/24", vpc="va", namespaceSelectors=[{}]), pod("p", "x"))
    assert where(c, "x") == ("va-all", "va")


def test_vpc_namespaces_use_the_vpc_default_subnet() -> None:
    c = placement_cluster(pod("p", "only-vpc"))
    assert where(c, "only-vpc") == ("va-main", "va")


def test_anything_else_lands_in_the_default_subnet() -> None:
    c = placement_cluster(pod("p", "elsewhere"))
    assert where(c, "elsewhere") == ("ovn-default", "ovn-cluster")


def test_pod_annotation_naming_an_unknown_subnet_has_no_vpc() -> None:
    c = placement_cluster(pod("p", "ns", annotations={LS: "no-such-subnet"}))
    assert where(c, "ns", {LS: "no-such-subnet"}) == (None, None)


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"])
def test_workload_templates_are_placed_by_their_template_annotations(kind: str) -> None:
    c = placement_cluster(
        workload(kind, "w1", "ns", annotations={LS: "vd-pod"}),
        # an annotation on the workload itself (not its pod template) does not place its pods
        workload(kind, "w2", "only-vpc", owner_annotations={LS: "vd-pod"}),
        workload(kind, "w3", "elsewhere"),
    )
    placed = {p.meta.name: (c.pod_subnet(p).name, c.pod_vpc(p)) for p in c.pods}  # type: ignore[union-attr]
    assert placed == {"w1": ("vd-pod", "vd"), "w2": ("va-main", "va"), "w3": ("ovn-default", "ovn-cluster")}
    assert all(p.is_template for p in c.pods)


def test_vpc_namespaces_lists_where_pods_land() -> None:
    c = placement_cluster(namespace("ns"), namespace("only-vpc"), namespace("elsewhere"))
    assert c.vpc_namespaces("va") == {"only-vpc", "ns"}  # va's defaultSubnet comes first for ns
    assert c.vpc_namespaces("vb") == {"only-subnet"}
    assert "elsewhere" in c.vpc_namespaces("ovn-cluster")


def test_placement_follows_objects_added_later() -> None:
    c = placement_cluster(pod("p", "elsewhere"))
    assert where(c, "elsewhere") == ("ovn-default", "ovn-cluster")
    c.add_document(Document(subnet("vb-late", "10.9.0.0/24", vpc="vb", namespaces=["elsewhere"]), "late.yaml", 0))
    assert where(c, "elsewhere") == ("vb-late", "vb")  # no stale cache
    c.add_document(Document(subnet("vb-sel", "10.8.0.0/24", vpc="vb", namespaceSelectors=[{}]), "late.yaml", 1))
    assert where(c, "elsewhere") == ("vb-late", "vb")  # both now; by name, vb-late first
    assert [s.name for s in c.namespace_subnets("elsewhere")] == ["vb-late", "vb-sel"]


@pytest.mark.parametrize(
    ("vpc_body", "members", "expected"),
    [
        # no default subnet of its own: Kube-OVN's namespace controller falls back to --default-ls
        (vpc("va", namespaces=["only-vpc"]), [subnet("va-aaa", "10.1.0.0/24", vpc="va")], "ovn-default"),
        # a member marked spec.default is the VPC's default subnet (getVpcSubnets)
        (
            vpc("va", namespaces=["only-vpc"]),
            [subnet("va-aaa", "10.1.0.0/24", vpc="va"), subnet("va-zzz", "10.1.1.0/24", vpc="va", default=True)],
            "va-zzz",
        ),
    ],
)
def test_vpc_default_subnet_as_kube_ovn_computes_it(vpc_body: Body, members: list[Body], expected: str) -> None:
    c = cluster(vpc_body, *members, pod("p", "only-vpc"))
    (p,) = c.pods
    s = c.pod_subnet(p)
    assert s is not None and s.name == expected


def test_vpc_default_subnet_must_be_a_member_of_the_vpc() -> None:
    c = cluster(
        vpc("va", namespaces=["only-vpc"], default_subnet="other"),
        vpc("vz"),
        subnet("va-aaa", "10.1.0.0/24", vpc="va"),
        subnet("other", "10.9.0.0/24", vpc="vz"),
        pod("p", "only-vpc"),
    )
    (p,) = c.pods
    s = c.pod_subnet(p)
    assert s is not None and s.name == "ovn-default"


def test_pods_with_equal_maps_share_them_and_keep_their_own_values() -> None:
    """Pods stamped from one template share their label and annotation maps (check works per distinct shape
    by identity); a pod whose maps differ in any value keeps its own."""
    same = {"app": "web"}, {"example.com/owner": "team-x"}
    c = cluster(
        pod("a", "ns1", dict(same[0]), dict(same[1])),
        pod("b", "ns2", dict(same[0]), dict(same[1])),
        pod("c", "ns1", {"app": "db"}, dict(same[1])),
        workload("Deployment", "d", "ns1", dict(same[0]), {"example.com/owner": "team-y"}),
    )
    a, b, other, deploy = c.pods
    assert a.labels is b.labels and a.annotations is b.annotations
    assert (dict(a.labels), dict(a.annotations)) == same
    assert other.labels == {"app": "db"} and other.annotations is a.annotations
    assert deploy.labels is a.labels and deploy.annotations == {"example.com/owner": "team-y"}
