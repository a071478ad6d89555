"""Kube-OVN's own NB/SB schemas (apibridge.twin.kubeovn.schema): repaired where modelgen lost OVN's
constraints, served by ovsdb-server, and run by Debian's OVN 23.03 northd and ovn-controller.

The OVN tests need the model files scripts/tools.sh copies into .tools/crds (a missing file fails them:
``scripts/tools.sh crds`` fetches them in a second)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from twinlab import new_prefix, require_ovn

from apibridge.base.errors import InputError
from apibridge.twin.kubeovn import schema
from apibridge.twin.ovn.daemons import OvnDaemons

CRDS = Path(__file__).resolve().parents[2] / ".tools" / "crds"


def raw(db: str) -> schema.Schema:
    path = schema.model_file(CRDS, db)
    assert path.is_file(), f"{path} missing: run scripts/tools.sh crds"
    return schema.extract(path.read_text(), str(path))


def test_extract_rejects_a_file_without_the_literal() -> None:
    with pytest.raises(InputError, match="no `var schema"):
        schema.extract("package ovnnb\n", "x.go")
    with pytest.raises(InputError, match="not JSON"):
        schema.extract("var schema = `{nope`", "x.go")


def test_modelgen_lost_constraints_and_repair_restores_them() -> None:
    nb = raw("ovnnb")
    assert nb["tables"]["ACL"]["columns"]["name"]["type"]["key"] == {
        "type": "string",
        "minLength": 63,
        "maxLength": 63,
    }
    assert "maxRows" not in nb["tables"]["NB_Global"]
    fixed, done = schema.repair(nb)
    assert fixed["tables"]["ACL"]["columns"]["name"]["type"]["key"] == {"type": "string", "maxLength": 63}
    assert fixed["tables"]["NB_Global"]["maxRows"] == 1 and fixed["tables"]["SSL"]["maxRows"] == 1
    assert len(done) == 3
    assert schema.repair(fixed)[1] == []  # idempotent
    assert schema.repair(raw("ovnsb"))[0]["tables"]["SB_Global"]["maxRows"] == 1


def test_kube_ovn_schemas_are_column_supersets_of_2303() -> None:
    """Nothing 23.03's northd reads is missing from Kube-OVN's schemas (else it could not run on them)."""
    for db, debian in (("ovnnb", schema.DEBIAN_NB), ("ovnsb", schema.DEBIAN_SB)):
        if not debian.is_file():
            pytest.skip("Debian's OVN schemas are not installed")
        old = json.loads(debian.read_text())
        new = schema.repair(raw(db))[0]
        for table, spec in old["tables"].items():
            assert table in new["tables"], (db, table)
            missing = set(spec["columns"]) - set(new["tables"][table]["columns"])
            assert not missing, (db, table, missing)


def test_unknown_to_2303_lists_what_the_docs_explain() -> None:
    if not schema.DEBIAN_NB.is_file():
        pytest.skip("Debian's OVN schemas are not installed")
    items = schema.unknown_to(schema.repair(raw("ovnnb"))[0], json.loads(schema.DEBIAN_NB.read_text()))
    unknown = {str(u) for u in items}
    assert {"ACL.tier", "ACL.action (values pass)", "Logical_Router_Policy.action (values jump)"} <= unknown
    doc = (Path(__file__).resolve().parents[2] / "docs" / "kube-ovn-engine.md").read_text()
    for item in items:
        where = item.table if item.column is None else f"{item.table}.{item.column}"
        assert f"`{where}`" in doc, f"docs/kube-ovn-engine.md does not explain {item}"
        for value in item.values:
            assert f"`{value}`" in doc, f"docs/kube-ovn-engine.md does not explain {item}"


def _db_with(tmp: Path, spec: schema.Schema) -> tuple[str, subprocess.Popen[bytes]]:
    path = tmp / "nb.ovsschema"
    path.write_text(json.dumps(spec))
    subprocess.run(["ovsdb-tool", "create", str(tmp / "nb.db"), str(path)], check=True)
    sock = tmp / "nb.sock"
    argv = ["ovsdb-server", str(tmp / "nb.db"), f"--remote=punix:{sock}", "--unixctl", str(tmp / "ctl")]
    proc = subprocess.Popen(argv)
    deadline = time.monotonic() + 10
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return f"unix:{sock}", proc


@pytest.mark.ovn
@pytest.mark.parametrize("repaired", [False, True])
def test_acl_names_shorter_than_63_need_the_repair(repaired: bool) -> None:
    require_ovn()
    spec = raw("ovnnb")
    if repaired:
        spec = schema.repair(spec)[0]
    tmp = Path(tempfile.mkdtemp(prefix="abks-", dir="/tmp"))
    remote, proc = _db_with(tmp, spec)
    try:
        done = subprocess.run(
            ["ovn-nbctl", f"--db={remote}", "--", "ls-add", "s", "--", "--id=@a", "create", "ACL", "name=np-short",
             "priority=1000", "direction=to-lport", "match=ip4", "action=drop", "--", "add", "Logical_Switch", "s",
             "acls", "@a"],
            capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
        if repaired:
            assert done.returncode == 0, done.stderr
        else:
            assert done.returncode != 0 and "constraint violation" in done.stderr, done
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def kube_ovn_daemons() -> Iterator[OvnDaemons]:
    require_ovn()
    tmp = Path(tempfile.mkdtemp(prefix="abks-", dir="/tmp"))
    files = schema.write(CRDS, tmp / "schemas")
    daemons = OvnDaemons(tmp / "lab", prefix=new_prefix(), nb_schema=files.nb, sb_schema=files.sb)
    try:
        daemons.start()
        yield daemons
    finally:
        daemons.stop(purge=True)
        shutil.rmtree(tmp, ignore_errors=True)


def _lflows(daemons: OvnDaemons, needle: str, timeout: float = 10) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        out = daemons.sbctl("--bare", "--columns=match,actions", "list", "Logical_Flow").stdout
        hits = [line for line in out.splitlines() if needle in line]
        if hits or time.monotonic() > deadline:
            return hits
        time.sleep(0.1)


@pytest.mark.ovn
def test_2303_northd_and_controller_run_on_kube_ovn_schemas(kube_ovn_daemons: OvnDaemons) -> None:
    """ovn-controller 23.03 registers its chassis in Kube-OVN's SB; northd 23.03 compiles a tier-2 ACL
    (Kube-OVN's NetworkPolicy tier) as if it had no tier, and compiles no flow for action ``pass``."""
    d = kube_ovn_daemons
    assert d.status().healthy
    # ovn-nbctl 23.03 knows no `tier`: write as kube-ovn-controller does, a transaction on the raw schema
    acl = {"priority": 1000, "direction": "to-lport", "tier": 2, "match": "ip4.src == 10.9.9.9", "action": "drop"}
    passing = {**acl, "priority": 1001, "tier": 1, "match": "ip4.src == 10.8.8.8", "action": "pass"}
    txn = [
        "OVN_Northbound",
        {"op": "insert", "table": "ACL", "row": acl, "uuid-name": "drop"},
        {"op": "insert", "table": "ACL", "row": passing, "uuid-name": "pass"},
        {"op": "insert", "table": "Logical_Switch", "row": {
            "name": "s1", "acls": ["set", [["named-uuid", "drop"], ["named-uuid", "pass"]]]}},
    ]  # fmt: skip
    done = subprocess.run(
        ["ovsdb-client", "transact", d.paths.nb_remote, json.dumps(txn)],
        capture_output=True, text=True, timeout=20, check=True,
    )  # fmt: skip
    assert "error" not in done.stdout, done.stdout
    assert _lflows(d, "ip4.src == 10.9.9.9"), "northd 23.03 did not compile the tier-2 ACL"
    assert _lflows(d, "ip4.src == 10.8.8.8", timeout=2) == [], "23.03 has no 'pass': it must compile nothing"
