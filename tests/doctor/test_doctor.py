"""``apibridge doctor`` against the real kube-apiserver: a healthy pod passes, each broken link is named."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from opkit import ROOT, bridge, deny_egress, dump, free_port, pod

from apibridge.base.kubeclient import Client
from apibridge.cli.operator_cmds import doctor_command
from apibridge.kubeovn import rules
from apibridge.model.cluster import Cluster
from apibridge.model.load import Document
from apibridge.operator import kube
from apibridge.plan.mutation import pod_mutation
from apibridge.plan.planner import plan
from apibridge.plan.types import BridgePlan

pytestmark = pytest.mark.kube

LABELS = {"app.kubernetes.io/name": "ingress-nginx"}


async def doctor(kubeconfig: Path, *args: str) -> Result:
    """Run the click command in a thread: it has its own event loop; ours keeps running the test."""
    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke, doctor_command, list(args), env={"KUBECONFIG": str(kubeconfig)}, catch_exceptions=False
    )


def kube_ovn_and_multus(
    annotations: dict[str, str], provider: str, nad: str, subnet: str, ip: str, *, ifname: str = "net1"
) -> dict[str, str]:
    """What kube-ovn-controller and Multus write once the attachment is up."""
    out = dict(annotations)
    out.update(
        {
            rules.provider_key(provider, rules.ALLOCATED): "true",
            rules.provider_key(provider, rules.ROUTED): "true",
            rules.provider_key(provider, rules.IP_ADDRESS): ip,
            rules.provider_key(provider, rules.LOGICAL_SWITCH): subnet,
            rules.provider_key(rules.OVN_PROVIDER, rules.ALLOCATED): "true",
            rules.NETWORK_STATUS_ANNOTATION: json.dumps(
                [
                    {"name": "kube-ovn", "interface": "eth0", "ips": ["10.0.1.7"], "default": True, "dns": {}},
                    {"name": nad, "interface": ifname, "ips": [ip], "mac": "0a:58:64:64:00:02", "dns": {}},
                ]
            ),
        }
    )
    return out


async def bridged(client: Client, **pod_changes: Any) -> BridgePlan:
    """Bridge tenant-a with its planned NAD and Subnet applied, and a pod set up as it would be in a cluster."""
    await client.create(kube.APIBRIDGE, bridge("tenant-a", podSelector={"matchLabels": LABELS}))
    bp = plan(Cluster.from_documents([Document(o, "t", i) for i, o in enumerate(await dump(client))])).bridges[
        "tenant-a"
    ]
    await client.create(kube.NAD, bp.nad)
    await client.create(kube.SUBNET, bp.subnet)
    ip = str(bp.cidrs[0].network_address + 2)
    annotations = kube_ovn_and_multus(
        pod_mutation({}, "ingress-nginx", bp), bp.provider, f"{bp.nad_namespace}/{bp.nad_name}", bp.subnet_name, ip
    )
    body = pod("ctrl", labels=LABELS, annotations=annotations)
    body["spec"]["nodeName"] = "kind-control-plane"
    for key, value in pod_changes.items():
        if value is None:
            body["metadata"]["annotations"].pop(key, None)
        else:
            body["metadata"]["annotations"][key] = value
    await client.create(kube.POD, body)
    return bp


async def test_healthy_pod_passes(client: Client, kubeconfig: Path) -> None:
    bp = await bridged(client)
    result = await doctor(kubeconfig, "ctrl", "-n", "ingress-nginx")
    assert result.exit_code == 0, result.output
    assert "All links hold" in result.output
    assert f"ApiBridge tenant-a → NAD kube-system/{bp.nad_name} → provider {bp.provider}" in result.output
    data = json.loads((await doctor(kubeconfig, "ingress-nginx/ctrl", "-o", "json")).output)
    assert data["healthy"] is True and data["broken"] is None
    assert [x["status"] for x in data["links"]] == ["ok"] * len(data["links"])
    keys = [x["key"] for x in data["links"]]
    assert keys == [
        "selection",
        "nad.exists",
        "nad.type",
        "nad.provider",
        "subnet.provider",
        "subnet.vpc",
        "subnet.lb",
        "subnet.gateway",
        "subnet.fence",
        "pod.networks",
        "pod.routes",
        "pod.logical_switch",
        "kubeovn.allocated",
        "kubeovn.routed",
        "multus.status",
        "netpol.egress",
    ]


async def broken(kubeconfig: Path, *extra: str) -> dict[str, Any]:
    result = await doctor(kubeconfig, "ctrl", "-n", "ingress-nginx", "-o", "json", *extra)
    assert result.exit_code == 1, result.output
    data: dict[str, Any] = json.loads(result.output)
    assert data["healthy"] is False
    return data["broken"]  # type: ignore[no-any-return]


async def test_a_tenant_egress_policy_is_listed_and_named(client: Client, kubeconfig: Path) -> None:
    """doctor lists the pod's namespace's NetworkPolicies and judges them as check does (AB310)."""
    await bridged(client)
    await client.create(kube.NETWORKPOLICY, deny_egress())
    link = await broken(kubeconfig)
    assert link["key"] == "netpol.egress"
    assert "NetworkPolicy/ingress-nginx/deny-egress" in link["detail"] and "AB310" in link["detail"]


async def test_missing_nad(client: Client, kubeconfig: Path) -> None:
    bp = await bridged(client)
    await client.delete(kube.NAD, bp.nad_name, bp.nad_namespace)
    link = await broken(kubeconfig)
    assert link["key"] == "nad.exists"
    assert f"NAD kube-system/{bp.nad_name} was not found" in link["detail"]
    assert "operator" in link["fix"]
    text = (await doctor(kubeconfig, "ctrl", "-n", "ingress-nginx")).output
    assert f"Broken link: NetworkAttachmentDefinition kube-system/{bp.nad_name} exists" in text


async def test_provider_mismatch(client: Client, kubeconfig: Path) -> None:
    bp = await bridged(client)
    config = json.loads(bp.nad["spec"]["config"])
    config["provider"] = "api-ovn-nad.default.ovn"
    await client.patch(kube.NAD, bp.nad_name, {"spec": {"config": json.dumps(config)}}, bp.nad_namespace)
    link = await broken(kubeconfig)
    assert link["key"] == "nad.provider"
    assert "'api-ovn-nad.default.ovn'" in link["detail"] and bp.provider in link["detail"]
    assert f'"provider": "{bp.provider}"' in link["fix"]


async def test_no_subnet_for_the_provider(client: Client, kubeconfig: Path) -> None:
    bp = await bridged(client, **{rules.provider_key("apibridge-tenant-a.kube-system.ovn", rules.LOGICAL_SWITCH): None})
    await client.delete(kube.SUBNET, bp.subnet_name)
    link = await broken(kubeconfig)
    assert link["key"] == "subnet.provider"
    assert f"provider {bp.provider} is not bound to any subnet" in link["detail"]


async def test_subnet_links_are_the_validators(client: Client, kubeconfig: Path) -> None:
    """The Subnet links are judged by the validator's rules, in its words: the finding's code, message and hint."""
    bp = await bridged(client)
    await client.patch(kube.SUBNET, bp.subnet_name, {"spec": {"enableLb": False}})
    link = await broken(kubeconfig, "--no-kube-proxy")  # with kube-proxy the host DNATs it (AB027, info)
    assert link["key"] == "subnet.lb" and link["detail"].startswith("AB021: enableLb: false")
    assert "set it to true" in link["fix"] and "ApiBridge tenant-a" in link["fix"]
    await client.patch(kube.SUBNET, bp.subnet_name, {"spec": {"enableLb": True, "gateway": "10.9.9.1"}})
    link = await broken(kubeconfig)
    assert link["key"] == "subnet.gateway"
    assert link["detail"] == f"AB001: gateway 10.9.9.1 is not in cidr {bp.cidrs[0]}"


async def test_several_subnets_for_one_provider(client: Client, kubeconfig: Path) -> None:
    bp = await bridged(client, **{rules.provider_key("apibridge-tenant-a.kube-system.ovn", rules.LOGICAL_SWITCH): None})
    await client.create(
        kube.SUBNET,
        {
            "apiVersion": rules.KUBEOVN_API,
            "kind": "Subnet",
            "metadata": {"name": "twin"},
            "spec": {"protocol": "IPv4", "cidrBlock": "100.100.250.0/24", "provider": bp.provider},
        },
    )
    link = await broken(kubeconfig)
    assert link["key"] == "subnet.provider" and link["detail"].startswith("AB037: ")
    assert "twin" in link["detail"]


async def test_missing_route(client: Client, kubeconfig: Path) -> None:
    routes_key = rules.provider_key("apibridge-tenant-a.kube-system.ovn", rules.ROUTES)
    await bridged(client, **{routes_key: '[{"dst":"10.96.0.10/32","gw":"100.100.0.1"}]'})
    link = await broken(kubeconfig)
    assert link["key"] == "pod.routes"
    assert "10.96.0.1/32" in link["detail"]
    assert "recreate" in link["fix"]


async def test_network_status_without_net1(client: Client, kubeconfig: Path) -> None:
    bp = await bridged(client)
    obj = await client.get(kube.POD, "ctrl", "ingress-nginx") or {}
    status = json.loads(obj["metadata"]["annotations"][rules.NETWORK_STATUS_ANNOTATION])
    status[1]["interface"] = "net2"
    await client.patch(
        kube.POD,
        "ctrl",
        {"metadata": {"annotations": {rules.NETWORK_STATUS_ANNOTATION: json.dumps(status)}}},
        "ingress-nginx",
    )
    link = await broken(kubeconfig)
    assert link["key"] == "multus.status"
    assert f"kube-system/{bp.nad_name} entry is on interface net2, not net1" in link["detail"]
    await client.patch(
        kube.POD,
        "ctrl",
        {"metadata": {"annotations": {rules.NETWORK_STATUS_ANNOTATION: json.dumps(status[:1])}}},
        "ingress-nginx",
    )
    link = await broken(kubeconfig)
    assert link["key"] == "multus.status" and "has no entry for" in link["detail"]


async def test_not_allocated_by_kube_ovn(client: Client, kubeconfig: Path) -> None:
    await bridged(
        client,
        **{
            rules.provider_key("apibridge-tenant-a.kube-system.ovn", rules.ALLOCATED): None,
            rules.provider_key("apibridge-tenant-a.kube-system.ovn", rules.ROUTED): None,
        },
    )
    link = await broken(kubeconfig)
    assert link["key"] == "kubeovn.allocated" and "PodNetworkAllocationFailed" in link["fix"]


async def test_pod_without_the_mutation(client: Client, kubeconfig: Path) -> None:
    await bridged(client, **{rules.NETWORKS_ANNOTATION: None})
    link = await broken(kubeconfig)
    assert link["key"] == "pod.networks" and "annotation is missing" in link["detail"]


async def test_the_seeds_hand_written_attachment(client: Client, kubeconfig: Path) -> None:
    """No ApiBridge: the seed's NAD, Subnet and annotations, checked link by link (no fence: a warning)."""
    provider = rules.nad_provider(rules.SEED_NAD_NAME, rules.SEED_NAD_NAMESPACE)
    config = {"cniVersion": "0.3.0", "type": "kube-ovn", "server_socket": rules.NAD_SERVER_SOCKET, "provider": provider}
    await client.create(
        kube.NAD,
        {
            "apiVersion": rules.NAD_API,
            "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": rules.SEED_NAD_NAME, "namespace": rules.SEED_NAD_NAMESPACE},
            "spec": {"config": json.dumps(config)},
        },
    )
    await client.create(
        kube.SUBNET,
        {
            "apiVersion": rules.KUBEOVN_API,
            "kind": "Subnet",
            "metadata": {"name": rules.SEED_SUBNET},
            "spec": {"protocol": "IPv4", "cidrBlock": rules.SEED_CIDR, "provider": provider},
        },
    )
    nad = f"{rules.SEED_NAD_NAMESPACE}/{rules.SEED_NAD_NAME}"
    annotations = kube_ovn_and_multus(
        {
            rules.NETWORKS_ANNOTATION: nad,
            rules.provider_key(provider, rules.ROUTES): '[{"dst":"10.96.0.1/32","gw":"100.100.100.1"}]',
        },
        provider,
        nad,
        rules.SEED_SUBNET,
        "100.100.100.2",
    )
    await client.create(kube.POD, pod("ctrl", annotations=annotations))
    result = await doctor(kubeconfig, "ctrl", "-n", "ingress-nginx", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["bridge"] is None and data["nad"] == nad and data["subnet"] == rules.SEED_SUBNET
    statuses = {x["key"]: x["status"] for x in data["links"]}
    assert statuses.pop("subnet.fence") == "warning"
    assert set(statuses.values()) == {"ok"}


async def test_nothing_gives_the_pod_access(client: Client, kubeconfig: Path) -> None:
    await client.create(kube.POD, pod("lonely"))
    result = await doctor(kubeconfig, "lonely", "-n", "ingress-nginx")
    assert result.exit_code == 1
    assert "there is no ApiBridge in the cluster" in result.output
    assert "spec.vpc: tenant-a" in result.output


async def test_a_default_vpc_pod_needs_no_attachment(client: Client, kubeconfig: Path) -> None:
    """A pod of the default VPC reaches the API server directly: doctor must not send it to make a bridge."""
    await client.create(kube.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web"}})
    await client.create(kube.POD, pod("site", "web"))
    result = await doctor(kubeconfig, "site", "-n", "web")
    assert result.exit_code == 0, result.output
    assert "default VPC" in result.output and "ApiBridge with spec.vpc" not in result.output


async def test_unusable_input_exits_2(client: Client, kubeconfig: Path, tmp_path: Path) -> None:
    result = await doctor(kubeconfig, "nope", "-n", "ingress-nginx")
    assert result.exit_code == 2 and "pod ingress-nginx/nope not found" in result.output
    dead = tmp_path / "dead-kubeconfig"
    dead.write_text(
        kubeconfig.read_text().replace(
            kubeconfig.read_text().split("server: ")[1].split()[0], f"http://127.0.0.1:{free_port()}"
        )
    )
    result = await doctor(dead, "ctrl", "-n", "ingress-nginx")
    assert result.exit_code == 2 and "error:" in result.output


@pytest.mark.slow
async def test_as_a_process(client: Client, kubeconfig: Path) -> None:
    await bridged(client, **{rules.NETWORKS_ANNOTATION: None})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from apibridge.cli.main import main; main()",
        "doctor",
        "ctrl",
        "-n",
        "ingress-nginx",
        env={"KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1, (out, err)
    assert b"Broken link: the pod's k8s.v1.cni.cncf.io/networks lists" in out


async def test_a_workload_has_each_of_its_pods_walked(client: Client, kubeconfig: Path) -> None:
    """``doctor deploy/x``: the Deployment's selector finds its pods (the healthy ``ctrl`` and one the webhook
    missed); each is walked, and the command fails because one link is broken."""
    await bridged(client)
    await client.create(kube.POD, pod("missed", labels=LABELS))
    await client.create(kube.POD, pod("other", labels={"app": "other"}))  # not the Deployment's
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "controller", "namespace": "ingress-nginx"},
        "spec": {
            "selector": {"matchLabels": LABELS},
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]},
            },
        },
    }
    await client.create(kube.DEPLOYMENT, dep)
    result = await doctor(kubeconfig, "-n", "ingress-nginx", "deploy/controller", "-o", "json")
    assert result.exit_code == 1, result.output
    found = {d["pod"]: d for d in json.loads(result.output)}
    assert set(found) == {"ingress-nginx/ctrl", "ingress-nginx/missed"}
    assert found["ingress-nginx/ctrl"]["healthy"] is True
    assert found["ingress-nginx/missed"]["broken"]["key"] == "pod.networks"
    text = (await doctor(kubeconfig, "-n", "ingress-nginx", "deployment/controller")).output
    assert "Pod ingress-nginx/ctrl" in text and "Pod ingress-nginx/missed" in text
    missing = await doctor(kubeconfig, "-n", "ingress-nginx", "sts/nope")
    assert missing.exit_code == 2 and "StatefulSet ingress-nginx/nope not found" in missing.output


async def test_an_unknown_kind_prefix_with_a_namespace_is_refused(kubeconfig: Path) -> None:
    result = await doctor(kubeconfig, "-n", "ingress-nginx", "job/x")
    assert result.exit_code == 2 and "deploy/NAME" in result.output
