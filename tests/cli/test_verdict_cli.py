"""check, render and inject take the plan's verdict from ``apibridge.check.verdict.judge``.

The case from the hardening issue: a bridge whose CIDR contains the API ClusterIP (AB014). ``check`` and
``render`` refused it while ``inject`` exited 0 and wrote a route through the ClusterIP itself.
"""

from __future__ import annotations

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
