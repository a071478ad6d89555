"""Kube-OVN's rules for NetworkPolicy and AdminNetworkPolicy ACLs: names, priorities, stages, tiers.

Everything the twin programs and the validator reasons about for policies is derived from here, so
that one reading of the Kube-OVN source stands behind both. Read at **v1.16.2**:

* ``pkg/controller/network_policy.go handleUpdateNp``: one port group per policy, named
  ``<np>.<ns>`` with ``-`` replaced by ``.`` (``np`` prefixed when the name does not start with a
  letter); per rule and family an allow and an except address set
  ``<np>.<ns>.{ingress,egress}.{allow,except}.<IPv4|IPv6>.<idx>`` (``.all`` when the policy has the
  type but no rules); ipBlock peers get their own ACL with the CIDR and ``except`` inline
  (``newIPBlockACLMatch``), selector peers go into the allow set.
* ``fetchSelectedPorts``: **every** OVN-subnet port of a selected pod joins the port group — the
  primary ``<pod>.<ns>`` and each attachment ``<pod>.<ns>.<provider>`` (the bridge's ``net1``
  included), unless the policy's ``ovn.kubernetes.io/network_policy_for`` annotation (from
  release-1.16, PR #6223) lists other providers (``ovn`` or ``<ns>/<nad>`` → ``<nad>.<ns>.ovn``).
* ``pkg/ovs/ovn-nb-acl.go``: ingress ACLs are **to-lport** (``ls_out_acl``): drop 2000
  ``outport == @pg && ip``, allow-related 2001; egress ACLs are **from-lport with
  ``apply-after-lb=true``** (``ls_in_acl_after_lb``, i.e. after the switch load balancer: the
  destination is the *backend*, never the Service VIP): drop 2000 ``inport == @pg && ip``,
  allow-related 2001. All tier 2 (``util.NetpolACLTier``), as are Subnet ``spec.acls``
  (``UpdateLogicalSwitchACL``; from-lport without apply-after-lb: ``ls_in_acl``, *before* the load
  balancer). With IPv6 present (standard enforcement) ``CreateGatewayACL`` adds ``icmp6``
  allow-stateless 2001 both ways on the port group.
* ``pkg/util/const.go``: priorities above; node ACLs 3000 (``CreateNodeACL``), security groups
  2003–18484 (tier 2 or 3), ANP tier 1 at ``30000 - priority*100 - index`` (``AnpACLMaxPriority``),
  BANP tier 3 at ``1800 - index``; ANP/BANP ACLs carry ``apply-after-lb`` (effective from-lport only).

OVN 23.03 (``northd/northd.c``, ``PIPELINE_STAGE`` table; ``consider_acl``) orders the switch
ingress pipeline ``ls_in_pre_acl`` → ``ls_in_pre_lb`` → ``ls_in_pre_stateful`` → ``ls_in_acl`` →
… → ``ls_in_lb`` → … → ``ls_in_acl_after_lb`` → ``ls_in_stateful``; the egress pipeline has one ACL
stage, ``ls_out_acl``. Priorities compete only inside one stage (and, from OVN 23.09, inside one tier).
"""

from __future__ import annotations

from typing import Final

from apibridge.kubeovn import rules

NETWORK_POLICY_FOR: Final = "ovn.kubernetes.io/network_policy_for"
POLICY_FOR_SINCE: Final = (1, 16)  # release-1.16 (#6223); earlier releases ignore the annotation

INGRESS_DROP: Final = 2000  # util.IngressDefaultDrop
INGRESS_ALLOW: Final = 2001  # util.IngressAllowPriority
EGRESS_DROP: Final = 2000  # util.EgressDefaultDrop
EGRESS_ALLOW: Final = 2001  # util.EgressAllowPriority
NODE_ALLOW: Final = 3000  # util.NodeAllowPriority (CreateNodeACL, node port groups, only while NPs exist)
SECURITY_GROUP_MAX: Final = 18484  # util.SecurityGroupHighestPriority
NETPOL_TIER: Final = 2
ANP_TIER: Final = 1
BANP_TIER: Final = 3
ANP_ACL_MAX: Final = 30000
ANP_MAX_PRIORITY: Final = 99  # validateAnpConfig refuses a larger spec.priority
BANP_ACL_MAX: Final = 1800
# The highest priority of any tier-2 ACL Kube-OVN puts on a port group a tenant's pod can join (its
# NetworkPolicies, the node ACLs, security groups named by the pod's annotation): what the fence must beat.
TENANT_REACHABLE_MAX: Final = max(INGRESS_ALLOW, EGRESS_ALLOW, NODE_ALLOW, SECURITY_GROUP_MAX)

STAGE_BEFORE_LB: Final = "ls_in_acl"
STAGE_AFTER_LB: Final = "ls_in_acl_after_lb"
STAGE_TO_LPORT: Final = "ls_out_acl"


def stage(direction: str, apply_after_lb: bool) -> str:
    """The OVN 23.03 logical-switch stage an ACL lands in (``consider_acl``)."""
    if direction == "from-lport":
        return STAGE_AFTER_LB if apply_after_lb else STAGE_BEFORE_LB
    return STAGE_TO_LPORT


def version_tuple(version: str) -> tuple[int, int]:
    """``v1.16.2`` -> (1, 16); an unreadable version counts as the newest (the pinned one is readable)."""
    parts = version.lstrip("v").split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return (99, 99)


def honours_policy_for(version: str) -> bool:
    return version_tuple(version) >= POLICY_FOR_SINCE


def policy_name(name: str) -> str:
    """``npName``: the policy's name, ``np``-prefixed when it does not start with a letter."""
    return name if name[:1].isalpha() else f"np{name}"


def port_group(name: str, namespace: str) -> str:
    return rules.port_group_name(policy_name(name), namespace)


def address_set(name: str, namespace: str, direction: str, kind: str, family: int, index: int | None) -> str:
    """``<np>.<ns>.<ingress|egress>.<allow|except>.<IPv4|IPv6>.<idx|all>``."""
    base = rules.port_group_name(policy_name(name), namespace, direction, kind)
    return f"{base}.IPv{family}.{'all' if index is None else index}"


def acl_name(name: str, namespace: str, direction: str, family: int, index: int | None, ipblock: bool = False) -> str:
    """``np/<np>.<ns>/<ingress|egress>/<IPv4|IPv6>/<idx|all>[/ipBlock]`` (the ACL's ``name`` column)."""
    tail = "all" if index is None else str(index)
    return f"np/{policy_name(name)}.{namespace}/{direction}/IPv{family}/{tail}" + ("/ipBlock" if ipblock else "")


def parse_policy_for(raw: str | None) -> frozenset[str] | None:
    """``parsePolicyFor``: the providers a policy applies to; None: all (no annotation). Invalid tokens are
    skipped (Kube-OVN logs them); an annotation with none valid selects no pods (an empty set)."""
    text = (raw or "").strip()
    if not text:
        return None
    out: set[str] = set()
    for token in text.split(","):
        t = token.strip()
        if not t:
            continue
        if t.lower() == "ovn":
            out.add(rules.OVN_PROVIDER)
        elif "/" in t:
            ns, _, nad = t.partition("/")
            if ns and nad:
                out.add(f"{nad}.{ns}.{rules.OVN_PROVIDER}")
    return frozenset(out)


def applies_to(provider: str, providers: frozenset[str] | None) -> bool:
    """``netpolAppliesToProvider``."""
    return providers is None or provider in providers


def family_match(family: int) -> str:
    return "ip4" if family == 4 else "ip6"
