"""The northbound layer against a real NB database and northd: phases, ensure semantics, bulk speed."""

from __future__ import annotations

import json
import time

import pytest
from twinlab import Lab, require_ovn

from apibridge.kubeovn import rules
from apibridge.twin.ovn.daemons import OvnDaemons
from apibridge.twin.ovn.nb import Northbound, NorthboundError

pytestmark = pytest.mark.ovn

V = rules.VENDOR


def _find(lab: Lab, table: str, *conditions: str, columns: str = "_uuid") -> list[str]:
    out = lab.daemons.nbctl("--bare", f"--columns={columns}", "find", table, *conditions).stdout
    return [line for line in out.splitlines() if line.strip()]


def _vpc(batch_ensure: bool, lab: Lab, suffix: str, lsp_ip: str = "10.0.1.2", nexthop: str = "100.64.0.2") -> None:
    """Parents and children of a small VPC queued in ONE batch (the phases make it legal)."""
    lr, ls, pg = f"vpc-{suffix}", f"net-{suffix}", rules.port_group_name("net", suffix)
    with lab.nb.batch(ensure=batch_ensure) as b:
        b.lr_add(lr, options=rules.ROUTER_OPTIONS, external_ids=V)
        b.ls_add(ls, external_ids=V)
        b.lb_add(f"lb-{suffix}", {"10.96.0.1:443": ["172.18.0.2:6443"]}, options={"prefer_local_backend": "false"})
        b.pg_add(pg, external_ids=V)
        b.address_set_add(f"as.{suffix}", ["10.0.1.0/24"], external_ids=V)
        b.connect_switch_to_router(ls, lr, "0a:00:00:01:01:01", ["10.0.1.1/24"])
        b.lsp_add(ls, f"p.{suffix}", addresses=[f"0a:00:00:01:01:02 {lsp_ip}"], external_ids={"ls": ls, **V})
        b.ls_lb_add(ls, f"lb-{suffix}")
        b.lr_route_add(lr, "10.0.1.0/24", "10.0.1.1", policy="src-ip", external_ids=V)
        b.lr_route_add(lr, "0.0.0.0/0", "10.0.1.254", external_ids=V)
        b.lr_policy_add(lr, 31000, "ip4.dst == 10.0.1.0/24", "allow", external_ids=V)
        b.lr_policy_add(lr, 30000, "ip4.dst == 172.18.0.2", "reroute", nexthops=[nexthop], external_ids=V)
        b.acl_add(ls, "to-lport", 1000, "ip", "drop", log=True, name=ls, severity="warning")
        b.acl_add(ls, "from-lport", 2000, "ip4.dst == 172.18.0.2", "allow-related", apply_after_lb=True)
        b.pg_acl_add(pg, "from-lport", 1900, f"inport == @{pg} && ip4", "drop")
        b.pg_set_ports(pg, [f"p.{suffix}"])


def test_one_batch_with_parents_and_children_uses_kube_ovn_names(lab: Lab) -> None:
    _vpc(False, lab, "a")
    show = lab.daemons.nbctl("show", "vpc-a").stdout
    assert "vpc-a-net-a" in show  # LRP <lr>-<ls>
    lsp = lab.nb.get("Logical_Switch_Port", "net-a-vpc-a")  # LSP <ls>-<lr>
    assert lsp is not None
    assert (lsp["type"], lsp["addresses"], lsp["options"]) == ("router", ["router"], {"router-port": "vpc-a-net-a"})
    assert lsp["external_ids"] == {"ls": "net-a", "vendor": "kube-ovn"}
    lrp = lab.nb.get("Logical_Router_Port", "vpc-a-net-a")
    assert lrp is not None and lrp["external_ids"] == {"lr": "vpc-a", "vendor": "kube-ovn"}
    routes = lab.daemons.nbctl("lr-route-list", "vpc-a").stdout
    assert "10.0.1.0/24" in routes and "src-ip" in routes and "0.0.0.0/0" in routes
    policies = lab.daemons.nbctl("lr-policy-list", "vpc-a").stdout
    assert "30000" in policies and "reroute" in policies and "100.64.0.2" in policies
    acls = lab.daemons.nbctl("acl-list", "net-a").stdout
    assert "apply-after-lb" in lab.daemons.nbctl("list", "ACL").stdout
    assert "to-lport  1000 (ip) drop log" in acls
    assert "drop" in lab.daemons.nbctl("acl-list", "net.a").stdout  # port-group ACL (acl-list takes pg too)
    pg_ports = _find(lab, "Port_Group", "name=net.a", columns="ports")
    assert pg_ports and pg_ports[0] == _find(lab, "Logical_Switch_Port", "name=p.a")[0]
    assert "lb-a" in lab.daemons.nbctl("ls-lb-list", "net-a").stdout
    # northd accepted everything: it produced logical flows for the ACL with apply-after-lb
    lab.nb.wait("sb", timeout=10)
    assert "ls_in_acl_after_lb" in lab.daemons.sbctl("lflow-list", "net-a").stdout


def test_duplicates_are_errors_without_ensure(lab: Lab) -> None:
    with lab.nb.batch() as b:
        b.ls_add("dup")
    with pytest.raises(NorthboundError, match="already exists"), lab.nb.batch() as b:
        b.ls_add("dup")
    with pytest.raises(NorthboundError, match="does not exist"), lab.nb.batch() as b:
        b.lsp_add("no-such-switch", "orphan")


def test_ensure_is_idempotent_and_updates(lab: Lab) -> None:
    _vpc(True, lab, "b")
    counts = {t: lab.nb.count(t) for t in ("ACL", "Logical_Router_Static_Route", "Logical_Router_Policy",
                                          "Logical_Switch_Port", "Logical_Router_Port", "Load_Balancer")}  # fmt: skip
    _vpc(True, lab, "b", lsp_ip="10.0.1.9", nexthop="100.64.0.3")  # reconcile with two changes
    assert {t: lab.nb.count(t) for t in counts} == counts
    lsp = lab.nb.get("Logical_Switch_Port", "p.b")
    assert lsp is not None and lsp["addresses"] == ["0a:00:00:01:01:02 10.0.1.9"]
    assert "100.64.0.3" in lab.daemons.nbctl("lr-policy-list", "vpc-b").stdout
    assert "100.64.0.2" not in lab.daemons.nbctl("lr-policy-list", "vpc-b").stdout


def test_ensure_adopts_rows_made_by_ovn_nbctl(lab: Lab) -> None:
    lab.daemons.nbctl("lr-add", "by-nbctl")
    lab.daemons.nbctl("lr-route-add", "by-nbctl", "0.0.0.0/0", "100.64.0.1")  # policy column left empty
    with lab.nb.batch(ensure=True) as b:
        b.lr_add("by-nbctl", options=rules.ROUTER_OPTIONS)
        b.lr_route_add("by-nbctl", "0.0.0.0/0", "100.64.0.1", external_ids=V)
    listing = lab.daemons.nbctl("lr-route-list", "by-nbctl").stdout
    assert len([line for line in listing.splitlines() if "0.0.0.0/0" in line]) == 1
    lr = lab.nb.get("Logical_Router", "by-nbctl")
    assert lr is not None and lr["options"] == rules.ROUTER_OPTIONS


def test_nb_global_options_merge(lab: Lab) -> None:
    lab.daemons.nbctl("set", "NB_Global", ".", "options:keep_me=yes")
    with lab.nb.batch() as b:
        b.nb_global_set_options(use_ct_inv_match="false")
    opts = json.loads(lab.daemons.nbctl("--format=json", "--columns=options", "list", "NB_Global").stdout)
    pairs = dict(opts["data"][0][0][1])
    assert pairs["keep_me"] == "yes" and pairs["use_ct_inv_match"] == "false"


def test_a_thousand_ports_in_few_transactions(lab: Lab) -> None:
    n = 1000
    pg = rules.port_group_name("bulk", "node1")
    t0 = time.monotonic()
    with lab.nb.batch() as b:
        b.ls_add("bulk", external_ids=V)
        b.pg_add(pg, external_ids=V)
        for i in range(n):
            mac = f"0a:00:00:{i // 65536 % 256:02x}:{i // 256 % 256:02x}:{i % 256:02x}"
            b.lsp_add("bulk", f"pod{i}.bulk", addresses=[f"{mac} 10.200.{i // 256}.{i % 256}"], external_ids=V)
        b.pg_set_ports(pg, [f"pod{i}.bulk" for i in range(n)])
        report = b.commit()
    elapsed = time.monotonic() - t0
    print(f"\n{n} LSPs + port group: {report.transactions} transactions, {elapsed:.2f} s")
    assert report.transactions == 3
    assert report.commands == n + 3
    assert lab.daemons.nbctl("--bare", "--columns=ports", "list", "Logical_Switch", "bulk").stdout.count("-") >= n
    assert len(_find(lab, "Port_Group", f"name={pg}", columns="ports")[0].split()) == n
    assert elapsed < 10
    t1 = time.monotonic()
    lab.nb.wait_hv(timeout=60)
    print(f"northd + ovn-controller caught up on {n} ports in {time.monotonic() - t1:.2f} s")
    t2 = time.monotonic()
    with lab.nb.batch(ensure=True) as b:  # reconcile the same state: finds every row, writes nothing
        b.ls_add("bulk", external_ids=V)
        for i in range(n):
            mac = f"0a:00:00:{i // 65536 % 256:02x}:{i // 256 % 256:02x}:{i % 256:02x}"
            b.lsp_add("bulk", f"pod{i}.bulk", addresses=[f"{mac} 10.200.{i // 256}.{i % 256}"], external_ids=V)
    print(f"ensure over {n} unchanged ports: {time.monotonic() - t2:.2f} s")
    assert lab.nb.count("Logical_Switch_Port") >= n
    assert time.monotonic() - t2 < 5


def test_wait_hv_tracks_nb_cfg(lab: Lab) -> None:
    first = lab.nb.wait_hv(timeout=10)
    second = lab.nb.wait("hv", timeout=10)
    assert second == first + 1
    row = json.loads(lab.daemons.nbctl("--format=json", "--columns=nb_cfg,hv_cfg", "list", "NB_Global").stdout)
    nb_cfg, hv_cfg = row["data"][0]
    assert hv_cfg >= nb_cfg >= second


def test_two_labs_two_connections() -> None:
    """ovsdbapp keeps the connection on the API *class*; each Northbound must still talk to its own lab."""
    require_ovn()
    a, b = Lab.up(), Lab.up()
    try:
        with a.nb.batch() as batch:
            batch.ls_add("only-in-a")
        assert "only-in-a" in a.daemons.nbctl("ls-list").stdout
        assert "only-in-a" not in b.daemons.nbctl("ls-list").stdout
        assert "only-in-a" not in b.nb.names("Logical_Switch")
        # a reconnect in the same process gets a working connection too
        again = Northbound.connect(b.daemons.paths.nb_remote)
        try:
            with again.batch() as batch:
                batch.ls_add("only-in-b")
            assert "only-in-b" in b.daemons.nbctl("ls-list").stdout
        finally:
            again.close()
        assert isinstance(a.daemons, OvnDaemons)
    finally:
        a.close()
        b.close()
    assert a.leftovers() == [] and b.leftovers() == []
