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

**Priorities: the fence must win against what a tenant can put on its own ports.** Kube-OVN puts
every OVN port of a pod a NetworkPolicy selects into the policy's port group — the attachment too
(``apibridge.kubeovn.netpol``, Kube-OVN v1.16.2 ``fetchSelectedPorts``). OVN (23.03,
``northd.c consider_acl``) runs ACLs in three stages, and priorities compete only within a stage
(and, where OVN has tiers, within a tier; Kube-OVN puts Subnet ACLs, NetworkPolicies and node ACLs
in tier 2):

* ``ls_out_acl`` (to-lport): policy ingress drop 2000 / allow-related 2001, node ACLs 3000, security
  groups up to 18484 — and the fence's to-lport rules. **Here a contest exists**: a tenant's
  allow-all ingress policy (2001) outranked the old fence drop (2000) and opened the attached pod
  to every pod of the default VPC. So the fence's rules sit above every tier-2 priority Kube-OVN
  gives a tenant (``TENANT_REACHABLE_MAX``, 18484): drop ``DROP`` (29000), its allows above that.
* ``ls_in_acl`` (from-lport, before the load balancer): the fence's from-lport rules, and security
  groups (which a pod names by annotation); no NetworkPolicy ACL lands here. Same priorities, same
  reason: a drop here is final, nothing later can re-allow the packet.
* ``ls_in_acl_after_lb`` (from-lport with ``apply-after-lb``): every NetworkPolicy egress ACL (and
  ANP/BANP). The fence has nothing here, so there is **no contest to win**: a tenant's egress
  policy sees the API *endpoint* (node-IP:6443) after DNAT and may drop the bridge's own API
  traffic. That cannot be fenced away without overriding the tenant's own policy; ``check`` reports
  it instead (AB310, naming the policy and the rule that would allow the endpoints).

What no priority can beat: an AdminNetworkPolicy ``Allow`` lives in tier 1, evaluated before tier 2
on OVN with ACL tiers (Kube-OVN's OVN 25.03), so it opens the attachment whatever the fence says;
``check`` names such ANPs (AB312). A BaselineAdminNetworkPolicy (tier 3) is never consulted for IP
traffic here: the fence's catch-all drop gives a tier-2 verdict first. The twin's OVN 23.03 has no
tiers (docs/networkpolicy.md says what it cannot show).
"""

from __future__ import annotations

from apibridge.kubeovn import netpol, rules
from apibridge.kubeovn.dualstack import IPAddress, IPNetwork
from apibridge.model.objects import Acl
from apibridge.plan.types import Destination

ALLOW_DESTINATION = 29100
ALLOW_NEIGHBOUR = 29090
DROP = 29000
# the contest in ls_out_acl and ls_in_acl, stated where it is decided (see the module docstring)
assert DROP > netpol.TENANT_REACHABLE_MAX, "the fence must outrank every tier-2 ACL a tenant can bring"


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
