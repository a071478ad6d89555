"""``up`` twice reconciles (adding a pod adds just that pod); ``down`` cleans up after a crash."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import yaml

from apibridge.twin.proc import owned_by
from apibridge.twin.proof.verify import verify

from .conftest import assert_clean, example, running_lab

pytestmark = pytest.mark.ovn


def _pod(name: str, namespace: str = "tenant-b") -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 9000}]}]},
    }


def test_up_twice_reconciles_and_adding_a_pod_adds_just_that_pod(tmp_path: Path) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text("")
    inputs = [example("seed"), str(extra)]
    with running_lab("rec") as lab:
        first = lab.up(inputs)
        assert not first.reconciled and len(first.added) == 3  # node + 2 pods
        before = {ref: (rec.netns, rec.fingerprint) for ref, rec in lab.require().pods.items()}
        hub_pid, api_pid = lab.require().hub_pid, lab.require().apiservers["kind-control-plane"].pid

        again = lab.up(inputs)
        assert again.reconciled and again.nb.empty and not again.added and not again.recreated

        extra.write_text(yaml.safe_dump(_pod("newcomer")))
        added = lab.up(inputs)
        assert added.added == ["tenant-b/newcomer"]
        assert not added.recreated and not added.removed
        assert added.nb.added == {"switch ports": 1}
        record = lab.require()
        assert all((record.pods[ref].netns, record.pods[ref].fingerprint) == v for ref, v in before.items())
        assert record.hub_pid == hub_pid and record.apiservers["kind-control-plane"].pid == api_pid
        # the newcomer is real: its tenant-b peer reaches its declared port, and its listener answers
        netns = {ref: rec.netns for ref, rec in record.pods.items()}
        result = verify(lab.desired().topology, netns, ca_file=lab.place.ca_file)
        same = [c for c in result.checked if c.exp.kind == "same-vpc" and c.exp.to_pod == "tenant-b/newcomer"]
        assert same and all(c.result == "reach" and "answered by tenant-b/newcomer" in c.detail for c in same)

        extra.write_text("")
        removed = lab.up(inputs)
        assert removed.removed == ["tenant-b/newcomer"] and not removed.added
        assert removed.nb.removed == {"switch ports": 1}


def test_down_after_sigkill_of_daemons_still_cleans_up() -> None:
    with running_lab("kill") as lab:
        lab.up([example("seed")])
        lab.close()
        marker = lab.daemons.paths.marker
        for name in ("ovs-vswitchd", "ovsdb-server"):
            pid = lab.daemons.pid(name)
            assert pid is not None and owned_by(pid, marker)
            os.kill(pid, signal.SIGKILL)
        hub = lab.require().hub_pid
        assert hub is not None
        os.kill(hub, signal.SIGKILL)
        report = lab.down()
        assert len(report.namespaces) == 3
        assert_clean(lab)


def test_down_of_a_lab_that_never_ran_is_harmless() -> None:
    with running_lab("none") as lab:
        assert not lab.exists()
        assert lab.down().namespaces == []
