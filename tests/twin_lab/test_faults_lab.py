"""Lab faults are named before anything is probed, with the command that recovers them (issue 13, item 5).

Each test kills (or starves) a daemon that the test's own lab started, then checks that ``status`` and
``verify`` refuse to call the lab healthy, name the daemon, say how to recover, and exit 3 — instead of
probing stale flows (northd or NB dead) or reporting every probe BLOCKED with no reason (vswitchd dead).
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from apibridge.cli.main import cli
from apibridge.twin.lab import Lab
from apibridge.twin.proc import owned_by, wait_gone
from apibridge.twin.proof.verify import verify

from .conftest import data, example, running_lab

pytestmark = pytest.mark.ovn
BRIDGES = [example("seed", "cluster.yaml"), example("apibridge", "bridges.yaml"), example("apibridge", "workload.yaml")]
DAEMONS = ("ovsdb-server", "ovsdb-server-nb", "ovsdb-server-sb", "ovs-vswitchd", "ovn-northd", "ovn-controller")


@pytest.fixture
def lab() -> Iterator[Lab]:
    with running_lab("flt") as lab:
        lab.up(BRIDGES)
        yield lab


def _cli(lab: Lab, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    monkeypatch.setenv("APIBRIDGE_LAB_DIR", str(lab.place.root.parent))
    return CliRunner().invoke(cli, ["lab", *args, "--name", lab.name])


def _kill(lab: Lab, daemon: str) -> None:
    pid = lab.daemons.pid(daemon)
    assert pid is not None and owned_by(pid, lab.daemons.paths.marker)
    os.kill(pid, signal.SIGKILL)
    assert wait_gone(pid, 5.0)


def _is(name: str, daemon: str) -> bool:
    """``name`` is ``daemon`` or a chassis's ``daemon`` (``ovs-vswitchd@node-1``: a chassis per node)."""
    return name == daemon or name.startswith(f"{daemon}@")


def _verify_clean(lab: Lab) -> None:
    netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
    result = verify(lab.desired().topology, netns, ca_file=lab.place.ca_file)
    assert result.checked and result.failed == 0, [c.message() for c in result.failures]


@pytest.mark.parametrize("daemon", DAEMONS)
def test_a_dead_daemon_is_named_with_its_recovery_and_verify_does_not_probe(
    lab: Lab, daemon: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab.close()
    _kill(lab, daemon)
    health = lab.health()
    assert not health.ok
    assert any(_is(f.what, daemon) and "not running" in f.problem for f in health.faults), health.faults
    assert all(f.recover for f in health.faults)

    status = _cli(lab, monkeypatch, "status")
    assert status.exit_code == 3, status.output
    assert daemon in status.output and f"apibridge lab up --name {lab.name}" in status.output

    verified = _cli(lab, monkeypatch, "verify", "-o", "json")
    assert verified.exit_code == 3, verified.output
    assert daemon in verified.output
    assert "BLOCKED" not in verified.output and '"probes"' not in verified.output  # nothing was probed
    # a trace reads the live southbound database: on a lab with a dead daemon it would describe stale flows
    traced = _cli(lab, monkeypatch, "trace", next(iter(lab.require().pods)), "10.96.0.1:443")
    assert traced.exit_code == 3 and daemon in traced.output, traced.output

    report = lab.up([])  # the recovery the fault names: up again from the lab's own input
    assert any(_is(d, daemon) for d in report.started_daemons), report.started_daemons
    assert lab.health().ok, lab.health().faults
    _verify_clean(lab)


def test_a_chassis_that_does_not_catch_up_is_named(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """ovn-controller alive and answering, but cut off from the southbound database: its flows are stale."""
    lab.close()
    remote = lab.daemons.vsctl("get", "Open_vSwitch", ".", "external_ids:ovn-remote").stdout.strip()
    lab.daemons.vsctl("set", "Open_vSwitch", ".", 'external_ids:ovn-remote="unix:/nonexistent/sb.sock"')
    try:
        health = lab.health(wait=2.0)
        assert not health.ok
        (fault,) = health.faults
        assert _is(fault.what, "ovn-controller") and lab.daemons.chassis in fault.problem, fault
        assert "caught up" in fault.problem
        verified = _cli(lab, monkeypatch, "verify")
        assert verified.exit_code == 3 and "ovn-controller" in verified.output, verified.output
    finally:
        lab.daemons.vsctl("set", "Open_vSwitch", ".", f"external_ids:ovn-remote={remote}")
    assert lab.health().ok


def test_a_build_killed_midway_is_incomplete_and_up_rebuilds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    class Killed(BaseException):
        pass

    def die_while_wiring(step: str) -> None:
        if step.startswith("wiring namespaces"):
            raise Killed

    with running_lab("inc") as lab:
        with pytest.raises(Killed):
            lab.up(BRIDGES, progress=die_while_wiring)
        lab.close()
        health = lab.health()
        assert [f.what for f in health.faults] == ["build"], health.faults
        assert "did not complete" in health.faults[0].problem
        status = _cli(lab, monkeypatch, "status", "-o", "json")
        assert status.exit_code == 3
        doc = json.loads(status.stdout)
        assert doc["healthy"] is False and doc["buildCompleted"] is None
        assert doc["faults"][0]["what"] == "build"

        report = lab.up(BRIDGES)
        assert report.rebuilt and not report.reconciled
        assert lab.health().ok
        _verify_clean(lab)
        assert lab.require().build_completed > 0


def test_every_lab_command_uses_one_exit_code_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """0 as intended, 1 a result contradicts the intent, 2 unusable input, 3 the lab is not healthy."""
    with running_lab("exit") as lab:
        assert _cli(lab, monkeypatch, "status").exit_code == 3  # not up at all
        assert _cli(lab, monkeypatch, "verify").exit_code == 3
        assert _cli(lab, monkeypatch, "graph", "-o", str(tmp_path / "g.svg")).exit_code == 3
        bad = tmp_path / "bad.yaml"
        bad.write_text("kind: Subnet\nmetadata: {name: x}\nspec: {cidrBlock: 10.0.0.0/33}\n")
        assert _cli(lab, monkeypatch, "up", str(bad)).exit_code == 2
        up = _cli(lab, monkeypatch, "up", example("seed"))
        assert up.exit_code == 0, up.output
        assert _cli(lab, monkeypatch, "status").exit_code == 0
        assert _cli(lab, monkeypatch, "verify").exit_code == 1  # the seed's leak
        # a pod the input asks for that Kube-OVN fails contradicts the intent: 1, with its reason
        failing = _cli(lab, monkeypatch, "up", example("seed", "cluster.yaml"), data("failures.yaml"))
        assert failing.exit_code == 1, failing.output
        assert "tenant-b/unbound: provider orphan-nad.kube-system.ovn is not bound to any subnet" in failing.output
        assert _cli(lab, monkeypatch, "down").exit_code == 0
