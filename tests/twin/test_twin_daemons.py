"""The daemon supervisor: fast idempotent start, crash recovery, and a stop that only kills what is ours."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from twinlab import Lab, require_ovn, root_links

from apibridge.twin.ovn.daemons import OvnDaemons
from apibridge.twin.ovn.nb import Northbound
from apibridge.twin.pods.netns import netns_exists
from apibridge.twin.proc import alive, pids_mentioning, wait_gone

pytestmark = pytest.mark.ovn

SIX = ("ovsdb-server", "ovsdb-server-nb", "ovsdb-server-sb", "ovs-vswitchd", "ovn-northd", "ovn-controller")


@pytest.fixture
def fresh() -> Iterator[Lab]:
    """A lab of its own: these tests kill daemons."""
    require_ovn()
    lab = Lab.up()
    try:
        yield lab
    finally:
        lab.close()
    assert lab.leftovers() == []


def test_cold_start_is_fast_and_healthy(fresh: Lab) -> None:
    status = fresh.daemons.status()
    assert status.healthy, status
    assert tuple(d.name for d in status.daemons) == SIX
    # everything lives under the state dir and the switch namespace, nothing in the root namespace
    assert netns_exists(fresh.daemons.switch_netns)
    assert not {"br-int", "ovs-netdev"} & root_links()
    assert all(str(fresh.daemons.paths.root) in " ".join(_cmdline(d.pid)) for d in status.daemons if d.pid)
    ids = fresh.daemons.vsctl("get", "Open_vSwitch", ".", "external_ids").stdout
    for item in (f"system-id={fresh.daemons.chassis}", 'ovn-encap-type=geneve', 'ovn-encap-ip="127.0.0.1"',
                 'ovn-bridge-datapath-type=netdev', f'ovn-remote="{fresh.daemons.paths.sb_remote}"'):  # fmt: skip
        assert item in ids, ids
    assert fresh.daemons.vsctl("get", "Bridge", "br-int", "datapath_type").stdout.strip() == "netdev"
    assert "netdev@ovs-netdev" in fresh.daemons.appctl("ovs-vswitchd", "dpif/show").stdout
    # a second lab-independent measurement of the cold start (DBs created, six processes, chassis in SB)
    other = OvnDaemons(fresh.state / "second", prefix=fresh.prefix + "b-")
    try:
        report = other.start()
        print(f"\ncold start of six daemons: {report.seconds * 1000:.0f} ms")
        assert report.started == SIX
        assert report.seconds < 5
    finally:
        other.stop(purge=True)


def test_start_again_reuses_everything(fresh: Lab) -> None:
    before = {d.name: d.pid for d in fresh.daemons.status().daemons}
    report = fresh.daemons.start()
    assert report.started == ()
    assert report.reused == SIX
    assert {d.name: d.pid for d in fresh.daemons.status().daemons} == before
    print(f"\nwarm start (all reused): {report.seconds * 1000:.0f} ms")


def test_start_restarts_only_the_dead(fresh: Lab) -> None:
    pid = fresh.daemons.pid("ovn-northd")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert wait_gone(pid, 5)
    status = {d.name: d for d in fresh.daemons.status().daemons}
    assert not status["ovn-northd"].running
    assert not fresh.daemons.status().healthy
    report = fresh.daemons.start()
    assert report.started == ("ovn-northd",)
    assert fresh.daemons.status().healthy
    # and the NB connection of the lab still works end to end
    with fresh.nb.batch() as b:
        b.ls_add("after-restart")
    fresh.nb.wait_hv(timeout=10)


def test_start_after_everything_crashed_keeps_the_databases(fresh: Lab) -> None:
    with fresh.nb.batch() as b:
        b.ls_add("survivor")
    fresh.nb.close()
    for name in SIX:
        pid = fresh.daemons.pid(name)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert wait_gone(pid, 5)
    report = fresh.daemons.start()
    assert report.started == SIX
    assert fresh.daemons.status().healthy
    assert "survivor" in fresh.daemons.nbctl("ls-list").stdout
    fresh.nb = Northbound.connect(fresh.daemons.paths.nb_remote)


def test_stop_after_sigkill_cleans_up(fresh: Lab) -> None:
    victims = [fresh.daemons.pid("ovs-vswitchd"), fresh.daemons.pid("ovn-controller")]
    for pid in victims:
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
    for pid in victims:  # the crash is over before we look: a signal is delivered asynchronously
        assert pid is not None and wait_gone(pid, 5)
    fresh.nb.close()
    report = fresh.daemons.stop()
    assert set(report.stopped) == {"ovsdb-server", "ovsdb-server-nb", "ovsdb-server-sb", "ovn-northd"}
    assert set(report.stale_pidfiles) == {"ovs-vswitchd", "ovn-controller"}
    assert pids_mentioning(f"{fresh.daemons.paths.root}/") == []
    assert not netns_exists(fresh.daemons.switch_netns)
    assert not list(fresh.daemons.paths.root.glob("*/*.pid"))
    fresh.daemons.stop()  # stopping twice is fine


def test_stale_pidfile_does_not_kill_a_stranger(fresh: Lab) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    pidfile = fresh.daemons.paths.ovn / "ovn-northd.pid"

    def crash_northd_and_recycle_its_pid() -> None:
        pid = fresh.daemons.pid("ovn-northd")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert wait_gone(pid, 5)
        pidfile.write_text(f"{stranger.pid}\n")  # as if the kernel had reused the pid

    try:
        crash_northd_and_recycle_its_pid()
        report = fresh.daemons.start()  # restarts northd, leaves the stranger alone
        assert report.started == ("ovn-northd",)
        assert alive(stranger.pid)
        assert fresh.daemons.pid("ovn-northd") not in (None, stranger.pid)
        assert fresh.daemons.status().healthy

        crash_northd_and_recycle_its_pid()
        report2 = fresh.daemons.stop()
        assert report2.stale_pidfiles == ("ovn-northd",)
        assert len(report2.stopped) == 5
        assert alive(stranger.pid)
        assert pids_mentioning(f"{fresh.daemons.paths.root}/") == []
    finally:
        stranger.kill()
        stranger.wait()


def _cmdline(pid: int) -> list[str]:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().decode().split("\0")
    except OSError:
        return []
