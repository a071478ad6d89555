"""``lab diff``'s comparison (apibridge.twin.kubeovn.diff): normalisation, known differences, the reviewed list."""

from __future__ import annotations

from pathlib import Path

import pytest

from apibridge.twin.kubeovn import diff
from apibridge.twin.ovn.realize import NbModel

SESSION = "vpc-t-tcp-sess-load"


def _nb(selection: list[str], *, vips: dict[str, str] | None = None, mac: str = "aa:aa:aa:aa:aa:01") -> NbModel:
    m = NbModel(options={"mac_prefix": mac[:8]})
    m.lbs[SESSION] = {"protocol": "tcp", "vips": vips or {}, "options": {}, "selection_fields": selection,
                      "external_ids": {"vendor": "x"}}  # fmt: skip
    m.lrps["t-s"] = ("t", {"mac": mac, "networks": ["10.0.1.1/24"], "external_ids": {}})
    return m


KNOWN: list[diff.KnownDifference] = [
    {"table": "Load_Balancer", "key": "vpc-*-sess-load", "column": "selection_fields", "reason": "r", "source": "s"}
]


def test_external_ids_router_macs_and_northds_options_are_normalised_away() -> None:
    report = diff.compare(_nb(["ip_src"]), _nb(["ip_src"], mac="bb:bb:bb:bb:bb:02"), [])
    assert report.differences == [] and report.same == 2


def test_a_difference_is_unexplained_unless_a_reviewed_entry_explains_that_column() -> None:
    model, real = _nb(["ip_src"]), _nb(["ip_src", "ipv6_src"])
    assert diff.compare(model, real, []).unexplained == 1
    report = diff.compare(model, real, KNOWN)
    assert report.unexplained == 0 and report.differences[0].known == "r (s)"
    # another column differing too: the entry no longer explains the row
    other = _nb(["ip_src", "ipv6_src"], vips={"10.96.0.1:443": "172.18.0.2:6443"})
    assert diff.compare(model, other, KNOWN).unexplained == 1
    doc = report.document()
    assert set(doc) == {"same", "differences", "unexplained"}
    assert set(doc["differences"][0]) == {"table", "key", "model", "kube_ovn", "known"}


def test_the_reviewed_list_has_a_reason_and_a_source_for_every_entry(tmp_path: Path) -> None:
    for entry in diff.load_known():
        assert "kube-ovn v1.16.2" in entry["source"] and entry["reason"]
    bad = tmp_path / "k.json"
    bad.write_text('[{"table": "ACL", "key": "*", "reason": "because"}]')
    with pytest.raises(ValueError, match="lacks source"):
        diff.load_known(bad)


ON_OVN_CLUSTER: list[diff.KnownDifference] = [
    {"table": "Port_Group.ports", "key": "*", "model_only_router": "ovn-cluster", "reason": "r", "source": "s"}
]
PRIMARY, ATTACHMENT = "operator.tenant-b", "operator.tenant-b.apibridge-tenant-b.kube-system.ovn"


def _pg(members: list[str]) -> NbModel:
    m = NbModel()
    m.pg_ports["deny.egress.tenant.b"] = frozenset(members)
    m.lrps["ovn-cluster-apibridge-tenant-b"] = ("ovn-cluster", {"networks": ["100.100.2.1/24"]})
    m.lrps["tenant-b-tenant-b-subnet"] = ("tenant-b", {"networks": ["10.0.2.1/24"]})
    for switch, router in (("apibridge-tenant-b", "ovn-cluster"), ("tenant-b-subnet", "tenant-b")):
        m.lsps[f"{switch}-{router}"] = (switch, {"type": "router", "options": {"router-port": f"{router}-{switch}"}})
    m.lsps[ATTACHMENT] = ("apibridge-tenant-b", {"type": ""})
    m.lsps[PRIMARY] = ("tenant-b-subnet", {"type": ""})
    return m


def test_a_model_only_router_entry_explains_missing_members_of_that_routers_switches_and_nothing_else() -> None:
    model = _pg([PRIMARY, ATTACHMENT])
    assert diff.compare(model, _pg([PRIMARY]), []).unexplained == 1
    assert diff.compare(model, _pg([PRIMARY]), ON_OVN_CLUSTER).unexplained == 0
    # a missing port of a custom VPC's switch, or a member only kube-ovn has, is not what the entry explains
    assert diff.compare(model, _pg([ATTACHMENT]), ON_OVN_CLUSTER).unexplained == 1
    assert diff.compare(_pg([PRIMARY]), _pg([PRIMARY, ATTACHMENT]), ON_OVN_CLUSTER).unexplained == 1


def test_settled_reads_until_two_reads_agree() -> None:
    reads = iter([_pg(["a"]), _pg(["a", "b"]), _pg(["a", "b"]), _pg(["c"])])

    def read() -> diff.DiffReport:
        return diff.compare(_pg(["a", "b"]), next(reads), [])

    report = diff.settled(read, timeout=5, interval=0.01)
    assert report.unexplained == 0
