"""One active controller at a time (Lease), and convergence after being SIGKILLed at random points, on the
real kube-apiserver (its garbage collector deletes what a deleted bridge owned)."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from opkit import OPERATOR_NAMESPACE, OperatorProcess, bridge, dump, operator_logs_on_failure

from apibridge.base.kubeclient import Client, NotFoundError
from apibridge.kubeovn import rules
from apibridge.model.cluster import Cluster
from apibridge.model.load import Document
from apibridge.operator import kube
from apibridge.plan.planner import plan
from polling import eventually

pytestmark = [pytest.mark.slow, pytest.mark.kube, pytest.mark.timeout(480)]
KILLS = 30  # SIGKILLs at random points, each while the operator may be mid-write


async def http_get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}{path}") as r:
        return r.status, await r.text()


async def metric(op: OperatorProcess, name: str) -> float | None:
    try:
        _, text = await http_get(op.metrics_port, "/metrics")
    except aiohttp.ClientError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.split()[-1])
    return None


async def holder(client: Client) -> str | None:
    lease = await client.get(kube.LEASE, "apibridge-operator", OPERATOR_NAMESPACE)
    return ((lease or {}).get("spec") or {}).get("holderIdentity") or None


async def ready(client: Client, name: str) -> bool:
    obj = await client.get(kube.APIBRIDGE, name) or {}
    gen = obj.get("metadata", {}).get("generation")
    status = obj.get("status") or {}
    conds = {c["type"]: c for c in status.get("conditions", [])}
    return (
        status.get("observedGeneration") == gen
        and conds.get("Ready", {}).get("status") == "True"
        and conds["Ready"].get("observedGeneration") == gen
    )


async def test_only_one_leads_and_the_standby_takes_over(
    client: Client, operators: Callable[..., OperatorProcess]
) -> None:
    a = operators(identity="op-a", lease_duration=3.0)
    with operator_logs_on_failure(a):
        await eventually(lambda: _is(holder(client), "op-a"), what="op-a to lead")
        b = operators(identity="op-b", lease_duration=3.0)
    with operator_logs_on_failure(a, b):
        await client.create(kube.APIBRIDGE, bridge("tenant-a"))
        await eventually(lambda: ready(client, "tenant-a"), what="tenant-a Ready")
        await eventually(lambda: _is(metric(b, "apibridge_leader"), 0.0), what="op-b serving metrics")
        await asyncio.sleep(1.0)  # several retry periods of op-b
        assert await holder(client) == "op-a"
        assert await metric(a, "apibridge_leader") == 1.0
        assert await metric(b, "apibridge_leader") == 0.0
        assert await http_get(b.health_port, "/readyz") == (200, "standby\n")
        assert (await http_get(b.health_port, "/healthz"))[0] == 200
        status, text = await http_get(a.health_port, "/readyz")
        assert status == 200 and text.startswith("leading")
        assert "became leader" not in b.log()

        a.kill()  # no release: op-b must wait for the lease to expire, then take over
        await eventually(lambda: _is(holder(client), "op-b"), timeout=15, what="op-b to take over")
        await eventually(lambda: _is(metric(b, "apibridge_leader"), 1.0), what="op-b leader metric")
        await client.create(kube.APIBRIDGE, bridge("tenant-b", vpc="tenant-b"))
        await eventually(lambda: ready(client, "tenant-b"), what="tenant-b Ready, reconciled by op-b")
        lease = await client.get(kube.LEASE, "apibridge-operator", OPERATOR_NAMESPACE) or {}
        assert lease["spec"]["leaseTransitions"] >= 1
        assert lease["spec"]["leaseDurationSeconds"] == 3

        # a graceful stop releases the lease: a new candidate takes over at once
        assert await b.stop() == 0
        assert await holder(client) is None
        c = operators(identity="op-c", lease_duration=30.0)
    with operator_logs_on_failure(c):
        await eventually(lambda: _is(holder(client), "op-c"), timeout=8, what="op-c to lead without waiting 30s")


async def _is(value: Any, expected: Any) -> bool:
    return await value == expected


BRIDGES = ("b0", "b1", "b2", "b3")


async def _mutate(client: Client, rng: random.Random) -> str:
    name = rng.choice(BRIDGES)
    current = await client.get(kube.APIBRIDGE, name)
    action = rng.choice(("update", "update", "delete")) if current else "create"
    try:
        if action == "create":
            spec: dict[str, Any] = {"isolation": rng.choice(("strict", "open"))}
            if rng.random() < 0.3:
                spec["cidrBlock"] = f"100.100.{200 + BRIDGES.index(name)}.0/24"
            await client.create(kube.APIBRIDGE, bridge(name, vpc=rng.choice(("tenant-a", "tenant-b")), **spec))
        elif action == "update":
            change = rng.choice(
                (
                    {"isolation": "open"},
                    {"isolation": "strict"},
                    {"nadNamespace": "default"},
                    {"nadNamespace": "kube-system"},
                    {"cidrBlock": "auto"},
                )
            )
            await client.patch(kube.APIBRIDGE, name, {"spec": change})
        else:
            await client.delete(kube.APIBRIDGE, name)
    except NotFoundError:
        pass
    return f"{action} {name}"


async def test_converges_after_being_killed_at_random_points(
    client: Client, operators: Callable[..., OperatorProcess]
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"seed {seed}")
    for name in BRIDGES[:2]:
        await client.create(kube.APIBRIDGE, bridge(name))
    procs: list[OperatorProcess] = []
    history: list[str] = []
    for _ in range(KILLS):
        op = operators(identity="crashy", lease_duration=3.0)
        procs.append(op)
        await eventually(functools.partial(_serving, op), timeout=15, what="the operator's probes")
        deadline = asyncio.get_running_loop().time() + rng.uniform(0.0, 1.2)
        while asyncio.get_running_loop().time() < deadline:
            history.append(await _mutate(client, rng))
            await asyncio.sleep(rng.uniform(0.0, 0.3))
        op.kill()
    final = operators(identity="crashy", lease_duration=3.0)
    with operator_logs_on_failure(*procs[-2:], final):
        print("history:", "; ".join(history))

        async def converged() -> bool:
            bridges = {kube.name_of(b): b for b in await client.list(kube.APIBRIDGE)}
            for name in bridges:
                if not await ready(client, name):
                    return False
            expected = plan(Cluster.from_documents([Document(o, "dump", i) for i, o in enumerate(await dump(client))]))
            want = {("NetworkAttachmentDefinition", bp.nad_namespace, bp.nad_name) for bp in expected.bridges.values()}
            want |= {("Subnet", None, bp.subnet_name) for bp in expected.bridges.values()}
            ours = [
                o
                for kind in (kube.NAD, kube.SUBNET)
                for o in await client.list(kind)
                if kube.labels_of(o).get(rules.MANAGED_BY_LABEL) == rules.MANAGED_BY
            ]
            have = [(o["kind"], kube.namespace_of(o), kube.name_of(o)) for o in ours]
            if sorted(have, key=str) != sorted(want, key=str):
                return False
            for bp in expected.bridges.values():
                nad = await client.get(kube.NAD, bp.nad_name, bp.nad_namespace) or {}
                subnet = await client.get(kube.SUBNET, bp.subnet_name) or {}
                if nad.get("spec") != bp.nad["spec"] or subnet.get("spec") != bp.subnet["spec"]:
                    return False
                uid = bridges[bp.bridge.name]["metadata"]["uid"]
                if any(
                    r.get("uid")
                    for o in (nad, subnet)
                    for r in o["metadata"].get("ownerReferences", [])
                    if r.get("uid") != uid
                ):
                    return False
            return True

        await eventually(converged, timeout=30, what=f"convergence (seed {seed})")
        led = sum("became leader" in p.log() for p in procs)
        assert led >= KILLS // 3, f"only {led} of the killed operators led: the kills were too early to mean much"


async def _serving(op: OperatorProcess) -> bool:
    try:
        await http_get(op.health_port, "/healthz")
    except aiohttp.ClientError:
        return False
    return True
