"""ARP, ND and IP (v4 and v6) spoofing from an attached pod on real OVN: port security (the bridges') blocks
all; the seed's hand-written attachment, without it, lets them through — which is how the checks are known
to bite."""

from __future__ import annotations

import pytest

from apibridge.twin.proof.verify import Checked, verify

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


def _by_family(checked: list[Checked]) -> dict[str, list[Checked]]:
    """The spoof attempts as ``arp``, ``nd``, ``ip4``, ``ip6`` (neighbour attempts have port 0)."""
    out: dict[str, list[Checked]] = {"arp": [], "nd": [], "ip4": [], "ip6": []}
    for c in checked:
        if c.exp.kind != "spoof":
            continue
        v6 = ":" in c.exp.target
        out[("nd" if v6 else "arp") if c.exp.port == 0 else ("ip6" if v6 else "ip4")].append(c)
    return out


def test_dual_stack_bridge_pods_cannot_spoof_nd_or_ipv6() -> None:
    """Unsolicited NA claiming the IPv6 gateway, and an IPv6 source not the port's own: both dropped."""
    with running_lab("spoof6") as lab:
        report = lab.up([example("dualstack"), data("dualstack-second-pod.yaml")])
        assert report.failures == {} and report.pods_up == 2
        netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
        result = verify(lab.desired().topology, netns, ca_file=lab.place.ca_file, adversarial=True)
        spoofs = _by_family(result.checked)
        assert len(spoofs["nd"]) == 2 and len(spoofs["arp"]) == 2, spoofs
        assert spoofs["ip6"] and spoofs["ip4"], spoofs
        for kind in ("nd", "ip6", "arp", "ip4"):
            assert [c.result for c in spoofs[kind]] == ["blocked"] * len(spoofs[kind]), (kind, spoofs[kind])
        assert result.failed == 0, [c.message() for c in result.checked if not c.ok]


def test_without_port_security_a_dual_stack_seed_is_nd_and_ipv6_spoofed() -> None:
    """The control: the same attempts on a hand-written dual-stack attachment without port security work —
    so the IPv6 checks above can fail."""
    with running_lab("spoofseed6") as lab:
        lab.up([example("dualstack", "cluster.yaml"), data("dualstack-seed.yaml")])
        netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
        result = verify(lab.desired().topology, netns, ca_file=lab.place.ca_file, adversarial=True)
        spoofs = _by_family(result.checked)
        assert spoofs["nd"] and spoofs["ip6"], spoofs
        for kind in ("nd", "ip6"):
            assert all(c.result == "reach" for c in spoofs[kind]), [c.message() for c in spoofs[kind]]
