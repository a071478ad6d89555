"""NetworkPolicy and AdminNetworkPolicy on attached pods (check/policies.py, check/netpol.py).

Each finding first with the input that must make it fire, then the inputs that must keep it quiet —
the allow for the *endpoints* (not the ClusterIP), the release-1.16 opt-out, the planned fence.
"""

from __future__ import annotations

from typing import Any

import pytest

from apibridge.base.errors import InputError
from apibridge.check.objects.netpol import Endpoint, Policies
from apibridge.kubeovn import netpol as rules_np
from apibridge.plan.fence import DROP
from apibridge.plan.settings import Settings

from .kit import (
    ALLOW_ALL_INGRESS,
    DENY_EGRESS,
    FENCE,
    SEED,
    anp,
    api_subnet,
    bridge,
    by_code,
    codes,
    load,
    nad,
    netpol,
    node,
    pod,
    run,
    seed_pod,
    vpc,
)

VPC1 = vpc("vpc1", "ns1")
CP = node("kind-control-plane", "172.18.0.2")
BRIDGED = [VPC1, CP, bridge("b"), pod("app", "ns1", labels={"app": "x"})]
ALLOW_ENDPOINTS: dict[str, Any] = {
    "policyTypes": ["Egress"],
    "egress": [{"to": [{"ipBlock": {"cidr": "172.18.0.2/32"}}], "ports": [{"protocol": "TCP", "port": 6443}]}],
}
ALLOW_VIP: dict[str, Any] = {
    "policyTypes": ["Egress"],
    "egress": [{"to": [{"ipBlock": {"cidr": "10.96.0.1/32"}}], "ports": [{"protocol": "TCP", "port": 443}]}],
}


def test_default_deny_egress_drops_the_bridges_api_traffic() -> None:
    found = by_code(run(*BRIDGED, netpol("deny", **DENY_EGRESS)), "AB310")
    assert [f.obj for f in found] == ["NetworkPolicy/ns1/deny"]
    f = found[0]
    assert f.field == "spec.egress"
    assert "Pod/ns1/app" in f.message and "172.18.0.2:6443" in f.message and "10.96.0.1" in f.message
    assert "ipBlock: {cidr: 172.18.0.2/32}" in f.hint and "port: 6443" in f.hint  # the endpoints, not the VIP
    assert "network_policy_for" in f.hint  # v1.16.2 has the opt-out


def test_an_allow_for_the_vip_does_not_help() -> None:
    assert "AB310" in codes(run(*BRIDGED, netpol("vip-only", **ALLOW_VIP)))


def test_an_allow_for_the_endpoints_does() -> None:
    assert "AB310" not in codes(run(*BRIDGED, netpol("api", **ALLOW_ENDPOINTS)))
    # ... also when it sits in a second policy: the allows of every policy of the port are one union
    assert "AB310" not in codes(run(*BRIDGED, netpol("deny", **DENY_EGRESS), netpol("api", **ALLOW_ENDPOINTS)))


def test_except_and_ports_are_honoured() -> None:
    excepted: dict[str, Any] = {
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "172.18.0.0/16", "except": ["172.18.0.2/32"]}}]}],
    }
    assert "AB310" in codes(run(*BRIDGED, netpol("x", **excepted)))
    wrong_port: dict[str, Any] = {"policyTypes": ["Egress"], "egress": [{"ports": [{"port": 443}]}]}
    assert "AB310" in codes(run(*BRIDGED, netpol("x", **wrong_port)))
    ranged: dict[str, Any] = {"policyTypes": ["Egress"], "egress": [{"ports": [{"port": 6000, "endPort": 7000}]}]}
    assert "AB310" not in codes(run(*BRIDGED, netpol("x", **ranged)))


def test_ingress_only_or_other_pods_do_not_isolate_egress() -> None:
    assert "AB310" not in codes(run(*BRIDGED, netpol("in", podSelector={}, ingress=[{}])))
    other = netpol("deny", podSelector={"matchLabels": {"app": "other"}}, policyTypes=["Egress"])
    assert "AB310" not in codes(run(*BRIDGED, other))
    assert "AB310" not in codes(run(*BRIDGED, netpol("deny", ns="ns2", **DENY_EGRESS)))


def test_policy_types_defaulting() -> None:
    # no policyTypes, egress rules given: the API server adds Egress
    rules_only: dict[str, Any] = {"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]}
    assert "AB310" in codes(run(*BRIDGED, netpol("x", **rules_only)))


def test_network_policy_for_opt_out_from_release_1_16() -> None:
    opted = netpol("deny", annotations={rules_np.NETWORK_POLICY_FOR: "ovn"}, **DENY_EGRESS)
    assert "AB310" not in codes(run(*BRIDGED, opted))  # v1.16.2: the attachment is out of the port group
    old = Settings(kubeovn_version="v1.15.4")
    found = by_code(run(*BRIDGED, opted, config=old), "AB310")
    assert found and "network_policy_for" not in found[0].hint  # before 1.16 the annotation is ignored
    # naming the bridge's NAD keeps the attachment in
    nad_named = netpol("deny", annotations={rules_np.NETWORK_POLICY_FOR: "kube-system/apibridge-b"}, **DENY_EGRESS)
    assert "AB310" in codes(run(*BRIDGED, nad_named))


def test_the_seeds_hand_written_attachment_is_judged_too() -> None:
    found = by_code(run(*SEED, CP, seed_pod(), netpol("deny", **DENY_EGRESS)), "AB310")
    assert found and "api-ovn-nad.kube-system.ovn" in found[0].message


def test_ingress_allow_outranks_a_hand_written_fence() -> None:
    fence = [*FENCE, {"direction": "to-lport", "priority": 2000, "match": "ip", "action": "drop"}]
    docs = [nad(), api_subnet(acls=fence), VPC1, seed_pod()]
    found = by_code(run(*docs, netpol("open", **ALLOW_ALL_INGRESS)), "AB311")
    assert [(f.obj, f.field) for f in found] == [("NetworkPolicy/ns1/open", "spec.ingress[0]")]
    assert "2001" in found[0].message and "2000" in found[0].message
    # a rule whose sources are in the tenant's own VPC does not open it to the default VPC
    own = netpol("own", policyTypes=["Ingress"], ingress=[{"from": [{"podSelector": {}}]}])
    assert "AB311" not in codes(run(*docs, own))
    # an ipBlock over the default subnet does
    block = netpol("blk", policyTypes=["Ingress"], ingress=[{"from": [{"ipBlock": {"cidr": "10.16.0.0/16"}}]}])
    assert "AB311" in codes(run(*docs, block))


def test_the_planned_fence_wins_the_ingress_contest() -> None:
    assert DROP > rules_np.TENANT_REACHABLE_MAX
    assert "AB311" not in codes(run(*BRIDGED, netpol("open", **ALLOW_ALL_INGRESS)))


ANP_OPEN = anp(
    "open-attached",
    subject={"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "ns1"}}},
    ingress=[{"name": "from-default", "action": "Allow", "from": [{"namespaces": {}}]}],
)


def test_anp_allow_opens_a_fenced_attachment() -> None:
    found = by_code(run(*BRIDGED, ANP_OPEN), "AB312")
    assert [(f.obj, f.field) for f in found] == [("AdminNetworkPolicy/open-attached", "spec.ingress[0]")]
    assert "tier 1" in found[0].message
    passing = ANP_OPEN.replace("action: Allow", "action: Pass")
    assert "AB312" not in codes(run(*BRIDGED, passing))
    banp = anp(
        "default",
        None,
        kind="BaselineAdminNetworkPolicy",
        subject={"namespaces": {}},
        ingress=[{"action": "Allow", "from": [{"namespaces": {}}]}],
    )
    assert "AB312" not in codes(run(*BRIDGED, banp))  # tier 3: the fence's tier-2 drop decides first


def test_anp_deny_drops_the_api_endpoints() -> None:
    deny = anp(
        "no-api",
        subject={"namespaces": {}},
        egress=[{"name": "nodes", "action": "Deny", "to": [{"networks": ["172.18.0.0/16"]}]}],
    )
    found = by_code(run(*BRIDGED, deny), "AB313")
    assert [(f.obj, f.field) for f in found] == [("AdminNetworkPolicy/no-api", "spec.egress[0]")]
    allow_first = anp(
        "api-first",
        1,
        subject={"namespaces": {}},
        egress=[{"name": "api", "action": "Allow", "to": [{"networks": ["172.18.0.2/32"]}]}],
    )
    assert "AB313" not in codes(run(*BRIDGED, deny, allow_first))


def test_evaluator_named_ports_and_peers() -> None:
    cluster = load(
        VPC1,
        pod("srv", "ns1", labels={"app": "srv"}),
        netpol(
            "np",
            podSelector={"matchLabels": {"app": "srv"}},
            policyTypes=["Ingress"],
            ingress=[{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}], "ports": [{"port": "http"}]}],
        ),
    )
    import ipaddress

    policies = Policies(cluster)
    client = Endpoint(ipaddress.ip_address("10.0.1.9"), "ns1", {"role": "client"})
    stranger = Endpoint(ipaddress.ip_address("10.0.1.8"), "ns1", {"role": "x"})
    # the named port "http" is not declared by any pod of ns1: no allow is generated (Kube-OVN skips it)
    assert not policies.ingress("ns1", {"app": "srv"}, "ovn", client, 80).allowed
    assert not policies.ingress("ns1", {"app": "srv"}, "ovn", stranger, 80).allowed
    assert policies.ingress("ns1", {"app": "other"}, "ovn", stranger, 80).allowed  # not selected: open


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]}, "spec.egress[0].to[0].ipBlock.cidr"),
        ({"egress": [{"ports": [{"port": "http", "endPort": 90}]}]}, "spec.egress[0].ports[0].endPort"),
        ({"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]}, "spec.ingress[0].from[0]"),
        ({"policyTypes": ["Both"]}, "spec.policyTypes[0]"),
    ],
)
def test_bad_policies_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as err:
        load(netpol("bad", **spec))
    assert err.value.location.field is not None and err.value.location.field.startswith(field)
    assert err.value.location.obj == "NetworkPolicy/ns1/bad"


def test_hostile_policy_costs_one_evaluation_per_kind_of_pod() -> None:
    """A tenant's policy of 1,000 rules over 2,000 alike pods: judged once per (namespace, labels), not per pod."""
    import time

    rules = [{"to": [{"ipBlock": {"cidr": f"10.{i // 250}.{i % 250}.0/24"}}]} for i in range(1000)]
    pods = [pod(f"p{i}", "ns1", labels={"app": "x"}) for i in range(2000)]
    started = time.perf_counter()
    found = by_code(run(VPC1, CP, bridge("b"), *pods, netpol("big", policyTypes=["Egress"], egress=rules)), "AB310")
    elapsed = time.perf_counter() - started
    assert len(found) == 1 and "and 1997 more" in found[0].message
    assert elapsed < 60, elapsed


def test_dual_stack_names_only_the_dropped_endpoints() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    text = [(root / "examples" / "dualstack" / f).read_text() for f in ("cluster.yaml", "bridge.yaml", "workload.yaml")]
    policy = (root / "tests" / "twin_lab" / "data" / "netpol-dualstack.yaml").read_text()
    found = by_code(run(*text, policy), "AB310")
    assert [f.obj for f in found] == ["NetworkPolicy/ingress-nginx/api-v4-only"]
    assert "fc00:f853:ccd:e793::2:6443" in found[0].message and "172.18.0.2:6443" not in found[0].message
    assert "cidr: fc00:f853:ccd:e793::2/128" in found[0].hint


def test_a_tie_is_no_fence() -> None:
    tie = [{"direction": "to-lport", "priority": 2001, "match": "ip", "action": "drop"}]
    docs = [nad(), api_subnet(acls=[*FENCE, *tie]), VPC1, seed_pod()]
    assert "AB311" in codes(run(*docs, netpol("open", **ALLOW_ALL_INGRESS)))
    above = [{"direction": "to-lport", "priority": 2002, "match": "ip", "action": "drop"}]
    assert "AB311" not in codes(
        run(nad(), api_subnet(acls=[*FENCE, *above]), VPC1, seed_pod(), netpol("o", **ALLOW_ALL_INGRESS))
    )


def test_anp_allow_shadowed_by_an_earlier_deny_opens_nothing() -> None:
    """A Deny (or Pass) of a higher-priority ANP, or an earlier rule, decides first (30000 − priority×100 − index)."""
    deny_first = anp(
        "deny-default",
        1,
        subject={"namespaces": {}},
        ingress=[{"name": "no-default", "action": "Deny", "from": [{"namespaces": {}}]}],
    )
    assert "AB312" not in codes(run(*BRIDGED, ANP_OPEN, deny_first))
    pass_first = deny_first.replace("action: Deny", "action: Pass")
    assert "AB312" not in codes(run(*BRIDGED, ANP_OPEN, pass_first))
    same_anp = anp(
        "deny-then-allow",
        5,
        subject={"namespaces": {}},
        ingress=[
            {"name": "no", "action": "Deny", "from": [{"namespaces": {}}]},
            {"name": "yes", "action": "Allow", "from": [{"namespaces": {}}]},
        ],
    )
    assert "AB312" not in codes(run(*BRIDGED, same_anp))
    # a Deny of a lower priority (a larger number) comes after the Allow: the Allow still opens
    deny_later = deny_first.replace("priority: 1", "priority: 99")
    assert "AB312" in codes(run(*BRIDGED, ANP_OPEN, deny_later))
    # a Deny for some ports only, or for some pods only, does not shadow the whole Allow
    ports_only = anp(
        "deny-ssh",
        1,
        subject={"namespaces": {}},
        ingress=[
            {
                "action": "Deny",
                "from": [{"namespaces": {}}],
                "ports": [{"portNumber": {"protocol": "TCP", "port": 22}}],
            }
        ],
    )
    assert "AB312" in codes(run(*BRIDGED, ANP_OPEN, ports_only))
