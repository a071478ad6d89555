"""Is the lab fit to answer? Every daemon alive, OVN caught up, the build complete — or the fault, named.

A probe through a lab with a dead northd or NB database passes on stale flows; through a dead
ovs-vswitchd every probe is "blocked" with no reason; right after a daemon restart the flows are
not installed yet; a ``lab up`` killed halfway leaves namespaces and daemons that look fine. None
of these is a result about the manifests, so ``status`` and ``verify`` check the lab first and,
instead of probing, name what is wrong and the command that recovers it.

*Caught up* is ``ovn-nbctl --wait=hv sync``: bump ``NB_Global.nb_cfg`` and wait, bounded, until
northd has copied it to the southbound database (``sb_cfg``) and every chassis's ovn-controller has
installed the flows of that configuration (``hv_cfg``, the minimum of the chassis' ``nb_cfg`` in
``Chassis_Private``). A lab has a chassis per node: each is checked — its daemons, its namespace,
its registration — and one that lags is named, with its own ``nb_cfg`` from ``Chassis_Private``
(a chassis missing there counts as lagging, at configuration 0) and its own log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apibridge.twin.ovn.daemons import LabStatus, OvnDaemons
from apibridge.twin.ovn.nb import Northbound, NorthboundError
from apibridge.twin.proc import CommandError

DEFAULT_WAIT = 10.0  # seconds OVN may take to catch up before the lab counts as lagging


@dataclass(frozen=True)
class Fault:
    """One thing wrong with a lab: what, how, and the command that recovers it."""

    what: str  # a daemon's name, "build", "listener hub", "apiserver <node>", "pods"
    problem: str
    recover: str

    def line(self) -> str:
        return f"{self.what} {self.problem} — recover: {self.recover}"

    def to_json(self) -> dict[str, str]:
        return {"what": self.what, "problem": self.problem, "recover": self.recover}


@dataclass
class Health:
    faults: list[Fault] = field(default_factory=list)
    nb_cfg: int | None = None  # the configuration waited for (None: not checked)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.faults

    def to_json(self) -> dict[str, Any]:
        return {
            "healthy": self.ok,
            "faults": [f.to_json() for f in self.faults],
            "nbCfg": self.nb_cfg,
            "seconds": round(self.seconds, 3),
        }


class LabUnhealthyError(Exception):
    """The lab cannot answer (not up, a daemon dead, OVN behind, an incomplete build): exit 3."""

    def __init__(self, faults: list[Fault]) -> None:
        self.faults = faults
        super().__init__("; ".join(f.line() for f in faults))


def daemon_faults(status: LabStatus, daemons: OvnDaemons, recover: str) -> list[Fault]:
    """Dead or mute daemons, a missing switch namespace, an unregistered chassis."""
    faults: list[Fault] = []
    for d in status.daemons:
        if not d.running:
            gone = f" (pid {d.pid} is gone)" if d.pid is not None else ""
            faults.append(Fault(d.name, f"is not running{gone}; log: {daemons.log_file(d.name)}", recover))
        elif not d.responsive:
            faults.append(Fault(d.name, f"does not answer on its control socket (pid {d.pid})", recover))
    for netns in status.missing_netns or ((daemons.switch_netns,) if not status.switch_netns else ()):
        faults.append(Fault("ovs-vswitchd", f"has lost its namespace {netns}", recover))
    if not faults and not status.chassis_registered:
        for name in status.unregistered or (daemons.chassis,):
            faults.append(
                Fault(
                    _controller(daemons, name),
                    f"has not registered chassis {name} in the southbound database",
                    recover,
                )
            )
    return faults


def _controller(daemons: OvnDaemons, chassis: str) -> str:
    """The name of the ovn-controller of chassis ``chassis``."""
    c = next((c for c in daemons.all_chassis if c.name == chassis), daemons.all_chassis[0])
    return c.daemon("ovn-controller")


def caught_up(
    nb: Callable[[], Northbound], daemons: OvnDaemons, *, wait: float, recover_lag: str
) -> tuple[int | None, list[Fault]]:
    """Bump ``nb_cfg`` and wait up to ``wait`` s for northd (``sb_cfg``) and every chassis (``hv_cfg``)."""
    try:
        conn = nb()
        target = conn.bump()
    except NorthboundError as exc:
        return None, [Fault("ovsdb-server-nb", f"does not take a write: {exc}", recover_lag)]
    deadline = time.monotonic() + wait
    if not conn.wait_for("sb_cfg", target, max(0.0, deadline - time.monotonic())):
        behind = conn.cfg("sb_cfg")
        return target, [
            Fault(
                "ovn-northd",
                f"has not caught up: the southbound database has configuration {behind}, the northbound "
                f"{target}, after {wait:g}s; log: {daemons.log_file('ovn-northd')}",
                recover_lag,
            )
        ]
    if conn.wait_for("hv_cfg", target, max(0.0, deadline - time.monotonic())):
        return target, []
    lagging = _lagging_chassis(daemons, target) or [(daemons.chassis, -1)]
    faults = []
    for name, cfg in lagging:
        controller = _controller(daemons, name)
        at = f"at {cfg}" if cfg >= 0 else "(not reported)"
        faults.append(
            Fault(
                controller,
                f"has not caught up: chassis {name} {at}, configuration {target} wanted, after {wait:g}s "
                f"(its flows are stale); log: {daemons.log_file(controller)}",
                recover_lag,
            )
        )
    return target, faults


def _lagging_chassis(daemons: OvnDaemons, target: int) -> list[tuple[str, int]]:
    """Every chassis of the lab whose ``nb_cfg`` is behind ``target`` (0 if it has no row)."""
    try:
        done = daemons.sbctl("--format=json", "--columns=name,nb_cfg", "list", "Chassis_Private", timeout=5)
        rows = json.loads(done.stdout).get("data", [])
    except (CommandError, ValueError):
        return []
    cfg = {str(name): int(n) for name, n in rows}
    return sorted((c.name, cfg.get(c.name, 0)) for c in daemons.all_chassis if cfg.get(c.name, 0) < target)
