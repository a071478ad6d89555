"""A one-chassis OVN, supervised inside one lab state directory.

The twin needs the same six processes a Kube-OVN node and its central run — ovsdb-server
(``conf.db``), ovs-vswitchd, the NB and SB ovsdb-servers, ovn-northd and ovn-controller — but it
must never touch the machine's own Open vSwitch (``/var/run/openvswitch``, ``/etc/openvswitch``)
and several labs (tests, a developer's ``lab up``) must run side by side. So:

* every file lives under the state directory (``OVS_RUNDIR``/``OVS_DBDIR``/``OVS_LOGDIR``/``OVN_*``
  point there and every daemon gets explicit ``--pidfile``/``--unixctl``/``--log-file``/sockets);
* ovs-vswitchd runs inside the lab's own *switch namespace* ``<prefix>ovs``, so ``br-int``, the
  userspace datapath's ``ovs-netdev`` tap and all host veth ends stay out of the root namespace
  and cannot collide with another lab's;
* the datapath is userspace (``datapath_type=netdev``): no kernel module is needed;
* ``start()`` is idempotent (healthy daemons are reused, dead or hung ones restarted), ``stop()``
  only kills a pid from our pidfiles after checking its command line names our state directory,
  and works after a crash.

OVN 23.03 quirks handled here: ``ovn-sbctl init`` rejects ``--no-wait``; ``ovn-controller`` has no
``--unixctl`` (its control socket is ``<OVN_RUNDIR>/ovn-controller.<pid>.ctl``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from apibridge.twin.pods import netns as ns
from apibridge.twin.proc import CommandError, Completed, kill_all_owned, kill_owned, owned_by, read_pidfile, run

OVS_SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
NB_SCHEMA = Path("/usr/share/ovn/ovn-nb.ovsschema")
SB_SCHEMA = Path("/usr/share/ovn/ovn-sb.ovsschema")
INTEGRATION_BRIDGE = "br-int"
_MAX_ROOT = 80  # AF_UNIX paths are limited to 108 bytes; leave room for "ovn/ovn-controller.<pid>.ctl"


@dataclass(frozen=True)
class LabPaths:
    """Where a lab keeps its databases, sockets, pidfiles and logs."""

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
class DaemonStatus:
    name: str
    pid: int | None
    running: bool  # a process of ours has the pid from the pidfile
    responsive: bool  # it answers ``ovs-appctl version`` on its control socket


@dataclass(frozen=True)
class LabStatus:
    state_dir: Path
    daemons: tuple[DaemonStatus, ...]
    switch_netns: bool
    chassis_registered: bool

    @property
    def healthy(self) -> bool:
        return self.switch_netns and self.chassis_registered and all(d.responsive for d in self.daemons)


@dataclass(frozen=True)
class StartReport:
    started: tuple[str, ...]
    reused: tuple[str, ...]
    seconds: float


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


class OvnDaemons:
    """The six daemons of one lab. ``prefix`` names the lab's namespaces (``<prefix>ovs`` for the switch)."""

    def __init__(
        self,
        state_dir: Path,
        *,
        prefix: str,
        chassis: str | None = None,
        nb_schema: Path = NB_SCHEMA,
        sb_schema: Path = SB_SCHEMA,
        hostname: str | None = None,
    ) -> None:
        """``nb_schema``/``sb_schema``: the schemas a fresh NB/SB database is created with (the kube-ovn
        engine serves Kube-OVN's own, :mod:`apibridge.twin.kubeovn.schema`); ``hostname``: the chassis'
        hostname (default: its name; the kube-ovn engine gives it a Node's, which kube-ovn-controller
        looks the chassis up by)."""
        root = state_dir.resolve()
        if len(str(root)) > _MAX_ROOT:
            raise ValueError(f"state directory path too long for unix sockets ({len(str(root))} > {_MAX_ROOT}): {root}")
        ns.check_prefix(prefix)
        self.paths = LabPaths(root)
        self.prefix = prefix
        self.switch_netns = f"{prefix}ovs"
        self.chassis = chassis or f"{prefix}chassis"
        self.nb_schema, self.sb_schema = nb_schema, sb_schema
        self.hostname = hostname or self.chassis
        self._daemons = self._specs()

    # --- public -------------------------------------------------------------------------------
    @property
    def bridge(self) -> ns.Bridge:
        """Where pod/node NICs plug in (for :class:`apibridge.twin.pods.netns.Namespaces`)."""
        return ns.Bridge(ovs_db=self.paths.ovs_remote, netns=self.switch_netns, name=INTEGRATION_BRIDGE)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self._daemons)

    def start(self, timeout: float = 30.0) -> StartReport:
        """Bring the lab's OVN up (or back up); healthy daemons are left alone."""
        t0 = time.monotonic()
        p = self.paths
        for d in (p.ovs, p.ovn, p.logs, p.etc):
            d.mkdir(parents=True, exist_ok=True)
        by_name = {d.name: d for d in self._daemons}
        healthy = {d.name for d in self._daemons if self._responsive(d)}
        started: list[str] = []

        for db, schema in (
            (p.ovs / "conf.db", OVS_SCHEMA),
            (p.ovn / "ovnnb_db.db", self.nb_schema),
            (p.ovn / "ovnsb_db.db", self.sb_schema),
        ):
            if not db.exists():
                run(["ovsdb-tool", "create", str(db), str(schema)])

        dbs = [by_name[n] for n in ("ovsdb-server", "ovsdb-server-nb", "ovsdb-server-sb") if n not in healthy]
        self._launch(dbs)
        started += [d.name for d in dbs]

        self.vsctl(
            "--no-wait",
            "--", "init",
            "--", "set", "Open_vSwitch", ".",
            f"external_ids:system-id={self.chassis}",
            f"external_ids:hostname={self.hostname}",
            f'external_ids:ovn-remote="{p.sb_remote}"',
            "external_ids:ovn-encap-type=geneve",
            "external_ids:ovn-encap-ip=127.0.0.1",
            "external_ids:ovn-bridge-datapath-type=netdev",
            "--", "--may-exist", "add-br", INTEGRATION_BRIDGE,
            "--", "set", "Bridge", INTEGRATION_BRIDGE,
            "datapath_type=netdev", "fail-mode=secure", "other-config:disable-in-band=true",
        )  # fmt: skip
        self.nbctl("--no-wait", "init")
        self.sbctl("init")  # 23.03: --no-wait is rejected here

        if not ns.netns_exists(self.switch_netns):
            healthy.discard("ovs-vswitchd")  # a vswitchd outside its namespace is useless: restart it
        if "ovs-vswitchd" not in healthy:
            # A running ovn-controller notices a new vswitchd only after its OpenFlow reconnect back-off
            # and meanwhile acknowledges nb_cfg with flows the new vswitchd does not have: restart it too,
            # so that hv_cfg again means "flows installed".
            healthy.discard("ovn-controller")
        ns.ensure_netns(
            self.switch_netns,
            sysctls={"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"},
        )
        # ovn-controller only after vswitchd is up: if br-int.mgmt is not there yet, its OpenFlow
        # connection backs off for ~1 s and the first flows (ovn-installed, hv_cfg) wait for that.
        for wave in (("ovs-vswitchd", "ovn-northd"), ("ovn-controller",)):
            todo = [by_name[n] for n in wave if n not in healthy]
            if "ovn-controller" in wave and todo:
                mgmt = p.ovs / f"{INTEGRATION_BRIDGE}.mgmt"
                ns.wait_for(mgmt.exists, 5, interval=0.005)
            self._launch(todo)
            started += [d.name for d in todo]
        self._wait_chassis(timeout)
        reused = tuple(n for n in self.names if n not in started)
        return StartReport(tuple(started), reused, time.monotonic() - t0)

    def stop(self, *, purge: bool = False) -> StopReport:
        """Stop our daemons (controller first), delete the switch namespace; ``purge`` also removes the state.

        Only pids from our pidfiles whose command line names our state directory are signalled.
        """
        t0 = time.monotonic()
        stopped: list[str] = []
        stale: list[str] = []
        pids = {d.name: read_pidfile(d.pidfile) for d in reversed(self._daemons)}
        killed = set(kill_all_owned([p for p in pids.values() if p is not None], self.paths.marker))
        for d in reversed(self._daemons):
            pid = pids[d.name]
            if pid is None:
                continue
            (stopped if pid in killed else stale).append(d.name)
            d.pidfile.unlink(missing_ok=True)
        ns.delete_netns(self.switch_netns)
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
        return LabStatus(
            self.paths.root,
            tuple(states),
            ns.netns_exists(self.switch_netns),
            sb_up and self._chassis_registered(),
        )

    def pid(self, name: str) -> int | None:
        """The pid in daemon ``name``'s pidfile."""
        return read_pidfile(self._by_name(name).pidfile)

    def log_file(self, name: str) -> Path:
        return self._by_name(name).log

    # --- tool wrappers (always pointed at this lab) -------------------------------------------------
    def vsctl(self, *args: str, timeout: float = 30) -> Completed:
        return run(["ovs-vsctl", f"--db={self.paths.ovs_remote}", *args], env=self._env(), timeout=timeout)

    def nbctl(self, *args: str, timeout: float = 30) -> Completed:
        return run(["ovn-nbctl", f"--db={self.paths.nb_remote}", *args], env=self._env(), timeout=timeout)

    def sbctl(self, *args: str, timeout: float = 30) -> Completed:
        return run(["ovn-sbctl", f"--db={self.paths.sb_remote}", *args], env=self._env(), timeout=timeout)

    def appctl(self, name: str, *args: str, timeout: float = 10) -> Completed:
        ctl = self._ctl(self._by_name(name))
        if ctl is None:
            raise CommandError(["ovs-appctl", name, *args], None, "", f"{name} is not running", note="no socket")
        return run(["ovs-appctl", "-t", str(ctl), *args], env=self._env(), timeout=timeout)

    def env(self) -> dict[str, str]:
        """The environment to run OVS/OVN tools against this lab."""
        return self._env()

    # --- internals ------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        return {**os.environ, **self.paths.env()}

    def _by_name(self, name: str) -> _Daemon:
        for d in self._daemons:
            if d.name == name:
                return d
        raise KeyError(name)

    def _specs(self) -> tuple[_Daemon, ...]:
        p = self.paths
        common = ("--detach", "--no-chdir", "-vconsole:off", "-vfile:info")

        def server(name: str, db: Path, sock: Path, stem: str) -> _Daemon:
            pidfile, ctl, logf = p.ovn / f"{stem}.pid", p.ovn / f"{stem}.ctl", p.logs / f"{name}.log"
            if name == "ovsdb-server":
                pidfile, ctl = p.ovs / "ovsdb-server.pid", p.ovs / "ovsdb-server.ctl"
            argv = (
                "ovsdb-server", str(db), f"--remote=punix:{sock}",
                f"--pidfile={pidfile}", f"--unixctl={ctl}", f"--log-file={logf}", *common,
            )  # fmt: skip
            return _Daemon(name, pidfile, ctl, logf, argv)

        ovsdb = server("ovsdb-server", p.ovs / "conf.db", p.ovs / "db.sock", "ovsdb-server")
        nb = server("ovsdb-server-nb", p.ovn / "ovnnb_db.db", p.ovn / "ovnnb_db.sock", "ovnnb_db")
        sb = server("ovsdb-server-sb", p.ovn / "ovnsb_db.db", p.ovn / "ovnsb_db.sock", "ovnsb_db")
        vswitchd = _Daemon(
            "ovs-vswitchd",
            p.ovs / "ovs-vswitchd.pid",
            p.ovs / "ovs-vswitchd.ctl",
            p.logs / "ovs-vswitchd.log",
            (
                "ovs-vswitchd", p.ovs_remote, f"--pidfile={p.ovs / 'ovs-vswitchd.pid'}",
                f"--unixctl={p.ovs / 'ovs-vswitchd.ctl'}", f"--log-file={p.logs / 'ovs-vswitchd.log'}", *common,
            ),
            netns=self.switch_netns,
        )  # fmt: skip
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
        controller = _Daemon(
            "ovn-controller",
            p.ovn / "ovn-controller.pid",
            None,
            p.logs / "ovn-controller.log",
            (
                "ovn-controller", p.ovs_remote, f"--pidfile={p.ovn / 'ovn-controller.pid'}",
                f"--log-file={p.logs / 'ovn-controller.log'}", *common,
            ),
        )  # fmt: skip
        return (ovsdb, nb, sb, vswitchd, northd, controller)

    def _ctl(self, d: _Daemon) -> Path | None:
        if d.ctl is not None:
            return d.ctl
        pid = read_pidfile(d.pidfile)
        return None if pid is None else self.paths.ovn / f"{d.name}.{pid}.ctl"

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
            procs.append(
                (d, argv, subprocess.Popen(argv, env=self._env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE))
            )
        errors = []
        for d, argv, proc in procs:
            out, err = proc.communicate(timeout=30)
            if proc.returncode != 0:
                tail = d.log.read_text(errors="replace")[-1500:] if d.log.exists() else ""
                errors.append(CommandError(argv, proc.returncode, out.decode(), err.decode() + tail))
        if errors:
            raise errors[0]

    def _chassis_registered(self) -> bool:
        done = run(
            ["ovn-sbctl", f"--db={self.paths.sb_remote}", "--bare", "--columns=name", "find", "Chassis",
             f"name={self.chassis}"],
            env=self._env(), timeout=5, check=False,
        )  # fmt: skip
        return done.returncode == 0 and done.stdout.strip() == self.chassis

    def _wait_chassis(self, timeout: float) -> None:
        if not ns.wait_for(self._chassis_registered, timeout, interval=0.01):
            raise CommandError(
                ["ovn-sbctl", "find", "Chassis", f"name={self.chassis}"], None, "",
                f"chassis {self.chassis} did not register within {timeout:g}s; see {self.log_file('ovn-controller')}",
                note="timeout",
            )  # fmt: skip

    def _purge(self) -> None:
        """Remove what we created under the state directory (never anything else)."""
        p = self.paths
        for sub in (p.ovs, p.ovn, p.logs, p.etc):
            shutil.rmtree(sub, ignore_errors=True)
        with contextlib.suppress(OSError):  # not empty: the rest (certs, server logs) is someone else's
            p.root.rmdir()
