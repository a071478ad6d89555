"""Kube-OVN's dual-stack value convention: one string, families joined by a comma.

``cidrBlock: "100.100.100.0/24,fd00:100:100::/120"``, ``gateway: "100.100.100.1,fd00:100:100::1"``,
``<provider>.kubernetes.io/ip_address: "100.100.100.2,fd00:100:100::2"``. Order is the user's; we
look values up by family, never by position.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Literal

Family = Literal[4, 6]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def split(value: str | None) -> list[str]:
    """The comma-separated parts of a Kube-OVN value, trimmed; empty parts dropped."""
    if not value:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def join(parts: list[str]) -> str:
    return ",".join(parts)


# A strictly written IPv4 address (no leading zeros, each octet 0-255): exactly what ``ipaddress`` accepts, read
# here in a fraction of its time (10,000 Subnets are parsed at load and again by check); anything else goes
# to ``ipaddress``, which gives the error.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_V4 = re.compile(rf"({_OCTET})\.({_OCTET})\.({_OCTET})\.({_OCTET})(?:/(3[0-2]|[12]?[0-9]))?")


def _v4_int(m: re.Match[str]) -> int:
    a, b, c, d = m.group(1, 2, 3, 4)
    return int(a) << 24 | int(b) << 16 | int(c) << 8 | int(d)


@functools.lru_cache(maxsize=16384)  # immutable values; bounded (a few MB), so hostile input cannot grow it
def _network(part: str, strict: bool) -> IPNetwork:
    m = _V4.fullmatch(part)
    if m is not None and m.group(5) is not None:
        return ipaddress.IPv4Network((_v4_int(m), int(m.group(5))), strict=strict)
    return ipaddress.ip_network(part, strict=strict)


@functools.lru_cache(maxsize=16384)
def _address(part: str) -> IPAddress:
    m = _V4.fullmatch(part)
    if m is not None and m.group(5) is None:
        return ipaddress.IPv4Address(_v4_int(m))
    return ipaddress.ip_address(part)


def network(text: str, *, strict: bool = False) -> IPNetwork:
    """``ipaddress.ip_network(text, strict=strict)``, cached (the same error for a bad value)."""
    return _network(text, strict)


def span(net: IPNetwork) -> tuple[int, int]:
    """The closed integer interval a CIDR covers (without ``broadcast_address``, an address object per call)."""
    lo = int(net.network_address)
    return lo, lo | ((1 << (net.max_prefixlen - net.prefixlen)) - 1)


def parse_cidrs(value: str | None, *, strict: bool = False) -> list[IPNetwork]:
    """Parse a (dual-stack) CIDR value. ``strict=False`` normalises host bits away like ``net.ParseCIDR``.

    Raises ``ValueError`` naming the bad part.
    """
    nets: list[IPNetwork] = []
    for part in split(value):
        if "/" not in part:
            raise ValueError(f"{part!r} is not a CIDR (expected address/prefix, e.g. 100.100.100.0/24)")
        try:
            nets.append(_network(part, strict))
        except ValueError as exc:
            raise ValueError(f"{part!r} is not a valid CIDR: {exc}") from None
    return nets


def parse_ips(value: str | None) -> list[IPAddress]:
    """Parse a (dual-stack) IP value; raises ``ValueError`` naming the bad part."""
    ips: list[IPAddress] = []
    for part in split(value):
        try:
            ips.append(_address(part))
        except ValueError:
            raise ValueError(f"{part!r} is not a valid IP address") from None
    return ips


def by_family(items: list[IPNetwork] | list[IPAddress]) -> dict[Family, IPNetwork | IPAddress]:
    """First item of each family."""
    out: dict[Family, IPNetwork | IPAddress] = {}
    for item in items:
        fam: Family = 4 if item.version == 4 else 6
        out.setdefault(fam, item)
    return out


def protocol_of(nets: list[IPNetwork]) -> str:
    """Kube-OVN's ``protocol`` for a CIDR list: IPv4, IPv6 or Dual."""
    families = {n.version for n in nets}
    if families == {4, 6}:
        return "Dual"
    return "IPv6" if families == {6} else "IPv4"


def default_gateway(cidr: IPNetwork) -> IPAddress:
    """The gateway Kube-OVN gives a CIDR when ``spec.gateway`` names none (``util.GetGwByCidr``: the
    first address after the network address)."""
    return cidr.network_address + 1


def host_prefix(ip: IPAddress) -> str:
    """``10.96.0.1/32`` or ``fd00::1/128``: the route destination for one address."""
    return f"{ip}/{ip.max_prefixlen}"
