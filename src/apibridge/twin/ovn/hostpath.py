"""What the node's host does to a packet the 29000 reroute hands it: kube-proxy's Service DNAT, and
kube-ovn-cni's masquerading of ``natOutgoing`` subnets.

Kube-OVN's default install keeps kube-proxy. A default-VPC subnet's traffic to an address that is no
subnet and no node leaves the overlay by the 29000 router policy to the node's ``ovn0`` (kube-ovn v1.16.2
``pkg/controller/subnet.go``), and ``pkg/daemon/gateway_linux.go`` accepts and forwards what comes in
there; kube-proxy's ``KUBE-SERVICES`` rules in ``PREROUTING`` then DNAT a ClusterIP to one of its
endpoints. So on a subnet with ``enableLb: false`` (no OVN load balancer on the switch) ClusterIPs are
still reached, through the host (issue 11 item 2).

A destination beyond the node — an API endpoint behind an external load balancer, a VIP (issue 11 item
5) — is forwarded out of the host, and kube-ovn-cni masquerades only what comes from a ``natOutgoing``
subnet of the default VPC (kube-ovn v1.16.2 pkg/daemon/gateway_linux.go ``setIptables``: nat
``OVN-POSTROUTING`` ``-m set --match-set ovn40subnets-nat src -m set ! --match-set ovn40subnets dst -j
OVN-MASQUERADE``, and ``ovn60…`` alike; the sets from pkg/daemon/gateway.go ``getDefaultVpcSubnetsCIDR`` and
``isSubnetNeedNat``). Anything else leaves with the pod's own address, which the network beyond the nodes
has no route back to. ``masquerade_ruleset`` programs that rule; its other rules (the ``0x4000`` mark on
pod → Service traffic kube-proxy DNATs on the host, NodePort and centralized-gateway marks, the
``natOutgoingPolicyRules``) are not modelled.

The twin realizes the DNAT step with nftables in each node's namespace — the same netfilter DNAT
kube-proxy's iptables and nftables modes program — from the Service VIPs of the default VPC's load
balancers (the Services kube-proxy sees; each VIP to its endpoints, picked at random as kube-proxy's
``statistic``/``numgen`` rules do). Only ``PREROUTING`` (traffic arriving from pods) is modelled;
kube-proxy's ``OUTPUT`` rules for the node's own connections are not.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from apibridge.kubeovn import rules
from apibridge.kubeovn.dualstack import IPNetwork
from apibridge.twin.ovn.topology import Topology

TABLE = "apibridge-kube-proxy"
NAT_TABLE = "apibridge-kube-ovn"  # kube-ovn-cni's host NAT (``OVN-POSTROUTING``)
MAX_BACKENDS = 256  # per VIP in one rule (Service endpoints are input: bounded)


def _split(hostport: str) -> tuple[str, int]:
    """``10.96.0.1:443`` / ``[fd00::1]:443`` -> (address, port)."""
    host, _, port = hostport.rpartition(":")
    return host.strip("[]"), int(port)


def _rule(protocol: str, vip: str, backends: str) -> str | None:
    host, port = _split(vip)
    ip = ipaddress.ip_address(host)
    fam = "ip" if ip.version == 4 else "ip6"
    ends = [_split(b) for b in backends.split(",") if b.strip()][:MAX_BACKENDS]
    ends = [(h, p) for h, p in ends if ipaddress.ip_address(h).version == ip.version]
    if not ends:
        return None
    match = f"{fam} daddr {ip} {protocol} dport {port}"
    if len(ends) == 1:
        h, p = ends[0]
        return f"{match} dnat {fam} to {h if ip.version == 4 else f'[{h}]'}:{p}"
    entries = ", ".join(f"{i} : {h} . {p}" for i, (h, p) in enumerate(ends))
    return f"{match} dnat {fam} to numgen random mod {len(ends)} map {{ {entries} }}"


def kube_proxy_ruleset(topo: Topology, version: str = "") -> str:
    """The ``nft -f`` input for a node: the table replaced whole (emptied when kube-proxy does not run)."""
    head = [f"table inet {TABLE}", f"delete table inet {TABLE}"]
    if not topo.kube_proxy:
        return "\n".join(head) + "\n"
    names = {spec.name for spec in rules.load_balancer_specs(rules.DEFAULT_VPC, version)}
    lines: list[str] = []
    for lb in topo.load_balancers:
        if lb.name not in names:
            continue
        for vip, backends in sorted(lb.vips.items()):
            rule = _rule(lb.protocol, vip, backends)
            if rule is not None and rule not in lines:
                lines.append(rule)
    body = "\n".join(f"\t\t{line}" for line in lines)
    return (
        "\n".join(head)
        + f"\ntable inet {TABLE} {{\n\tchain prerouting {{\n"
        + "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
        + (body + "\n" if body else "")
        + "\t}\n}\n"
    )


def _set(name: str, family: int, cidrs: Sequence[IPNetwork]) -> str:
    kind = "ipv4_addr" if family == 4 else "ipv6_addr"
    elements = ", ".join(sorted({str(c) for c in cidrs if c.version == family}))
    body = f" elements = {{ {elements} }};" if elements else ""
    return f"\tset {name} {{ type {kind}; flags interval; auto-merge;{body} }}"


def masquerade_ruleset(topo: Topology) -> str:
    """The ``nft -f`` input for a node: kube-ovn-cni's default ``natOutgoing`` masquerade, the table replaced
    whole. ``subnets4``/``subnets6`` stand for ``ovn40subnets``/``ovn60subnets``, ``nat4``/``nat6`` for
    ``ovn40subnets-nat``/``ovn60subnets-nat``."""
    sets = [
        _set("subnets4", 4, topo.host_subnets),
        _set("nat4", 4, topo.nat_subnets),
        _set("subnets6", 6, topo.host_subnets),
        _set("nat6", 6, topo.nat_subnets),
    ]
    return (
        f"table inet {NAT_TABLE}\ndelete table inet {NAT_TABLE}\ntable inet {NAT_TABLE} {{\n"
        + "\n".join(sets)
        + "\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        + "\t\tip saddr @nat4 ip daddr != @subnets4 masquerade\n"
        + "\t\tip6 saddr @nat6 ip6 daddr != @subnets6 masquerade\n"
        + "\t}\n}\n"
    )
