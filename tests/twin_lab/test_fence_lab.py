"""The strict fence on real OVN: two pods of one bridge share its attachment subnet, yet neither
reaches the other there — also after each adds its own routes through the attachment."""

from __future__ import annotations

import pytest

from apibridge.twin.proof.verify import verify

from .conftest import data, example, running_lab

pytestmark = pytest.mark.ovn


@pytest.mark.parametrize("adversarial", [False, True], ids=["plain", "adversarial"])
def test_attached_pods_of_one_bridge_do_not_reach_each_other(adversarial: bool) -> None:
    with running_lab("fence") as lab:
        report = lab.up(
            [example("demo", "cluster.yaml"), example("demo", "3-bridges.yaml"), data("second-operator.yaml")]
        )
        assert report.failures == {}
        netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
        result = verify(lab.desired().topology, netns, ca_file=lab.place.ca_file, adversarial=adversarial)
        peers = [c for c in result.checked if c.exp.kind == "attachment"]
        sources = {c.exp.source for c in peers}
        assert {"tenant-b/operator", "tenant-b/operator2"} <= sources
        assert all(c.exp.expect == "blocked" and c.result == "blocked" for c in peers), [
            (c.exp.source, c.exp.target, c.result, c.detail) for c in peers
        ]
        assert result.failed == 0, [(c.exp.source, c.exp.target, c.result) for c in result.checked if not c.ok]
