"""Pods that already attach another tenant's bridge (issue 13): the real operator, as the chart's controller
ServiceAccount on the real kube-apiserver, reports each on the bridge it reaches into — a
``ForeignAttachment`` Event naming the pod, the NAD and the annotation — once, and never for a pod of the
bridge's own VPC. (New ones are refused by the chart's tenancy policy, tests/deploy; these predate it.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from opkit import OperatorProcess, bridge, operator_logs_on_failure, pod, poke_and_wait_pass, rendered, wait_condition

from apibridge.base.kubeclient import Client
from apibridge.kubeovn import rules
from apibridge.operator import kube
from apibridge.plan.mutation import pod_mutation
from polling import eventually

pytestmark = [pytest.mark.slow, pytest.mark.kube, pytest.mark.timeout(120)]


async def _foreign_events(client: Client) -> list[dict[str, Any]]:
    # ApiBridge is cluster-scoped: its events live in "default"
    return [e for e in await client.list(kube.EVENT, "default") if e.get("reason") == "ForeignAttachment"]


async def test_pods_that_already_attach_a_foreign_bridge_are_reported(
    client: Client, operators: Callable[..., OperatorProcess]
) -> None:
    op = operators()
    with operator_logs_on_failure(op):
        await client.create(kube.APIBRIDGE, bridge("tenant-a"))
        await client.create(kube.APIBRIDGE, bridge("tenant-b", vpc="tenant-b"))
        await wait_condition(client, "tenant-a", "Ready", "True")
        await wait_condition(client, "tenant-b", "Ready", "True")
        plan = await rendered(client)
        a = plan.bridges["tenant-a"]
        nad = f"{a.nad_namespace}/{a.nad_name}"
        # tenant-b's pods reaching into tenant-a's bridge: by its NAD, and by its subnet (logical_switch)
        await client.create(kube.POD, pod("by-nad", "tenant-b", annotations={rules.NETWORKS_ANNOTATION: nad}))
        switch = {rules.PRIMARY_LOGICAL_SWITCH_ANNOTATION: a.subnet_name}
        await client.create(kube.POD, pod("by-switch", "tenant-b", annotations=switch))
        # a pod of tenant-a's own VPC attached as the webhook would: not foreign
        await client.create(kube.POD, pod("own", annotations=pod_mutation({}, "ingress-nginx", a)))

        async def reported() -> list[dict[str, Any]] | None:
            found = await _foreign_events(client)
            return found if len(found) >= 2 else None

        found = await eventually(reported, what="a ForeignAttachment event per foreign pod")
        assert {e["involvedObject"]["kind"] for e in found} == {"ApiBridge"}
        assert {e["involvedObject"]["name"] for e in found} == {"tenant-a"}
        by_pod = {next(p for p in ("by-nad", "by-switch") if f"tenant-b/{p} " in e["message"]): e for e in found}
        assert set(by_pod) == {"by-nad", "by-switch"}, [e["message"] for e in found]
        assert nad in by_pod["by-nad"]["message"] and rules.NETWORKS_ANNOTATION in by_pod["by-nad"]["message"]
        assert "logical_switch" in by_pod["by-switch"]["message"]
        assert all("VPC tenant-b" in e["message"] and "AB304" in e["message"] for e in found)
        assert not any("ingress-nginx/own" in e["message"] for e in found)
        # reported once, not on every pass
        await poke_and_wait_pass(client, op, "foreign")
        assert len(await _foreign_events(client)) == 2
