"""``apibridge lab diff``: the model's northbound rows against kube-ovn-controller's, on a kube-ovn lab.

On a lab built with ``--engine kube-ovn`` the NB database is the controller's, and the model still says what
it would have written for the same objects (:func:`apibridge.twin.ovn.realize.desired` of the lab's
topology, whose pod and node addresses are the controller's: :mod:`apibridge.twin.kubeovn.cni`). Both are
read into :class:`~apibridge.twin.ovn.realize.NbModel` and flattened into ``(table, key) -> value`` rows of
what decides the API path and isolation: load balancers and the switches they attach to, router policies
and static routes, ACLs and port-group members, logical switch ports with their addresses and options,
NB_Global options. Normalised away, because they legitimately differ: ``external_ids`` (bookkeeping), the
MACs of router ports (random in Kube-OVN), the ``router`` address of router-type switch ports, and the
NB_Global options ovn-northd writes.

A difference is *known* when the reviewed list (``known_differences.json`` beside this module) has an entry
for its table whose ``key`` (a glob) matches the difference's key and, when the entry names a ``column``,
the two rows differ in that column only (or, naming ``model_only_router``, the model's list row has extra
members, all ports of switches attached to that router, and nothing else differs); each entry carries the
reason and the Kube-OVN source location that explains it. Every other difference is *unexplained*.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from apibridge.twin.ovn.realize import NbModel

KNOWN_FILE = Path(__file__).with_name("known_differences.json")
_DROPPED = ("external_ids",)
# NB_Global options ovn-northd writes (in both engines' labs), not kube-ovn-controller nor the model
NORTHD_OPTIONS = frozenset({"mac_prefix", "max_tunid", "northd_internal_version", "svc_monitor_mac"})


class _KnownBase(TypedDict):
    table: str
    key: str  # a glob over the difference's key
    reason: str
    source: str  # the Kube-OVN source location (file:function, version) that explains it


class KnownDifference(_KnownBase, total=False):
    column: str  # the entry explains a difference in this column only
    # port-group members: the entry explains only members the model has and kube-ovn-controller lacks (its
    # members all in the model's), each a port of a switch attached to this router (in the model's NB)
    model_only_router: str


@dataclass(frozen=True)
class Difference:
    table: str
    key: str
    model: Any  # None: only kube-ovn-controller has the row
    kube_ovn: Any  # None: only the model has it
    known: str | None = None


@dataclass
class DiffReport:
    same: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def unexplained(self) -> int:
        return sum(1 for d in self.differences if d.known is None)

    def document(self) -> dict[str, Any]:
        return {
            "same": self.same,
            "differences": [
                {"table": d.table, "key": d.key, "model": d.model, "kube_ovn": d.kube_ovn, "known": d.known}
                for d in self.differences
            ],
            "unexplained": self.unexplained,
        }


def _clean(cols: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sorted(cols.items()) if k not in _DROPPED}


def rows(m: NbModel) -> dict[tuple[str, str], Any]:
    """``m`` as comparable ``(table, key) -> value`` rows (normalised, see the module docstring)."""
    out: dict[tuple[str, str], Any] = {}
    for k, v in m.options.items():
        if k not in NORTHD_OPTIONS:
            out[("NB_Global.options", k)] = v
    for name, cols in m.routers.items():
        out[("Logical_Router", name)] = _clean(cols)
    for name, cols in m.switches.items():
        out[("Logical_Switch", name)] = _clean(cols)
    for name, lbs in m.ls_lbs.items():
        out[("Logical_Switch.load_balancer", name)] = sorted(lbs)
    for name, cols in m.lbs.items():
        out[("Load_Balancer", name)] = _clean(cols)
    for name, (router, cols) in m.lrps.items():
        out[("Logical_Router_Port", name)] = {"router": router, **_clean({k: v for k, v in cols.items() if k != "mac"})}
    for name, (switch, cols) in m.lsps.items():
        c = _clean(cols)
        if c.get("type") == "router":
            c["addresses"] = ["router"] if c.get("addresses") else []
        out[("Logical_Switch_Port", name)] = {"switch": switch, **c}
    for name, members in m.pg_ports.items():
        out[("Port_Group.ports", name)] = sorted(members)
    for owner, acls in m.acls.items():
        for (direction, priority, match), cols in acls.items():
            out[("ACL", f"{owner} {direction} {priority} {match}")] = _clean(cols)
    for router, routes in m.routes.items():
        for (prefix, policy, table), cols in routes.items():
            out[("Logical_Router_Static_Route", f"{router} {policy} {prefix} {table}".rstrip())] = _clean(cols)
    for router, policies in m.policies.items():
        for (priority, match), cols in policies.items():
            out[("Logical_Router_Policy", f"{router} {priority} {match}")] = _clean(cols)
    return out


def load_known(path: Path = KNOWN_FILE) -> list[KnownDifference]:
    entries: list[KnownDifference] = json.loads(path.read_text()) if path.exists() else []
    for e in entries:
        missing = [k for k in ("table", "key", "reason", "source") if not e.get(k)]
        if missing:
            raise ValueError(f"{path}: entry {e!r} lacks {', '.join(missing)}")
    return entries


def ports_by_router(m: NbModel) -> dict[str, set[str]]:
    """Router name -> the names of the (non-router) ports of the switches attached to it."""
    switch_router = {
        switch: m.lrps[str(cols.get("options", {}).get("router-port"))][0]
        for switch, cols in m.lsps.values()
        if cols.get("type") == "router" and str(cols.get("options", {}).get("router-port")) in m.lrps
    }
    out: dict[str, set[str]] = {}
    for name, (switch, cols) in m.lsps.items():
        if cols.get("type") != "router" and switch in switch_router:
            out.setdefault(switch_router[switch], set()).add(name)
    return out


def _explains(k: KnownDifference, table: str, key: str, left: Any, right: Any, routers: Mapping[str, set[str]]) -> bool:
    if k["table"] != table or not fnmatch.fnmatchcase(key, k["key"]):
        return False
    router = k.get("model_only_router")
    if router is not None:
        if not isinstance(left, list) or not isinstance(right, list) or not set(right) <= set(left):
            return False
        return set(left) - set(right) <= routers.get(router, set())
    column = k.get("column")
    if column is None:
        return True
    if not isinstance(left, dict) or not isinstance(right, dict):
        return False
    differing = {c for c in set(left) | set(right) if left.get(c) != right.get(c)}
    return differing == {column}


def compare(model: NbModel, kube_ovn: NbModel, known: list[KnownDifference] | None = None) -> DiffReport:
    known = load_known() if known is None else known
    a, b = rows(model), rows(kube_ovn)
    routers = ports_by_router(model)
    report = DiffReport()
    for key in sorted(set(a) | set(b)):
        left, right = a.get(key), b.get(key)
        if left == right:
            report.same += 1
            continue
        table, name = key
        reason = next(
            (f"{k['reason']} ({k['source']})" for k in known if _explains(k, table, name, left, right, routers)), None
        )
        report.differences.append(Difference(table, name, left, right, reason))
    return report


def settled(read: Callable[[], DiffReport], timeout: float = 30.0, interval: float = 1.0) -> DiffReport:
    """``read()`` until two reads ``interval`` s apart agree (bounded by ``timeout`` s): the controller
    programs NB from its work queues after the pods run (ACLs of a NetworkPolicy, a Service's LB), so a diff
    taken at once can catch it half-way. The last read when it never settles."""
    deadline = time.monotonic() + timeout
    last = read()
    while time.monotonic() < deadline:
        time.sleep(interval)
        now = read()
        if now.document() == last.document():
            return now
        last = now
    return last
