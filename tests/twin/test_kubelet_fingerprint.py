"""The node agent's model fingerprint (``twin.control.kubelet.model_fingerprint``): its own reports must not make
the twin reconcile again — each such no-op pass over the whole lab cost 0.15-0.4 s per pod in bench/podstart.py —
while a change of what the twin is made of still does."""

from __future__ import annotations

import copy
from typing import Any

from apibridge.twin.control.kubelet import model_fingerprint

WEBHOOK = {
    "k8s.v1.cni.cncf.io/networks": "kube-system/apibridge-tenant-a",
    "apibridge-tenant-a.kube-system.ovn.kubernetes.io/logical_switch": "apibridge-tenant-a",  # the webhook's pin
}
REPORT = {
    "apibridge-tenant-a.kube-system.ovn.kubernetes.io/logical_switch": "apibridge-tenant-a",
    "apibridge-tenant-a.kube-system.ovn.kubernetes.io/allocated": "true",
    "ovn.kubernetes.io/logical_switch": "tenant-a-subnet",
    "ovn.kubernetes.io/pod_nic_type": "veth-pair",
    "k8s.v1.cni.cncf.io/network-status": "[]",
}


def pod(annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ingress-nginx", "uid": "u1", "annotations": dict(annotations)},
        "spec": {"nodeName": "kind-worker"},
    }


def test_the_agents_own_report_does_not_change_the_model() -> None:
    written = {"u1": REPORT}
    before = model_fingerprint([pod(WEBHOOK)], written)  # as the agent recomputes it once it has reported
    after = model_fingerprint([pod({**WEBHOOK, **REPORT})], written)
    assert before == after


def test_a_change_of_what_the_twin_is_made_of_still_counts() -> None:
    written = {"u1": REPORT}
    base = model_fingerprint([pod({**WEBHOOK, **REPORT})], written)
    moved = pod({**WEBHOOK, **REPORT})
    moved["spec"]["nodeName"] = "kind-control-plane"
    assert model_fingerprint([moved], written) != base
    other = copy.deepcopy(WEBHOOK)
    other["k8s.v1.cni.cncf.io/networks"] = "kube-system/other"
    assert model_fingerprint([pod({**other, **REPORT})], written) != base
    # another pod's report is not this one's
    assert model_fingerprint([pod({**WEBHOOK, **REPORT})], {}) != base
