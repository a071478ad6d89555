"""One table of attachment attempts, judged by ``check`` (AB304/AB305) and by the chart's admission policy.

Two custom VPCs: ``vpc1`` (namespace ``ns1``, subnet ``vpc1-net``) with ApiBridge ``b1`` (NAD
``kube-system/apibridge-b1``, provider ``apibridge-b1.kube-system.ovn``, subnet ``apibridge-b1``) and ``vpc2``
(namespace ``ns2``, subnet ``vpc2-net``). Each case is a pod's namespace and annotations and what must
happen to it: ``ok``, ``foreign`` (AB304: a namespace outside vpc1 attaches b1 or names its subnet) or
``no-port-security`` (AB305: an attachment of b1 without ``port_security: "true"``). The pods opt out of
injection, so both judges see exactly these annotations; the real-API-server test creates the same pods
under the chart's ValidatingAdmissionPolicy and expects ``ok`` admitted and the rest refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BRIDGE = "b1"
NAD = "apibridge-b1"
NAD_NS = "kube-system"
PROVIDER = "apibridge-b1.kube-system.ovn"
SUBNET = "apibridge-b1"
NETWORKS = "k8s.v1.cni.cncf.io/networks"
DEFAULT_NETWORK = "v1.multus-cni.io/default-network"
PS = f"{PROVIDER}.kubernetes.io/port_security"
OPT_OUT = {"apibridge.dev/inject": "false"}

Verdict = Literal["ok", "foreign", "no-port-security"]


@dataclass(frozen=True)
class Case:
    id: str
    namespace: str
    annotations: dict[str, str]
    verdict: Verdict
    key: str = ""  # the annotation the finding must point at ("" when ok)


def _on(**ann: str) -> dict[str, str]:
    return {**OPT_OUT, **ann}


CASES = [
    Case("own-vpc", "ns1", _on(**{NETWORKS: f"{NAD_NS}/{NAD}", PS: "true"}), "ok"),
    Case("own-vpc-json", "ns1", _on(**{NETWORKS: f'[{{"name":"{NAD}","namespace":"{NAD_NS}"}}]', PS: "true"}), "ok"),
    Case("foreign-other-nad", "ns2", _on(**{NETWORKS: "ns2/mine"}), "ok"),
    Case("foreign-plain", "ns2", _on(), "ok"),
    Case("foreign-comma", "ns2", _on(**{NETWORKS: f"{NAD_NS}/{NAD}", PS: "true"}), "foreign", NETWORKS),
    Case("foreign-ifname", "ns2", _on(**{NETWORKS: f"ns2/mine, {NAD_NS}/{NAD}@eth9"}), "foreign", NETWORKS),
    Case("foreign-json", "ns2", _on(**{NETWORKS: f'[{{"name":"{NAD}","namespace":"{NAD_NS}"}}]'}), "foreign", NETWORKS),
    Case(
        "foreign-json-escape",
        "ns2",
        _on(**{NETWORKS: '[{"name":"apibridge\\u002db1","namespace":"kube-system"}]'}),
        "foreign",
        NETWORKS,
    ),
    Case("foreign-default-network", "ns2", _on(**{DEFAULT_NETWORK: f"{NAD_NS}/{NAD}"}), "foreign", DEFAULT_NETWORK),
    Case(
        "foreign-own-nad-names-subnet",
        "ns2",
        _on(**{"mine.ns2.ovn.kubernetes.io/logical_switch": SUBNET}),
        "foreign",
        "mine.ns2.ovn.kubernetes.io/logical_switch",
    ),
    Case(
        "foreign-primary-names-subnet",
        "ns2",
        _on(**{"ovn.kubernetes.io/logical_switch": SUBNET}),
        "foreign",
        "ovn.kubernetes.io/logical_switch",
    ),
    Case(
        "foreign-ip-address",
        "ns2",
        _on(**{f"{PROVIDER}.kubernetes.io/ip_address": "100.100.0.9"}),
        "foreign",
        f"{PROVIDER}.kubernetes.io/ip_address",
    ),
    Case(
        "foreign-ip-pool",
        "ns2",
        _on(**{f"{PROVIDER}.net2.kubernetes.io/ip_pool": "100.100.0.9"}),
        "foreign",
        f"{PROVIDER}.net2.kubernetes.io/ip_pool",
    ),
    Case(
        "own-vpc-eth0-in-other-vpc",
        "ns1",
        _on(**{NETWORKS: f"{NAD_NS}/{NAD}", PS: "true", "ovn.kubernetes.io/logical_switch": "vpc2-net"}),
        "foreign",
        NETWORKS,
    ),
    Case("own-vpc-no-port-security", "ns1", _on(**{NETWORKS: f"{NAD_NS}/{NAD}"}), "no-port-security", PS),
    Case("own-vpc-port-security-off", "ns1", _on(**{NETWORKS: f"{NAD_NS}/{NAD}", PS: "false"}), "no-port-security", PS),
]
