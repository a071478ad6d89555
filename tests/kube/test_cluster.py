"""The test control plane is the real thing: the pinned version, RBAC that denies, ValidatingAdmissionPolicy
that rejects, tokens from TokenRequest; and a missing tool fails a test with the script's instructions."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .cluster import KubeCluster, KubeError, running
from .incluster import CHART_NAMESPACE, WEBHOOK_ACCOUNT, install_chart_rbac
from .tools import REPO, tool

pytestmark = pytest.mark.kube


def test_a_missing_tool_fails_and_names_the_script() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"run scripts/tools\.sh"):
        tool("no-such-tool")


def test_tools_script_check_names_what_is_missing(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(REPO / "scripts" / "tools.sh"), "--check"],
        capture_output=True,
        text=True,
        env={**os.environ, "APIBRIDGE_TOOLS_CACHE": str(tmp_path / "empty")},
        check=False,
    )
    assert result.returncode == 1
    assert "not built yet: kubernetes v1.36.3 etcd v3.6.16 helm3 v3.21.4 helm4 v4.3.2" in result.stderr


def test_the_pinned_version_serves(kube: KubeCluster) -> None:
    version = kube.request("GET", "/version")
    assert version["gitVersion"] == "v1.36.3"
    assert "Client Version: v1.36.3" in kube.kubectl("version", "--client").stdout


def test_rbac_denies_what_the_chart_does_not_grant(kube: KubeCluster) -> None:
    install_chart_rbac(kube)
    token = kube.service_account_token(CHART_NAMESPACE, WEBHOOK_ACCOUNT)
    assert kube.request("GET", "/apis/kubeovn.io/v1/subnets", token=token)["items"] is not None  # granted
    with pytest.raises(KubeError) as denied:
        kube.request(
            "POST",
            "/apis/kubeovn.io/v1/subnets",
            {"apiVersion": "kubeovn.io/v1", "kind": "Subnet", "metadata": {"name": "x"}, "spec": {}},
            token=token,
        )
    assert denied.value.status == 403
    with pytest.raises(KubeError) as secrets:
        kube.request("GET", f"/api/v1/namespaces/{CHART_NAMESPACE}/secrets", token=token)
    assert secrets.value.status == 403


def test_validating_admission_policy_is_enforced(kube: KubeCluster) -> None:
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "test-no-forbidden-label"},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}
                ]
            },
            "validations": [
                {
                    "expression": "!has(object.metadata.labels) || !('forbidden' in object.metadata.labels)",
                    "message": "no forbidden label",
                }
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "test-no-forbidden-label"},
        "spec": {"policyName": "test-no-forbidden-label", "validationActions": ["Deny"]},
    }
    kube.apply(policy)
    kube.apply(binding)
    try:

        def refused() -> bool:
            try:
                kube.request(
                    "POST",
                    "/api/v1/namespaces/default/configmaps?dryRun=All",
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": "x", "labels": {"forbidden": "yes"}},
                    },
                )
            except KubeError as exc:
                return exc.status == 422 and "no forbidden label" in str(exc.body)
            return False

        kube.wait(refused, what="the policy to take effect")
    finally:
        kube.request(
            "DELETE", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/test-no-forbidden-label"
        )
        kube.request(
            "DELETE", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/test-no-forbidden-label"
        )


def test_stop_ends_exactly_what_start_started(tmp_path: Path) -> None:
    with running(tmp_path / "k", controller_manager=False) as cluster:
        pids = [d.proc.pid for d in cluster.daemons]
        assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
