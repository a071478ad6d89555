"""Kube-OVN's failure modes fail the pod with Kube-OVN's message, and only that pod."""

from __future__ import annotations

import pytest

from apibridge.twin.proof.verify import verify

from .conftest import data, example, running_lab

pytestmark = pytest.mark.ovn


def test_failed_pods_are_reported_and_the_rest_comes_up() -> None:
    with running_lab("fail") as lab:
        report = lab.up([example("seed", "cluster.yaml"), data("failures.yaml")])
        assert set(report.failures) == {"ingress-nginx/bad-routes", "tenant-b/unbound"}
        assert report.failures["ingress-nginx/bad-routes"].startswith(
            "invalid routes for pod ingress-nginx/bad-routes: "
        )
        assert report.failures["tenant-b/unbound"] == "provider orphan-nad.kube-system.ovn is not bound to any subnet"
        # the good pod is up; its invalid route entry was skipped, as kube-ovn-cni skips it
        assert report.pods_up == 1
        assert any("not-a-cidr" in line for line in report.skipped_routes["ingress-nginx/good"])
        netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
        assert set(netns) == {"ingress-nginx/good", "node/kind-control-plane"}
        result = verify(lab.desired().topology, netns, ca_file=lab.place.ca_file)
        api = {c.exp.source: c.result for c in result.checked if c.exp.kind == "api"}
        assert api == {"ingress-nginx/good": "reach"}
        status = lab.status()
        assert status.healthy and set(status.failures) == set(report.failures)
