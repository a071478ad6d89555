"""Labs for the twin tests: real daemons under a temp state directory, unique names, nothing left behind.

Every lab a test starts gets a fresh base directory under /tmp (short paths: unix sockets) and a
unique name (so its namespaces ``ab-<name>.…`` cannot collide with another run's), and is torn down
by the fixture — which then proves the teardown: no namespace with the lab's prefix, no process
whose command line names its state directory, no state directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from apibridge.twin.lab import Lab
from apibridge.twin.pods import netns
from apibridge.twin.proc import pids_mentioning
from apibridge.twin.state import locate

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
HERE = Path(__file__).parent
DATA = HERE / "data"
TOOLS = ("ovsdb-server", "ovs-vswitchd", "ovn-northd", "ovn-controller", "ovn-trace", "ip", "ethtool")


def ovn_missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    return f"missing {', '.join(missing)}" if missing else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = ovn_missing()
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("ovn") is not None and str(item.path).startswith(str(HERE)):
            item.add_marker(pytest.mark.skip(reason=f"OVN twin: {reason}"))


def assert_clean(lab: Lab) -> None:
    prefix = lab.place.prefix
    left = [n for n in netns.list_netns() if n.startswith(prefix)]
    assert not left, f"namespaces left behind: {left}"
    assert not pids_mentioning(lab.place.marker), "processes of the lab still run"
    assert not lab.place.root.exists(), f"state left in {lab.place.root}"


@contextmanager
def running_lab(tag: str) -> Iterator[Lab]:
    """A lab named ``t<tag><random>`` under a fresh /tmp base; downed and checked afterwards."""
    base = Path(tempfile.mkdtemp(prefix="abl-", dir="/tmp"))
    lab = Lab(locate(f"t{tag}{uuid.uuid4().hex[:6]}", base))
    try:
        yield lab
    finally:
        lab.down()
        try:
            assert_clean(lab)
        finally:
            shutil.rmtree(base, ignore_errors=True)


def example(*parts: str) -> str:
    return str(EXAMPLES.joinpath(*parts))


def data(name: str) -> str:
    return str(DATA / name)
