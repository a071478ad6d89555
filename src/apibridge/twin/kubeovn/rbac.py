"""kube-ovn-controller's own identity in the lab: the chart's ServiceAccount, ClusterRole and bindings.

A cluster runs the controller as ServiceAccount ``ovn`` of Kube-OVN's namespace, bound to ClusterRole
``system:ovn`` and to ``extension-apiserver-authentication-reader`` (charts/kube-ovn/templates/ovn-sa.yaml,
ovn-CR.yaml, ovn-CRB.yaml of kube-ovn v1.16.2; scripts/tools.sh copies the last two from the Go module into
``.tools/crds/`` as ``.txt``, since they are Helm templates). Running it with the lab's admin token instead
would hide a permission the chart lacks; with this identity a request the chart does not allow fails in the
lab as it would in a cluster. The templates' only parameter these objects use is ``{{ .Values.namespace }}``
(``kube-system`` by default, values.yaml).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

VERSION = "v1.16.2"
ACCOUNT = "ovn"
CLUSTER_ROLE = "system:ovn"
FILES = (f"kube-ovn-{VERSION}-ovn-CR.yaml.txt", f"kube-ovn-{VERSION}-ovn-CRB.yaml.txt")
_NAMESPACE = "{{ .Values.namespace }}"


class RbacError(RuntimeError):
    pass


def _documents(path: Path, namespace: str) -> list[dict[str, Any]]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise RbacError(f"{path}: {exc.strerror}; run scripts/tools.sh") from None
    out: list[dict[str, Any]] = []
    for chunk in text.replace(_NAMESPACE, namespace).split("\n---"):
        if "{{" in chunk:  # another template (ipsec, conditionals): not one of the objects used here
            continue
        doc = yaml.safe_load(chunk)
        if isinstance(doc, dict):
            out.append(doc)
    return out


def _binds_account(doc: dict[str, Any], namespace: str) -> bool:
    return any(
        s.get("kind") == "ServiceAccount" and s.get("name") == ACCOUNT and s.get("namespace") == namespace
        for s in doc.get("subjects") or []
    )


def objects(crds: Path, namespace: str = "kube-system") -> list[dict[str, Any]]:
    """The ServiceAccount, ``system:ovn`` and every binding of the account in the chart, in apply order."""
    docs = [d for name in FILES for d in _documents(crds / name, namespace)]
    role = [d for d in docs if d.get("kind") == "ClusterRole" and d["metadata"]["name"] == CLUSTER_ROLE]
    bindings = [
        d for d in docs if d.get("kind") in ("ClusterRoleBinding", "RoleBinding") and _binds_account(d, namespace)
    ]
    if len(role) != 1 or not bindings:
        raise RbacError(f"{crds}: the chart's {CLUSTER_ROLE} or its bindings of {ACCOUNT} are missing")
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": ACCOUNT, "namespace": namespace}}
    return [account, *role, *bindings]
