"""The Lease election against the emulator, with a hand-driven clock: who leads, when a standby may take over."""

from __future__ import annotations

import asyncio

import pytest
from opkit import OPERATOR_NAMESPACE

from apibridge.base.kubeclient import Client
from apibridge.operator import kube
from apibridge.operator.process.leader import LeaderElector, LeaseConfig

pytestmark = pytest.mark.kube


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def elector(client: Client, identity: str, clock: Clock, duration: float = 15.0) -> LeaderElector:
    return LeaderElector(client, LeaseConfig.scaled(OPERATOR_NAMESPACE, identity, duration), clock=clock)


async def lease(client: Client) -> dict[str, object]:
    obj = await client.get(kube.LEASE, "apibridge-operator", OPERATOR_NAMESPACE)
    assert obj is not None
    return dict(obj["spec"])


def test_scaled_timings_follow_client_go() -> None:
    cfg = LeaseConfig.scaled("ns", "me", 15)
    assert (cfg.duration, cfg.renew_deadline, cfg.retry_period) == (15, 10, 2)


async def test_first_candidate_creates_the_lease_and_others_wait(client: Client) -> None:
    clock = Clock()
    a, b = elector(client, "a", clock), elector(client, "b", clock)
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    spec = await lease(client)
    assert spec["holderIdentity"] == "a" and spec["leaseDurationSeconds"] == 15 and spec["leaseTransitions"] == 0
    assert str(spec["renewTime"]).endswith("Z") and "." in str(spec["renewTime"])


async def test_takeover_only_after_the_lease_stops_changing_for_its_duration(client: Client) -> None:
    clock = Clock()
    a, b = elector(client, "a", clock), elector(client, "b", clock)
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()  # b starts observing now
    clock.now += 10
    assert await a.try_acquire_or_renew()  # renewal: the record changes, b's observation restarts
    clock.now += 10
    assert not await b.try_acquire_or_renew()
    clock.now += 14
    assert not await b.try_acquire_or_renew()  # 14 s without change: not yet
    clock.now += 1.5
    assert await b.try_acquire_or_renew()  # a stopped renewing 15 s ago (by b's own clock)
    spec = await lease(client)
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1
    assert not await a.try_acquire_or_renew()  # a sees b's fresh record and backs off


async def test_same_identity_resumes_at_once_and_release_hands_over(client: Client) -> None:
    clock = Clock()
    first = elector(client, "pod-0", clock)
    assert await first.try_acquire_or_renew()
    restarted = elector(client, "pod-0", clock)  # the container restarted in the same pod
    assert await restarted.try_acquire_or_renew()
    assert (await lease(client))["leaseTransitions"] == 0
    restarted.leading.set()
    await restarted.release()
    assert (await lease(client))["holderIdentity"] == ""
    other = elector(client, "pod-1", clock)
    assert await other.try_acquire_or_renew()  # released: no waiting


async def test_racing_candidates_cannot_both_win(client: Client) -> None:
    clock = Clock()
    holder = elector(client, "gone", clock)
    assert await holder.try_acquire_or_renew()
    racers = [elector(client, f"r{i}", clock) for i in range(4)]
    for r in racers:
        assert not await r.try_acquire_or_renew()
    clock.now += 20
    results = await asyncio.gather(*(r.try_acquire_or_renew() for r in racers))
    assert sum(results) == 1
    assert (await lease(client))["holderIdentity"] == racers[results.index(True)].config.identity


@pytest.mark.timeout(20)
async def test_a_leader_that_is_deposed_notices_and_stops(client: Client) -> None:
    cfg = LeaseConfig(OPERATOR_NAMESPACE, "a", duration=2.0, renew_deadline=1.2, retry_period=0.1)
    a = LeaderElector(client, cfg)
    task = asyncio.create_task(a.run())
    await asyncio.wait_for(a.leading.wait(), 5)
    assert a.is_leading()
    # someone else takes the lease over (e.g. after a long stall of ours)
    obj = await client.get(kube.LEASE, "apibridge-operator", OPERATOR_NAMESPACE)
    assert obj is not None
    obj["spec"]["holderIdentity"] = "usurper"
    obj["spec"]["leaseDurationSeconds"] = 60
    await client.replace(kube.LEASE, obj)
    await asyncio.wait_for(a.lost.wait(), 5)
    await asyncio.wait_for(task, 5)
    assert not a.is_leading()
