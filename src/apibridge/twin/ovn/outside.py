"""The network beyond the nodes: where an API endpoint that is no node's InternalIP lives (issue 11 item 5).

A ``kubernetes`` EndpointSlice may name an external load balancer or a VIP instead of the control-plane
nodes. Kube-OVN reroutes only node InternalIPs to their node at priority 30000 (kube-ovn v1.16.2
pkg/controller/init.go, ``util.NodeRouterPolicyPriority``); traffic to any other endpoint leaves a
distributed default-VPC subnet by the 29000 reroute to the pod's node's ``ovn0`` and is forwarded by the
host, which masquerades it only when the subnet has ``natOutgoing`` (``hostpath.masquerade_ruleset``).
The endpoint, like a load balancer on the node network, knows the nodes' addresses and nothing of the
pod subnets: a reply to a pod's own address has nowhere to go.

The twin puts such endpoints in one namespace, ``<prefix>outside``, linked to every node's namespace by
a veth (``ext0`` on the node, ``o<i>`` beyond it). The node side carries the node's InternalIPs (the
address its masquerade takes) and a route to each endpoint; the outside side carries the endpoints and
a route to each node's InternalIPs only. The API server stand-in listens there. Placing the endpoints on
the nodes' ``lo`` instead (as ``externals`` does for ``extra`` destinations) would answer whatever the
host did, so masquerading would change nothing observable.

This module says what to build (``ip -b`` lines); ``Lab._outside`` runs them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from apibridge.twin.ovn.topology import Topology

NODE_IFNAME = "ext0"  # the node's link to the network beyond it
NAME = "outside"  # the namespace is ``<prefix>outside``: pod namespaces hold a ``_``, node ones ``node.``
# a real node forwards (kube-ovn-cni requires it); the twin turns it on only while an outside exists
FORWARDING_ON = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"}
FORWARDING_OFF = {"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0"}


@dataclass(frozen=True)
class Link:
    node: str
    node_netns: str
    peer: str  # the interface name in the outside namespace


def links(topo: Topology, node_netns: Mapping[str, str]) -> list[Link]:
    """One link per node that has a namespace, in node order (``o0``, ``o1``…)."""
    return [Link(n.name, node_netns[n.name], f"o{i}") for i, n in enumerate(topo.nodes) if n.name in node_netns]


def fingerprint(topo: Topology, wired: list[Link]) -> str:
    """What the outside was built from: rebuilt when it changes."""
    nodes = {n.name: [str(ip) for ip in n.internal_ips] for n in topo.nodes}
    data = [[str(ip) for ip in topo.outside_ips], topo.outside_port, [[k.node, k.node_netns, k.peer] for k in wired]]
    return hashlib.sha256(json.dumps([data, nodes], sort_keys=True).encode()).hexdigest()[:16]


def _host(ip: object, version: int) -> str:
    return f"{ip}/{32 if version == 4 else 128}"


def create_lines(wired: list[Link], outside_netns: str) -> list[str]:
    """``ip -b`` lines (run in the root namespace) creating each veth with its ends in place."""
    return [
        f"link add {NODE_IFNAME} netns {k.node_netns} type veth peer name {k.peer} netns {outside_netns}" for k in wired
    ]


def outside_lines(topo: Topology, wired: list[Link]) -> list[str]:
    """``ip -b`` lines for the outside namespace: the endpoints on every link (so ARP and neighbour discovery
    answer for them there), and a route to each node's InternalIPs through its link, nothing else."""
    lines: list[str] = []
    for k in wired:
        for ip in topo.outside_ips:
            lines.append(f"addr add {_host(ip, ip.version)} dev {k.peer}" + (" nodad" if ip.version == 6 else ""))
        lines.append(f"link set {k.peer} up")
        node = topo.node(k.node)
        for ip in node.internal_ips if node else ():
            lines.append(f"route replace {_host(ip, ip.version)} dev {k.peer}")
    return lines


def node_lines(topo: Topology, link: Link) -> list[str]:
    """``ip -b`` lines for a node's namespace: its InternalIPs on ``ext0`` and a route to each endpoint."""
    node = topo.node(link.node)
    ips = node.internal_ips if node else ()
    lines = [
        f"addr add {_host(ip, ip.version)} dev {NODE_IFNAME}" + (" nodad" if ip.version == 6 else "") for ip in ips
    ]
    lines.append(f"link set {NODE_IFNAME} up")
    families = {ip.version for ip in ips}
    lines += [
        f"route replace {_host(ip, ip.version)} dev {NODE_IFNAME}" for ip in topo.outside_ips if ip.version in families
    ]
    return lines
