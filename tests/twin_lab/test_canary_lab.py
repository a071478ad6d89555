"""A reachable path probed amid a flood of blocked ones must not be reported blocked.

In a Kube-OVN custom VPC every packet to another VPC is a black hole the expensive way: the
router's only route is the subnet's src-ip route to its own gateway address, so each blocked SYN
is an ``arp`` packet-in to ovn-controller and an ARP broadcast to every port of the subnet. A flood
of them (what a verify at scale sends: most pairs of classes are blocked) delays every path the
userspace datapath forwards past its wait, and a *leak* — a reachable path among the probes
expected to be blocked, probed with their patience — then passes for blocked.

Here the answers come from the construction (:mod:`apibridge.twin.proof.synthetic`): blocked
probes between tenants, and *canaries* — same-tenant paths, reachable by construction — probed as
if they were expected blocked and spread among them, as a leak would be. Every canary must reach,
every blocked probe must stay blocked. The prober starts with the largest wave of silent probes it
allows: its sentinels (the same-tenant paths, probed first as expected answered) must bring it down
to what the datapath forwards in time.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from apibridge.twin.ovn.topology import TwinPod
from apibridge.twin.pods import probe
from apibridge.twin.proof import synthetic

from .conftest import running_lab

pytestmark = pytest.mark.ovn

PODS = 300
BLOCKED_PER_SOURCE = 10
CANARIES = 100


def test_a_reachable_path_among_many_blocked_probes_is_reported_reachable(tmp_path: Path) -> None:
    manifests = tmp_path / "tenants.yaml"
    manifests.write_text(yaml.safe_dump_all(synthetic.manifests(PODS)))
    with running_lab("can") as lab:
        up = lab.up([str(manifests)])
        assert up.pods_up == PODS and not up.failures
        netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
        pods = [p for p in lab.desired().topology.pods if p.ref in netns and p.ports]

        def to(src: str, dst: TwinPod) -> probe.Probe:
            return probe.Probe(netns[src], dst.nics[0].addresses[0].split("/")[0], dst.ports[0].port)

        blocked: list[probe.Probe] = []
        canaries: list[probe.Probe] = []
        for n, src in enumerate(pods):
            others = [q for q in pods if q.namespace != src.namespace]
            for q in others[n % 7 :: max(1, len(others) // BLOCKED_PER_SOURCE)][:BLOCKED_PER_SOURCE]:
                k = synthetic.known(src.ref, to_pod=q.ref)
                assert k is not None and not k.reach
                blocked.append(to(src.ref, q))
            peer = next(q for q in reversed(pods) if q.namespace == src.namespace and q.ref != src.ref)
            if len(canaries) < CANARIES and n % (len(pods) // CANARIES) == 0:
                k = synthetic.known(src.ref, to_pod=peer.ref)
                assert k is not None and k.reach
                canaries.append(to(src.ref, peer))
        # the canaries spread through the flood, as leaks would be
        step = len(blocked) // len(canaries)
        every: list[probe.Probe] = []
        for i, c in enumerate(canaries):
            every += [*blocked[i * step : (i + 1) * step], c]
        every += blocked[len(canaries) * step :]
        answered = [dataclasses.replace(c, expect_answer=True) for c in canaries]
        outcomes = probe.run([*answered, *every], ca_file=lab.place.ca_file, parallel_silent=probe.WAVE_MAX)
        assert all(o.verdict == "reach" for o in outcomes[: len(answered)]), outcomes[: len(answered)]
        outcomes = outcomes[len(answered) :]
        missed = [(p, o.detail) for p, o in zip(every, outcomes, strict=True) if p in canaries and o.verdict != "reach"]
        assert not missed, f"{len(missed)} of {len(canaries)} reachable paths reported blocked: {missed[:3]}"
        leaked = [p for p, o in zip(every, outcomes, strict=True) if p not in canaries and o.verdict != "blocked"]
        assert not leaked, leaked[:3]
