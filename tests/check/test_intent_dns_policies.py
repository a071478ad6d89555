"""``with_policies`` judges a DNS want at the endpoints of the DNS Service the want names.

RKE2's DNS Service is ``kube-system/rke2-coredns-rke2-coredns`` and kubespray's ``kube-system/coredns``
(``rules.DNS_SERVICE_NAMES``); judging at ``kube-system/kube-dns`` found no endpoints on those clusters,
so a tenant policy that drops DNS left the want unblocked.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from apibridge.check.intent import PodIntent, Want, with_policies
from apibridge.check.objects.netpol import Policies
from apibridge.model.cluster import Cluster
from apibridge.model.load import Document
from apibridge.plan.dns import find_dns_service


def _cluster(dns_name: str) -> Cluster:
    objs: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": dns_name, "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
            "spec": {"clusterIP": "10.43.0.10", "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": dns_name, "namespace": "kube-system"},
            "subsets": [
                {"addresses": [{"ip": "10.42.0.5"}], "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}
            ],
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "deny-egress", "namespace": "t"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"]},
        },
    ]
    return Cluster.from_documents([Document(o, "t.yaml", i) for i, o in enumerate(objs)])


@pytest.mark.parametrize("dns_name", ["kube-dns", "coredns", "rke2-coredns-rke2-coredns"])
def test_a_policy_dropping_dns_blocks_the_dns_want(dns_name: str) -> None:
    cluster = _cluster(dns_name)
    dns = find_dns_service(cluster)
    assert dns.service is not None
    want = Want("dns", ipaddress.ip_network("10.43.0.10/32"), dns.ports, "bridge", service=dns.ref)
    judged = with_policies(PodIntent((want,)), "t", {}, "ovn", Policies(cluster), cluster)
    assert "deny-egress" in judged.wants[0].blocked_by
    assert "10.42.0.5:53" in judged.wants[0].blocked_by
