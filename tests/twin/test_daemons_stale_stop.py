"""``stop`` from an ``OvnDaemons`` made before another process started the lab's per-node chassis.

``lab down`` in a new process, or a test's ``Lab`` made before a CLI ``lab up``, holds the chassis
layout it read at construction (none): its stop left the ``<prefix>ovs.<node>`` daemons running.
``stop`` reads the layout the lab recorded on disk; it still signals only processes naming the state
directory. No OVS needed: a stand-in process plays the chassis's ovn-controller.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from apibridge.twin.ovn.daemons import OvnDaemons
from apibridge.twin.proc import alive


def test_stop_finds_chassis_recorded_after_construction(tmp_path: Path) -> None:
    root = tmp_path / "lab"
    root.mkdir()
    stale = OvnDaemons(root, prefix="ux2s-")  # made before the lab had nodes
    started = OvnDaemons(root, prefix="ux2s-", nodes=["n1"])  # what the other process's `up` ran
    (root / "chassis.json").write_text(json.dumps({"nodes": {"n1": 1}}))
    chassis = started.chassis_of("n1")
    chassis.ovn_dir.mkdir(parents=True, exist_ok=True)
    marker = started.paths.marker
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "elsewhere"])
    try:
        (chassis.ovn_dir / "ovn-controller.pid").write_text(f"{proc.pid}\n")
        report = stale.stop()
        proc.wait(timeout=10)
        assert chassis.daemon("ovn-controller") in report.stopped
        assert alive(stranger.pid)
    finally:
        for p in (proc, stranger):
            p.kill()
            p.wait()
