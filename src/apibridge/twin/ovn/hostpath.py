"""What the node's host does to a packet the 29000 reroute hands it: kube-proxy's Service DNAT.

Kube-OVN's default install keeps kube-proxy. A default-VPC subnet's traffic to an address that is no
subnet and no node leaves the overlay by the 29000 router policy to the node's ``ovn0`` (kube-ovn v1.16.2
``pkg/controller/subnet.go``), and ``pkg/daemon/gateway_linux.go`` accepts and forwards what comes in
there; kube-proxy's ``KUBE-SERVICES`` rules in ``PREROUTING`` then DNAT a ClusterIP to one of its
endpoints. So on a subnet with ``enableLb: false`` (no OVN load balancer on the switch) ClusterIPs are
still reached, through the host (issue 11 item 2).

The twin realizes that step with nftables in each node's namespace — the same netfilter DNAT
kube-proxy's iptables and nftables modes program — from the Service VIPs of the default VPC's load
balancers (the Services kube-proxy sees; each VIP to its endpoints, picked at random as kube-proxy's
``statistic``/``numgen`` rules do). Only ``PREROUTING`` (traffic arriving from pods) is modelled;
kube-proxy's ``OUTPUT`` rules for the node's own connections are not.
"""

from __future__ import annotations

import ipaddress

from apibridge.kubeovn import rules
from apibridge.twin.ovn.topology import Topology

TABLE = "apibridge-kube-proxy"
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
