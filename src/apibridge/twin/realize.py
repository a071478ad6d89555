"""The northbound rows a Topology stands for, and the smallest write that makes the NB database match.

``lab up`` on a running lab must *reconcile*: adding one pod to the input should cost one pod's
rows, not a rewrite of the database. So both sides are brought into one comparable shape — the rows
Kube-OVN would have (:func:`desired`) and the rows the lab's NB database has (:func:`current`,
read from the IDL replica, no extra round trip) — and :func:`plan_changes` queues on a
:class:`~apibridge.twin.nb.Batch` only what differs: new or changed rows as create-or-update,
vanished ones as deletes. Rows of a deleted router or switch are not deleted one by one: OVSDB
garbage-collects them with their parent.

Rows are keyed like ``ovn-nbctl`` finds them: routers, switches, ports, load balancers and port
groups by name; ACLs by (direction, priority, match) inside their switch; static routes by
(prefix, policy, route table) and policies by (priority, match) inside their router. Only the
columns the twin writes are compared, so a column OVN itself maintains never causes churn.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from apibridge.kubeovn import rules
from apibridge.twin import nb as nbapi
from apibridge.twin.topology import Topology, iter_nics

Cols = dict[str, Any]
AclKey = tuple[str, int, str]  # direction, priority, match
RouteKey = tuple[str, str, str]  # prefix, policy, route_table
PolicyKey = tuple[int, str]  # priority, match

NB_GLOBAL_OPTIONS: Mapping[str, str] = rules.NB_GLOBAL_OPTIONS
COUNTED_TABLES = ("Logical_Router", "Logical_Router_Port", "Logical_Switch", "Logical_Switch_Port", "ACL",
                  "Load_Balancer", "Logical_Router_Static_Route", "Logical_Router_Policy", "Port_Group")


@dataclass
class NbModel:
    """Northbound rows in comparable form (see the module docstring for the keys)."""

    options: dict[str, str] = field(default_factory=dict)
    routers: dict[str, Cols] = field(default_factory=dict)
    switches: dict[str, Cols] = field(default_factory=dict)
    lbs: dict[str, Cols] = field(default_factory=dict)
    port_groups: dict[str, Cols] = field(default_factory=dict)
    pg_ports: dict[str, frozenset[str]] = field(default_factory=dict)
    lrps: dict[str, tuple[str, Cols]] = field(default_factory=dict)
    lsps: dict[str, tuple[str, Cols]] = field(default_factory=dict)
    ls_lbs: dict[str, frozenset[str]] = field(default_factory=dict)
    acls: dict[str, dict[AclKey, Cols]] = field(default_factory=dict)
    routes: dict[str, dict[RouteKey, Cols]] = field(default_factory=dict)
    policies: dict[str, dict[PolicyKey, Cols]] = field(default_factory=dict)
    # uuids of current rows, for deletes by reference (not part of the comparison)
    uuids: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False)

    def counts(self) -> dict[str, int]:
        return {
            "routers": len(self.routers), "switches": len(self.switches), "load_balancers": len(self.lbs),
            "router_ports": len(self.lrps), "switch_ports": len(self.lsps),
            "acls": sum(len(v) for v in self.acls.values()),
            "static_routes": sum(len(v) for v in self.routes.values()),
            "policies": sum(len(v) for v in self.policies.values()), "port_groups": len(self.port_groups),
        }  # fmt: skip


def _prefix(cidr: str) -> str:
    net = ipaddress.ip_network(cidr, strict=False)
    return str(net.network_address) if "/" not in cidr else str(net)


def _lsp_addresses(mac: str, addresses: tuple[str, ...]) -> list[str]:
    ips = " ".join(a.split("/")[0] for a in addresses)
    return [f"{mac} {ips}".strip()]


def desired(topo: Topology) -> NbModel:
    """The rows kube-ovn-controller would have written for ``topo`` (research/kubeovn.md §3)."""
    m = NbModel(options=dict(NB_GLOBAL_OPTIONS))
    vendor = dict(rules.VENDOR)
    for r in topo.routers:
        m.routers[r.name] = {"options": dict(r.options), "external_ids": dict(vendor)}
        m.routes.setdefault(r.name, {})
        m.policies.setdefault(r.name, {})
    for lb in topo.load_balancers:
        m.lbs[lb.name] = {"protocol": lb.protocol, "vips": dict(lb.vips), "options": dict(lb.options),
                          "selection_fields": sorted(lb.selection_fields), "external_ids": dict(vendor)}
    vpc_of = {s.name: s.vpc for s in topo.switches}
    for sw in topo.switches:
        m.switches[sw.name] = {"other_config": {}, "external_ids": dict(vendor)}
        m.ls_lbs[sw.name] = frozenset(sw.load_balancers)
        m.acls[sw.name] = {
            (a.direction, a.priority, a.match): {
                "action": a.action, "log": a.log, "name": a.name or "", "severity": a.severity or "",
                "external_ids": dict(a.external_ids)}
            for a in sw.acls
        }  # fmt: skip
        if sw.router_port is not None:
            rp = sw.router_port
            m.lrps[rp.name] = (rp.router, {"mac": rp.mac, "networks": sorted(rp.networks),
                                           "external_ids": {"lr": rp.router, **vendor}})
            lsp = rules.switch_router_port(sw.name, rp.router)
            m.lsps[lsp] = (sw.name, {"addresses": ["router"], "port_security": [], "type": "router",
                                     "options": {"router-port": rp.name}, "external_ids": {"ls": sw.name, **vendor}})
    for owner, nic in iter_nics(topo):
        ids: dict[str, str] = {"ls": nic.switch, **vendor}
        if not owner.startswith("node/"):
            ids["pod"] = owner
            if vpc_of.get(nic.switch, rules.DEFAULT_VPC) != rules.DEFAULT_VPC:
                ids.update(rules.CUSTOM_VPC_PORT_IDS)
        m.lsps[nic.lsp] = (nic.switch, {"addresses": _lsp_addresses(nic.mac, nic.addresses), "port_security": [],
                                        "type": "", "options": {}, "external_ids": ids})
    for route in topo.static_routes:
        key = (_prefix(route.prefix), route.policy, "")
        m.routes.setdefault(route.router, {})[key] = {"nexthop": route.nexthop,
                                                      "external_ids": dict(route.external_ids)}
    for pol in topo.policies:
        m.policies.setdefault(pol.router, {})[(pol.priority, pol.match)] = {
            "action": pol.action, "nexthops": [pol.nexthop] if pol.nexthop else [],
            "external_ids": dict(pol.external_ids)}
    for pg in topo.port_groups:
        m.port_groups[pg.name] = {"external_ids": dict(pg.external_ids)}
        m.pg_ports[pg.name] = frozenset(pg.ports)
    return m


# --- reading the lab's NB database ------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, list) and len(value) <= 1:
        return value[0] if value else ""
    return value


def _map(value: Any) -> dict[str, str]:
    return dict(value) if isinstance(value, dict) else {}


def current(northbound: nbapi.Northbound) -> NbModel:
    """The lab's NB rows, from the IDL replica (under the connection lock)."""
    api = northbound.api
    m = NbModel()
    with api.ovsdb_connection.lock:
        t = api.tables
        for row in t["NB_Global"].rows.values():
            m.options = _map(row.options)
        for row in t["Logical_Router"].rows.values():
            m.routers[row.name] = {"options": _map(row.options), "external_ids": _map(row.external_ids)}
            m.uuids[("router", row.name)] = row.uuid
            for p in row.ports:
                m.lrps[p.name] = (row.name, {"mac": p.mac, "networks": sorted(p.networks),
                                             "external_ids": _map(p.external_ids)})
                m.uuids[("lrp", p.name)] = p.uuid
            routes: dict[RouteKey, Cols] = {}
            for r in row.static_routes:
                policy = _plain(r.policy) or "dst-ip"
                table = getattr(r, "route_table", "") or ""
                key = (_prefix(r.ip_prefix), policy, table)
                routes[key] = {"nexthop": r.nexthop, "external_ids": _map(r.external_ids)}
                m.uuids[("route", row.name, key)] = r.uuid
            m.routes[row.name] = routes
            policies: dict[PolicyKey, Cols] = {}
            for p in row.policies:
                pkey = (int(p.priority), p.match)
                policies[pkey] = {"action": p.action, "nexthops": sorted(p.nexthops),
                                  "external_ids": _map(p.external_ids)}
                m.uuids[("policy", row.name, pkey)] = p.uuid
            m.policies[row.name] = policies
        for row in t["Load_Balancer"].rows.values():
            m.lbs[row.name] = {"protocol": _plain(row.protocol) or "tcp", "vips": _map(row.vips),
                               "options": _map(row.options), "selection_fields": sorted(row.selection_fields),
                               "external_ids": _map(row.external_ids)}
            m.uuids[("lb", row.name)] = row.uuid
        for row in t["Logical_Switch"].rows.values():
            m.switches[row.name] = {"other_config": _map(row.other_config), "external_ids": _map(row.external_ids)}
            m.ls_lbs[row.name] = frozenset(lb.name for lb in row.load_balancer)
            for p in row.ports:
                m.lsps[p.name] = (row.name, {"addresses": sorted(p.addresses),
                                             "port_security": sorted(p.port_security),
                                             "type": p.type, "options": _map(p.options),
                                             "external_ids": _map(p.external_ids)})
                m.uuids[("lsp", p.name)] = p.uuid
            acls: dict[AclKey, Cols] = {}
            for a in row.acls:
                akey = (a.direction, int(a.priority), a.match)
                acls[akey] = {"action": a.action, "log": bool(a.log), "name": _plain(a.name) or "",
                              "severity": _plain(a.severity) or "", "external_ids": _map(a.external_ids)}
                m.uuids[("acl", row.name, akey)] = a.uuid
            m.acls[row.name] = acls
        for row in t["Port_Group"].rows.values():
            m.port_groups[row.name] = {"external_ids": _map(row.external_ids)}
            m.pg_ports[row.name] = frozenset(p.name for p in row.ports)
    return m


def counts(northbound: nbapi.Northbound) -> dict[str, int]:
    """Rows per NB table (for ``lab status``)."""
    return {table: northbound.count(table) for table in COUNTED_TABLES}


# --- the diff --------------------------------------------------------------------------------------


@dataclass
class Changes:
    """What :func:`plan_changes` queued, for the progress line and the tests."""

    added: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)

    def note(self, kind: str, what: str, n: int = 1) -> None:
        bucket = {"added": self.added, "changed": self.changed, "removed": self.removed}[kind]
        bucket[what] = bucket.get(what, 0) + n

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def summary(self) -> str:
        parts = []
        for label, bucket in (("+", self.added), ("~", self.changed), ("-", self.removed)):
            if bucket:
                parts.append(label + " " + ", ".join(f"{n} {what}" for what, n in sorted(bucket.items())))
        return "; ".join(parts) or "no change"


def _remove(batch: nbapi.Batch, table: str, record: str, column: str, uuid: Any) -> None:
    batch.raw(nbapi.PARENTS, lambda api: api.db_remove(table, record, column, uuid, if_exists=True))


def plan_changes(batch: nbapi.Batch, want: NbModel, have: NbModel) -> Changes:
    """Queue on ``batch`` (an ``ensure`` batch) what turns ``have`` into ``want``."""
    ch = Changes()
    if any(have.options.get(k) != v for k, v in want.options.items()):
        batch.nb_global_set_options(**want.options)
        ch.note("changed", "NB_Global options")

    def named(what: str, w: Mapping[str, Cols], h: Mapping[str, Cols], add: Any, delete: Any) -> None:
        for name, cols in w.items():
            if name not in h:
                add(name, cols)
                ch.note("added", what)
            elif h[name] != cols:
                add(name, cols)
                ch.note("changed", what)
        for name in h:
            if name not in w:
                delete(name)
                ch.note("removed", what)

    named("routers", want.routers, have.routers,
          lambda n, c: batch.lr_add(n, options=c["options"], external_ids=c["external_ids"]), batch.lr_del)
    named("switches", want.switches, have.switches,
          lambda n, c: batch.ls_add(n, other_config=c["other_config"], external_ids=c["external_ids"]), batch.ls_del)
    named("load balancers", want.lbs, have.lbs,
          lambda n, c: batch.lb_add(n, {k: v.split(",") for k, v in c["vips"].items()}, protocol=c["protocol"],
                                    options=c["options"], selection_fields=c["selection_fields"],
                                    external_ids=c["external_ids"]), batch.lb_del)
    named("port groups", want.port_groups, have.port_groups,
          lambda n, c: batch.pg_add(n, external_ids=c["external_ids"]), batch.pg_del)
    gone_routers = set(have.routers) - set(want.routers)
    gone_switches = set(have.switches) - set(want.switches)

    for name, (router, cols) in want.lrps.items():
        old = have.lrps.get(name)
        if old == (router, cols):
            continue
        if old is not None and old[0] != router and old[0] not in gone_routers:
            _remove(batch, "Logical_Router", old[0], "ports", have.uuids[("lrp", name)])
        batch.lrp_add(router, name, cols["mac"], cols["networks"], external_ids=cols["external_ids"])
        ch.note("added" if old is None else "changed", "router ports")
    for name, (router, _) in have.lrps.items():
        if name not in want.lrps and router not in gone_routers:
            _remove(batch, "Logical_Router", router, "ports", have.uuids[("lrp", name)])
            ch.note("removed", "router ports")

    for name, (switch, cols) in want.lsps.items():
        old_lsp = have.lsps.get(name)
        if old_lsp == (switch, cols):
            continue
        if old_lsp is not None and old_lsp[0] != switch:
            batch.lsp_del(name)  # moves between switches: delete first (parents phase), then create
        batch.lsp_add(switch, name, addresses=cols["addresses"], port_security=cols["port_security"],
                      type=cols["type"], options=cols["options"], external_ids=cols["external_ids"])
        ch.note("added" if old_lsp is None else "changed", "switch ports")
    for name, (switch, _) in have.lsps.items():
        if name not in want.lsps and switch not in gone_switches:
            batch.lsp_del(name)
            ch.note("removed", "switch ports")

    for switch, lbs in want.ls_lbs.items():
        present = have.ls_lbs.get(switch, frozenset())
        for lb in sorted(lbs - present):
            batch.ls_lb_add(switch, lb)
            ch.note("added", "switch load balancers")
        if switch in have.switches:
            for lb in sorted(present - lbs):
                if ("lb", lb) in have.uuids:
                    _remove(batch, "Logical_Switch", switch, "load_balancer", have.uuids[("lb", lb)])
                    ch.note("removed", "switch load balancers")

    for switch, acls in want.acls.items():
        old_acls = have.acls.get(switch, {})
        for akey, cols in acls.items():
            if old_acls.get(akey) == cols:
                continue
            batch.acl_add(switch, akey[0], akey[1], akey[2], cols["action"], log=cols["log"],  # type: ignore[arg-type]
                          name=cols["name"] or None, severity=cols["severity"] or None,
                          external_ids=cols["external_ids"])
            ch.note("added" if akey not in old_acls else "changed", "ACLs")
        for akey in old_acls:
            if akey not in acls:
                _remove(batch, "Logical_Switch", switch, "acls", have.uuids[("acl", switch, akey)])
                ch.note("removed", "ACLs")

    for router, routes in want.routes.items():
        old_routes = have.routes.get(router, {})
        for rkey, cols in routes.items():
            if old_routes.get(rkey) == cols:
                continue
            batch.lr_route_add(router, rkey[0], cols["nexthop"], policy=rkey[1],  # type: ignore[arg-type]
                               route_table=rkey[2], external_ids=cols["external_ids"])
            ch.note("added" if rkey not in old_routes else "changed", "static routes")
        for rkey in old_routes:
            if rkey not in routes:
                _remove(batch, "Logical_Router", router, "static_routes", have.uuids[("route", router, rkey)])
                ch.note("removed", "static routes")

    for router, policies in want.policies.items():
        old_pols = have.policies.get(router, {})
        for pkey, cols in policies.items():
            if old_pols.get(pkey) == cols:
                continue
            batch.lr_policy_add(router, pkey[0], pkey[1], cols["action"], nexthops=cols["nexthops"],
                                external_ids=cols["external_ids"])
            ch.note("added" if pkey not in old_pols else "changed", "policies")
        for pkey in old_pols:
            if pkey not in policies:
                _remove(batch, "Logical_Router", router, "policies", have.uuids[("policy", router, pkey)])
                ch.note("removed", "policies")

    for pg, ports in want.pg_ports.items():
        if have.pg_ports.get(pg) != ports:
            batch.pg_set_ports(pg, sorted(ports))
            ch.note("changed", "port group members")
    return ch
