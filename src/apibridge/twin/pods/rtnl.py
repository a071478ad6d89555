"""Addresses, links and routes of a namespace over rtnetlink, from this process.

Configuring a pod NIC is three kinds of kernel request — ``ip addr replace``, ``ip link set up``,
``ip route replace`` — but an ``ip -n <pod> -b -`` process per namespace cost ~60 ms each on this
busy 2-core machine: a minute of a 1,000-pod ``lab up``. A netlink socket opened inside the pod's
namespace (:func:`apibridge.twin.pods.nsock.entered`) takes the same requests in microseconds. Only
these three messages are spoken, each acknowledged one by one, so a failure is tied to its request
(the routes annotation's entries are best effort, as in kube-ovn-cni).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from dataclasses import dataclass

from apibridge.twin.pods.nsock import entered

_NETLINK_ROUTE = 0
_RTM_NEWLINK, _RTM_NEWADDR, _RTM_NEWROUTE = 16, 20, 24
_NLM_F_REQUEST, _NLM_F_ACK, _NLM_F_REPLACE, _NLM_F_CREATE = 0x1, 0x4, 0x100, 0x400
_NLMSG_ERROR = 2
_IFA_ADDRESS, _IFA_LOCAL = 1, 2
_IFA_F_NODAD = 0x02
_RTA_DST, _RTA_OIF, _RTA_GATEWAY = 1, 4, 5
_RT_TABLE_MAIN, _RTPROT_BOOT, _RTN_UNICAST = 254, 3, 1
_RT_SCOPE_UNIVERSE, _RT_SCOPE_LINK = 0, 253
_IFF_UP = 0x1


@dataclass(frozen=True)
class Request:
    """One kernel request; ``what`` is how a failure is named (``route 10.96.0.1/32 via … dev net1``)."""

    what: str
    kind: int
    body: bytes
    flags: int = _NLM_F_CREATE | _NLM_F_REPLACE


def _attr(kind: int, data: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(data), kind) + data
    return raw + b"\0" * (-len(raw) % 4)


def link_up(ifindex: int, ifname: str) -> Request:
    body = struct.pack("=BBHiII", socket.AF_UNSPEC, 0, 0, ifindex, _IFF_UP, _IFF_UP)
    return Request(f"link set {ifname} up", _RTM_NEWLINK, body, flags=0)


def addr_replace(ifindex: int, ifname: str, cidr: str) -> Request:
    iface = ipaddress.ip_interface(cidr)
    v6 = iface.version == 6
    family = socket.AF_INET6 if v6 else socket.AF_INET
    packed = iface.ip.packed
    head = struct.pack("=BBBBI", family, iface.network.prefixlen, _IFA_F_NODAD if v6 else 0, 0, ifindex)
    body = head + _attr(_IFA_LOCAL, packed) + _attr(_IFA_ADDRESS, packed)
    return Request(f"addr replace {iface.with_prefixlen} dev {ifname}", _RTM_NEWADDR, body)


def route_replace(ifindex: int, ifname: str, dst: str, gw: str | None) -> Request:
    net = ipaddress.ip_network(dst, strict=False)
    family = socket.AF_INET6 if net.version == 6 else socket.AF_INET
    scope = _RT_SCOPE_UNIVERSE if gw else _RT_SCOPE_LINK
    head = struct.pack("=BBBBBBBBI", family, net.prefixlen, 0, 0, _RT_TABLE_MAIN, _RTPROT_BOOT, scope, _RTN_UNICAST, 0)
    attrs = _attr(_RTA_DST, net.network_address.packed) if net.prefixlen else b""
    if gw:
        attrs += _attr(_RTA_GATEWAY, ipaddress.ip_address(gw).packed)
    attrs += _attr(_RTA_OIF, struct.pack("=I", ifindex))
    via = f" via {gw}" if gw else ""
    return Request(f"route replace {net}{via} dev {ifname}", _RTM_NEWROUTE, head + attrs)


def ifindex(netns: str, ifname: str) -> int:
    with entered(netns):
        return socket.if_nametoindex(ifname)


def apply(netns: str, requests: list[Request]) -> dict[int, str]:
    """Send ``requests`` in order inside ``netns``; returns {index: reason} of those the kernel refused."""
    if not requests:
        return {}
    with entered(netns):
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_ROUTE)
    failed: dict[int, str] = {}
    with sock:
        sock.bind((0, 0))
        for seq, req in enumerate(requests, 1):
            flags = _NLM_F_REQUEST | _NLM_F_ACK | req.flags
            sock.send(struct.pack("=LHHLL", 16 + len(req.body), req.kind, flags, seq, 0) + req.body)
            # one at a time: a refused address must not let its routes be tried out of order
            while True:
                data = sock.recv(65536)
                _, kind, _, got, _ = struct.unpack_from("=LHHLL", data, 0)
                if kind == _NLMSG_ERROR and got == seq:
                    (error,) = struct.unpack_from("=i", data, 16)
                    if error:
                        failed[seq - 1] = os.strerror(-error)
                    break
    return failed
