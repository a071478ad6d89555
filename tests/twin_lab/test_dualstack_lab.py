"""Dual stack: a bridged pod reaches both ClusterIPs of the kubernetes Service (10.96.0.1 and
fd00:10:96::1), DNATed to the node's IPv4 and IPv6 addresses."""

from __future__ import annotations

import pytest

from apibridge.twin.proof.verify import verify

from .conftest import example, running_lab

pytestmark = pytest.mark.ovn


def test_dual_stack_reaches_both_cluster_ip_families() -> None:
    with running_lab("ds") as lab:
        report = lab.up([example("dualstack")])
        assert report.failures == {} and report.pods_up == 1
        netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
        result = verify(lab.desired().topology, netns, ca_file=lab.place.ca_file)
        api = {c.exp.target: (c.result, c.detail) for c in result.checked if c.exp.kind == "api"}
        assert set(api) == {"10.96.0.1", "fd00:10:96::1"}
        for target, (verdict, detail) in api.items():
            assert verdict == "reach", f"{target}: {detail}"
            assert "TLS verified" in detail
