"""Issue 11 item 7 on real OVN: a pod attaching a kube-ovn NAD without ``provider`` runs with eth0 detached.

kube-ovn v1.16.2: ``cmd/cni/cni.go loadNetConf`` makes the empty provider ``ovn``, ``pkg/daemon/handler.go
handleAdd`` configures net1 from eth0's annotations, and ``ovs.CleanDuplicatePort`` takes the iface-id
``<pod>.<ns>`` off eth0's OVS port. The pod is Running (before: the twin failed it) and reaches nothing
through eth0, which still holds its address and default route; a pod beside it is unaffected.
"""

from __future__ import annotations

import pytest

from apibridge.twin.proof.verify import verify

from .conftest import data, example, running_lab

pytestmark = pytest.mark.ovn


def test_a_nad_without_provider_detaches_eth0() -> None:
    with running_lab("detach") as lab:
        report = lab.up([example("seed", "cluster.yaml"), data("no-provider-nad.yaml")])
        assert "default/detached" not in report.failures, report.failures
        pods = lab.require().pods
        assert {"default/detached", "default/whole"} <= set(pods)
        netns = {ref: rec.netns for ref, rec in pods.items()}
        result = verify(lab.desired().topology, netns, ca_file=lab.place.ca_file)
        api = {c.exp.source: c.result for c in result.checked if c.exp.kind == "api"}
        assert api.get("default/whole") == "reach"
        assert api.get("default/detached") == "blocked"  # its default route leaves by eth0, bound to no LSP
