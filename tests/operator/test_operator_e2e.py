"""The real ``apibridge operator`` process against the real kube-apiserver, as the chart's controller
ServiceAccount: objects, status, ownership, re-planning."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from click.testing import CliRunner
from opkit import (
    OperatorProcess,
    bridge,
    deny_egress,
    dump,
    operator_logs_on_failure,
    pod,
    poke_and_wait_pass,
    rendered,
    wait_condition,
    workload_with_pod,
)

from apibridge.base.kubeclient import Client
from apibridge.cli.render import render_command
from apibridge.kubeovn import rules
from apibridge.operator import kube
from apibridge.plan.mutation import pod_mutation
from polling import eventually

pytestmark = [pytest.mark.slow, pytest.mark.kube, pytest.mark.timeout(120)]


def same_as_manifest(obj: dict[str, Any] | None, manifest: dict[str, Any]) -> bool:
    if obj is None:
        return False
    return (
        obj["spec"] == manifest["spec"]
        and kube.labels_of(obj) == kube.labels_of(manifest)
        and kube.name_of(obj) == kube.name_of(manifest)
        and kube.namespace_of(obj) == kube.namespace_of(manifest)
    )


async def render_cli(client: Client, directory: Path) -> list[dict[str, Any]]:
    """The manifests the real ``apibridge render`` command prints for a dump of the cluster."""
    path = directory / "cluster-dump.yaml"
    path.write_text(yaml.safe_dump_all(await dump(client)))
    result = await asyncio.to_thread(CliRunner().invoke, render_command, [str(path), "-o", "json"])
    assert result.exit_code == 0, result.output
    items: list[dict[str, Any]] = json.loads(result.stdout)["items"]
    return items


async def test_bridge_gets_exactly_the_planned_nad_and_subnet(
    client: Client, operators: Callable[..., OperatorProcess], tmp_path: Path
) -> None:
    op = operators()
    with operator_logs_on_failure(op):
        created = await client.create(
            kube.APIBRIDGE, bridge("tenant-a", podSelector={"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}})
        )
        ready = await wait_condition(client, "tenant-a", "Ready", "True", "Reconciled")
        assert ready["observedGeneration"] == 1
        expected = (await rendered(client)).bridges["tenant-a"]
        nad = await client.get(kube.NAD, expected.nad_name, expected.nad_namespace)
        subnet = await client.get(kube.SUBNET, expected.subnet_name)
        assert same_as_manifest(nad, expected.nad)
        assert same_as_manifest(subnet, expected.subnet)
        for obj in (nad, subnet):
            assert obj is not None
            refs = kube.meta(obj)["ownerReferences"]
            assert refs == [
                {
                    "apiVersion": rules.APIBRIDGE_API,
                    "kind": "ApiBridge",
                    "name": "tenant-a",
                    "uid": created["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
        status = (await client.get(kube.APIBRIDGE, "tenant-a") or {})["status"]
        assert status["nad"] == f"{expected.nad_namespace}/{expected.nad_name}"
        assert status["subnet"] == expected.subnet_name
        assert status["provider"] == expected.provider == f"{expected.nad_name}.{expected.nad_namespace}.ovn"
        assert status["cidrBlock"] == expected.cidr_block
        assert status["gateways"] == [str(g) for g in expected.gateways]
        assert status["routes"] == [{"dst": "10.96.0.1/32", "gw": str(expected.gateways[0])}]
        assert status["observedGeneration"] == 1
        assert {c["type"]: c["status"] for c in status["conditions"]} == {
            "Ready": "True",
            "Validated": "True",
            "Degraded": "False",
        }
        assert all(c["lastTransitionTime"] for c in status["conditions"])
        # the same as `apibridge render` on the same objects, byte for byte where it matters
        by_kind = {m["kind"]: m for m in await render_cli(client, tmp_path)}
        assert by_kind["NetworkAttachmentDefinition"] == expected.nad
        assert by_kind["Subnet"] == expected.subnet
        assert same_as_manifest(nad, by_kind["NetworkAttachmentDefinition"])
        assert same_as_manifest(subnet, by_kind["Subnet"])


async def test_foreign_object_holding_the_name_is_never_taken_over(
    client: Client, operators: Callable[..., OperatorProcess]
) -> None:
    foreign = await client.create(
        kube.SUBNET,
        {
            "apiVersion": rules.KUBEOVN_API,
            "kind": "Subnet",
            "metadata": {"name": "apibridge-tenant-a"},
            "spec": {"cidrBlock": "192.168.77.0/24", "provider": "someone-else"},
        },
    )
    op = operators()
    with operator_logs_on_failure(op):
        await client.create(kube.APIBRIDGE, bridge("tenant-a"))
        degraded = await wait_condition(client, "tenant-a", "Degraded", "True", "NameTaken")
        assert "Subnet/apibridge-tenant-a" in degraded["message"]
        ready = await wait_condition(client, "tenant-a", "Ready", "False", "NameTaken")
        assert "not ours" in ready["message"]
        # another pass (any watched change) must still leave it alone
        await poke_and_wait_pass(client, op, "1")
        # both or neither (issue #13): no NAD without its Subnet
        assert await client.get(kube.NAD, "apibridge-tenant-a", "kube-system") is None
        after = await client.get(kube.SUBNET, "apibridge-tenant-a")
        assert after is not None
        assert after["metadata"]["resourceVersion"] == foreign["metadata"]["resourceVersion"]
        assert after["spec"] == foreign["spec"]
        assert "ownerReferences" not in after["metadata"]


def kube_dns(cluster_ip: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system"},
        "spec": {
            "clusterIP": cluster_ip,
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP"},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
            ],
        },
    }


async def test_replans_when_a_destination_cluster_ip_changes(
    client: Client, operators: Callable[..., OperatorProcess]
) -> None:
    """A ClusterIP is immutable; it changes when the Service is re-created (the API server's own
    ``kubernetes`` Service is reconciled to 10.96.0.1, so kube-dns plays the part here)."""
    await client.create(kube.SERVICE, kube_dns("10.96.0.10"))
    op = operators()
    with operator_logs_on_failure(op):
        await client.create(kube.APIBRIDGE, bridge("tenant-a", destinations={"dns": True}))
        await wait_condition(client, "tenant-a", "Ready", "True")

        async def acls_name(ip: str, gone: str | None = None) -> bool:
            subnet = await client.get(kube.SUBNET, "apibridge-tenant-a") or {}
            matches = [a["match"] for a in subnet.get("spec", {}).get("acls", [])]
            return any(f"ip4.dst == {ip} " in m for m in matches) and not (gone and any(gone in m for m in matches))

        await eventually(lambda: acls_name("10.96.0.10"), what="ACLs for kube-dns 10.96.0.10")
        await client.delete(kube.SERVICE, "kube-dns", "kube-system")
        await client.create(kube.SERVICE, kube_dns("10.96.0.11"))
        await eventually(lambda: acls_name("10.96.0.11", gone="10.96.0.10 "), what="ACLs to follow the new ClusterIP")
        expected = (await rendered(client)).bridges["tenant-a"]
        assert same_as_manifest(await client.get(kube.SUBNET, "apibridge-tenant-a"), expected.subnet)


async def test_writes_only_what_differs_and_restores_what_we_own(
    client: Client, operators: Callable[..., OperatorProcess]
) -> None:
    op = operators()
    with operator_logs_on_failure(op):
        await client.create(kube.APIBRIDGE, bridge("tenant-a"))
        await wait_condition(client, "tenant-a", "Ready", "True")
        await poke_and_wait_pass(client, op, "0")
        nad = await client.get(kube.NAD, "apibridge-tenant-a", "kube-system") or {}
        subnet = await client.get(kube.SUBNET, "apibridge-tenant-a") or {}
        bridge_obj = await client.get(kube.APIBRIDGE, "tenant-a") or {}
        # unrelated watched changes cause passes, but no writes
        for i in range(1, 4):
            await poke_and_wait_pass(client, op, str(i))
        for kind, obj in ((kube.NAD, nad), (kube.SUBNET, subnet), (kube.APIBRIDGE, bridge_obj)):
            now = await client.get(kind, kube.name_of(obj), kube.namespace_of(obj)) or {}
            assert now["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"], kind.kind
        # Kube-OVN adds spec keys of its own: left alone. A key we own is put back.
        await client.patch(
            kube.SUBNET, "apibridge-tenant-a", {"spec": {"enableDHCP": False, "enableLb": False, "acls": None}}
        )

        async def restored() -> bool:
            s = await client.get(kube.SUBNET, "apibridge-tenant-a") or {}
            return s["spec"].get("enableLb") is True and bool(s["spec"].get("acls"))

        await eventually(restored, what="enableLb and the ACLs restored")
        final = await client.get(kube.SUBNET, "apibridge-tenant-a") or {}
        assert final["spec"]["enableDHCP"] is False
        expected = (await rendered(client)).bridges["tenant-a"]
        assert {k: v for k, v in final["spec"].items() if k != "enableDHCP"} == expected.subnet["spec"]


async def test_isolation_open_removes_the_fence_and_nad_namespace_moves(
    client: Client, operators: Callable[..., OperatorProcess]
) -> None:
    op = operators()
    with operator_logs_on_failure(op):
        await client.create(kube.APIBRIDGE, bridge("tenant-a"))
        await wait_condition(client, "tenant-a", "Ready", "True")
        await client.patch(kube.APIBRIDGE, "tenant-a", {"spec": {"isolation": "open", "nadNamespace": "default"}})

        async def moved() -> bool:
            s = await client.get(kube.SUBNET, "apibridge-tenant-a") or {}
            old = await client.get(kube.NAD, "apibridge-tenant-a", "kube-system")
            new = await client.get(kube.NAD, "apibridge-tenant-a", "default")
            return "acls" not in s.get("spec", {}) and old is None and new is not None

        await eventually(moved, what="ACLs dropped, the NAD moved to default")
        ready = await wait_condition(client, "tenant-a", "Ready", "True")
        assert ready["observedGeneration"] == 2
        expected = (await rendered(client)).bridges["tenant-a"]
        assert expected.provider == "apibridge-tenant-a.default.ovn"
        assert same_as_manifest(await client.get(kube.SUBNET, "apibridge-tenant-a"), expected.subnet)
        assert same_as_manifest(await client.get(kube.NAD, "apibridge-tenant-a", "default"), expected.nad)


async def test_deleting_the_bridge_removes_its_objects_and_sweeps_orphans(
    client: Client, operators: Callable[..., OperatorProcess]
) -> None:
    def subnet(name: str, labels: dict[str, str], cidr: str) -> dict[str, Any]:
        meta = {"name": name, "labels": labels}
        return {"apiVersion": rules.KUBEOVN_API, "kind": "Subnet", "metadata": meta, "spec": {"cidrBlock": cidr}}

    # an object of ours whose bridge is gone and which GC cannot know about (no ownerReference)
    labels = {rules.BRIDGE_LABEL: "ghost", rules.MANAGED_BY_LABEL: rules.MANAGED_BY}
    await client.create(kube.SUBNET, subnet("apibridge-ghost", labels, "100.100.99.0/24"))
    # ...and lookalikes that are not ours: wrong name, or no managed-by label
    await client.create(kube.SUBNET, subnet("keep-me", labels, "100.100.98.0/24"))
    await client.create(kube.SUBNET, subnet("apibridge-other", {rules.BRIDGE_LABEL: "other"}, "100.100.97.0/24"))
    op = operators()
    with operator_logs_on_failure(op):
        await client.create(kube.APIBRIDGE, bridge("tenant-a"))
        await wait_condition(client, "tenant-a", "Ready", "True")
        await eventually(lambda: _absent(client, kube.SUBNET, "apibridge-ghost"), what="the orphan swept")
        await client.delete(kube.APIBRIDGE, "tenant-a")
        await eventually(lambda: _absent(client, kube.SUBNET, "apibridge-tenant-a"), what="the Subnet deleted")
        await eventually(lambda: _absent(client, kube.NAD, "apibridge-tenant-a", "kube-system"), what="the NAD deleted")
        assert await client.get(kube.SUBNET, "keep-me") is not None
        assert await client.get(kube.SUBNET, "apibridge-other") is not None


async def _absent(client: Client, kind: kube.Kind, name: str, namespace: str | None = None) -> bool:
    return await client.get(kind, name, namespace) is None


async def test_validation_errors_and_invalid_specs_show_in_conditions(
    client: Client, operators: Callable[..., OperatorProcess]
) -> None:
    op = operators()
    with operator_logs_on_failure(op):
        await client.create(kube.APIBRIDGE, bridge("lost", vpc="no-such-vpc"))
        validated = await wait_condition(client, "lost", "Validated", "False", "ValidationFailed")
        assert "AB111" in validated["message"]
        await wait_condition(client, "lost", "Ready", "False", "ValidationFailed")
        # passes the CRD's pattern, not the model: two IPv4 CIDRs
        await client.create(kube.APIBRIDGE, bridge("twice", cidrBlock="100.100.5.0/24,100.100.6.0/24"))
        invalid = await wait_condition(client, "twice", "Validated", "False", "InvalidSpec")
        assert "spec.cidrBlock" in invalid["message"]
        await wait_condition(client, "twice", "Ready", "False", "InvalidSpec")
        # a good bridge next to them is not held back
        await client.create(kube.APIBRIDGE, bridge("tenant-b", vpc="tenant-b"))
        await wait_condition(client, "tenant-b", "Ready", "True")


async def test_a_tenant_policy_that_drops_the_api_degrades_the_bridge_and_lifting_it_clears(
    client: Client, operators: Callable[..., OperatorProcess]
) -> None:
    """The operator watches NetworkPolicies (with the chart's RBAC) and judges them with check's AB310."""
    labels = {"app.kubernetes.io/name": "ingress-nginx"}
    op = operators()
    with operator_logs_on_failure(op):
        await client.create(kube.APIBRIDGE, bridge("tenant-a", podSelector={"matchLabels": labels}))
        await wait_condition(client, "tenant-a", "Ready", "True")
        bp = (await rendered(client)).bridges["tenant-a"]
        await client.create(kube.POD, pod("good", labels=labels, annotations=pod_mutation({}, "ingress-nginx", bp)))
        await client.create(kube.NETWORKPOLICY, deny_egress())
        degraded = await wait_condition(client, "tenant-a", "Degraded", "True", "NetworkPolicyDropsApi")
        assert "NetworkPolicy/ingress-nginx/deny-egress" in degraded["message"] and "AB310" in degraded["message"]
        await wait_condition(client, "tenant-a", "Ready", "True")  # its objects stay as planned
        await client.delete(kube.NETWORKPOLICY, "deny-egress", "ingress-nginx")
        await wait_condition(client, "tenant-a", "Degraded", "False", "AsExpected")


async def _events(client: Client, namespace: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in await client.list(kube.EVENT, namespace) if e.get("reason") == reason]


async def test_pods_created_without_the_mutation_are_reported(
    client: Client, operators: Callable[..., OperatorProcess]
) -> None:
    labels = {"app.kubernetes.io/name": "ingress-nginx"}
    await client.create(kube.POD, pod("old-1", labels=labels))  # predates the bridge
    await client.create(kube.POD, pod("other", labels={"app": "x"}))  # not selected
    op = operators()
    with operator_logs_on_failure(op):
        await client.create(kube.APIBRIDGE, bridge("tenant-a", podSelector={"matchLabels": labels}))
        await wait_condition(client, "tenant-a", "Ready", "True")
        await client.create(kube.POD, pod("old-2", labels=labels))  # webhook down
        # a pod the webhook did mutate
        bp = (await rendered(client)).bridges["tenant-a"]
        await client.create(kube.POD, pod("good", labels=labels, annotations=pod_mutation({}, "ingress-nginx", bp)))

        async def counted() -> dict[str, Any] | None:
            status = (await client.get(kube.APIBRIDGE, "tenant-a") or {}).get("status", {})
            return status if status.get("podsPendingRestart") == 2 and status.get("podsInjected") == 1 else None

        await eventually(counted, what="podsPendingRestart 2, podsInjected 1")
        degraded = await wait_condition(client, "tenant-a", "Degraded", "True", "PodsPendingRestart")
        assert "ingress-nginx/old-1" in degraded["message"] and "ingress-nginx/old-2" in degraded["message"]

        async def pod_events() -> list[dict[str, Any]] | None:
            found = await _events(client, "ingress-nginx", "ApiBridgeAttachmentMissing")
            return found if len(found) == 2 else None

        found = await eventually(pod_events, what="an event on each pod")
        assert {e["involvedObject"]["name"] for e in found} == {"old-1", "old-2"}
        assert all(bp.nad_name in e["message"] for e in found)
        bridge_events = await _events(client, "default", "PodPendingRestart")
        assert {e["involvedObject"]["name"] for e in bridge_events} == {"tenant-a"}
        assert len(bridge_events) == 2
        # the same drift on later passes is not announced again
        await poke_and_wait_pass(client, op, "again")
        assert len(await _events(client, "ingress-nginx", "ApiBridgeAttachmentMissing")) == 2
        # bare pods are reported, never deleted
        assert await client.get(kube.POD, "old-1", "ingress-nginx") is not None
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{op.metrics_port}/metrics") as r:
            metrics = await r.text()
        for line in (
            'apibridge_pods_pending_restart{bridge="tenant-a"} 2.0',
            "apibridge_bridges_ready 1.0",
            "apibridge_bridges 1.0",
            "apibridge_leader 1.0",
            'apibridge_reconciles_total{result="error"} 0.0',
        ):
            assert line in metrics.splitlines(), line
        assert "apibridge_reconcile_duration_seconds_count" in metrics


async def test_rollout_restart_restarts_owners_once_per_generation_at_a_bounded_rate(
    client: Client, operators: Callable[..., OperatorProcess]
) -> None:
    await workload_with_pod(client, "ctrl-a")
    await workload_with_pod(client, "ctrl-b")
    op = operators(rollout_rate="1/2s")
    with operator_logs_on_failure(op):
        await client.create(kube.APIBRIDGE, bridge("tenant-a", rollout="restart"))
        seen: dict[str, float] = {}
        stamps: dict[str, str] = {}

        async def both_restarted() -> bool:
            for name in ("ctrl-a", "ctrl-b"):
                dep = await client.get(kube.DEPLOYMENT, name, "ingress-nginx") or {}
                stamp = (dep["spec"]["template"]["metadata"].get("annotations") or {}).get(
                    rules.ROLLOUT_RESTART_ANNOTATION
                )
                if stamp and name not in seen:
                    seen[name], stamps[name] = time.monotonic(), stamp
            return len(seen) == 2

        await eventually(both_restarted, interval=0.05, what="both Deployments restarted")
        first, second = sorted(seen.values())
        assert second - first >= 1.5, f"restarts {second - first:.2f}s apart; the rate is 1/2s"
        # the new pods would still lack the mutation (no webhook): no second restart for this generation
        await poke_and_wait_pass(client, op, "1")
        await asyncio.sleep(2.5)
        await poke_and_wait_pass(client, op, "2")
        for name in ("ctrl-a", "ctrl-b"):
            dep = await client.get(kube.DEPLOYMENT, name, "ingress-nginx") or {}
            assert dep["spec"]["template"]["metadata"]["annotations"][rules.ROLLOUT_RESTART_ANNOTATION] == stamps[name]
            assert kube.annotations_of(dep)[rules.RESTARTED_FOR_ANNOTATION].endswith("/1")
        restarted = await _events(client, "default", "RolloutRestart")
        assert len(restarted) == 2
        # a new generation may restart again, once
        await client.patch(kube.APIBRIDGE, "tenant-a", {"spec": {"isolation": "open"}})

        async def marked_gen2() -> bool:
            deps = [await client.get(kube.DEPLOYMENT, n, "ingress-nginx") or {} for n in ("ctrl-a", "ctrl-b")]
            return all(kube.annotations_of(d).get(rules.RESTARTED_FOR_ANNOTATION, "").endswith("/2") for d in deps)

        await eventually(marked_gen2, what="both restarted for generation 2")


async def test_a_cidr_change_under_pods_in_use_is_not_written_and_the_bridge_says_why(
    client: Client, operators: Callable[..., OperatorProcess]
) -> None:
    """Editing a live bridge's cidrBlock while its Subnet has addresses in use: the operator rewrote the Subnet
    in place and stayed Ready; Kube-OVN v1.16.2's webhook denies that gateway change (AB119)."""
    op = operators()
    with operator_logs_on_failure(op):
        await client.create(kube.APIBRIDGE, bridge("tenant-a", cidrBlock="100.100.7.0/24"))
        await wait_condition(client, "tenant-a", "Ready", "True")
        # kube-ovn-controller's count of the addresses it gave out on the bridge's Subnet (two pods)
        await client.patch(kube.SUBNET, "apibridge-tenant-a", {"status": {"v4usingIPs": 2}}, subresource="status")
        await client.patch(kube.APIBRIDGE, "tenant-a", {"spec": {"cidrBlock": "100.100.9.0/24"}})
        validated = await wait_condition(client, "tenant-a", "Validated", "False", "ValidationFailed")
        assert "AB119" in validated["message"] and "100.100.7.0/24" in validated["message"]
        await wait_condition(client, "tenant-a", "Ready", "False")
        subnet = await client.get(kube.SUBNET, "apibridge-tenant-a") or {}
        assert subnet["spec"]["cidrBlock"] == "100.100.7.0/24"  # not rewritten under the pods
        # drained (no address in use): the move is written
        await client.patch(kube.SUBNET, "apibridge-tenant-a", {"status": {"v4usingIPs": 0}}, subresource="status")
        await wait_condition(client, "tenant-a", "Ready", "True")
        moved = await client.get(kube.SUBNET, "apibridge-tenant-a") or {}
        assert moved["spec"]["cidrBlock"] == "100.100.9.0/24"
