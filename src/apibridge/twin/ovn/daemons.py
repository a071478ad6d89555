"""OVN as a Kube-OVN cluster runs it: a central (NB, SB, northd) and a chassis per node, under one state directory.

The twin needs the processes a Kube-OVN central and its nodes run — the NB and SB ovsdb-servers
and ovn-northd once, and per node an ovsdb-server (``conf.db``), ovs-vswitchd and ovn-controller —
but it must never touch the machine's own Open vSwitch (``/var/run/openvswitch``,
``/etc/openvswitch``) and several labs (tests, a developer's ``lab up``) must run side by side. So:

* every file lives under the state directory (``OVS_RUNDIR``/``OVS_DBDIR``/``OVS_LOGDIR``/``OVN_*``
  point there and every daemon gets explicit ``--pidfile``/``--unixctl``/``--log-file``/sockets);
  a chassis has its own run directory (``c<i>/``: ``conf.db``, ``db.sock``, ``br-int.mgmt``, pidfiles),
  because ovn-controller finds its bridge's OpenFlow socket as ``<OVS_RUNDIR>/br-int.mgmt``;
* each chassis's three daemons run inside the node's *chassis namespace* ``<prefix>ovs.<node>``, so
  ``br-int``, the userspace datapath's tap devices and the node's pods' host veth ends stay out of
  the root namespace (and out of another lab's);
* the chassis talk Geneve (what Kube-OVN uses) over *node links*: a veth ``ul0`` from each chassis
  namespace to one Linux bridge in the lab's fabric namespace ``<prefix>ovs``. With the userspace
  datapath a tunnel is OVS's own ("native tunnelling"): the encapsulation IP sits on the netdev
  bridge ``br-phy`` whose port is ``ul0``, and ovs-vswitchd routes and resolves ARP for the remote
  tunnel end itself. The node links have MTU 9000, so a pod's 1500-byte packet plus the Geneve
  header (Kube-OVN instead lowers the pod MTU by 100) is never dropped for size;
* the encapsulation IPs come from 198.18.0.0/16 (RFC 2544's benchmarking range, routed nowhere),
  on the node links only — never an address a tenant's manifests can use inside OVN;
* the datapath is userspace (``datapath_type=netdev``): no kernel module is needed;
* ``start()`` is idempotent (healthy daemons are reused, dead or hung ones restarted), ``stop()``
  only kills a pid from our pidfiles after checking its command line names our state directory,
  and works after a crash: the chassis a lab has are recorded in ``chassis.json``.

Without nodes (``OvnDaemons(..., nodes=None)`` and no ``chassis.json``) there is one chassis in
``<prefix>ovs`` with its encapsulation on loopback and no tunnel — the layout of the unit tests.

OVN 23.03 quirks handled here: ``ovn-sbctl init`` rejects ``--no-wait``; ``ovn-controller`` has no
``--unixctl`` (its control socket is ``<OVN_RUNDIR>/ovn-controller.<pid>.ctl``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from apibridge.twin.pods import netns as ns
from apibridge.twin.pods.nsock import interfaces, tx_checksum_off
from apibridge.twin.proc import CommandError, Completed, kill_all_owned, kill_owned, owned_by, read_pidfile, run

OVS_SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
NB_SCHEMA = Path("/usr/share/ovn/ovn-nb.ovsschema")
SB_SCHEMA = Path("/usr/share/ovn/ovn-sb.ovsschema")
INTEGRATION_BRIDGE = "br-int"
PHYSICAL_BRIDGE = "br-phy"  # carries the encapsulation IP; its port is the node link
NODE_LINK = "ul0"  # a chassis namespace's end of its node link
FABRIC = "fabric"  # the Linux bridge joining the node links
UNDERLAY = ipaddress.IPv4Network("198.18.0.0/16")
UNDERLAY_MTU = 9000
GENEVE_PORT = 6081
CENTRAL = ("ovsdb-server-nb", "ovsdb-server-sb", "ovn-northd")
PER_CHASSIS = ("ovsdb-server", "ovs-vswitchd", "ovn-controller")
# ovs-vswitchd's upcall threads: one handler and one revalidator are plenty for a lab's trickle of
# new flows, and each thread costs memory (per-thread caches); the default is one per core.
VSWITCHD_OPTIONS = ("other_config:n-handler-threads=1", "other_config:n-revalidator-threads=1")
# ovn-controller's logical-flow cache saves CPU when it recomputes everything, which a lab rarely makes
# it do; per chassis it held ~6 MB at 1,000 pods, and freeing it let ~6 MB more go back to the system.
CONTROLLER_OPTIONS = ("external_ids:ovn-enable-lflow-cache=false",)
# glibc's allocator keeps what a daemon freed after a burst (a 1,000-pod lab's first computation) unless
# told otherwise: one arena (the daemons are mostly single-threaded), and a fixed trim and mmap threshold
# (the default ones grow with the largest block freed, so the heap's free top is never given back).
# Live (checked at 1,000 pods): every daemon's /proc/<pid>/environ has it, and the 6-thread vswitchd maps no
# 64 MiB per-thread arena. What it cannot do is return free chunks inside the heap: malloc_trim(0) (gdb)
# still freed 9 MiB of vswitchd's 58 MiB and 13 MiB of the SB server's 64 MiB; ovsdb-server alone has a
# command for it (trim(), after the lab's last build step).
MALLOC_TUNABLES = "glibc.malloc.arena_max=1:glibc.malloc.trim_threshold=262144:glibc.malloc.mmap_threshold=262144"
_MAX_ROOT = 80  # AF_UNIX paths are limited to 108 bytes; leave room for "c99/ovn-controller.<pid>.ctl"
_LAYOUT = "chassis.json"


@dataclass(frozen=True)
class LabPaths:
    """Where a lab keeps its central databases, sockets, pidfiles and logs."""

    root: Path

    @property
    def ovs(self) -> Path:
        return self.root / "ovs"

    @property
    def ovn(self) -> Path:
        return self.root / "ovn"

    @property
    def logs(self) -> Path:
        return self.root / "log"

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def ovs_remote(self) -> str:
        """The lone chassis's conf.db (labs without nodes)."""
        return f"unix:{self.ovs / 'db.sock'}"

    @property
    def nb_remote(self) -> str:
        return f"unix:{self.ovn / 'ovnnb_db.sock'}"

    @property
    def sb_remote(self) -> str:
        return f"unix:{self.ovn / 'ovnsb_db.sock'}"

    @property
    def marker(self) -> str:
        """What every daemon's command line contains (a trailing slash: ``/lab`` must not match ``/lab2``)."""
        return f"{self.root}/"

    def env(self) -> dict[str, str]:
        """Environment for OVS/OVN tools so defaults (ctl sockets, br-int.mgmt) resolve inside the lab."""
        return {
            "OVS_RUNDIR": str(self.ovs),
            "OVS_DBDIR": str(self.ovs),
            "OVS_LOGDIR": str(self.logs),
            "OVS_SYSCONFDIR": str(self.etc),
            "OVN_RUNDIR": str(self.ovn),
            "OVN_DBDIR": str(self.ovn),
            "OVN_LOGDIR": str(self.logs),
            "OVN_SYSCONFDIR": str(self.etc),
            "OVN_NB_DB": self.nb_remote,
            "OVN_SB_DB": self.sb_remote,
        }


@dataclass(frozen=True)
class Chassis:
    """One node's chassis: its namespace, run directory and encapsulation IP."""

    name: str  # the OVN system-id (and hostname)
    node: str | None  # None: the lone chassis of a lab without nodes
    netns: str
    ovs_dir: Path  # conf.db, db.sock, br-int.mgmt, vswitchd's pidfile and ctl
    ovn_dir: Path  # ovn-controller's pidfile and ctl
    encap_ip: str  # 127.0.0.1 for the lone chassis (no tunnel)
    suffix: str = ""  # "@<node>" on the names of its daemons (none for the lone chassis)

    @property
    def ovs_remote(self) -> str:
        return f"unix:{self.ovs_dir / 'db.sock'}"

    @property
    def bridge(self) -> ns.Bridge:
        """Where the NICs of this node's pods plug in."""
        return ns.Bridge(ovs_db=self.ovs_remote, netns=self.netns, name=INTEGRATION_BRIDGE)

    @property
    def fabric_end(self) -> str:
        """The fabric's end of this chassis's node link (``ul<run directory>``: unique, short)."""
        return f"ul{self.ovs_dir.name}"

    @property
    def tunnelled(self) -> bool:
        return self.node is not None

    def daemon(self, base: str) -> str:
        """The name of this chassis's ``base`` daemon (``ovs-vswitchd@node-1``)."""
        return f"{base}{self.suffix}"

    def env(self) -> dict[str, str]:
        return {
            "OVS_RUNDIR": str(self.ovs_dir),
            "OVS_DBDIR": str(self.ovs_dir),
            "OVN_RUNDIR": str(self.ovn_dir),
        }


@dataclass(frozen=True)
class DaemonStatus:
    name: str
    pid: int | None
    running: bool  # a process of ours has the pid from the pidfile
    responsive: bool  # it answers ``ovs-appctl version`` on its control socket


@dataclass(frozen=True)
class LabStatus:
    state_dir: Path
    daemons: tuple[DaemonStatus, ...]
    switch_netns: bool  # every chassis namespace (and the fabric) exists
    chassis_registered: bool  # every chassis is in the southbound database
    missing_netns: tuple[str, ...] = ()
    unregistered: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        return self.switch_netns and self.chassis_registered and all(d.responsive for d in self.daemons)


@dataclass(frozen=True)
class StartReport:
    started: tuple[str, ...]
    reused: tuple[str, ...]
    seconds: float
    removed_chassis: tuple[str, ...] = ()


@dataclass(frozen=True)
class StopReport:
    stopped: tuple[str, ...]
    stale_pidfiles: tuple[str, ...]  # pidfiles whose pid was dead or not ours (nothing was killed)
    seconds: float


@dataclass(frozen=True)
class _Daemon:
    name: str
    pidfile: Path
    ctl: Path | None  # None: derived from the pid (ovn-controller)
    log: Path
    argv: tuple[str, ...]
    netns: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    ctl_dir: Path | None = None  # where a pid-derived ctl lives


class OvnDaemons:
    """The daemons of one lab. ``prefix`` names the lab's namespaces (``<prefix>ovs[.<node>]``).

    ``nodes``: one chassis per node (their order fixes the encapsulation IPs of new chassis); None
    keeps the chassis recorded by the last :meth:`start` (or the lone chassis if there is no record).
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        prefix: str,
        chassis: str | None = None,
        nodes: Sequence[str] | None = None,
        nb_schema: Path = NB_SCHEMA,
        sb_schema: Path = SB_SCHEMA,
        node_hostnames: bool = False,
    ) -> None:
        """``nb_schema``/``sb_schema``: the schemas a fresh NB/SB database is created with (the kube-ovn
        engine serves Kube-OVN's own, :mod:`apibridge.twin.kubeovn.schema`); ``node_hostnames``: a node's
        chassis carries the node's name as its hostname (default: the chassis name; the kube-ovn engine sets
        it, kube-ovn-controller looks a Node's chassis up by hostname)."""
        root = state_dir.resolve()
        if len(str(root)) > _MAX_ROOT:
            raise ValueError(f"state directory path too long for unix sockets ({len(str(root))} > {_MAX_ROOT}): {root}")
        ns.check_prefix(prefix)
        self.paths = LabPaths(root)
        self.prefix = prefix
        self.fabric_netns = f"{prefix}ovs"
        self._lone_name = chassis or f"{prefix}chassis"
        self._layout: dict[str, int] = self._read_layout() if nodes is None else {}
        if nodes is not None:
            self._layout = self._assign(nodes, self._read_layout())
        self._chassis = self._make_chassis()
        self.nb_schema, self.sb_schema = nb_schema, sb_schema
        self.node_hostnames = node_hostnames
        self._daemons = self._specs()

    # --- public -------------------------------------------------------------------------------
    @property
    def all_chassis(self) -> tuple[Chassis, ...]:
        return self._chassis

    @property
    def chassis(self) -> str:
        """The first chassis's name (the lone chassis of a lab without nodes)."""
        return self._chassis[0].name

    @property
    def switch_netns(self) -> str:
        """The first chassis's namespace."""
        return self._chassis[0].netns

    @property
    def bridge(self) -> ns.Bridge:
        """The first chassis's br-int (for :class:`apibridge.twin.pods.netns.Namespaces`)."""
        return self._chassis[0].bridge

    def bridges(self) -> list[ns.Bridge]:
        return [c.bridge for c in self._chassis]

    def chassis_of(self, node: str | None) -> Chassis:
        """The chassis of ``node`` (the first chassis for a node the lab does not have)."""
        return next((c for c in self._chassis if c.node == node), self._chassis[0])

    def is_daemon_netns(self, name: str) -> bool:
        """A namespace of this lab's daemons (chassis or fabric), not a pod's or node's."""
        return name == self.fabric_netns or name.startswith(f"{self.fabric_netns}.")

    def daemon_netns(self) -> list[str]:
        return sorted({c.netns for c in self._chassis} | ({self.fabric_netns} if self._tunnelled else set()))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self._daemons)

    @property
    def _tunnelled(self) -> bool:
        return any(c.tunnelled for c in self._chassis)

    def set_nodes(self, nodes: Sequence[str]) -> list[Chassis]:
        """Make the lab's chassis one per node of ``nodes``; returns the chassis no longer wanted."""
        before = self._chassis
        lone = not self._layout
        self._layout = self._assign(nodes, self._layout)
        self._chassis = self._make_chassis()
        self._daemons = self._specs()
        if lone and self._layout:
            return list(before)
        wanted = {c.name for c in self._chassis}
        return [c for c in before if c.name not in wanted]

    def start(self, timeout: float = 30.0, *, nodes: Sequence[str] | None = None) -> StartReport:
        """Bring the lab's OVN up (or back up); healthy daemons are left alone.

        ``nodes``: the chassis wanted (chassis of nodes no longer there are stopped and removed).
        """
        t0 = time.monotonic()
        removed = self._retire(self.set_nodes(nodes)) if nodes is not None else []
        p = self.paths
        for directory in (p.ovs, p.ovn, p.logs, p.etc, *(d for c in self._chassis for d in (c.ovs_dir, c.ovn_dir))):
            directory.mkdir(parents=True, exist_ok=True)
        if self._layout:
            (p.root / _LAYOUT).write_text(json.dumps({"nodes": self._layout}, sort_keys=True))
        by_name = {d.name: d for d in self._daemons}
        healthy = {d.name for d in self._daemons if self._responsive(d)}
        started: list[str] = []

        dbs = [(p.ovn / "ovnnb_db.db", self.nb_schema), (p.ovn / "ovnsb_db.db", self.sb_schema)]
        dbs += [(c.ovs_dir / "conf.db", OVS_SCHEMA) for c in self._chassis]
        for db, schema in dbs:
            if not db.exists():
                run(["ovsdb-tool", "create", str(db), str(schema)])
        for c in self._chassis:
            if not ns.netns_exists(c.netns):
                # a chassis whose namespace is gone lost its devices: restart all of it
                for base in PER_CHASSIS:
                    healthy.discard(c.daemon(base))
            ns.ensure_netns(
                c.netns,
                sysctls={"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"},
            )
        if self._tunnelled:
            self._fabric()

        wave1 = [by_name[c.daemon("ovsdb-server")] for c in self._chassis if c.daemon("ovsdb-server") not in healthy]
        wave1 += [by_name[n] for n in ("ovsdb-server-nb", "ovsdb-server-sb") if n not in healthy]
        self._launch(wave1)
        started += [d.name for d in wave1]

        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="ovs-init") as pool:
            inits: list[Future[object]] = [pool.submit(self._init_chassis, c) for c in self._chassis]
            inits.append(pool.submit(self.nbctl, "--no-wait", "init"))
            inits.append(pool.submit(self.sbctl, "init"))  # 23.03: --no-wait is rejected here
            for f in inits:
                f.result()

        for c in self._chassis:
            if c.daemon("ovs-vswitchd") not in healthy:
                # A running ovn-controller notices a new vswitchd only after its OpenFlow reconnect back-off
                # and meanwhile acknowledges nb_cfg with flows the new vswitchd does not have: restart it too,
                # so that hv_cfg again means "flows installed".
                healthy.discard(c.daemon("ovn-controller"))
        # ovn-controller only after vswitchd is up: if br-int.mgmt is not there yet, its OpenFlow
        # connection backs off for ~1 s and the first flows (ovn-installed, hv_cfg) wait for that.
        wave2 = [by_name[c.daemon("ovs-vswitchd")] for c in self._chassis if c.daemon("ovs-vswitchd") not in healthy]
        wave2 += [by_name["ovn-northd"]] if "ovn-northd" not in healthy else []
        self._launch(wave2)
        started += [d.name for d in wave2]
        for c in self._chassis:
            if c.tunnelled:
                self._encap_address(c)
        todo = [c for c in self._chassis if c.daemon("ovn-controller") not in healthy]
        for c in todo:
            ns.wait_for((c.ovs_dir / f"{INTEGRATION_BRIDGE}.mgmt").exists, 5, interval=0.005)
        wave3 = [by_name[c.daemon("ovn-controller")] for c in todo]
        self._launch(wave3)
        started += [d.name for d in wave3]
        self._wait_chassis(timeout)
        reused = tuple(n for n in self.names if n not in started)
        return StartReport(tuple(started), reused, time.monotonic() - t0, tuple(c.name for c in removed))

    def stop(self, *, purge: bool = False) -> StopReport:
        """Stop our daemons (controllers first), delete the daemons' namespaces; ``purge`` also removes the state.

        Only pids from our pidfiles whose command line names our state directory are signalled.
        """
        t0 = time.monotonic()
        self._adopt_recorded_layout()
        stopped: list[str] = []
        stale: list[str] = []
        daemons = list(reversed(self._daemons))
        pids = {d.name: read_pidfile(d.pidfile) for d in daemons}
        killed = set(kill_all_owned([p for p in pids.values() if p is not None], self.paths.marker))
        for d in daemons:
            pid = pids[d.name]
            if pid is None:
                continue
            (stopped if pid in killed else stale).append(d.name)
            d.pidfile.unlink(missing_ok=True)
        for netns in {*self.daemon_netns(), self.fabric_netns}:
            if ns.netns_exists(netns):
                ns.delete_netns(netns)
        if purge:
            self._purge()
        return StopReport(tuple(stopped), tuple(stale), time.monotonic() - t0)

    def status(self) -> LabStatus:
        states = []
        for d in self._daemons:
            pid = read_pidfile(d.pidfile)
            running = pid is not None and owned_by(pid, self.paths.marker)
            states.append(DaemonStatus(d.name, pid, running, running and self._responsive(d)))
        sb_up = next(s for s in states if s.name == "ovsdb-server-sb").responsive
        missing = tuple(n for n in self.daemon_netns() if not ns.netns_exists(n))
        unregistered = self._unregistered() if sb_up else tuple(c.name for c in self._chassis)
        return LabStatus(self.paths.root, tuple(states), not missing, not unregistered, missing, unregistered)

    def pid(self, name: str) -> int | None:
        """The pid in daemon ``name``'s pidfile (``ovs-vswitchd`` alone: the first chassis's)."""
        return read_pidfile(self._by_name(name).pidfile)

    def log_file(self, name: str) -> Path:
        return self._by_name(name).log

    def trim(self) -> None:
        """Compact every ovsdb-server and give the memory freed back (``memory-trim-on-compaction``):
        a build's transactions leave the southbound server ~25 MB above what it holds at 1,000 pods."""
        servers = [d for d in self._daemons if d.argv[0] == "ovsdb-server"]

        def one(d: _Daemon) -> None:
            with contextlib.suppress(CommandError):
                self.appctl(d.name, "ovsdb-server/memory-trim-on-compaction", "on", timeout=10)
                self.appctl(d.name, "ovsdb-server/compact", timeout=30)

        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="trim") as pool:
            list(pool.map(one, servers))

    def registered(self) -> list[str]:
        """The chassis names in the southbound database."""
        done = self.sbctl("--bare", "--columns=name", "list", "Chassis", timeout=5)
        return sorted(done.stdout.split())

    # --- tool wrappers (always pointed at this lab) -------------------------------------------------
    def vsctl(self, *args: str, timeout: float = 30, chassis: Chassis | None = None) -> Completed:
        c = chassis or self._chassis[0]
        return run(["ovs-vsctl", f"--db={c.ovs_remote}", *args], env={**self._env(), **c.env()}, timeout=timeout)

    def nbctl(self, *args: str, timeout: float = 30) -> Completed:
        return run(["ovn-nbctl", f"--db={self.paths.nb_remote}", *args], env=self._env(), timeout=timeout)

    def sbctl(self, *args: str, timeout: float = 30) -> Completed:
        return run(["ovn-sbctl", f"--db={self.paths.sb_remote}", *args], env=self._env(), timeout=timeout)

    def appctl(self, name: str, *args: str, timeout: float = 10) -> Completed:
        d = self._by_name(name)
        ctl = self._ctl(d)
        if ctl is None:
            raise CommandError(["ovs-appctl", name, *args], None, "", f"{name} is not running", note="no socket")
        return run(["ovs-appctl", "-t", str(ctl), *args], env={**self._env(), **d.env}, timeout=timeout)

    def env(self) -> dict[str, str]:
        """The environment to run OVN tools (nbctl, sbctl, ovn-trace) against this lab."""
        return self._env()

    # --- internals ------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        return {**os.environ, **self.paths.env()}

    def _by_name(self, name: str) -> _Daemon:
        for d in self._daemons:
            if d.name == name:
                return d
        if name in PER_CHASSIS:  # the bare name: the first chassis's
            return self._by_name(self._chassis[0].daemon(name))
        raise KeyError(name)

    def _adopt_recorded_layout(self) -> None:
        """Add the chassis the lab recorded on disk since we were made (another process's ``up``), so that
        ``stop`` from a new process, or from an object made before ``up``, finds every node's daemons."""
        recorded = self._read_layout()
        if any(self._layout.get(node) != i for node, i in recorded.items()):
            self._layout = {**self._layout, **recorded}
            self._chassis = self._make_chassis()
            self._daemons = self._specs()

    def _read_layout(self) -> dict[str, int]:
        try:
            data = json.loads((self.paths.root / _LAYOUT).read_text())
        except (OSError, ValueError):
            return {}
        nodes = data.get("nodes", {}) if isinstance(data, dict) else {}
        return {str(k): int(v) for k, v in nodes.items()} if isinstance(nodes, dict) else {}

    @staticmethod
    def _assign(nodes: Iterable[str], known: dict[str, int]) -> dict[str, int]:
        """Each node's chassis index: kept for known nodes (their IPs and directories stay), the lowest free
        one for new nodes."""
        out = {n: known[n] for n in nodes if n in known}
        free = (i for i in range(1, UNDERLAY.num_addresses - 2) if i not in out.values())
        for n in nodes:
            if n not in out:
                out[n] = next(free)
        return out

    def _make_chassis(self) -> tuple[Chassis, ...]:
        p = self.paths
        if not self._layout:
            return (Chassis(self._lone_name, None, self.fabric_netns, p.ovs, p.ovn, "127.0.0.1"),)
        out = []
        for node, i in sorted(self._layout.items(), key=lambda kv: kv[1]):
            d = p.root / f"c{i}"
            out.append(
                Chassis(f"{self.prefix}{node}", node, f"{self.fabric_netns}.{node}", d, d, str(UNDERLAY[i]), f"@{node}")
            )
        return tuple(out)

    def _specs(self) -> tuple[_Daemon, ...]:
        p = self.paths
        common = ("--detach", "--no-chdir", "-vconsole:off", "-vfile:info")

        def server(name: str, db: Path, sock: Path, pidfile: Path, ctl: Path, netns: str | None = None) -> _Daemon:
            logf = p.logs / f"{name}.log"
            argv = (
                "ovsdb-server", str(db), f"--remote=punix:{sock}",
                f"--pidfile={pidfile}", f"--unixctl={ctl}", f"--log-file={logf}", *common,
            )  # fmt: skip
            return _Daemon(name, pidfile, ctl, logf, argv, netns)

        nb = server("ovsdb-server-nb", p.ovn / "ovnnb_db.db", p.ovn / "ovnnb_db.sock",
                    p.ovn / "ovnnb_db.pid", p.ovn / "ovnnb_db.ctl")  # fmt: skip
        sb = server("ovsdb-server-sb", p.ovn / "ovnsb_db.db", p.ovn / "ovnsb_db.sock",
                    p.ovn / "ovnsb_db.pid", p.ovn / "ovnsb_db.ctl")  # fmt: skip
        northd = _Daemon(
            "ovn-northd",
            p.ovn / "ovn-northd.pid",
            p.ovn / "ovn-northd.ctl",
            p.logs / "ovn-northd.log",
            (
                "ovn-northd", f"--ovnnb-db={p.nb_remote}", f"--ovnsb-db={p.sb_remote}",
                f"--pidfile={p.ovn / 'ovn-northd.pid'}", f"--unixctl={p.ovn / 'ovn-northd.ctl'}",
                f"--log-file={p.logs / 'ovn-northd.log'}", *common,
            ),
        )  # fmt: skip
        ovsdbs, vswitchds, controllers = [], [], []
        for c in self._chassis:
            o = c.ovs_dir
            env = c.env()
            ovsdb = server(c.daemon("ovsdb-server"), o / "conf.db", o / "db.sock",
                           o / "ovsdb-server.pid", o / "ovsdb-server.ctl", c.netns)  # fmt: skip
            name = c.daemon("ovs-vswitchd")
            vswitchd = _Daemon(
                name, o / "ovs-vswitchd.pid", o / "ovs-vswitchd.ctl", p.logs / f"{name}.log",
                (
                    "ovs-vswitchd", c.ovs_remote, f"--pidfile={o / 'ovs-vswitchd.pid'}",
                    f"--unixctl={o / 'ovs-vswitchd.ctl'}", f"--log-file={p.logs / f'{name}.log'}", *common,
                ),
                netns=c.netns, env=env,
            )  # fmt: skip
            name = c.daemon("ovn-controller")
            controller = _Daemon(
                name, c.ovn_dir / "ovn-controller.pid", None, p.logs / f"{name}.log",
                (
                    "ovn-controller", c.ovs_remote, f"--pidfile={c.ovn_dir / 'ovn-controller.pid'}",
                    f"--log-file={p.logs / f'{name}.log'}", *common,
                ),
                netns=c.netns, env=env, ctl_dir=c.ovn_dir,
            )  # fmt: skip
            ovsdbs.append(ovsdb)
            vswitchds.append(vswitchd)
            controllers.append(controller)
        # the start order; stop() goes in reverse: the controllers first, the databases last
        return (*ovsdbs, nb, sb, *vswitchds, northd, *controllers)

    def _init_chassis(self, c: Chassis) -> None:
        p = self.paths
        args = [
            "--no-wait",
            "--", "init",
            "--", "set", "Open_vSwitch", ".",
            f"external_ids:system-id={c.name}",
            f"external_ids:hostname={self.hostname(c)}",
            f'external_ids:ovn-remote="{p.sb_remote}"',
            "external_ids:ovn-encap-type=geneve",
            f"external_ids:ovn-encap-ip={c.encap_ip}",
            "external_ids:ovn-bridge-datapath-type=netdev",
            *CONTROLLER_OPTIONS,
            *VSWITCHD_OPTIONS,
            "--", "--may-exist", "add-br", INTEGRATION_BRIDGE,
            "--", "set", "Bridge", INTEGRATION_BRIDGE,
            "datapath_type=netdev", "fail-mode=secure", "other-config:disable-in-band=true",
        ]  # fmt: skip
        if c.tunnelled:
            args += [
                "--", "--may-exist", "add-br", PHYSICAL_BRIDGE,
                "--", "set", "Bridge", PHYSICAL_BRIDGE, "datapath_type=netdev",
                "--", "set", "Interface", PHYSICAL_BRIDGE, f"mtu_request={UNDERLAY_MTU}",
                "--", "--may-exist", "add-port", PHYSICAL_BRIDGE, NODE_LINK,
            ]  # fmt: skip
        self.vsctl(*args, chassis=c)

    def hostname(self, c: Chassis) -> str:
        """The ``hostname`` a chassis reports: its node's name with ``node_hostnames``, else its own name."""
        return c.node if self.node_hostnames and c.node else c.name

    def _fabric(self) -> None:
        """The node links: a Linux bridge in the fabric namespace, a veth to every chassis namespace."""
        f = self.fabric_netns
        ns.ensure_netns(f, sysctls={"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"})
        have = set(interfaces(f))
        lines = [] if FABRIC in have else [f"link add {FABRIC} mtu {UNDERLAY_MTU} type bridge"]
        lines.append(f"link set {FABRIC} up")
        fresh = []
        for c in self._chassis:
            end = c.fabric_end
            if end not in have:
                lines.append(f"link add {end} mtu {UNDERLAY_MTU} type veth peer name {NODE_LINK} netns {c.netns}")
                fresh.append(c)
            lines.append(f"link set {end} master {FABRIC} up")
        run(["ip", "-n", f, "-b", "-"], input="".join(line + "\n" for line in lines), step="wiring the node links")
        for c in fresh:
            run(["ip", "-n", c.netns, "link", "set", NODE_LINK, "mtu", str(UNDERLAY_MTU), "up"])
            # the userspace datapath sends what it reads from ul0 as is: no checksum left to offload
            tx_checksum_off(c.netns, [NODE_LINK])

    def _encap_address(self, c: Chassis) -> None:
        """The encapsulation IP on br-phy's tap (re-applied after every vswitchd start: the tap is new)."""
        if not ns.wait_for(lambda: PHYSICAL_BRIDGE in interfaces(c.netns), 5, interval=0.01):
            raise CommandError(
                ["ovs-vswitchd", c.netns], None, "", f"{PHYSICAL_BRIDGE} did not appear in {c.netns}", note="timeout"
            )
        run(
            ["ip", "-n", c.netns, "-b", "-"],
            input=f"addr replace {c.encap_ip}/{UNDERLAY.prefixlen} dev {PHYSICAL_BRIDGE}\n"
            f"link set {PHYSICAL_BRIDGE} up\n",
            step=f"addressing chassis {c.name}",
        )

    def _retire(self, gone: Sequence[Chassis]) -> list[Chassis]:
        """Stop and remove chassis no longer wanted (and their rows in the southbound database)."""
        if not gone:
            return []
        for c in gone:
            pidfiles = [
                c.ovn_dir / "ovn-controller.pid",
                c.ovs_dir / "ovs-vswitchd.pid",
                c.ovs_dir / "ovsdb-server.pid",
            ]
            pids = [pid for pid in (read_pidfile(f) for f in pidfiles) if pid is not None]
            kill_all_owned(pids, self.paths.marker)
            if ns.netns_exists(c.netns):
                ns.delete_netns(c.netns)
            if c.tunnelled:
                shutil.rmtree(c.ovs_dir, ignore_errors=True)
            if (self.paths.ovn / "ovnsb_db.sock").exists():
                self.sbctl("--if-exists", "chassis-del", c.name, timeout=10)
        return list(gone)

    def _ctl(self, d: _Daemon) -> Path | None:
        if d.ctl is not None:
            return d.ctl
        pid = read_pidfile(d.pidfile)
        return None if pid is None or d.ctl_dir is None else d.ctl_dir / f"ovn-controller.{pid}.ctl"

    def _responsive(self, d: _Daemon) -> bool:
        pid = read_pidfile(d.pidfile)
        if pid is None or not owned_by(pid, self.paths.marker):
            return False
        ctl = self._ctl(d)
        if ctl is None or not ctl.exists():
            return False
        done = run(["ovs-appctl", "-t", str(ctl), "version"], env=self._env(), timeout=5, check=False)
        return done.returncode == 0

    def _launch(self, daemons: Sequence[_Daemon]) -> None:
        """Start daemons in parallel; ``--detach`` returns once each is ready (pidfile and sockets up)."""
        for d in daemons:  # a hung or half-dead one of ours must not hold its pidfile/sockets
            pid = read_pidfile(d.pidfile)
            if pid is not None:
                kill_owned(pid, self.paths.marker)
                d.pidfile.unlink(missing_ok=True)
        procs = []
        for d in daemons:
            argv = ns.exec_argv(d.netns, d.argv) if d.netns else list(d.argv)
            env = {**self._env(), **d.env, "GLIBC_TUNABLES": MALLOC_TUNABLES}
            procs.append((d, argv, subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
        errors = []
        for d, argv, proc in procs:
            out, err = proc.communicate(timeout=30)
            if proc.returncode != 0:
                tail = d.log.read_text(errors="replace")[-1500:] if d.log.exists() else ""
                errors.append(CommandError(argv, proc.returncode, out.decode(), err.decode() + tail))
        if errors:
            raise errors[0]

    def _unregistered(self) -> tuple[str, ...]:
        done = run(
            ["ovn-sbctl", f"--db={self.paths.sb_remote}", "--bare", "--columns=name", "list", "Chassis"],
            env=self._env(), timeout=5, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            return tuple(c.name for c in self._chassis)
        have = set(done.stdout.split())
        return tuple(c.name for c in self._chassis if c.name not in have)

    def _chassis_registered(self) -> bool:
        return not self._unregistered()

    def _wait_chassis(self, timeout: float) -> None:
        if not ns.wait_for(self._chassis_registered, timeout, interval=0.01):
            missing = self._unregistered()
            first = next((c for c in self._chassis if c.name in missing), self._chassis[0])
            logs = self.log_file(first.daemon("ovn-controller"))
            raise CommandError(
                ["ovn-sbctl", "list", "Chassis"], None, "",
                f"chassis {', '.join(missing)} did not register within {timeout:g}s; see {logs}",
                note="timeout",
            )  # fmt: skip

    def _purge(self) -> None:
        """Remove what we created under the state directory (never anything else)."""
        p = self.paths
        for sub in (p.ovs, p.ovn, p.logs, p.etc, *(c.ovs_dir for c in self._chassis if c.tunnelled)):
            shutil.rmtree(sub, ignore_errors=True)
        for stray in p.root.glob("c[0-9]*"):  # chassis directories of nodes retired by a crashed run
            if stray.is_dir() and stray.name[1:].isdigit():
                shutil.rmtree(stray, ignore_errors=True)
        (p.root / _LAYOUT).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # not empty: the rest (certs, server logs) is someone else's
            p.root.rmdir()
