"""check, render and inject take the plan's verdict from ``apibridge.check.verdict.judge``.

The case from the hardening issue: a bridge whose CIDR contains the API ClusterIP (AB014). ``check`` and
``render`` refused it while ``inject`` exited 0 and wrote a route through the ClusterIP itself.
"""

from __future__ import annotations

import json
from pathlib import Path

from .support import REPO, Invoke

CLUSTER = REPO / "examples/apibridge/cluster.yaml"
WORKLOAD = REPO / "examples/apibridge/workload.yaml"

BAD_BRIDGE = """\
apiVersion: apibridge.dev/v1alpha1
kind: ApiBridge
metadata: {name: tenant-a}
spec:
  vpc: tenant-a
  podSelector: {matchLabels: {app.kubernetes.io/name: ingress-nginx}}
  cidrBlock: 10.96.0.0/24
"""


def _bad(tmp_path: Path) -> str:
    path = tmp_path / "bridge.yaml"
    path.write_text(BAD_BRIDGE)
    return str(path)


def test_inject_of_a_plan_with_errors_exits_1_with_stdout_empty(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("inject", "-f", str(WORKLOAD), "--cluster", str(CLUSTER), "--cluster", _bad(tmp_path))
    assert result.exit_code == 1, result.stderr
    assert result.stdout == ""
    assert "AB014" in result.stderr
    assert "not injected" in result.stderr


def test_render_and_check_refuse_the_same_plan(invoke: Invoke, tmp_path: Path) -> None:
    bad = _bad(tmp_path)
    render = invoke("render", str(CLUSTER), bad)
    assert render.exit_code == 1 and render.stdout == ""
    assert "AB014" in render.stderr
    check = invoke("check", "-o", "json", str(CLUSTER), bad)
    assert check.exit_code == 1
    assert '"AB014"' in check.stdout


def test_a_sound_plan_still_injects(invoke: Invoke) -> None:
    result = invoke(
        "inject",
        "-f",
        str(WORKLOAD),
        "--cluster",
        str(CLUSTER),
        "--cluster",
        str(REPO / "examples/apibridge/bridges.yaml"),
    )
    assert result.exit_code == 0, result.stderr
    assert "apibridge-tenant-a" in result.stdout


# A pod of tenant-b's VPC that hand-attaches tenant-a's bridge: the chart's admission policy refuses it (AB304).
FOREIGN_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: intruder
  namespace: tenant-b
  annotations:
    k8s.v1.cni.cncf.io/networks: kube-system/apibridge-tenant-a
spec:
  containers: [{name: c, image: busybox}]
"""


def _foreign(tmp_path: Path) -> str:
    path = tmp_path / "intruder.yaml"
    path.write_text(FOREIGN_POD)
    return str(path)


def test_a_refused_pod_is_its_own_error_not_the_victim_bridges(invoke: Invoke, tmp_path: Path) -> None:
    """The pod never exists (the admission policy refuses it), so tenant-a's subnet is not shared (no AB301
    on the bridge it tried to use) and tenant-a's bridge still renders; the pod itself is AB304."""
    bridges = str(REPO / "examples/apibridge/bridges.yaml")
    check = invoke("check", "-o", "json", str(CLUSTER), bridges, str(WORKLOAD), _foreign(tmp_path))
    assert check.exit_code == 1
    codes = {(f["code"], f["object"]) for f in json.loads(check.stdout)["findings"]}
    assert ("AB304", "Pod/tenant-b/intruder") in codes
    assert not [c for c in codes if c[0] == "AB301"], codes
    render = invoke("render", str(CLUSTER), bridges, str(WORKLOAD), _foreign(tmp_path))
    assert render.exit_code == 0, render.stderr
    assert "apibridge-tenant-a" in render.stdout


def test_inject_refuses_what_the_admission_policy_refuses(invoke: Invoke, tmp_path: Path) -> None:
    bridges = str(REPO / "examples/apibridge/bridges.yaml")
    result = invoke("inject", "-f", _foreign(tmp_path), "--cluster", str(CLUSTER), "--cluster", bridges)
    assert result.exit_code == 1, result.stderr
    assert result.stdout == ""
    assert "AB304" in result.stderr and "refuses" in result.stderr
