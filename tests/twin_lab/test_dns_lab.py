"""``destinations.dns: true``: a bridged pod reaches the kube-dns ClusterIP on 53/UDP through the
cluster UDP load balancer and its fence, while a pod of the same VPC without the bridge does not."""

from __future__ import annotations

import pytest

from apibridge.twin.proof.verify import verify

from .conftest import data, example, running_lab

pytestmark = pytest.mark.ovn


def test_dns_destination_reaches_kube_dns_over_udp() -> None:
    with running_lab("dns") as lab:
        report = lab.up([example("demo", "cluster.yaml"), example("demo", "1-no-access.yaml"), data("dns.yaml")])
        assert report.failures == {}
        netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
        result = verify(lab.desired().topology, netns, ca_file=lab.place.ca_file)
        dns = [c for c in result.checked if c.exp.kind == "dns"]
        assert dns, "a dns: true bridge makes verify probe the kube-dns ClusterIP"
        for c in dns:
            assert (c.exp.source, c.exp.target, c.exp.port, c.exp.protocol) == (
                "tenant-b/operator",
                "10.96.0.10",
                53,
                "udp",
            )
            assert c.result == "reach", c.detail
        assert result.failed == 0, [(c.exp, c.result, c.detail) for c in result.checked if not c.ok]
