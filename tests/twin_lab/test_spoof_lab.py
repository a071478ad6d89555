"""ARP and IP spoofing from an attached pod on real OVN: port security (the bridges') blocks both; the
seed's hand-written attachment, without it, lets both through — which is how the check is known to bite."""

from __future__ import annotations

import pytest

from apibridge.twin.proof.verify import verify

from .conftest import data, example, running_lab

pytestmark = pytest.mark.ovn


def test_bridge_pods_cannot_spoof_arp_or_ip() -> None:
    with running_lab("spoof") as lab:
        report = lab.up(
            [example("demo", "cluster.yaml"), example("demo", "3-bridges.yaml"), data("second-operator.yaml")]
        )
        assert report.failures == {}
        netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
        result = verify(lab.desired().topology, netns, ca_file=lab.place.ca_file, adversarial=True)
        spoofs = [c for c in result.checked if c.exp.kind == "spoof"]
        arp = [c for c in spoofs if c.exp.port == 0]
        ip = [c for c in spoofs if c.exp.port != 0]
        assert {c.exp.source for c in arp} >= {"tenant-b/operator", "tenant-b/operator2"}
        assert ip, "no IP spoofing attempt"
        assert all(c.result == "blocked" for c in spoofs), [c.message() for c in spoofs]
        # and a pod of the other tenant that tries to attach a bridge's NAD is refused at admission
        foreign = [c for c in result.checked if c.exp.kind == "foreign"]
        assert {c.exp.target for c in foreign} >= {"kube-system/apibridge-tenant-a", "kube-system/apibridge-tenant-b"}
        assert all(c.result == "blocked" and "AB304" in c.detail for c in foreign), [c.message() for c in foreign]
        assert result.failed == 0, [c.message() for c in result.checked if not c.ok]


def test_without_port_security_the_seed_is_spoofed() -> None:
    with running_lab("spoofseed") as lab:
        lab.up([example("demo", "cluster.yaml"), example("demo", "2-seed.yaml")])
        netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
        result = verify(lab.desired().topology, netns, ca_file=lab.place.ca_file, adversarial=True)
        spoofs = [c for c in result.checked if c.exp.kind == "spoof"]
        assert spoofs
        leaks = [c for c in spoofs if c.result == "reach"]
        assert {c.exp.port == 0 for c in leaks} == {True, False}, [c.message() for c in spoofs]
        assert all("spoofed" in c.message() for c in leaks)
