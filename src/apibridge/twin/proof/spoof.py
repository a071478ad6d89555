"""Adversarial spoofing from an attached pod, with real frames: what port security is for.

An attachment subnet is one L2 segment. Without port security a pod on it can claim other addresses:

* **ARP**: a gratuitous ARP "the gateway is at my MAC" rewrites the neighbour entry of every other pod on
  the segment; their API traffic then goes to the attacker (the cut described in issue 13).
* **IP**: the attacker takes an unused address of the subnet and talks from it (the router learns it
  from the attacker's ARP answer), reaching the API server under an identity that is not its port's.

With ``<provider>.kubernetes.io/port_security: "true"`` Kube-OVN sets the LSP's ``port_security`` to
``"<mac> <ips>"`` and OVN drops both at ingress (``ls_in_port_sec_l2``/``_ip``/``_nd``). Each attempt is an
``Expectation`` of kind ``spoof`` that must be *blocked*: for the ARP attempt the verdict is the victim's
neighbour entry for the gateway after the spoof (``reach`` = it now names the attacker's MAC), for the IP
attempt whether a TCP connection to the API server from the unused address opens. Every change made in a
pod (the extra address) is undone; only IPv4 is tried (ARP); only pods in namespaces the lab made.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
import time

from apibridge.kubeovn import rules
from apibridge.twin.ovn.topology import LspNic, Topology, TwinPod
from apibridge.twin.pods import nsock
from apibridge.twin.proc import run

from .verify import Checked, Expectation

ETH_P_ARP = 0x0806
SETTLE = 0.3  # seconds for a spoofed frame to have done its work


def _mac(text: str) -> bytes:
    return bytes(int(part, 16) for part in text.split(":"))


def garp(netns: str, ifname: str, mac: str, claimed: str, count: int = 3) -> None:
    """Broadcast ARP replies "``claimed`` is at ``mac``" from ``ifname`` inside ``netns``."""
    hw, ip = _mac(mac), socket.inet_aton(claimed)
    frame = b"\xff" * 6 + hw + struct.pack("!H", ETH_P_ARP)
    frame += struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + hw + ip + b"\xff" * 6 + ip
    sock = nsock.socket_in(netns, socket.AF_PACKET, socket.SOCK_RAW)
    try:
        sock.bind((ifname, 0))
        for _ in range(count):
            sock.send(frame)
            time.sleep(0.02)
    finally:
        sock.close()


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
    sock = nsock.socket_in(netns, socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.sendto(b"x", (ip, 9))
    except OSError:
        pass
    finally:
        sock.close()
    time.sleep(0.1)


def connect_from(netns: str, source: str, target: str, port: int, timeout: float) -> tuple[bool, str]:
    sock = nsock.socket_in(netns, socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.bind((source, 0))
        sock.connect((target, port))
    except OSError as exc:
        return False, f"from {source}: {exc.strerror or exc}"
    finally:
        sock.close()
    return True, f"connected from {source}"


def _v4_attachments(pod: TwinPod) -> list[LspNic]:
    return [n for n in pod.nics if n.ifname != rules.PRIMARY_IFNAME and any(ip.version == 4 for ip in n.ips)]


def _unused(topo: Topology, nic: LspNic) -> str | None:
    """An address of ``nic``'s IPv4 subnet that no port holds (counted from the top)."""
    taken = {str(ip) for pod in topo.pods for n in pod.nics for ip in n.ips} | {str(g) for g in nic.gateways}
    net = next((ipaddress.ip_interface(a).network for a in nic.addresses if ":" not in a), None)
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
    """Both attempts from every attached pod that has a victim on its segment (ARP) or an API route (IP)."""
    pods = [p for p in topo.pods if p.ref in netns_of and p.failure is None]
    on_switch: dict[str, list[tuple[TwinPod, LspNic]]] = {}
    for pod in pods:
        for nic in _v4_attachments(pod):
            on_switch.setdefault(nic.switch, []).append((pod, nic))
    out: list[Checked] = []
    for pod in pods:
        for nic in _v4_attachments(pod):
            gw = next((str(g) for g in nic.gateways if g.version == 4), None)
            victim = next(((p, n) for p, n in on_switch.get(nic.switch, []) if p.ref != pod.ref), None)
            if gw is not None and victim is not None:
                out.append(_arp_attempt(pod, nic, victim[0], victim[1], gw, netns_of))
            vip = next((ip for ip in topo.api_cluster_ips if ip.version == 4 and _routed(nic, ip)), None)
            source = _unused(topo, nic)
            if vip is not None and source is not None:
                out.append(_ip_attempt(pod, nic, source, (str(vip), topo.api_port), netns_of, timeout))
    return out


def _arp_attempt(
    pod: TwinPod, nic: LspNic, victim: TwinPod, vnic: LspNic, gw: str, netns_of: dict[str, str]
) -> Checked:
    vns = netns_of[victim.ref]
    resolve(vns, gw)
    before = neighbour(vns, vnic.ifname, gw)
    t0 = time.monotonic()
    garp(netns_of[pod.ref], nic.ifname, nic.mac, gw)
    time.sleep(SETTLE)
    after = neighbour(vns, vnic.ifname, gw)
    spoofed = after == nic.mac.lower()
    exp = Expectation(
        pod.ref,
        netns_of[pod.ref],
        gw,
        0,
        "tcp",
        "blocked",
        "spoof",
        f"port security on {nic.lsp}: OVN drops ARP whose sender address is not the port's own",
        to_pod=victim.ref,
        shared_subnet=nic.switch,
        source_attached=True,
    )
    detail = f"ARP 'gateway {gw} is at {nic.mac}' from {nic.ifname}: {victim.ref} holds {after or 'no entry'}"
    detail += f" (before: {before or 'no entry'})"
    return Checked(exp, "reach" if spoofed else "blocked", detail, time.monotonic() - t0, True)


def _ip_attempt(
    pod: TwinPod, nic: LspNic, source: str, api: tuple[str, int], netns_of: dict[str, str], timeout: float
) -> Checked:
    ns = netns_of[pod.ref]
    run(["ip", "-n", ns, "addr", "add", f"{source}/32", "dev", nic.ifname], check=False)
    t0 = time.monotonic()
    try:
        ok, detail = connect_from(ns, source, api[0], api[1], timeout)
    finally:
        run(["ip", "-n", ns, "addr", "del", f"{source}/32", "dev", nic.ifname], check=False)
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
