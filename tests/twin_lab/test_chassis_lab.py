"""A chassis per node: the southbound database has one Chassis per lab node, each pod is bound on its
node's chassis, and a probe from a pod to the API server on the other node crosses the node link as
Geneve (UDP 6081 between the two chassis' encapsulation IPs), while one between pods of the same node
does not touch the link at all.

The Geneve frames are seen by a packet socket on the node link — the wire between the nodes —
not inferred from OVN's configuration.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from pathlib import Path

import pytest
import yaml

from apibridge.twin.ovn.daemons import GENEVE_PORT, Chassis
from apibridge.twin.pods.nsock import entered, family_of, socket_in
from apibridge.twin.proof import synthetic

from .conftest import running_lab

pytestmark = pytest.mark.ovn

_ETH_P_ALL = 0x0003


def _geneve_frames(fabric_netns: str, link: str, action: object) -> list[tuple[str, str, str, str]]:
    """(outer src, outer dst, inner src, inner dst) of every Geneve packet carrying IPv4 on node link
    ``link`` while ``action()`` runs."""
    with entered(fabric_netns):
        cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
    try:
        cap.bind((link, 0))
        cap.setblocking(False)
        action()  # type: ignore[operator]
        time.sleep(0.2)
        seen: list[tuple[str, str, str, str]] = []
        while True:
            try:
                frame = cap.recv(65535)
            except BlockingIOError:
                break
            if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != 17:  # IPv4, UDP
                continue
            ihl = (frame[14] & 0x0F) * 4
            (dport,) = struct.unpack("!H", frame[14 + ihl + 2 : 14 + ihl + 4])
            if dport != GENEVE_PORT:
                continue
            geneve = 14 + ihl + 8
            inner = geneve + 8 + (frame[geneve] & 0x3F) * 4  # the options' length, in 4-byte words
            if frame[inner + 12 : inner + 14] != b"\x08\x00":
                continue  # ARP and the like
            ip = inner + 14
            outer = (socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34]))
            seen.append(
                (*outer, socket.inet_ntoa(frame[ip + 12 : ip + 16]), socket.inet_ntoa(frame[ip + 16 : ip + 20]))
            )
        return seen
    finally:
        cap.close()


def _connect(netns: str, ip: str, port: int) -> None:
    sock = socket_in(netns, family_of(ip), socket.SOCK_STREAM)
    sock.setblocking(True)
    sock.settimeout(3)
    try:
        sock.connect((ip, port))
    finally:
        sock.close()


def test_each_node_has_its_chassis_and_cross_node_traffic_crosses_the_geneve_tunnel(tmp_path: Path) -> None:
    manifests = tmp_path / "tenants.yaml"
    manifests.write_text(yaml.safe_dump_all(synthetic.manifests(8, tenants=2)))
    with running_lab("chs") as lab:
        up = lab.up([str(manifests)])
        assert up.pods_up == 8 and up.nodes == 2 and not up.failures
        chassis = {c.node: c for c in lab.daemons.all_chassis}
        assert set(chassis) == {"node-0", "node-1"}
        # the southbound database: one Chassis per node, each with its own Geneve encapsulation
        assert lab.daemons.registered() == sorted(c.name for c in chassis.values())
        encaps = json.loads(lab.daemons.sbctl("--format=json", "--columns=type,ip", "list", "Encap").stdout)["data"]
        assert sorted(encaps) == sorted(["geneve", c.encap_ip] for c in chassis.values())
        # every chassis has a tunnel port to the other
        for node, c in chassis.items():
            other = chassis["node-1" if node == "node-0" else "node-0"]
            remote = lab.daemons.vsctl(
                "--bare", "--columns=options", "find", "Interface", "type=geneve", chassis=c
            ).stdout
            assert f"remote_ip={other.encap_ip}" in remote.replace('"', ""), remote

        record = lab.require()
        topo = lab.desired().topology
        # each pod is bound on its own node's chassis
        bound = json.loads(
            lab.daemons.sbctl("--format=json", "--columns=logical_port,chassis", "list", "Port_Binding").stdout
        )["data"]
        uuid_of = {
            row[1]: row[0]
            for row in json.loads(lab.daemons.sbctl("--format=json", "--columns=_uuid,name", "list", "Chassis").stdout)[
                "data"
            ]
        }
        binding = {lsp: ch[1] for lsp, ch in bound if isinstance(ch, list) and ch[0] == "uuid"}
        for pod in topo.pods:
            lsp = pod.nics[0].lsp
            assert binding[lsp] == uuid_of[chassis[pod.node].name][1], (pod.ref, pod.node)

        api_ip, api_port = str(topo.api_cluster_ips[0]), 443
        api_node = next(n.name for n in topo.nodes if n.apiserver_port)
        far = next(p for p in topo.pods if p.node != api_node and p.name.startswith("api-"))
        near = next(p for p in topo.pods if p.node == api_node and p.name.startswith("api-"))
        far_ns = record.pods[far.ref].netns
        link = chassis[far.node].fabric_end  # the wire from the far pod's node into the fabric

        # a selected pod on the other node reaches the API server: through the tunnel, both ways
        frames = _geneve_frames(lab.daemons.fabric_netns, link, lambda: _connect(far_ns, api_ip, api_port))
        a, b = chassis[far.node], chassis[api_node]
        outer = {(src, dst) for src, dst, _, _ in frames}
        assert (a.encap_ip, b.encap_ip) in outer and (b.encap_ip, a.encap_ip) in outer, frames

        # pods of the same tenant on the same node: nothing on the wire between nodes
        mate = next(p for p in topo.pods if p.node == far.node and p.namespace == far.namespace and p is not far)
        mate_ip = str(mate.nics[0].ips[0])
        # (the API connection's last packets may still cross meanwhile: look at what is inside)
        frames = _geneve_frames(lab.daemons.fabric_netns, link, lambda: _connect(far_ns, mate_ip, synthetic.PORT))
        assert not [f for f in frames if mate_ip in f[2:]], frames
        # and the same probe towards a pod of the tenant on the other node does cross it
        across = next(p for p in topo.pods if p.node == api_node and p.namespace == far.namespace)
        across_ip = str(across.nics[0].ips[0])
        frames = _geneve_frames(lab.daemons.fabric_netns, link, lambda: _connect(far_ns, across_ip, synthetic.PORT))
        assert [f for f in frames if f[3] == across_ip] and [f for f in frames if f[2] == across_ip], frames
        assert near.node == api_node


def test_health_names_the_chassis_that_lags(tmp_path: Path) -> None:
    manifests = tmp_path / "tenants.yaml"
    manifests.write_text(yaml.safe_dump_all(synthetic.manifests(4, tenants=2)))
    with running_lab("chh") as lab:
        lab.up([str(manifests)])
        assert lab.health(wait=5).ok
        victim: Chassis = lab.daemons.chassis_of("node-1")
        remote = lab.daemons.vsctl("get", "Open_vSwitch", ".", "external_ids:ovn-remote", chassis=victim).stdout.strip()
        # cut node-1's ovn-controller off its southbound database: it stops acknowledging nb_cfg
        lab.daemons.vsctl(
            "set", "Open_vSwitch", ".", 'external_ids:ovn-remote="unix:/nonexistent/sb.sock"', chassis=victim
        )
        health = lab.health(wait=2)
        assert not health.ok
        assert [f.what for f in health.faults] == [victim.daemon("ovn-controller")], health.faults
        assert victim.name in health.faults[0].problem and "node-1" in health.faults[0].problem
        lab.daemons.vsctl("set", "Open_vSwitch", ".", f"external_ids:ovn-remote={remote}", chassis=victim)
        assert lab.health(wait=10).ok
