"""Network namespaces wired the way kube-ovn-cni wires a pod NIC.

The twin proves reachability with real TCP, so every pod or node is a Linux network namespace and
every NIC is a veth pair: the namespace end is renamed to what the pod sees (``eth0``, ``net1``,
``ovn0``) and gets MAC, addresses, MTU and routes; the host end is plugged into ``br-int`` with
``external_ids:iface-id=<LSP name>`` plus the other external_ids kube-ovn-cni writes, so
ovn-controller binds it to the logical switch port exactly as on a node.

Two facts shape this module:

* The host ends do not live in the root namespace. Each lab runs its ``ovs-vswitchd`` inside its own
  *switch namespace* (see :mod:`apibridge.twin.ovn.daemons`), so ``br-int``, the userspace datapath's
  ``ovs-netdev`` tap and all host veth ends of one lab are invisible to the machine and to other
  labs; deleting that namespace removes every trace. IPv6 is disabled there for all devices.
* The userspace (netdev) datapath receives frames through AF_PACKET with the TCP checksum still
  left to offload: unless TX checksumming is turned off on the *namespace* end (``ethtool -K <if>
  tx off``), ping works but every TCP connection hangs. That step is mandatory, not tuning.

Routes follow kube-ovn-cni's ``configureContainerNic``: an invalid ``dst`` or ``gw`` is logged and
skipped, an empty ``gw`` means an on-link route, an empty ``dst`` means the default route, and a
kernel error on one route is logged and skipped too. The skipped routes are returned, so callers
can show them instead of losing them in a log.

Everything runs through the ``ip`` command (batch mode ``-b`` with ``-force`` to keep one process
per namespace) and ``ovs-vsctl`` (one invocation for many ports).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import re
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from apibridge.kubeovn import routes, rules
from apibridge.kubeovn.routes import Route
from apibridge.twin.pods import rtnl
from apibridge.twin.pods.nsock import NETNS_DIR, interfaces, tx_checksum_off
from apibridge.twin.proc import CommandError, run, wait_gone

log = logging.getLogger(__name__)

__all__ = [
    "IFNAMSIZ",
    "NETNS_DIR",
    "Bridge",
    "KernelNic",
    "Namespaces",
    "PluggedNic",
    "Route",
    "SkippedRoute",
    "check_prefix",
    "delete_netns",
    "ensure_netns",
    "exec_argv",
    "host_ifname",
    "list_netns",
    "netns_exists",
    "netns_pids",
    "wait_for",
]

IFNAMSIZ = 15  # Linux interface names: 15 characters + NUL
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
# A lab prefix ends in a separator, so lab "ab-t1" can never claim the namespaces of lab "ab-t10".
_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,38}[-._]$")
_FAILED_LINE = re.compile(r"Command failed -:(\d+)")
PARALLEL_IP = 4  # ``ip`` processes at once when configuring many namespaces
OVSDB_CHUNK = 250  # ovs-vsctl commands per transaction


def ovsdb_timeout(commands: int) -> int:
    """Seconds one ovs-vsctl transaction of ``commands`` may take on a busy 2-core machine."""
    return 10 + commands // 20


# --- shapes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SkippedRoute:
    """A route kube-ovn-cni would have logged and skipped, and why."""

    route: Route
    reason: str


@dataclass(frozen=True)
class KernelNic:
    """A pod (or node) NIC as kube-ovn-cni configures it.

    ``addresses`` are CIDRs (``10.0.1.2/24``, ``fd00::2/120``); ``gateways`` install a default route
    per family (the pod's default-route NIC); ``routes`` are the annotation's extra routes.
    """

    ifname: str
    iface_id: str
    mac: str
    addresses: tuple[str, ...] = ()
    mtu: int | None = None
    gateways: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()
    pod_name: str = ""
    pod_namespace: str = ""


@dataclass(frozen=True)
class PluggedNic:
    """A NIC after plugging: where both ends are and which routes were skipped."""

    netns: str
    ifname: str
    host_ifname: str
    iface_id: str
    skipped_routes: tuple[SkippedRoute, ...] = ()


@dataclass(frozen=True)
class Bridge:
    """Where host ends go: the OVS database, the integration bridge and the namespace ovs-vswitchd runs in."""

    ovs_db: str  # e.g. unix:/tmp/lab/ovs/db.sock
    netns: str
    name: str = "br-int"

    def vsctl(self, timeout: int = 30) -> list[str]:
        return ["ovs-vsctl", f"--db={self.ovs_db}", f"--timeout={timeout}"]


# --- module-level namespace primitives ---------------------------------------------------------------


def check_prefix(prefix: str) -> None:
    """A lab prefix: letters, digits, ``-._``, ending in one of ``-._`` (e.g. ``ab-t1a2b3c-``, ``ab-dev.``)."""
    if not _PREFIX.match(prefix):
        raise ValueError(f"invalid lab prefix {prefix!r}: use [A-Za-z0-9_.-], at most 40, ending in '-', '.' or '_'")


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def list_netns() -> list[str]:
    """Names of all named network namespaces (``ip netns list``)."""
    out = run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def ensure_netns(name: str, sysctls: Mapping[str, str] | None = None) -> bool:
    """Create namespace ``name`` with ``lo`` up (no-op if it exists). Returns True if it was created."""
    created = False
    if not netns_exists(name):
        run(["ip", "netns", "add", name])
        created = True
    run(["ip", "-n", name, "link", "set", "lo", "up"])
    if sysctls:
        run(["ip", "netns", "exec", name, "sysctl", "-q", "-w", *(f"{k}={v}" for k, v in sysctls.items())])
    return created


def netns_pids(name: str) -> list[int]:
    """Processes whose network namespace is ``name``."""
    if not netns_exists(name):
        return []
    out = run(["ip", "netns", "pids", name]).stdout
    return [int(tok) for tok in out.split() if tok.isdigit()]


def _kill(pids: list[int], grace: float) -> None:
    """SIGTERM, ``grace`` seconds, then SIGKILL what is left (processes inside namespaces we made)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        pids = [pid for pid in pids if not wait_gone(pid, grace if sig == signal.SIGTERM else 5.0)]
        if not pids:
            return


def delete_netns(name: str, *, grace: float = 3.0) -> None:
    """Kill the processes inside ``name`` (they are ours: the namespace is), then delete it."""
    _kill(netns_pids(name), grace)
    if netns_exists(name):
        run(["ip", "netns", "del", name])


def pids_in(names: Sequence[str]) -> dict[str, list[int]]:
    """The processes inside each of the namespaces ``names``, in one pass over ``/proc``."""
    inodes: dict[tuple[int, int], str] = {}
    for name in names:
        with contextlib.suppress(OSError):
            st = os.stat(NETNS_DIR / name)
            inodes[(st.st_dev, st.st_ino)] = name
    found: dict[str, list[int]] = {}
    if not inodes:
        return found
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        owner = inodes.get((st.st_dev, st.st_ino))
        if owner is not None:
            found.setdefault(owner, []).append(int(entry))
    return found


def ip_batches(lines: Sequence[str], *, step: str, workers: int = PARALLEL_IP, force: bool = False) -> None:
    """Run ``ip -b`` over ``lines`` split between ``workers`` processes (namespace adds and deletes
    are independent; a few at once use both cores)."""
    if not lines:
        return
    size = max(1, -(-len(lines) // workers))
    chunks = [lines[i : i + size] for i in range(0, len(lines), size)]
    argv = ["ip", *(["-force"] if force else []), "-b", "-"]

    def one(chunk: Sequence[str]) -> None:
        run(argv, input="".join(line + "\n" for line in chunk), timeout=30 + len(chunk) / 20, step=step)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ip") as pool:
        list(pool.map(one, chunks))


def delete_many(names: Sequence[str], *, grace: float = 3.0) -> None:
    """Kill the processes inside ``names`` (they are ours: the namespaces are), then delete them all."""
    _kill([pid for found in pids_in(names).values() for pid in found], grace)
    ip_batches(
        [f"netns del {n}" for n in names if netns_exists(n)],
        step=f"deleting {len(names)} namespaces",
        force=True,
    )
    left = [n for n in names if netns_exists(n)]
    if left:
        raise CommandError(
            ["ip", "netns", "del", *left], 1, "", f"{len(left)} namespaces could not be deleted",
            step=f"deleting {len(names)} namespaces",
        )  # fmt: skip


def exec_argv(netns: str, argv: Sequence[str]) -> list[str]:
    """``argv`` run inside ``netns`` (``ip netns exec`` execs in place: the pid is the program's)."""
    return ["ip", "netns", "exec", netns, *argv]


def host_ifname(netns: str, ifname: str) -> str:
    """kube-ovn-cni's host veth name: ``<id[:12]>_h`` for eth0, ``<id[:12-len]>_<ifname>_h`` otherwise.

    The container id is replaced by a hash of the namespace name, so names are stable, unique per
    (namespace, interface) and never longer than 15 characters.
    """
    digest = hashlib.sha256(f"{netns}\0{ifname}".encode()).hexdigest()
    if ifname == rules.PRIMARY_IFNAME:
        return f"{digest[:12]}_h"
    if len(ifname) <= 10:
        return f"{digest[: 12 - len(ifname)]}_{ifname}_h"
    return f"{digest[:12]}_h"


# --- route and address lines (kube-ovn-cni semantics) -----------------------------------------------


def _route_line(route: Route, ifname: str) -> tuple[str | None, str]:
    """The ``ip route replace`` batch line for ``route``, or (None, reason) if kube-ovn-cni would skip it."""
    gw = ""
    if route.gw:
        gw_ip = routes.cni_gw(route.gw)
        if gw_ip is None:
            return None, f"invalid gateway {route.gw!r}"
        gw = str(gw_ip)
    if not route.dst:
        dst = "::/0" if gw and ":" in gw else "0.0.0.0/0"
    else:
        net = routes.cni_dst(route.dst)
        if net is None:
            why = ": not a CIDR" if "/" not in route.dst else ""
            return None, f"invalid route destination {route.dst!r}{why}"
        dst = str(net)
    via = f" via {gw}" if gw else ""
    return f"route replace {dst}{via} dev {ifname}", ""


def _route_spec(route: Route) -> tuple[tuple[str, str | None] | None, str]:
    """(dst, gw) of ``route`` as kube-ovn-cni reads it, or (None, reason) if it would skip it."""
    line, reason = _route_line(route, "x")
    if line is None:
        return None, reason
    words = line.split()  # route replace <dst> [via <gw>] dev x
    return (words[2], words[4] if words[3] == "via" else None), ""


def _check_ifname(ifname: str) -> None:
    if not _IFNAME.match(ifname):
        raise ValueError(f"invalid interface name {ifname!r} (1-15 characters of [A-Za-z0-9_.-])")


def _ovs_str(value: str) -> str:
    """An OVSDB string atom, quoted (JSON escapes are a subset of what ovs-vsctl accepts)."""
    return json.dumps(value)


# --- a lab's namespaces ---------------------------------------------------------------------------------


class Namespaces:
    """The namespaces and NICs of one lab: every name starts with ``prefix``; host ends go to ``bridge``
    unless a call names another (a lab with a chassis per node plugs each pod into its node's).

    ``bridges`` lists every chassis's bridge (ports are looked for in all of them); ``daemon_netns``
    tells the daemons' namespaces (never a pod's) from the rest.
    """

    def __init__(
        self,
        prefix: str,
        bridge: Bridge,
        *,
        bridges: Callable[[], Sequence[Bridge]] | None = None,
        daemon_netns: Callable[[str], bool] | None = None,
    ) -> None:
        check_prefix(prefix)
        self.prefix = prefix
        self.bridge = bridge
        self._bridges = bridges or (lambda: [self.bridge])
        self._daemon_netns = daemon_netns or (lambda n: n == self.bridge.netns)

    # names
    def name(self, short: str) -> str:
        """The full namespace name for ``short`` (idempotent on full names)."""
        return short if short.startswith(self.prefix) else f"{self.prefix}{short}"

    def _own(self, netns: str) -> str:
        if not netns.startswith(self.prefix) or self._daemon_netns(netns):
            raise ValueError(f"namespace {netns!r} is not a pod/node namespace of lab {self.prefix!r}")
        return netns

    def create(self, short: str) -> str:
        """Create (or reuse) the namespace for ``short``; returns its full name."""
        netns = self._own(self.name(short))
        ensure_netns(netns)
        return netns

    def owned(self) -> list[str]:
        """The lab's pod/node namespaces (the switch namespace is the daemons' business)."""
        return sorted(n for n in list_netns() if n.startswith(self.prefix) and not self._daemon_netns(n))

    def host_ports(self, bridge: Bridge | None = None) -> list[str]:
        """Host veth ends currently in the switch namespace (of ``bridge``)."""
        netns = (bridge or self.bridge).netns
        if not netns_exists(netns):
            return []
        out = run(["ip", "-n", netns, "-o", "link", "show", "type", "veth"]).stdout
        return sorted(line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line)

    # NICs
    def plug(self, netns: str, nic: KernelNic) -> PluggedNic:
        """Create and configure one NIC (see :meth:`plug_many`)."""
        return self.plug_many([(netns, nic)])[0]

    def plug_many(self, items: Sequence[tuple[str, KernelNic]], bridge: Bridge | None = None) -> list[PluggedNic]:
        """Create and configure NICs in bulk: one ``ip`` batch for all host ends, one per namespace,
        one ``ethtool`` per NIC, and a single ``ovs-vsctl`` for all ports.

        Idempotent: a NIC whose veth already exists is not recreated, but its addresses, routes,
        offload setting and OVS port are applied again (``replace`` / ``--may-exist`` semantics).
        """
        if not items:
            return []
        bridge = bridge or self.bridge
        # every name in the switch namespace, without an ``ip`` process: a host end is a veth by its name
        existing = set(interfaces(bridge.netns)) if netns_exists(bridge.netns) else set()
        hosts: list[str] = []
        sw_lines: list[str] = []
        per_ns: dict[str, list[KernelNic]] = {}
        for netns, nic in items:
            self._own(netns)
            _check_ifname(nic.ifname)
            host = host_ifname(netns, nic.ifname)
            hosts.append(host)
            if host not in existing:
                mtu = f" mtu {nic.mtu}" if nic.mtu else ""
                peer = f"peer name {nic.ifname} netns {netns} address {nic.mac}{mtu}"
                sw_lines.append(f"link add {host}{mtu} type veth {peer}")
            sw_lines.append(f"link set {host} up")
            per_ns.setdefault(netns, []).append(nic)
        self._batch(bridge.netns, sw_lines, optional=set())

        def configure(netns: str) -> dict[tuple[str, str], tuple[SkippedRoute, ...]]:
            nics = per_ns[netns]
            # Mandatory with the userspace datapath: otherwise TCP checksums are never filled in.
            tx_checksum_off(netns, [nic.ifname for nic in nics])
            return self._configure(netns, nics)

        skipped: dict[tuple[str, str], tuple[SkippedRoute, ...]] = {}
        # one ``ip`` process per namespace: run a few at once (they spend most of their time in the kernel)
        with ThreadPoolExecutor(max_workers=PARALLEL_IP, thread_name_prefix="plug") as pool:
            for result in pool.map(configure, per_ns):
                skipped.update(result)

        ports: list[list[str]] = []
        for (netns, nic), host in zip(items, hosts, strict=True):
            ext = {
                "iface-id": nic.iface_id,
                **rules.VENDOR,
                "pod_name": nic.pod_name,
                "pod_namespace": nic.pod_namespace,
                "ip": ",".join(a.split("/")[0] for a in nic.addresses),
                "pod_netns": netns,
            }
            port = ["--", "--may-exist", "add-port", bridge.name, host, "--", "set", "Interface", host]
            ports.append(port + [f"external_ids:{k}={_ovs_str(v)}" for k, v in ext.items()])
        # --no-wait: ovs-vswitchd applies the ports in one reconfiguration instead of one per transaction
        # (1,500 ports: 14 s -> ...); callers wait for ovn-installed on each port (wait_installed)
        self.vsctl_chunked("adding ports to br-int", ports, wait=False, bridge=bridge)
        return [
            PluggedNic(netns, nic.ifname, host, nic.iface_id, skipped.get((netns, nic.ifname), ()))
            for (netns, nic), host in zip(items, hosts, strict=True)
        ]

    def vsctl_chunked(
        self, step: str, commands: Sequence[list[str]], *, wait: bool = True, bridge: Bridge | None = None
    ) -> None:
        r"""``ovs-vsctl`` commands in transactions of at most :data:`OVSDB_CHUNK`, each with a timeout that
        scales with its size (one transaction of 1,000 ``del-port``\ s outlived a fixed 5 s alarm)."""
        for start in range(0, len(commands), OVSDB_CHUNK):
            chunk = commands[start : start + OVSDB_CHUNK]
            seconds = ovsdb_timeout(len(chunk))
            argv = (bridge or self.bridge).vsctl(seconds) + ([] if wait else ["--no-wait"])
            argv += [arg for c in chunk for arg in c]
            run(argv, timeout=seconds + 5, step=f"{step} ({start + len(chunk)} of {len(commands)})")

    def _configure(self, netns: str, nics: Sequence[KernelNic]) -> dict[tuple[str, str], tuple[SkippedRoute, ...]]:
        """Addresses, up, default routes (mandatory) and extra routes (best effort), over rtnetlink
        from this process (:mod:`apibridge.twin.pods.rtnl`: no ``ip`` process per namespace)."""
        requests: list[rtnl.Request] = []
        optional: dict[int, tuple[KernelNic, Route]] = {}
        skipped: dict[tuple[str, str], list[SkippedRoute]] = {}
        index = {nic.ifname: rtnl.ifindex(netns, nic.ifname) for nic in nics}
        for nic in nics:
            for cidr in nic.addresses:
                requests.append(rtnl.addr_replace(index[nic.ifname], nic.ifname, cidr))
            requests.append(rtnl.link_up(index[nic.ifname], nic.ifname))
        for nic in nics:
            for gw in nic.gateways:
                spec, reason = _route_spec(Route("", gw))
                if spec is None:
                    raise ValueError(f"{netns}/{nic.ifname}: default gateway: {reason}")
                requests.append(rtnl.route_replace(index[nic.ifname], nic.ifname, *spec))
        for nic in nics:
            for route in nic.routes:
                spec, reason = _route_spec(route)
                if spec is None:
                    log.warning("%s/%s: skipping route %s: %s", netns, nic.ifname, route, reason)
                    skipped.setdefault((netns, nic.ifname), []).append(SkippedRoute(route, reason))
                    continue
                optional[len(requests)] = (nic, route)
                requests.append(rtnl.route_replace(index[nic.ifname], nic.ifname, *spec))
        failed = rtnl.apply(netns, requests)
        fatal = {i: why for i, why in failed.items() if i not in optional}
        if fatal:
            detail = "; ".join(f"{requests[i].what}: {why}" for i, why in sorted(fatal.items()))
            raise CommandError(["rtnetlink", netns], 1, "", detail, step=f"configuring {netns}")
        for i, why in sorted(failed.items()):
            nic, route = optional[i]
            gw = f" (gateway {route.gw})" if route.gw else ""
            log.warning("%s/%s: route %s failed: %s", netns, nic.ifname, route, why)
            skipped.setdefault((netns, nic.ifname), []).append(SkippedRoute(route, f"the kernel refused it{gw}: {why}"))
        return {key: tuple(value) for key, value in skipped.items()}

    def _batch(self, netns: str, lines: Sequence[str], *, optional: set[int]) -> dict[int, str]:
        """Run ``ip -n netns -force -b -``; failures of ``optional`` line numbers (1-based) are returned,
        any other failure raises :class:`CommandError`."""
        argv = ["ip", "-n", netns, "-force", "-b", "-"]
        text = "".join(line + "\n" for line in lines)
        done = run(argv, input=text, check=False)
        if done.returncode == 0:
            return {}
        failed: dict[int, str] = {}
        reason_lines: list[str] = []
        for line in done.stderr.splitlines():
            m = _FAILED_LINE.search(line)
            if m:
                failed[int(m.group(1))] = " ".join(reason_lines) or "failed"
                reason_lines = []
            elif line.strip():
                reason_lines.append(line.strip())
        fatal = {n: why for n, why in failed.items() if n not in optional}
        if fatal or not failed:
            detail = "; ".join(f"line {n} ({lines[n - 1]}): {why}" for n, why in sorted(fatal.items()))
            raise CommandError(argv, done.returncode, done.stdout, detail or done.stderr)
        return failed

    def add_host_addresses(self, netns: str, addresses: Sequence[str]) -> None:
        """Host-only addresses on ``lo`` (a node's InternalIP, which is not on ``ovn0``).

        A dummy interface would look more like a node's ``eth0``, but the ``dummy`` kernel module
        is not always available; for local delivery ``lo`` is equivalent. Plain IPs become /32 (/128).
        """
        lines = []
        for a in addresses:
            iface = ipaddress.ip_interface(a if "/" in a else f"{a}/{32 if ':' not in a else 128}")
            lines.append(f"addr replace {iface.with_prefixlen} dev lo")
        self._batch(self._own(netns), lines, optional=set())

    def wait_installed(self, host_ifnames: Sequence[str], timeout: float = 30.0, bridge: Bridge | None = None) -> None:
        """Block until ovn-controller marked every port ``external_ids:ovn-installed=true``
        (what kube-ovn-cni waits for before answering the CNI ADD)."""
        deadline = time.monotonic() + timeout
        for start in range(0, len(host_ifnames), OVSDB_CHUNK):
            chunk = host_ifnames[start : start + OVSDB_CHUNK]
            seconds = max(1, int(deadline - time.monotonic() + 0.999))
            cmd = (bridge or self.bridge).vsctl(timeout=seconds)
            for host in chunk:
                cmd += ["--", "wait-until", "Interface", host, 'external_ids:ovn-installed="true"']
            step = f"waiting for ovn-controller to install ports ({start + len(chunk)} of {len(host_ifnames)})"
            run(cmd, timeout=seconds + 5, step=step)

    def unplug(self, netns: str, ifname: str) -> None:
        """Remove one NIC: the OVS port and the veth pair."""
        host = host_ifname(netns, ifname)
        run([*self.bridge.vsctl(), "--if-exists", "del-port", self.bridge.name, host])
        run(["ip", "-n", self.bridge.netns, "link", "del", host], check=False)

    # teardown
    def delete(self, netns: str) -> None:
        """Delete a pod/node namespace: its processes, its OVS ports and the namespace (veths go with it)."""
        self._own(netns)
        self._del_ports({netns})
        delete_netns(netns)

    def delete_all(self) -> list[str]:
        """Delete every pod/node namespace of the lab; returns their names.

        Built for any size: the OVS ports go in bounded transactions (none at all once ovs-vswitchd and
        its namespace are gone, as in ``lab down``), the processes inside every namespace are found in
        one pass over ``/proc``, and the namespaces are deleted by a few ``ip -b`` processes at once.
        """
        names = self.owned()
        self._del_ports(set(names))
        delete_many(names)
        return names

    def _del_ports(self, netns_names: set[str]) -> None:
        for bridge in self._bridges():
            self._del_ports_of(bridge, netns_names)

    def _del_ports_of(self, bridge: Bridge, netns_names: set[str]) -> None:
        sock = bridge.ovs_db.removeprefix("unix:")
        if not netns_names or not netns_exists(bridge.netns) or not Path(sock).exists():
            return
        try:
            out = run([*bridge.vsctl(5), "--format=json", "--columns=name,external_ids", "list", "Interface"])
        except CommandError:
            return  # no ovsdb-server: nothing to unplug, the veths die with the namespaces
        doomed: list[str] = []
        for name, ext in json.loads(out.stdout).get("data", []):
            pairs = dict(ext[1]) if isinstance(ext, list) and ext[0] == "map" else {}
            if pairs.get("pod_netns") in netns_names:
                doomed.append(name)
        self.vsctl_chunked(
            "removing ports from br-int",
            [["--", "--if-exists", "del-port", bridge.name, n] for n in doomed],
            bridge=bridge,
        )


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it returns something truthy; False if ``timeout`` passed first."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
