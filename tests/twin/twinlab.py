"""Test helper: a twin lab (daemons + NB + namespaces) that can prove it cleaned up after itself.

Every lab gets a unique prefix (``ab-t<hex>-``) for its namespaces and a short state directory
under /tmp (unix socket paths are limited), so tests never collide with each other, with other
engineers' runs, or with the machine's own Open vSwitch.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from apibridge.twin.ovn.daemons import OvnDaemons
from apibridge.twin.ovn.nb import Northbound
from apibridge.twin.pods.netns import Namespaces, list_netns
from apibridge.twin.proc import Spawned, pids_mentioning

TOOLS = ("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl", "ovn-northd", "ovn-controller",
         "ovn-nbctl", "ovn-sbctl", "ip", "ethtool", "curl")  # fmt: skip


def require_ovn() -> None:
    """Skip unless we are root and the OVS/OVN tools are installed."""
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"missing tools: {', '.join(missing)}")


def new_prefix() -> str:
    return f"ab-t{secrets.token_hex(3)}-"


def root_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line}


@dataclass
class Lab:
    """One running twin lab for a test module."""

    prefix: str
    state: Path
    daemons: OvnDaemons
    nb: Northbound
    ns: Namespaces
    servers: list[Spawned] = field(default_factory=list)
    host_ifnames: set[str] = field(default_factory=set)
    closed: bool = False

    @classmethod
    def up(cls) -> Lab:
        prefix = new_prefix()
        state = Path(tempfile.mkdtemp(prefix="ab-", dir="/tmp"))
        daemons = OvnDaemons(state / "lab", prefix=prefix)
        try:
            daemons.start()
            nb = Northbound.connect(daemons.paths.nb_remote)
        except BaseException:
            daemons.stop(purge=True)
            shutil.rmtree(state, ignore_errors=True)
            raise
        return cls(prefix, state, daemons, nb, Namespaces(prefix, daemons.bridge))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for server in self.servers:
            server.stop()
        self.nb.close()
        self.ns.delete_all()
        self.daemons.stop(purge=True)
        shutil.rmtree(self.state, ignore_errors=True)

    def leftovers(self) -> list[str]:
        """Everything of ours still on the machine (empty after a clean teardown)."""
        found = [f"netns {n}" for n in list_netns() if n.startswith(self.prefix)]
        found += [f"pid {p}" for p in pids_mentioning(f"{self.state}/")]
        found += [f"root-ns link {name}" for name in sorted(root_links() & self.host_ifnames)]
        if self.state.exists():
            found.append(f"state dir {self.state}")
        return found
