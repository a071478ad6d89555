"""Issue 11 item 6: Vpc ``staticRoutes`` and ``policyRoutes`` reach the real OVN northbound database."""

from __future__ import annotations

from pathlib import Path

import pytest

from apibridge.twin.ovn import realize

from .conftest import example, running_lab

pytestmark = pytest.mark.ovn

VPC = """
apiVersion: kubeovn.io/v1
kind: Vpc
metadata: {name: t9}
spec:
  staticRoutes:
  - {cidr: 0.0.0.0/0, nextHopIP: 10.99.1.254, policy: policyDst}
  policyRoutes:
  - {priority: 1000, match: ip4.dst == 192.0.2.7, action: drop}
---
apiVersion: kubeovn.io/v1
kind: Subnet
metadata: {name: t9-net}
spec: {vpc: t9, cidrBlock: 10.99.1.0/24}
"""


def test_vpc_routes_are_realized(tmp_path: Path) -> None:
    vpc = tmp_path / "vpc.yaml"
    vpc.write_text(VPC)
    with running_lab("vpcr") as lab:
        report = lab.up([example("demo", "cluster.yaml"), str(vpc)])
        assert report.failures == {}
        nb = realize.current(lab.nb())
        assert any("0.0.0.0/0" in str(key) for key in nb.routes.get("t9", {})), nb.routes.get("t9")
        assert any("192.0.2.7" in str(key) for key in nb.policies.get("t9", {})), nb.policies.get("t9")
        again = lab.up([example("demo", "cluster.yaml"), str(vpc)])  # reconciling the same input changes nothing
        assert again.failures == {}
