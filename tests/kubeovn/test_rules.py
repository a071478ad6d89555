"""Provider naming and OVN object names follow Kube-OVN's code (research/kubeovn.md §1.2, §3).

``getPodAttachmentNet``: ``<nad>.<ns>.ovn`` for a kube-ovn NAD, ``<nad>.<ns>`` for an IPAM-only one,
``.<ifname>`` appended for a NAD attached twice; ``util.IsOvnProvider``: "", "ovn" or three dot fields
ending in ``ovn``; ``PodNameToPortName``; router patch ports; ``GenVpcLoadBalancer``.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apibridge.kubeovn import rules

FAST = settings(max_examples=150, deadline=None)
LABEL = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?", fullmatch=True)


def test_seed_provider() -> None:
    # the seed document's NAD api-ovn-nad in kube-system, and Kube-OVN's apiNad chart naming
    assert rules.nad_provider("api-ovn-nad", "kube-system") == "api-ovn-nad.kube-system.ovn"
    assert rules.nad_provider("ovn-kubernetes-api", "kube-system") == "ovn-kubernetes-api.kube-system.ovn"


def test_ipam_only_and_ifname_suffix() -> None:
    assert rules.nad_provider("macvlan", "default", ipam_only=True) == "macvlan.default"
    assert rules.nad_provider("api", "kube-system", ifname="net2") == "api.kube-system.ovn.net2"


@pytest.mark.parametrize(
    ("provider", "ovn"),
    [
        ("", True),
        ("ovn", True),
        ("api-ovn-nad.kube-system.ovn", True),
        ("macvlan.default", False),
        ("api.kube-system.ovn.net2", False),
        ("a.b.c", False),
        ("ovn.b", False),
        ("a.ovn.b", False),
        ("a.b.ovn.", False),
    ],
)
def test_is_ovn_provider(provider: str, ovn: bool) -> None:
    assert rules.is_ovn_provider(provider) is ovn


@pytest.mark.parametrize(
    ("provider", "subnet_provider", "nad"),
    [
        ("api.kube-system.ovn", "api.kube-system.ovn", ("api", "kube-system")),
        ("api.kube-system.ovn.net2", "api.kube-system.ovn", ("api", "kube-system")),
        ("macvlan.default", "macvlan.default", None),
        ("ovn", "ovn", None),
        ("", "", None),
    ],
)
def test_subnet_provider_and_nad_of_provider(provider: str, subnet_provider: str, nad: tuple[str, str] | None) -> None:
    assert rules.subnet_provider(provider) == subnet_provider
    assert rules.nad_of_provider(provider) == nad


@FAST
@given(LABEL, LABEL, st.none() | LABEL)
def test_provider_naming_laws(name: str, ns: str, ifname: str | None) -> None:
    provider = rules.nad_provider(name, ns, ifname=ifname)
    base = rules.nad_provider(name, ns)
    assert provider.split(".")[:3] == [name, ns, rules.OVN_PROVIDER]
    assert rules.is_ovn_provider(base)
    assert rules.subnet_provider(provider) == base  # the Subnet carries the provider without the ifname
    assert rules.nad_of_provider(provider) == (name, ns)
    ipam = rules.nad_provider(name, ns, ipam_only=True)
    assert ipam == f"{name}.{ns}"
    assert not rules.is_ovn_provider(ipam)  # IPAM-only: no LSP, no OVN objects
    assert rules.nad_of_provider(ipam) is None


def test_provider_key() -> None:
    assert (
        rules.provider_key("api-ovn-nad.kube-system.ovn", rules.ROUTES)
        == "api-ovn-nad.kube-system.ovn.kubernetes.io/routes"
    )
    assert rules.provider_key(rules.OVN_PROVIDER, rules.LOGICAL_SWITCH) == "ovn.kubernetes.io/logical_switch"


def test_lsp_names() -> None:
    assert rules.lsp_name("demo", "ns1") == "demo.ns1"
    assert rules.lsp_name("demo", "ns1", "api-ovn-nad.kube-system.ovn") == "demo.ns1.api-ovn-nad.kube-system.ovn"


def test_router_patch_ports_and_node_port() -> None:
    assert rules.router_port("ovn-cluster", "vpc-apiserver-subnet") == "ovn-cluster-vpc-apiserver-subnet"
    assert rules.switch_router_port("vpc-apiserver-subnet", "ovn-cluster") == "vpc-apiserver-subnet-ovn-cluster"
    assert rules.router_port("ovn-cluster", "join") == "ovn-cluster-join"
    assert rules.node_port("kind-control-plane") == "node-kind-control-plane"


def test_port_group_names_have_no_dashes() -> None:
    assert rules.port_group_name("api-subnet", "kind-control-plane") == "api.subnet.kind.control.plane"
    assert rules.port_group_name("node", "n1") == "node.n1"


def test_load_balancer_names() -> None:
    assert rules.cluster_load_balancers() == [
        "cluster-tcp-loadbalancer",
        "cluster-udp-loadbalancer",
        "cluster-sctp-loadbalancer",
        "cluster-tcp-session-loadbalancer",
        "cluster-udp-session-loadbalancer",
        "cluster-sctp-session-loadbalancer",
    ]
    assert rules.vpc_load_balancers(rules.DEFAULT_VPC) == rules.cluster_load_balancers()
    assert rules.vpc_load_balancers("tenant-a") == [
        "vpc-tenant-a-tcp-load",
        "vpc-tenant-a-udp-load",
        "vpc-tenant-a-sctp-load",
        "vpc-tenant-a-tcp-sess-load",
        "vpc-tenant-a-udp-sess-load",
        "vpc-tenant-a-sctp-sess-load",
    ]
    assert rules.load_balancer_for(rules.DEFAULT_VPC, "TCP") == "cluster-tcp-loadbalancer"
    assert rules.load_balancer_for(rules.DEFAULT_VPC, "udp", session=True) == "cluster-udp-session-loadbalancer"
    assert rules.load_balancer_for("tenant-a", "TCP") == "vpc-tenant-a-tcp-load"
    assert rules.load_balancer_for("tenant-a", "sctp", session=True) == "vpc-tenant-a-sctp-sess-load"


@FAST
@given(LABEL, st.sampled_from(["tcp", "udp", "sctp", "TCP"]), st.booleans())
def test_load_balancer_for_is_one_of_the_vpcs_six(vpc: str, proto: str, session: bool) -> None:
    assert rules.load_balancer_for(vpc, proto, session=session) in rules.vpc_load_balancers(vpc)


def test_controller_defaults() -> None:
    assert (rules.DEFAULT_VPC, rules.JOIN_SUBNET, rules.JOIN_CIDR) == ("ovn-cluster", "join", "100.64.0.0/16")
    assert (rules.DEFAULT_SUBNET, rules.DEFAULT_CIDR) == ("ovn-default", "10.16.0.0/16")
    assert rules.NETWORKS_ANNOTATION == "k8s.v1.cni.cncf.io/networks"
