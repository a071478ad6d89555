"""Where an intended destination lives in the lab, so that a probe of it proves the real path.

An ApiBridge's ``extra`` destinations are usually outside the pod network: a registry, a vault, a
node's kubelet. From the attachment subnet (default VPC) Kube-OVN sends such traffic where a real
cluster sends it: a node's InternalIP by the 30000 policy to that node; any other address by the
29000 policy of the pod's distributed subnet to the join address of the pod's own node, where the
host's routing takes over. The twin therefore places an address nothing in the lab owns on every
node's ``lo`` — the host is where the packet leaves the overlay — never next to the router, where
it would be reached whatever the routes said. Addresses the lab already has (a pod, a node, a
Service VIP) are probed where they are, and addresses inside a subnet are never placed (they
would shadow that subnet's pods).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from apibridge.kubeovn.dualstack import IPAddress, IPNetwork

MAX_PLACED = 64  # external addresses one lab places on its nodes (an ApiBridge's extra list is tenant input)


def probe_address(network: IPNetwork, owned: Iterable[IPAddress] = ()) -> IPAddress:
    """The address that stands for ``network`` in a probe: one the lab owns inside it if any (a pod,
    a node, a VIP), else the address itself (/32, /128), else the first host address."""
    for ip in owned:
        if ip in network:
            return ip
    if network.num_addresses == 1:
        return network.network_address
    return ipaddress.ip_address(int(network.network_address) + 1)


def external_addresses(
    networks: Iterable[IPNetwork], owned: Iterable[IPAddress], inside: Iterable[IPNetwork]
) -> tuple[IPAddress, ...]:
    """The probe addresses of ``networks`` that no one in the lab owns and that lie in no subnet or
    service range of ``inside``: the ones the nodes take, in a stable order, at most ``MAX_PLACED``."""
    owned_list = list(dict.fromkeys(owned))
    owned_set = set(owned_list)
    inside_list = list(inside)
    out: dict[IPAddress, None] = {}
    for net in {str(n): n for n in networks}.values():  # each network once, however many pods want it
        ip = probe_address(net, owned_list)
        if ip in owned_set or any(ip.version == c.version and ip in c for c in inside_list):
            continue
        out[ip] = None
    return tuple(sorted(out, key=lambda a: (a.version, int(a))))[:MAX_PLACED]
