"""The controller's least privilege on a real kube-apiserver, with its own ServiceAccount token.

The chart (real Helm, ``controller.restarts.enabled``) is applied as far as privileges go — ServiceAccounts,
RBAC and the ValidatingAdmissionPolicies — and the controller's token then tries what it must and must not
do: its own Subnet yes, a Subnet it does not own no; a rollout restart of a workload in a bridge's
namespace yes, any other change to that workload no, a restart outside the bridge's namespaces no.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from apibridge.kubeovn import rules
from kube.cluster import KubeCluster, KubeError

from .helm import NAMESPACE, merge, template
from .test_tenancy_policy_kube import NAMESPACES, bridge_subnet

VALUES = {
    "webhook": {"tls": {"cert": "x", "key": "x", "caBundle": "x"}},
    "networkPolicy": {"webhookFromAnywhere": True},
    "controller": {"restarts": {"enabled": True}},
}
PRIVILEGE_KINDS = {
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
}
RESTARTED_AT = rules.ROLLOUT_RESTART_ANNOTATION


def deployment(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "x"}},
            "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "c", "image": "registry.invalid/app:1"}]},
            },
        },
    }


def refused(kube: KubeCluster, method: str, path: str, body: Any, token: str, ctype: str) -> str | None:
    try:
        kube.request(method, path, body, token=token, content_type=ctype)
    except KubeError as exc:
        assert exc.status in (403, 422), exc.body
        return str(exc.body.get("message") if isinstance(exc.body, dict) else exc.body)
    return None


MERGE = "application/merge-patch+json"


def restart(marker: str, stamp: str = "2026-12-03T08:00:00Z") -> dict[str, Any]:
    """What the controller's restart patch writes (``operator.drift.restart_patch``)."""
    return {
        "metadata": {"annotations": {rules.RESTARTED_FOR_ANNOTATION: marker}},
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}},
    }


@pytest.fixture(scope="module")
def controller(kube: KubeCluster) -> Iterator[tuple[KubeCluster, str]]:
    docs = [d for d in template("helm3", VALUES) if d["kind"] in PRIVILEGE_KINDS]
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    for ns, subnets in NAMESPACES.items():
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "annotations": {rules.PRIMARY_LOGICAL_SWITCH_ANNOTATION: subnets}},
            }
        )
    text = yaml.safe_dump_all(docs)
    kube.kubectl("apply", "--server-side", "-f", "-", input=text)
    kube.apply(bridge_subnet())
    foreign = {
        "apiVersion": "kubeovn.io/v1",
        "kind": "Subnet",
        "metadata": {"name": "someone-else"},
        "spec": {"cidrBlock": "10.200.0.0/24", "protocol": "IPv4"},
    }
    kube.apply(foreign)
    for ns in ("ns1", "ns2"):
        kube.apply(deployment(ns))
    token = kube.service_account_token(NAMESPACE, "apibridge-controller")
    # wait until the policies are in force: a foreign Subnet patch by the controller is refused
    kube.wait(
        lambda: refused(kube, "PATCH", "/apis/kubeovn.io/v1/subnets/someone-else", {"metadata": {}}, token, MERGE),
        what="the controller policies to be enforced",
    )
    yield kube, token
    kube.kubectl("delete", "--ignore-not-found", "-f", "-", input=text)
    for name in ("someone-else", bridge_subnet()["metadata"]["name"]):
        kube.request("DELETE", f"/apis/kubeovn.io/v1/subnets/{name}")
    for ns in ("ns1", "ns2"):
        kube.request("DELETE", f"/apis/apps/v1/namespaces/{ns}/deployments/app")


def test_its_own_subnet_yes_a_foreign_one_no(controller: tuple[KubeCluster, str]) -> None:
    kube, token = controller
    own = bridge_subnet()["metadata"]["name"]
    patch = {"metadata": {"annotations": {"example.com/touched": "yes"}}}
    assert refused(kube, "PATCH", f"/apis/kubeovn.io/v1/subnets/{own}", patch, token, MERGE) is None
    why = refused(kube, "PATCH", "/apis/kubeovn.io/v1/subnets/someone-else", patch, token, MERGE)
    assert why is not None and "only the Subnets and NADs apibridge owns" in why
    # nor may it take a foreign Subnet over by labelling it, or create one that only looks like ours
    steal = {"metadata": {"labels": {rules.MANAGED_BY_LABEL: rules.MANAGED_BY, rules.BRIDGE_LABEL: "b1"}}}
    assert refused(kube, "PATCH", "/apis/kubeovn.io/v1/subnets/someone-else", steal, token, MERGE) is not None
    fake = copy.deepcopy(bridge_subnet())
    fake["metadata"]["name"] = "not-apibridge-name"
    assert refused(kube, "POST", "/apis/kubeovn.io/v1/subnets", fake, token, "application/json") is not None
    assert refused(kube, "DELETE", "/apis/kubeovn.io/v1/subnets/someone-else", None, token, MERGE) is not None


def test_a_rollout_restart_in_a_bridge_namespace_and_nothing_more(controller: tuple[KubeCluster, str]) -> None:
    kube, token = controller
    path = "/apis/apps/v1/namespaces/ns1/deployments/app"
    assert refused(kube, "PATCH", path, restart("b1/uid/1"), token, MERGE) is None
    scale = {"spec": {"replicas": 5}}
    why = refused(kube, "PATCH", path, scale, token, MERGE)
    assert why is not None and "restartedAt" in why
    image = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "evil/app:1"}]}}}}
    assert refused(kube, "PATCH", path, image, token, MERGE) is not None
    other = restart("b1/uid/1")
    other["spec"]["template"]["metadata"]["annotations"]["example.com/else"] = "x"
    assert refused(kube, "PATCH", path, other, token, MERGE) is not None
    label = {"metadata": {"labels": {"team": "evil"}}}
    assert refused(kube, "PATCH", path, label, token, MERGE) is not None


# A new-user trial sent each of these beside a legitimate restart with the controller's token: all were
# accepted, and the garbage collector then deleted the Deployment (a made-up owner).
BESIDE_A_RESTART = {
    "ownerReferences": {
        "metadata": {
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "gone", "uid": "00000000-0000-0000-0000-000000000001"}
            ]
        }
    },
    "finalizers": {"metadata": {"finalizers": ["example.com/hold"]}},
    "paused": {"spec": {"paused": True}},
    "strategy": {"spec": {"strategy": {"type": "Recreate", "rollingUpdate": None}}},
    "progressDeadlineSeconds": {"spec": {"progressDeadlineSeconds": 1}},
    "revisionHistoryLimit": {"spec": {"revisionHistoryLimit": 0}},
    "minReadySeconds": {"spec": {"minReadySeconds": 30}},
    "template labels": {"spec": {"template": {"metadata": {"labels": {"app": "app", "team": "evil"}}}}},
}


def test_nothing_rides_along_with_a_restart(controller: tuple[KubeCluster, str]) -> None:
    kube, token = controller
    path = "/apis/apps/v1/namespaces/ns1/deployments/app"
    allowed = []
    for name, extra in BESIDE_A_RESTART.items():
        kube.apply(deployment("ns1"))  # back, if an accepted ownerReference let the garbage collector take it
        if refused(kube, "PATCH", path, merge(restart(f"b1/uid/{name}"), extra), token, MERGE) is None:
            allowed.append(name)
    assert allowed == []
    assert refused(kube, "PATCH", path, restart("b1/uid/again"), token, MERGE) is None  # a restart still passes


def test_no_restart_outside_the_bridge_vpc(controller: tuple[KubeCluster, str]) -> None:
    kube, token = controller
    why = refused(kube, "PATCH", "/apis/apps/v1/namespaces/ns2/deployments/app", restart("b1/uid/1"), token, MERGE)
    assert why is not None and "namespaces of the bridge" in why
    # an admin is not the controller: the policies do not judge other users
    assert kube.request(
        "PATCH", "/apis/apps/v1/namespaces/ns2/deployments/app", {"spec": {"replicas": 2}}, content_type=MERGE
    )
