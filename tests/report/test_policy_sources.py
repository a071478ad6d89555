"""Findings on NetworkPolicies and AdminNetworkPolicies name the file and document they came from."""

from __future__ import annotations

from apibridge.model.cluster import Cluster
from apibridge.model.load import parse_text
from apibridge.report.findings import object_sources

TEXT = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: ns1}
spec: {podSelector: {}, policyTypes: [Egress]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: a}
spec: {priority: 1, subject: {namespaces: {}}}
"""


def test_policy_objects_have_their_source() -> None:
    sources = object_sources(Cluster.from_documents(parse_text(TEXT, "p.yaml")))
    assert sources["NetworkPolicy/ns1/deny"] == "p.yaml (document 1)"
    assert sources["AdminNetworkPolicy/a"] == "p.yaml (document 2)"
