"""The northbound rows a Topology stands for, and the smallest write that makes the NB database match.

``lab up`` on a running lab must *reconcile*: adding one pod to the input should cost one pod's
rows, not a rewrite of the database. So both sides are brought into one comparable shape — the rows
Kube-OVN would have (:func:`desired`) and the rows the lab's NB database has (:func:`current`,
read from the IDL replica, no extra round trip) — and :func:`plan_changes` queues on a
:class:`~apibridge.twin.ovn.nb.Batch` only what differs: new or changed rows as create-or-update,
vanished ones as deletes. Rows of a deleted router or switch are not deleted one by one: OVSDB
garbage-collects them with their parent.

Rows are keyed like ``ovn-nbctl`` finds them: routers, switches, ports, load balancers and port
groups by name; ACLs by (direction, priority, match) inside their switch; static routes by
(prefix, policy, route table) and policies by (priority, match) inside their router. Only the
columns the twin writes are compared, so a column OVN itself maintains never causes churn.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from apibridge.kubeovn import rules
from apibridge.twin.ovn import nb as nbapi
from apibridge.twin.ovn.topology import Topology, iter_nics

Cols = dict[str, Any]
AclKey = tuple[str, int, str]  # direction, priority, match
RouteKey = tuple[str, str, str]  # prefix, policy, route_table
PolicyKey = tuple[int, str]  # priority, match
K = TypeVar("K", bound=Hashable)

NB_GLOBAL_OPTIONS: Mapping[str, str] = rules.NB_GLOBAL_OPTIONS
COUNTED_TABLES = (
    "Logical_Router",
    "Logical_Router_Port",
    "Logical_Switch",
    "Logical_Switch_Port",
    "ACL",
    "Load_Balancer",
    "Logical_Router_Static_Route",
    "Logical_Router_Policy",
    "Port_Group",
)


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
    address_sets: dict[str, Cols] = field(default_factory=dict)
    pg_acls: dict[str, dict[AclKey, Cols]] = field(default_factory=dict)  # NetworkPolicy ACLs on port groups
    # uuids of current rows, for deletes by reference (not part of the comparison)
    uuids: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False)

    def counts(self) -> dict[str, int]:
        return {
            "routers": len(self.routers), "switches": len(self.switches), "load_balancers": len(self.lbs),
            "router_ports": len(self.lrps), "switch_ports": len(self.lsps),
            "acls": sum(len(v) for v in self.acls.values()),
            "static_routes": sum(len(v) for v in self.routes.values()),
            "policies": sum(len(v) for v in self.policies.values()), "port_groups": len(self.port_groups),
            "port_group_acls": sum(len(v) for v in self.pg_acls.values()), "address_sets": len(self.address_sets),
        }  # fmt: skip


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
        m.lbs[lb.name] = {
            "protocol": lb.protocol,
            "vips": dict(lb.vips),
            "options": dict(lb.options),
            "selection_fields": sorted(lb.selection_fields),
            "external_ids": dict(vendor),
        }
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
            m.lrps[rp.name] = (
                rp.router,
                {"mac": rp.mac, "networks": sorted(rp.networks), "external_ids": {"lr": rp.router, **vendor}},
            )
            lsp = rules.switch_router_port(sw.name, rp.router)
            m.lsps[lsp] = (
                sw.name,
                {
                    "addresses": ["router"],
                    "port_security": [],
                    "type": "router",
                    "options": {"router-port": rp.name},
                    "external_ids": {"ls": sw.name, **vendor},
                },
            )
    for owner, nic in iter_nics(topo):
        ids: dict[str, str] = {"ls": nic.switch, **vendor}
        if not owner.startswith("node/"):
            ids["pod"] = owner
            if vpc_of.get(nic.switch, rules.DEFAULT_VPC) != rules.DEFAULT_VPC:
                ids.update(rules.CUSTOM_VPC_PORT_IDS)
        m.lsps[nic.lsp] = (
            nic.switch,
            {
                "addresses": _lsp_addresses(nic.mac, nic.addresses),
                "port_security": _lsp_addresses(nic.mac, nic.addresses) if nic.port_security else [],
                "type": "",
                "options": {},
                "external_ids": ids,
            },
        )
    for route in topo.static_routes:
        key = (nbapi.normal_prefix(route.prefix), route.policy, "")
        m.routes.setdefault(route.router, {})[key] = {
            "nexthop": route.nexthop,
            "external_ids": dict(route.external_ids),
        }
    for pol in topo.policies:
        m.policies.setdefault(pol.router, {})[(pol.priority, pol.match)] = {
            "action": pol.action,
            "nexthops": [pol.nexthop] if pol.nexthop else [],
            "external_ids": dict(pol.external_ids),
        }
    for pg in topo.port_groups:
        m.port_groups[pg.name] = {"external_ids": dict(pg.external_ids)}
        m.pg_ports[pg.name] = frozenset(pg.ports)
        m.pg_acls[pg.name] = {
            (a.direction, a.priority, a.match): {
                "action": a.action, "log": a.log, "name": a.name or "", "severity": a.severity or "",
                "options": {"apply-after-lb": "true"} if a.apply_after_lb else {},
                "external_ids": dict(a.external_ids)}
            for a in pg.acls
        }  # fmt: skip
    for aset in topo.address_sets:
        m.address_sets[aset.name] = {"addresses": sorted(aset.addresses), "external_ids": dict(aset.external_ids)}
    return m


# --- reading the lab's NB database ------------------------------------------------------------------


def _map(value: Any) -> dict[str, str]:
    return dict(value) if isinstance(value, dict) else {}


def _acl_row(acl: Any, with_options: bool) -> tuple[AclKey, Cols]:
    """An ACL row's key and compared columns. ``options`` only for port-group ACLs: the twin writes
    ``apply-after-lb`` there (NetworkPolicy) and never on a switch's ACLs, so comparing it on those
    would only invite churn from columns OVN maintains."""
    cols: Cols = {
        "action": acl.action,
        "log": bool(acl.log),
        "name": nbapi.plain(acl.name) or "",
        "severity": nbapi.plain(acl.severity) or "",
    }
    if with_options:
        cols["options"] = _map(acl.options)
    cols["external_ids"] = _map(acl.external_ids)
    return (acl.direction, int(acl.priority), acl.match), cols


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
                m.lrps[p.name] = (
                    row.name,
                    {"mac": p.mac, "networks": sorted(p.networks), "external_ids": _map(p.external_ids)},
                )
                m.uuids[("lrp", p.name)] = p.uuid
            routes: dict[RouteKey, Cols] = {}
            for r in row.static_routes:
                policy = nbapi.plain(r.policy) or "dst-ip"
                table = getattr(r, "route_table", "") or ""
                key = (nbapi.normal_prefix(r.ip_prefix), policy, table)
                routes[key] = {"nexthop": r.nexthop, "external_ids": _map(r.external_ids)}
                m.uuids[("route", row.name, key)] = r.uuid
            m.routes[row.name] = routes
            policies: dict[PolicyKey, Cols] = {}
            for p in row.policies:
                pkey = (int(p.priority), p.match)
                policies[pkey] = {
                    "action": p.action,
                    "nexthops": sorted(p.nexthops),
                    "external_ids": _map(p.external_ids),
                }
                m.uuids[("policy", row.name, pkey)] = p.uuid
            m.policies[row.name] = policies
        for row in t["Load_Balancer"].rows.values():
            m.lbs[row.name] = {
                "protocol": nbapi.plain(row.protocol) or "tcp",
                "vips": _map(row.vips),
                "options": _map(row.options),
                "selection_fields": sorted(row.selection_fields),
                "external_ids": _map(row.external_ids),
            }
            m.uuids[("lb", row.name)] = row.uuid
        for row in t["Logical_Switch"].rows.values():
            m.switches[row.name] = {"other_config": _map(row.other_config), "external_ids": _map(row.external_ids)}
            m.ls_lbs[row.name] = frozenset(lb.name for lb in row.load_balancer)
            for p in row.ports:
                m.lsps[p.name] = (
                    row.name,
                    {
                        "addresses": sorted(p.addresses),
                        "port_security": sorted(p.port_security),
                        "type": p.type,
                        "options": _map(p.options),
                        "external_ids": _map(p.external_ids),
                    },
                )
                m.uuids[("lsp", p.name)] = p.uuid
            acls: dict[AclKey, Cols] = {}
            for a in row.acls:
                akey, cols = _acl_row(a, with_options=False)
                acls[akey] = cols
                m.uuids[("acl", row.name, akey)] = a.uuid
            m.acls[row.name] = acls
        for row in t["Port_Group"].rows.values():
            m.port_groups[row.name] = {"external_ids": _map(row.external_ids)}
            m.pg_ports[row.name] = frozenset(p.name for p in row.ports)
            pg_acls: dict[AclKey, Cols] = {}
            for a in row.acls:
                akey, cols = _acl_row(a, with_options=True)
                pg_acls[akey] = cols
                m.uuids[("pgacl", row.name, akey)] = a.uuid
            m.pg_acls[row.name] = pg_acls
        for row in t["Address_Set"].rows.values():
            m.address_sets[row.name] = {"addresses": sorted(row.addresses), "external_ids": _map(row.external_ids)}
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


def plan_changes(batch: nbapi.Batch, want: NbModel, have: NbModel) -> Changes:
    """Queue on ``batch`` (an ``ensure`` batch) what turns ``have`` into ``want``."""
    diff = _Diff(batch, want, have)
    diff.nb_global()
    diff.parents()
    diff.router_ports()
    diff.switch_ports()
    diff.switch_load_balancers()
    diff.acls()
    diff.port_group_acls()
    diff.static_routes()
    diff.policies()
    diff.port_group_members()
    return diff.changes


@dataclass
class _Diff:
    """One reconcile being planned: each method queues one kind of row and notes what it queued."""

    batch: nbapi.Batch
    want: NbModel
    have: NbModel
    changes: Changes = field(default_factory=Changes)

    @property
    def gone_routers(self) -> set[str]:
        return set(self.have.routers) - set(self.want.routers)

    @property
    def gone_switches(self) -> set[str]:
        return set(self.have.switches) - set(self.want.switches)

    def _remove(self, table: str, record: str, column: str, uuid: Any) -> None:
        """Drop one reference from a parent's column (OVSDB garbage-collects the unreferenced child)."""
        self.batch.raw(nbapi.PARENTS, lambda api: api.db_remove(table, record, column, uuid, if_exists=True))

    def nb_global(self) -> None:
        if any(self.have.options.get(k) != v for k, v in self.want.options.items()):
            self.batch.nb_global_set_options(**self.want.options)
            self.changes.note("changed", "NB_Global options")

    def _named(
        self,
        what: str,
        want: Mapping[str, Cols],
        have: Mapping[str, Cols],
        put: Callable[[str, Cols], Any],
        delete: Callable[[str], Any],
    ) -> None:
        """Rows found by name: create-or-update what differs, delete what is no longer wanted."""
        for name, cols in want.items():
            if name not in have:
                put(name, cols)
                self.changes.note("added", what)
            elif have[name] != cols:
                put(name, cols)
                self.changes.note("changed", what)
        for name in have:
            if name not in want:
                delete(name)
                self.changes.note("removed", what)

    def parents(self) -> None:
        """Routers, switches, load balancers and port groups (deleting one takes its children with it)."""
        b, want, have = self.batch, self.want, self.have
        self._named(
            "routers",
            want.routers,
            have.routers,
            lambda n, c: b.lr_add(n, options=c["options"], external_ids=c["external_ids"]),
            b.lr_del,
        )
        self._named(
            "switches",
            want.switches,
            have.switches,
            lambda n, c: b.ls_add(n, other_config=c["other_config"], external_ids=c["external_ids"]),
            b.ls_del,
        )
        self._named(
            "load balancers",
            want.lbs,
            have.lbs,
            lambda n, c: b.lb_add(
                n,
                {k: v.split(",") for k, v in c["vips"].items()},
                protocol=c["protocol"],
                options=c["options"],
                selection_fields=c["selection_fields"],
                external_ids=c["external_ids"],
            ),
            b.lb_del,
        )
        self._named(
            "port groups",
            want.port_groups,
            have.port_groups,
            lambda n, c: b.pg_add(n, external_ids=c["external_ids"]),
            b.pg_del,
        )
        self._named(
            "address sets",
            want.address_sets,
            have.address_sets,
            lambda n, c: b.address_set_add(n, c["addresses"], external_ids=c["external_ids"]),
            b.address_set_del,
        )

    def router_ports(self) -> None:
        """A port that moved to another router is first removed from the old one (unless it is going)."""
        want, have, gone = self.want.lrps, self.have.lrps, self.gone_routers
        for name, (router, cols) in want.items():
            old = have.get(name)
            if old == (router, cols):
                continue
            if old is not None and old[0] != router and old[0] not in gone:
                self._remove("Logical_Router", old[0], "ports", self.have.uuids[("lrp", name)])
            self.batch.lrp_add(router, name, cols["mac"], cols["networks"], external_ids=cols["external_ids"])
            self.changes.note("added" if old is None else "changed", "router ports")
        for name, (router, _) in have.items():
            if name not in want and router not in gone:
                self._remove("Logical_Router", router, "ports", self.have.uuids[("lrp", name)])
                self.changes.note("removed", "router ports")

    def switch_ports(self) -> None:
        want, have, gone = self.want.lsps, self.have.lsps, self.gone_switches
        for name, (switch, cols) in want.items():
            old = have.get(name)
            if old == (switch, cols):
                continue
            if old is not None and old[0] != switch:
                self.batch.lsp_del(name)  # moves between switches: delete first (parents phase), then create
            self.batch.lsp_add(
                switch,
                name,
                addresses=cols["addresses"],
                port_security=cols["port_security"],
                type=cols["type"],
                options=cols["options"],
                external_ids=cols["external_ids"],
            )
            self.changes.note("added" if old is None else "changed", "switch ports")
        for name, (switch, _) in have.items():
            if name not in want and switch not in gone:
                self.batch.lsp_del(name)
                self.changes.note("removed", "switch ports")

    def switch_load_balancers(self) -> None:
        for switch, lbs in self.want.ls_lbs.items():
            present = self.have.ls_lbs.get(switch, frozenset())
            for lb in sorted(lbs - present):
                self.batch.ls_lb_add(switch, lb)
                self.changes.note("added", "switch load balancers")
            if switch in self.have.switches:
                for lb in sorted(present - lbs):
                    if ("lb", lb) in self.have.uuids:
                        self._remove("Logical_Switch", switch, "load_balancer", self.have.uuids[("lb", lb)])
                        self.changes.note("removed", "switch load balancers")

    def _keyed(
        self,
        what: str,
        want: Mapping[str, Mapping[K, Cols]],
        have: Mapping[str, Mapping[K, Cols]],
        put: Callable[[str, K, Cols], Any],
        *,
        table: str,
        column: str,
        uuid_kind: str,
    ) -> None:
        """Children keyed inside their parent (ACLs, static routes, policies): create-or-update what
        differs, remove what is no longer wanted by its uuid from ``table.column`` of the parent.
        Parents that are going are skipped: their children go with them."""
        for parent, rows in want.items():
            old = have.get(parent, {})
            for key, cols in rows.items():
                if old.get(key) == cols:
                    continue
                put(parent, key, cols)
                self.changes.note("added" if key not in old else "changed", what)
            for key in old:
                if key not in rows:
                    self._remove(table, parent, column, self.have.uuids[(uuid_kind, parent, key)])
                    self.changes.note("removed", what)

    def acls(self) -> None:
        def put(switch: str, key: AclKey, cols: Cols) -> None:
            direction, priority, match = key
            self.batch.acl_add(
                switch,
                direction,  # type: ignore[arg-type]
                priority,
                match,
                cols["action"],
                log=cols["log"],
                name=cols["name"] or None,
                severity=cols["severity"] or None,
                external_ids=cols["external_ids"],
            )

        self._keyed("ACLs", self.want.acls, self.have.acls, put, table="Logical_Switch", column="acls", uuid_kind="acl")

    def port_group_acls(self) -> None:
        def put(pg: str, key: AclKey, cols: Cols) -> None:
            direction, priority, match = key
            self.batch.pg_acl_add(
                pg,
                direction,  # type: ignore[arg-type]
                priority,
                match,
                cols["action"],
                apply_after_lb=cols["options"].get("apply-after-lb") == "true",
                log=cols["log"],
                name=cols["name"] or None,
                severity=cols["severity"] or None,
                external_ids=cols["external_ids"],
            )

        gone = set(self.have.port_groups) - set(self.want.port_groups)
        have = {pg: rows for pg, rows in self.have.pg_acls.items() if pg not in gone}
        self._keyed(
            "port group ACLs", self.want.pg_acls, have, put, table="Port_Group", column="acls", uuid_kind="pgacl"
        )

    def static_routes(self) -> None:
        def put(router: str, key: RouteKey, cols: Cols) -> None:
            prefix, policy, route_table = key
            self.batch.lr_route_add(
                router,
                prefix,
                cols["nexthop"],
                policy=policy,  # type: ignore[arg-type]
                route_table=route_table,
                external_ids=cols["external_ids"],
            )

        self._keyed(
            "static routes",
            self.want.routes,
            self.have.routes,
            put,
            table="Logical_Router",
            column="static_routes",
            uuid_kind="route",
        )

    def policies(self) -> None:
        def put(router: str, key: PolicyKey, cols: Cols) -> None:
            priority, match = key
            self.batch.lr_policy_add(
                router, priority, match, cols["action"], nexthops=cols["nexthops"], external_ids=cols["external_ids"]
            )

        self._keyed(
            "policies",
            self.want.policies,
            self.have.policies,
            put,
            table="Logical_Router",
            column="policies",
            uuid_kind="policy",
        )

    def port_group_members(self) -> None:
        for pg, ports in self.want.pg_ports.items():
            if self.have.pg_ports.get(pg) != ports:
                self.batch.pg_set_ports(pg, sorted(ports))
                self.changes.note("changed", "port group members")
