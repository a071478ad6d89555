"""The ACL fence on an attachment subnet (Kube-OVN Subnet ``spec.acls``), for ``isolation: strict``.

A plain attachment subnet in the default VPC gives an attached pod L3 reach into the whole default
VPC and to every other pod on the same subnet — across tenants. The fence lets a pod start
connections only to its bridge's destinations and receive only the replies to them.

Two OVN facts shape it (OVN 23.03 ``northd/northd.c``: ``build_pre_stateful`` and ``build_acls``; seen
with ``ovn-trace --ct=new`` and ``ovs-appctl dpctl/dump-conntrack`` on the twin's daemons):
* Subnet ACLs run in ``ls_in_acl``, *before* the switch load balancer: the SYN is still addressed
  to the ClusterIP, so it is allowed by VIP and port.
* Later packets of the same connection were already DNATed by ``ct_lb_mark`` and OVN evaluates
  ACLs on them again with the backend as destination. ``ct.est && ct_mark.natted == 1`` lets them
  through: only connections whose SYN passed a VIP rule were committed and NATed. A direct SYN to
  the backend is ``ct.new`` and stays blocked.
Replies need no rule: with stateful (allow-related) ACLs OVN passes ``ct.est && ct.rpl`` traffic
ahead of the ACL table. IPv6 neighbour discovery is ICMPv6 and would fall to the drop rules, so it
is allowed explicitly, as is the echo to the gateway that kube-ovn-cni's IPv6 gateway check sends.
Everything else is dropped in both directions, except what crosses the switch's router port
(``<subnet>-ovn-cluster``), which the pod-side rules already judged. The rules are keyed on that
port and on the pod's own CIDR, never on a destination pod's address, so a pod cannot step around
them by adding routes or spoofing its address — the twin's adversarial verify checks exactly that.
"""

from __future__ import annotations

from apibridge.kubeovn import rules
from apibridge.kubeovn.dualstack import IPAddress, IPNetwork
from apibridge.model.objects import Acl
from apibridge.plan.types import Destination

ALLOW_DESTINATION = 2100
ALLOW_NEIGHBOUR = 2090
DROP = 2000


def _ipf(family: int) -> str:
    return "ip4" if family == 4 else "ip6"


def _port_match(dest: Destination) -> list[str]:
    if not dest.ports:
        return [""]
    return [f" && {p.protocol.lower()}.dst == {p.port}" for p in dest.ports]


def fence_acls(
    subnet: str, cidrs: tuple[IPNetwork, ...], gateways: tuple[IPAddress, ...], destinations: tuple[Destination, ...]
) -> tuple[Acl, ...]:
    router_port = rules.switch_router_port(subnet, rules.DEFAULT_VPC)
    acls: list[Acl] = []
    for cidr in cidrs:
        ipf = _ipf(cidr.version)
        for dest in destinations:
            if dest.family != cidr.version:
                continue
            for ports in _port_match(dest):
                target = dest.network.network_address if dest.network.num_addresses == 1 else dest.network
                match = f"{ipf}.src == {cidr} && {ipf}.dst == {target}{ports}"
                acls.append(Acl("from-lport", ALLOW_DESTINATION, match, "allow-related"))
        acls.append(
            Acl(
                "from-lport",
                ALLOW_DESTINATION,
                f"{ipf}.src == {cidr} && ct.est && ct_mark.natted == 1",
                "allow-related",
            )
        )
    if any(c.version == 6 for c in cidrs):
        acls.append(Acl("from-lport", ALLOW_NEIGHBOUR, "nd || nd_rs || nd_ra", "allow"))
        acls.append(Acl("to-lport", ALLOW_NEIGHBOUR, "nd || nd_rs || nd_ra", "allow"))
        for gw in gateways:
            if gw.version == 6:
                acls.append(
                    Acl("from-lport", ALLOW_NEIGHBOUR, f"ip6.dst == {gw} && icmp6.type == 128", "allow-related")
                )
    # Traffic between the switch and its router port is judged on the pod side of the switch: what
    # enters from the router may go on to a pod only if the pod's to-lport rules allow it, and what
    # a pod sends was already filtered on its from-lport. (OVN cannot match ``inport != ...``:
    # logical ports are nominal fields, testable for equality only.)
    acls.append(Acl("from-lport", ALLOW_DESTINATION, f'inport == "{router_port}" && ip', "allow-related"))
    acls.append(Acl("to-lport", ALLOW_DESTINATION, f'outport == "{router_port}" && ip', "allow-related"))
    acls.append(Acl("from-lport", DROP, "ip", "drop"))
    acls.append(Acl("to-lport", DROP, "ip", "drop"))
    return tuple(acls)
