"""Addresses a pod or node asks for, read as Kube-OVN's IPAM reads them.

An exported cluster names its addresses: pods carry ``<provider>.kubernetes.io/ip_address`` and
``mac_address`` (written by kube-ovn-controller once allocated, or by the user), workloads
``<provider>.kubernetes.io/ip_pool``, nodes their join address, and EndpointSlices point at those. A twin
that allocated its own would put load-balancer backends where no pod is (issue 11 item 14). The rules,
kube-ovn v1.16.2:

- ``pkg/controller/pod.go acquireAddress``: a ``mac_address`` must parse (``net.ParseMAC``) or the pod fails;
  ``ip_address`` (comma-separated, one per family) wins over ``ip_pool``; ``acquireStaticAddress`` fails the
  pod on an address that does not parse ("failed to parse IP").
- ``pkg/ipam/subnet.go GetStaticAddress``: an address outside the subnet's range is ``AddressOutOfRange``
  (``pkg/ipam/ipam.go``), one held by another pod ``AddressConflict``; a dual-stack subnet fills the
  family not given (``checkAndAppendIpsForDual``).
- ``acquireStaticAddressHelper``: ``ip_pool`` is split on ``;`` if it has one, else on ``,`` (two entries of
  different families are one dual-stack entry); a StatefulSet pod takes the entry of its ordinal
  (``<name>-<n>``), any other pod the first entry no other pod holds. A single non-IP entry names an
  IPPool object (not modelled here: such a pod gets an address from its subnet).
- ``pkg/controller/node.go handleAddNode``: a node with ``ovn.kubernetes.io/allocated: "true"`` and an
  ``ip_address`` keeps that join address.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Final

from apibridge.kubeovn import rules
from apibridge.kubeovn.dualstack import IPAddress, IPNetwork

OUT_OF_RANGE: Final = "AddressOutOfRange"  # pkg/ipam/ipam.go ErrOutOfRange
CONFLICT: Final = "AddressConflict"  # pkg/ipam/ipam.go ErrConflict
MAX_STATIC: Final = 64  # entries read from one ip_address / ip_pool value (a handful in practice)
_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$")
_MAC_DOTTED = re.compile(r"^[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}$")


class AddressError(ValueError):
    """A requested address Kube-OVN refuses; the message is what fails the pod."""


def parse_ips(value: str) -> list[IPAddress]:
    """The addresses of an ``ip_address`` value or one ``ip_pool`` entry (``acquireStaticAddress``)."""
    parts = value.split(",")
    if len(parts) > MAX_STATIC:
        raise AddressError(f"{len(parts)} addresses; at most {MAX_STATIC} are read")
    out: list[IPAddress] = []
    for part in parts:
        try:
            out.append(ipaddress.ip_address(part))  # Go's net.ParseIP: no spaces, no zone, no prefix
        except ValueError:
            raise AddressError(f"failed to parse IP {part}") from None
    return out


def parse_mac(value: str) -> str:
    """A ``mac_address`` value as ``net.ParseMAC`` takes a 48-bit MAC (``:``, ``-`` or dotted), normalised."""
    if _MAC.match(value):
        return value.replace("-", ":").lower()
    if _MAC_DOTTED.match(value):
        digits = value.replace(".", "").lower()
        return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    raise AddressError(f"address {value}: invalid MAC address")


def pool_entries(value: str) -> list[str]:
    """``ip_pool`` split as ``acquireStaticAddressHelper`` splits it."""
    if ";" in value:
        entries = value.split(";")
    else:
        entries = value.split(",")
        if len(entries) == 2 and _family(entries[0]) != _family(entries[1]):
            entries = [value]
    return [e.strip() for e in entries[:MAX_STATIC]]


def _family(text: str) -> int | None:
    try:
        return ipaddress.ip_address(text.strip()).version
    except ValueError:
        return None


def names_ippool(entries: list[str]) -> bool:
    """One entry that is not an address: the name of an IPPool object."""
    return len(entries) == 1 and "," not in entries[0] and _family(entries[0]) is None


def statefulset_ordinal(pod_name: str) -> int:
    """The ordinal Kube-OVN reads from a StatefulSet pod's name (``strconv.Atoi`` of the last ``-`` part; 0
    when it is not a number)."""
    tail = pod_name.rsplit("-", 1)[-1]
    return int(tail) if tail.isascii() and tail.isdigit() else 0


def in_range(ip: IPAddress, cidr: IPNetwork) -> bool:
    """Is ``ip`` an address of ``cidr``'s range (``V4Free``/``V6Free``: not the network address, nor the IPv4
    broadcast)?"""
    if ip.version != cidr.version or ip not in cidr or ip == cidr.network_address:
        return False
    return not (cidr.version == 4 and cidr.prefixlen < 31 and ip == cidr.broadcast_address)


def ip_key(provider: str) -> str:
    return rules.provider_key(provider, rules.IP_ADDRESS)


def mac_key(provider: str) -> str:
    return rules.provider_key(provider, rules.MAC_ADDRESS)


def pool_key(provider: str) -> str:
    return rules.provider_key(provider, rules.IP_POOL)


def node_join_address(annotations: Mapping[str, str]) -> list[IPAddress] | None:
    """The join address an allocated node keeps, or None (``handleAddNode``)."""
    if annotations.get(rules.provider_key(rules.OVN_PROVIDER, rules.ALLOCATED)) != "true":
        return None
    value = annotations.get(ip_key(rules.OVN_PROVIDER))
    if not value:
        return None
    try:
        return parse_ips(value)
    except AddressError:
        return None
