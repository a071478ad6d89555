"""Adversarial spoofing from an attached pod, with real frames: what port security is for.

An attachment subnet is one L2 segment. Without port security a pod on it can claim other addresses:

* **ARP** (IPv4): a gratuitous ARP "the gateway is at my MAC" rewrites the neighbour entry of every other
  pod on the segment; their API traffic then goes to the attacker (the cut described in issue 13).
* **ND** (IPv6): the same with an unsolicited Neighbour Advertisement (override flag, to all-nodes) "the
  gateway is at my MAC"; Linux overrides an existing neighbour entry with it (RFC 4861 §7.2.5).
* **IP** (both families): the attacker takes an unused address of the subnet and talks from it (the router
  learns it from the attacker's ARP or NA answer), reaching the API server under an identity that is not
  its port's.

With ``<provider>.kubernetes.io/port_security: "true"`` Kube-OVN sets the LSP's ``port_security`` to
``"<mac> <ips>"`` (both families' addresses) and OVN drops all three at ingress: since OVN 22.06 port
security is enforced by ovn-controller (``ls_in_check_port_sec`` calls ``check_in_port_sec()``), which
checks ``eth.src``, ``arp.sha``/``arp.spa``, ``ip4.src``/``ip6.src`` and, for ND, ``nd.target`` and
``nd.sll``/``nd.tll`` against the port's own (seen in OVN 23.03.1's OpenFlow table 74, the ND check: an NA
from the port passes only with ``nd_target`` one of its own addresses and ``nd_tll`` 0 or its MAC; every
other NA from it is marked for drop). Each attempt is an ``Expectation`` of kind ``spoof`` that
must be *blocked*: for the ARP and ND attempts (port 0, the target the gateway) the verdict is the
victim's neighbour entry for the gateway after the spoof (``reach`` = it now names the attacker's MAC),
for the IP attempt whether a TCP connection to the API server from the unused address opens. Every change
made in a pod (the extra address, a poisoned neighbour entry) is undone; only pods in namespaces the lab made.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
import time
from typing import Literal

from apibridge.kubeovn import rules
from apibridge.twin.ovn.topology import LspNic, Topology, TwinPod
from apibridge.twin.pods import nsock
from apibridge.twin.proc import run

from .verify import Checked, Expectation

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
ICMPV6 = 58
ND_NA = 136
NA_OVERRIDE = 0x20000000
ALL_NODES = "ff02::1"
ALL_NODES_MAC = b"\x33\x33\x00\x00\x00\x01"
SETTLE = 0.3  # seconds for a spoofed frame to have done its work

Family = Literal[4, 6]


def _mac(text: str) -> bytes:
    return bytes(int(part, 16) for part in text.split(":"))


def _send_frames(netns: str, ifname: str, frame: bytes, count: int) -> None:
    sock = nsock.socket_in(netns, socket.AF_PACKET, socket.SOCK_RAW)
    try:
        sock.bind((ifname, 0))
        for _ in range(count):
            sock.send(frame)
            time.sleep(0.02)
    finally:
        sock.close()


def garp(netns: str, ifname: str, mac: str, claimed: str, count: int = 3) -> None:
    """Broadcast ARP replies "``claimed`` is at ``mac``" from ``ifname`` inside ``netns``."""
    hw, ip = _mac(mac), socket.inet_aton(claimed)
    frame = b"\xff" * 6 + hw + struct.pack("!H", ETH_P_ARP)
    frame += struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + hw + ip + b"\xff" * 6 + ip
    _send_frames(netns, ifname, frame, count)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def na_frame(mac: str, source: str, claimed: str) -> bytes:
    """An unsolicited Neighbour Advertisement "``claimed`` is at ``mac``" (override, to all-nodes), as a
    whole Ethernet frame: hop limit 255 and a valid checksum, so a Linux neighbour takes it."""
    hw = _mac(mac)
    src, dst = socket.inet_pton(socket.AF_INET6, source), socket.inet_pton(socket.AF_INET6, ALL_NODES)
    target = socket.inet_pton(socket.AF_INET6, claimed)
    icmp = struct.pack("!BBHI", ND_NA, 0, 0, NA_OVERRIDE) + target + bytes([2, 1]) + hw  # option 2: target lladdr
    pseudo = src + dst + struct.pack("!I", len(icmp)) + b"\0\0\0" + bytes([ICMPV6])
    icmp = icmp[:2] + struct.pack("!H", _checksum(pseudo + icmp)) + icmp[4:]
    ip6 = struct.pack("!IHBB", 0x60000000, len(icmp), ICMPV6, 255) + src + dst
    return ALL_NODES_MAC + hw + struct.pack("!H", ETH_P_IPV6) + ip6 + icmp


def unsolicited_na(netns: str, ifname: str, mac: str, source: str, claimed: str, count: int = 3) -> None:
    """Send :func:`na_frame` from ``ifname`` inside ``netns``."""
    _send_frames(netns, ifname, na_frame(mac, source, claimed), count)


def neighbour(netns: str, ifname: str, ip: str) -> str:
    """The MAC ``netns`` holds for ``ip`` on ``ifname`` ("" when none)."""
    out = run(["ip", "-n", netns, "-j", "neigh", "show", "to", ip, "dev", ifname], check=False).stdout
    try:
        entries = json.loads(out or "[]")
    except ValueError:
        return ""
    return str(entries[0].get("lladdr", "")).lower() if entries else ""


def resolve(netns: str, ip: str) -> None:
    """Make ``netns`` resolve ``ip`` (one UDP datagram to the discard port)."""
    sock = nsock.socket_in(netns, nsock.family_of(ip), socket.SOCK_DGRAM)
    try:
        sock.sendto(b"x", (ip, 9))
    except OSError:
        pass
    finally:
        sock.close()
    time.sleep(0.1)


def connect_from(netns: str, source: str, target: str, port: int, timeout: float) -> tuple[bool, str]:
    sock = nsock.socket_in(netns, nsock.family_of(target), socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.bind((source, 0))
        sock.connect((target, port))
    except OSError as exc:
        return False, f"from {source}: {exc.strerror or exc}"
    finally:
        sock.close()
    return True, f"connected from {source}"


def _attachments(pod: TwinPod, family: Family) -> list[LspNic]:
    return [n for n in pod.nics if n.ifname != rules.PRIMARY_IFNAME and any(ip.version == family for ip in n.ips)]


def _own(nic: LspNic, family: Family) -> str | None:
    return next((str(ip) for ip in nic.ips if ip.version == family), None)


def _unused(topo: Topology, nic: LspNic, family: Family = 4, also: frozenset[str] = frozenset()) -> str | None:
    """An address of ``nic``'s subnet of ``family`` that no port holds and not in ``also`` (from the top)."""
    taken = {str(ip) for pod in topo.pods for n in pod.nics for ip in n.ips} | {str(g) for g in nic.gateways}
    taken |= also
    nets = (ipaddress.ip_interface(a).network for a in nic.addresses)
    net = next((n for n in nets if n.version == family), None)
    if net is None:
        return None
    for offset in range(2, min(net.num_addresses, 64)):
        candidate = str(net.broadcast_address - offset)
        if candidate not in taken:
            return candidate
    return None


def _routed(nic: LspNic, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Does the attachment's routes annotation send ``ip`` through it?"""
    return any(ip in ipaddress.ip_network(r.dst, strict=False) for r in nic.routes)


def spoof_checks(topo: Topology, netns_of: dict[str, str], *, timeout: float = 1.0) -> list[Checked]:
    """Every attempt, per address family, from every attached pod that has a victim on its segment (ARP,
    ND) or an API route (IP)."""
    pods = [p for p in topo.pods if p.ref in netns_of and p.failure is None]
    out: list[Checked] = []
    claimed: set[str] = set()  # one address per attempt: the router's binding of an earlier one is stale
    families: tuple[Family, ...] = (4, 6)
    for family in families:
        on_switch: dict[str, list[tuple[TwinPod, LspNic]]] = {}
        for pod in pods:
            for nic in _attachments(pod, family):
                on_switch.setdefault(nic.switch, []).append((pod, nic))
        for pod in pods:
            for nic in _attachments(pod, family):
                gw = next((str(g) for g in nic.gateways if g.version == family), None)
                victim = next(((p, n) for p, n in on_switch.get(nic.switch, []) if p.ref != pod.ref), None)
                if gw is not None and victim is not None:
                    out.append(_neighbour_attempt(pod, nic, victim[0], victim[1], gw, netns_of))
                vip = next((ip for ip in topo.api_cluster_ips if ip.version == family and _routed(nic, ip)), None)
                source = _unused(topo, nic, family, frozenset(claimed))
                if vip is not None and source is not None:
                    claimed.add(source)
                    out.append(_ip_attempt(pod, nic, source, (str(vip), topo.api_port), netns_of, timeout))
    return out


def _neighbour_attempt(
    pod: TwinPod, nic: LspNic, victim: TwinPod, vnic: LspNic, gw: str, netns_of: dict[str, str]
) -> Checked:
    """ARP (IPv4 ``gw``) or an unsolicited NA (IPv6 ``gw``) claiming the gateway for the attacker's MAC."""
    vns = netns_of[victim.ref]
    resolve(vns, gw)
    before = neighbour(vns, vnic.ifname, gw)
    t0 = time.monotonic()
    v6 = ":" in gw
    own = _own(nic, 6) if v6 else None
    if v6 and own is not None:
        unsolicited_na(netns_of[pod.ref], nic.ifname, nic.mac, own, gw)
    else:
        garp(netns_of[pod.ref], nic.ifname, nic.mac, gw)
    time.sleep(SETTLE)
    after = neighbour(vns, vnic.ifname, gw)
    spoofed = after == nic.mac.lower()
    if spoofed:  # undo the poisoning: the victim resolves the gateway afresh for the checks after this one
        run(["ip", "-n", vns, "neigh", "del", gw, "dev", vnic.ifname], check=False)
    what = "ND (NA.target, NA.tll)" if v6 else "ARP"
    exp = Expectation(
        pod.ref,
        netns_of[pod.ref],
        gw,
        0,
        "tcp",
        "blocked",
        "spoof",
        f"port security on {nic.lsp}: OVN drops {what} whose claimed address is not the port's own",
        to_pod=victim.ref,
        shared_subnet=nic.switch,
        source_attached=True,
    )
    said = f"NA 'gateway {gw} is at {nic.mac}' (override)" if v6 else f"ARP 'gateway {gw} is at {nic.mac}'"
    detail = f"{said} from {nic.ifname}: {victim.ref} holds {after or 'no entry'}"
    detail += f" (before: {before or 'no entry'})"
    return Checked(exp, "reach" if spoofed else "blocked", detail, time.monotonic() - t0, True)


def _ip_attempt(
    pod: TwinPod, nic: LspNic, source: str, api: tuple[str, int], netns_of: dict[str, str], timeout: float
) -> Checked:
    ns = netns_of[pod.ref]
    prefix = f"{source}/128" if ":" in source else f"{source}/32"
    extra = ["nodad"] if ":" in source else []
    run(["ip", "-n", ns, "addr", "add", prefix, "dev", nic.ifname, *extra], check=False)
    t0 = time.monotonic()
    try:
        ok, detail = connect_from(ns, source, api[0], api[1], timeout)
    finally:
        run(["ip", "-n", ns, "addr", "del", prefix, "dev", nic.ifname], check=False)
    exp = Expectation(
        pod.ref,
        ns,
        api[0],
        api[1],
        "tcp",
        "blocked",
        "spoof",
        f"port security on {nic.lsp}: OVN drops IP packets whose source is not the port's own ({source} is not)",
        source_attached=True,
    )
    return Checked(exp, "reach" if ok else "blocked", detail, time.monotonic() - t0, True)
