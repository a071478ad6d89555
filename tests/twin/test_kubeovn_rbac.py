"""kube-ovn-controller's identity from Kube-OVN's chart (apibridge.twin.kubeovn.rbac)."""

from __future__ import annotations

from pathlib import Path

import pytest

from apibridge.twin.kubeovn import rbac

CRDS = Path(__file__).resolve().parents[2] / ".tools" / "crds"
needs_tools = pytest.mark.skipif(not (CRDS / rbac.FILES[0]).exists(), reason="run scripts/tools.sh")


@needs_tools
def test_the_charts_account_role_and_bindings_in_the_labs_namespace() -> None:
    objs = rbac.objects(CRDS)
    kinds = [(o["kind"], o["metadata"]["name"]) for o in objs]
    assert kinds[:2] == [("ServiceAccount", "ovn"), ("ClusterRole", "system:ovn")]
    assert ("ClusterRoleBinding", "ovn") in kinds and ("RoleBinding", "ovn") in kinds
    assert "{{" not in repr(objs)
    role = objs[1]
    vpcs = [r for r in role["rules"] if "kubeovn.io" in r["apiGroups"] and "vpcs" in r["resources"]]
    assert vpcs and "update" in vpcs[0]["verbs"]
    # the chart does not make the controller an admin
    assert not any("*" in r.get("verbs", []) and "*" in r.get("resources", []) for r in role["rules"])
    assert all(s["namespace"] == "kube-system" for o in objs for s in o.get("subjects", []))


def test_missing_chart_files_name_the_command_that_fetches_them(tmp_path: Path) -> None:
    with pytest.raises(rbac.RbacError, match=r"scripts/tools\.sh"):
        rbac.objects(tmp_path)
    (tmp_path / rbac.FILES[0]).write_text("---\nkind: ClusterRole\nmetadata: {name: other}\n")
    (tmp_path / rbac.FILES[1]).write_text("")
    with pytest.raises(rbac.RbacError, match="system:ovn"):
        rbac.objects(tmp_path)
