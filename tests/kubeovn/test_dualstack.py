"""Kube-OVN's dual-stack values: one string, families joined by a comma, looked up by family."""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apibridge.kubeovn import dualstack

FAST = settings(max_examples=150, deadline=None)


def test_split_and_join() -> None:
    assert dualstack.split(" 10.0.0.0/24 , fd00::/120 ,") == ["10.0.0.0/24", "fd00::/120"]
    assert dualstack.split(None) == []
    assert dualstack.split("") == []
    assert dualstack.join(["10.0.0.1", "fd00::1"]) == "10.0.0.1,fd00::1"


def test_parse_cidrs_normalises_host_bits_like_net_parsecidr() -> None:
    assert dualstack.parse_cidrs("10.0.0.5/24,fd00::7/120") == [
        ipaddress.ip_network("10.0.0.0/24"),
        ipaddress.ip_network("fd00::/120"),
    ]
    with pytest.raises(ValueError, match=re.escape("10.0.0.5/24")):
        dualstack.parse_cidrs("10.0.0.5/24", strict=True)


@pytest.mark.parametrize("value", ["10.0.0.0", "10.0.0.0/33", "banana/8", "10.0.0.0/24,fd00::/129"])
def test_parse_cidrs_errors_name_the_bad_part(value: str) -> None:
    bad = value.split(",")[-1]
    with pytest.raises(ValueError, match=re.escape(bad)):
        dualstack.parse_cidrs(value)


def test_parse_ips() -> None:
    assert dualstack.parse_ips("100.100.100.2, fd00:100:100::2") == [
        ipaddress.ip_address("100.100.100.2"),
        ipaddress.ip_address("fd00:100:100::2"),
    ]
    with pytest.raises(ValueError, match=re.escape("300.1.1.1")):
        dualstack.parse_ips("10.0.0.1,300.1.1.1")


def test_by_family_takes_the_first_of_each_family_whatever_the_order() -> None:
    nets = dualstack.parse_cidrs("fd00::/120,10.0.0.0/24,10.1.0.0/24")
    fam = dualstack.by_family(nets)
    assert fam == {6: ipaddress.ip_network("fd00::/120"), 4: ipaddress.ip_network("10.0.0.0/24")}


@pytest.mark.parametrize(
    ("value", "protocol"),
    [
        ("10.0.0.0/24", "IPv4"),
        ("fd00::/120", "IPv6"),
        ("fd00::/120,10.0.0.0/24", "Dual"),
        ("10.0.0.0/24,fd00::/120", "Dual"),
    ],
)
def test_protocol_of(value: str, protocol: str) -> None:
    assert dualstack.protocol_of(dualstack.parse_cidrs(value)) == protocol


@FAST
@given(st.ip_addresses())
def test_host_prefix_is_exactly_the_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    net = ipaddress.ip_network(dualstack.host_prefix(ip))
    assert net.num_addresses == 1
    assert net.network_address == ip
    assert dualstack.host_prefix(ip).endswith("/32" if ip.version == 4 else "/128")


_octets = st.one_of(st.integers(0, 300).map(str), st.integers(0, 9).map(lambda i: f"0{i}"), st.just(""))
_v4_like = st.builds(
    lambda parts, prefix: ".".join(parts) + prefix,
    st.lists(_octets, min_size=3, max_size=5),
    st.one_of(st.just(""), st.integers(0, 40).map(lambda p: f"/{p}"), st.just("/08"), st.just("/255.255.255.0")),
)


def _outcome(fn: object, *args: object) -> str:
    try:
        return repr(fn(*args))  # type: ignore[operator]
    except ValueError as exc:
        return f"ValueError: {exc}"


@FAST
@given(_v4_like, st.booleans())
def test_fast_ipv4_reading_is_exactly_ipaddress(text: str, strict: bool) -> None:
    """The regex fast path accepts exactly what ``ipaddress`` accepts, with the same value (and the same error
    for the rest, which it hands to ``ipaddress``)."""
    dualstack._network.cache_clear()
    dualstack._address.cache_clear()
    assert _outcome(dualstack._network, text, strict) == _outcome(ipaddress.ip_network, text, strict)
    assert _outcome(dualstack._address, text) == _outcome(ipaddress.ip_address, text)
