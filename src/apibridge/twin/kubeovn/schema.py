"""Kube-OVN's own OVN NB and SB schemas, for the ovsdb-servers kube-ovn-controller talks to.

Why not Debian's: kube-ovn-controller's OVSDB client (github.com/kubeovn/libovsdb, the fork Kube-OVN's
go.mod pins) refuses a database whose schema lacks a table or column of its model
(``model.NewDatabaseModel`` → ``database OVN_Northbound validation error``). Its models
(``pkg/ovsdb/ovnnb/model.go`` and ``pkg/ovsdb/ovnsb/model.go``, kube-ovn v1.16.2) are generated for OVN
NB 7.11.0 and SB 20.41.0, while Debian's OVN 23.03 ships NB 7.0.0 and SB 20.27.0. Each model carries
its schema as a JSON literal (``var schema = `...```), a column superset of 23.03's; ovsdb-server
serves any schema file, and 23.03's northd and ovn-controller, whose IDLs ignore tables and columns
they do not know, run on it. What 23.03 then ignores is listed by :func:`unknown_to` and explained in
docs/kube-ovn-engine.md.

The literal is libovsdb modelgen's re-serialisation of OVN's ``ovn-nb.ovsschema``, and it is lossy in
three places (compared with OVN's own file, which 23.03's ``/usr/share/ovn/ovn-nb.ovsschema`` shows for
these unchanged columns); :func:`repair` restores them and says so:

* ``ACL.name`` reads ``{"minLength": 63, "maxLength": 63}`` where OVN has only ``maxLength: 63``: served
  as is, ovsdb-server would refuse every ACL name shorter than 63 bytes (Kube-OVN names ACLs when
  logging is on, ``setACLName`` in pkg/ovs/ovn-nb-acl.go);
* ``maxRows: 1`` of ``NB_Global``, ``SB_Global`` and ``SSL`` is dropped (one row is what northd and
  ovn-controller assume).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apibridge.base.errors import InputError, Location
from apibridge.plan.settings import KUBEOVN_VERSION

Schema = dict[str, Any]
DEBIAN_NB = Path("/usr/share/ovn/ovn-nb.ovsschema")
DEBIAN_SB = Path("/usr/share/ovn/ovn-sb.ovsschema")
_LITERAL = re.compile(r"var schema = `(.*?)`", re.S)
SINGLETONS = {"OVN_Northbound": ("NB_Global", "SSL"), "OVN_Southbound": ("SB_Global", "SSL")}


def model_file(crds: Path, db: str, version: str = KUBEOVN_VERSION) -> Path:
    """Where scripts/tools.sh copies Kube-OVN's ``pkg/ovsdb/<db>/model.go`` (``db``: ovnnb or ovnsb)."""
    return crds / f"kube-ovn-{version}-{db}-model.go.txt"


def extract(text: str, source: str) -> Schema:
    """The schema literal of a libovsdb model file."""
    found = _LITERAL.search(text)
    if found is None:
        raise InputError("no `var schema = `...`` literal (not a libovsdb model file?)", Location(source=source))
    try:
        schema: Schema = json.loads(found.group(1))
    except ValueError as exc:
        raise InputError(f"the schema literal is not JSON: {exc}", Location(source=source)) from None
    if not isinstance(schema.get("tables"), dict) or not isinstance(schema.get("name"), str):
        raise InputError("the schema literal has no name or tables", Location(source=source))
    return schema


def repair(schema: Schema) -> tuple[Schema, list[str]]:
    """The schema with modelgen's losses restored (see the module docstring), and what was restored."""
    out: Schema = json.loads(json.dumps(schema))
    done: list[str] = []
    tables = out["tables"]
    acl_name = (((tables.get("ACL") or {}).get("columns") or {}).get("name") or {}).get("type")
    if isinstance(acl_name, dict) and isinstance(acl_name.get("key"), dict) and "minLength" in acl_name["key"]:
        del acl_name["key"]["minLength"]
        done.append("ACL.name: minLength dropped (OVN: maxLength 63 only)")
    for table in SINGLETONS.get(str(out["name"]), ()):
        if table in tables and tables[table].get("maxRows") != 1:
            tables[table]["maxRows"] = 1
            done.append(f"{table}: maxRows 1 restored")
    return out, done


def load(crds: Path, db: str) -> Schema:
    """Kube-OVN's schema of ``db`` (ovnnb/ovnsb), repaired."""
    path = model_file(crds, db)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(
            f"Kube-OVN's {db} model is missing ({exc.strerror})",
            Location(source=str(path)),
            hint="run scripts/tools.sh (it copies it from the kube-ovn Go module)",
        ) from None
    return repair(extract(text, str(path)))[0]


@dataclass(frozen=True)
class SchemaFiles:
    nb: Path
    sb: Path


def write(crds: Path, dest: Path) -> SchemaFiles:
    """Kube-OVN's NB and SB schemas as ``.ovsschema`` files under ``dest`` (for ``ovsdb-tool create``)."""
    dest.mkdir(parents=True, exist_ok=True)
    files = SchemaFiles(dest / "kube-ovn-nb.ovsschema", dest / "kube-ovn-sb.ovsschema")
    for db, path in (("ovnnb", files.nb), ("ovnsb", files.sb)):
        path.write_text(json.dumps(load(crds, db), indent=1, sort_keys=True) + "\n")
    return files


@dataclass(frozen=True)
class Unknown:
    """Something of Kube-OVN's schema that an older schema (23.03's) does not have."""

    table: str
    column: str | None  # None: the whole table
    values: tuple[str, ...] = ()  # enum values only the newer schema allows

    def __str__(self) -> str:
        where = self.table if self.column is None else f"{self.table}.{self.column}"
        return f"{where} (values {', '.join(self.values)})" if self.values else where


def _enum(column: Any) -> set[str]:
    ctype = column.get("type") if isinstance(column, dict) else None
    key = ctype.get("key") if isinstance(ctype, dict) else None
    enum = key.get("enum") if isinstance(key, dict) else None
    if isinstance(enum, list) and len(enum) == 2 and enum[0] == "set":
        return {str(v) for v in enum[1]}
    return {str(enum)} if isinstance(enum, str) else set()


def unknown_to(newer: Schema, older: Schema) -> list[Unknown]:
    """Tables, columns and enum values of ``newer`` that ``older`` lacks: what an IDL built for ``older``
    (23.03's northd) never reads."""
    out: list[Unknown] = []
    old_tables = older["tables"]
    for table, spec in sorted(newer["tables"].items()):
        if table not in old_tables:
            out.append(Unknown(table, None))
            continue
        old_cols = old_tables[table]["columns"]
        for column, cspec in sorted(spec["columns"].items()):
            if column not in old_cols:
                out.append(Unknown(table, column))
                continue
            extra = _enum(cspec) - _enum(old_cols[column])
            if extra and _enum(old_cols[column]):
                out.append(Unknown(table, column, tuple(sorted(extra))))
    return out
