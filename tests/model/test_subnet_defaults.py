"""Subnets are seen after Kube-OVN's ``formatSubnet`` defaulting, and every defaulted field is recorded."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from apibridge.model.objects import Subnet

from .model_kit import cluster, subnet

FAST = settings(max_examples=100, deadline=None)


def one(**kw: object) -> Subnet:
    cidr = str(kw.pop("cidr", "10.0.1.0/24"))
    return cluster(subnet("s", cidr, **kw)).subnets["s"]


def test_bare_subnet_gets_kube_ovn_defaults() -> None:
    s = one()
    assert s.cidrs == (ipaddress.ip_network("10.0.1.0/24"),)
    assert s.gateways == (ipaddress.ip_address("10.0.1.1"),)
    assert s.provider == "ovn"
    assert s.vpc == "ovn-cluster"
    assert s.protocol == "IPv4"
    assert s.gateway_type == "distributed"
    assert s.enable_lb is True
    assert s.is_ovn
    assert set(s.assumed_fields) == {
        "spec.gateway",
        "spec.provider",
        "spec.vpc",
        "spec.protocol",
        "spec.gatewayType",
        "spec.enableLb",
    }


def test_explicit_fields_are_kept_and_not_recorded_as_assumed() -> None:
    s = one(gateway="10.0.1.254", provider="ovn", vpc="tenant-a", protocol="IPv4", enableLb=False)
    assert s.gateways == (ipaddress.ip_address("10.0.1.254"),)
    assert s.vpc == "tenant-a"
    assert s.enable_lb is False
    assert s.gateway_type == ""  # only default-VPC subnets get gatewayType distributed
    assert "spec.gateway" not in s.assumed_fields
    assert "spec.vpc" not in s.assumed_fields
    assert "spec.enableLb" not in s.assumed_fields


def test_host_bits_are_normalised_like_net_parsecidr() -> None:
    s = one(cidr="10.0.1.77/24")
    assert s.cidrs == (ipaddress.ip_network("10.0.1.0/24"),)
    assert s.gateways == (ipaddress.ip_address("10.0.1.1"),)


def test_dual_stack_gateway_per_family_and_protocol() -> None:
    s = one(cidr="fd00:10:1::/120,10.0.1.0/24")
    assert s.protocol == "Dual"
    assert s.gateway(4) == ipaddress.ip_address("10.0.1.1")
    assert s.gateway(6) == ipaddress.ip_address("fd00:10:1::1")
    assert s.cidr(6) == ipaddress.ip_network("fd00:10:1::/120")


def test_attachment_subnet_with_ovn_provider_lands_in_default_vpc() -> None:
    s = one(provider="api-ovn-nad.kube-system.ovn")  # the seed's Subnet: no vpc
    assert s.vpc == "ovn-cluster"
    assert s.is_ovn
    assert s.gateway_type == "distributed"


def test_non_ovn_provider_gets_no_vpc() -> None:
    s = one(provider="macvlan.default")  # IPAM-only: not an OVN subnet
    assert s.vpc == ""
    assert not s.is_ovn
    assert "spec.vpc" not in s.assumed_fields


def test_four_field_provider_is_not_ovn_and_gets_no_vpc() -> None:
    s = one(provider="api.kube-system.ovn.net2")
    assert s.vpc == ""


V4 = st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False), st.integers(0, 2**32 - 1), st.integers(8, 30))
V6 = st.builds(
    lambda a, p: ipaddress.ip_network((a, p), strict=False), st.integers(0, 2**128 - 1), st.integers(48, 126)
)


@FAST
@given(st.one_of(st.tuples(V4), st.tuples(V6), st.tuples(V4, V6), st.tuples(V6, V4)))
def test_default_gateway_is_first_address_of_each_family(nets: tuple[ipaddress.IPv4Network, ...]) -> None:
    s = one(cidr=",".join(str(n) for n in nets))
    assert s.cidrs == nets
    for net in nets:
        gw = s.gateway(net.version)
        assert gw == net.network_address + 1
        assert gw in net
    assert s.protocol == {frozenset({4}): "IPv4", frozenset({6}): "IPv6"}.get(
        frozenset(n.version for n in nets), "Dual"
    )
