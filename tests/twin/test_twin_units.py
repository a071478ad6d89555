"""Pure pieces of the twin's low layer: names, route semantics, HTTP shapes, process safety (no root)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from apibridge.twin.control.apiserver import apiserver_hosts, forbidden_status, version_info
from apibridge.twin.ovn import nb
from apibridge.twin.pods.netns import IFNAMSIZ, Bridge, Namespaces, Route, _route_line, host_ifname
from apibridge.twin.proc import CommandError, kill_owned, owned_by, run


@pytest.mark.parametrize("ifname", ["eth0", "net1", "net12", "ovn0", "averyverylongname"])
def test_host_ifname_fits_and_looks_like_kube_ovn(ifname: str) -> None:
    name = host_ifname("ab-t123456-pod1", ifname)
    assert len(name) <= IFNAMSIZ
    assert name.endswith("_h")
    if ifname in ("net1", "ovn0"):
        assert name.endswith(f"_{ifname}_h") and len(name) == IFNAMSIZ


def test_host_ifname_unique_per_namespace_and_interface() -> None:
    names = {host_ifname(f"ab-t1-pod{i}", ifn) for i in range(200) for ifn in ("eth0", "net1", "net2")}
    assert len(names) == 600
    assert host_ifname("x", "eth0") == host_ifname("x", "eth0")  # stable


@pytest.mark.parametrize(
    ("route", "line"),
    [
        (Route("10.96.0.1/32", "100.100.100.1"), "route replace 10.96.0.1/32 via 100.100.100.1 dev net1"),
        (Route("10.96.0.7/12", "100.100.100.1"), "route replace 10.96.0.0/12 via 100.100.100.1 dev net1"),
        (Route("10.96.0.1/32", ""), "route replace 10.96.0.1/32 dev net1"),  # empty gw: on-link
        (Route("", "100.100.100.1"), "route replace 0.0.0.0/0 via 100.100.100.1 dev net1"),  # empty dst: default
        (Route("", "fd00:100::1"), "route replace ::/0 via fd00:100::1 dev net1"),
        (Route("fd00:10:96::1/128", "fd00:100::1"), "route replace fd00:10:96::1/128 via fd00:100::1 dev net1"),
    ],
)
def test_route_lines_follow_kube_ovn_cni(route: Route, line: str) -> None:
    assert _route_line(route, "net1") == (line, "")


@pytest.mark.parametrize(
    ("route", "why"),
    [
        (Route("10.96.0.1", "100.100.100.1"), "not a CIDR"),  # net.ParseCIDR needs the mask
        (Route("garbage/8", "100.100.100.1"), "invalid route destination"),
        (Route("10.96.0.1/32", "100.100.100.300"), "invalid gateway"),
    ],
)
def test_invalid_routes_are_skipped_with_a_reason(route: Route, why: str) -> None:
    line, reason = _route_line(route, "net1")
    assert line is None
    assert why in reason


def test_version_and_status_shapes() -> None:
    v = version_info("v1.30.2")
    assert (v["major"], v["minor"], v["gitVersion"], v["platform"]) == ("1", "30", "v1.30.2", "linux/amd64")
    st = forbidden_status("/api")
    assert (st["kind"], st["code"], st["reason"]) == ("Status", 403, "Forbidden")
    hosts = apiserver_hosts(["10.96.0.1"], ["172.18.0.2"])
    assert {"kubernetes.default.svc", "10.96.0.1", "172.18.0.2"} <= set(hosts)


def test_command_error_names_command_and_stderr() -> None:
    with pytest.raises(CommandError) as info:
        run(["sh", "-c", "echo broken pipe dream >&2; exit 3"])
    msg = str(info.value)
    assert "exit 3" in msg and "sh -c" in msg and "broken pipe dream" in msg
    assert run(["sh", "-c", "exit 4"], check=False).returncode == 4
    with pytest.raises(CommandError, match="not found"):
        run(["/nonexistent/tool"])


def test_kill_owned_never_touches_a_stranger() -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not owned_by(stranger.pid, "/tmp/ab-not-this-lab/")
        assert kill_owned(stranger.pid, "/tmp/ab-not-this-lab/") is False
        assert stranger.poll() is None
        assert kill_owned(stranger.pid, "time.sleep(30)") is True  # its own cmdline: ours
        assert stranger.wait(5) is not None
    finally:
        if stranger.poll() is None:
            stranger.kill()
            stranger.wait()


def test_batch_validates_before_queueing() -> None:
    batch = nb.Batch(nb=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="valid OVN identifier"):
        batch.pg_add("vpc-apiserver-subnet.node1")
    with pytest.raises(ValueError, match="nexthops"):
        batch.lr_policy_add("ovn-cluster", 30000, "ip4.dst == 172.18.0.2", "reroute")
    with pytest.raises(ValueError, match="nexthops"):
        batch.lr_policy_add("ovn-cluster", 31000, "ip4.dst == 10.0.0.0/8", "allow", nexthops=["100.64.0.2"])
    batch.ls_add("a")
    batch.ls_add("a", external_ids={"x": "y"})  # re-queueing the same object keeps one request
    assert len(batch) == 1


@pytest.mark.parametrize("prefix", ["ab-t1", "", "-x-", "a b-", "x" * 41 + "-"])
def test_lab_prefix_must_end_in_a_separator(prefix: str) -> None:
    with pytest.raises(ValueError, match="invalid lab prefix"):
        Namespaces(prefix, Bridge("unix:/nonexistent", "x"))


def test_valid_prefixes() -> None:
    for prefix in ("ab-t1a2b3c-", "ab-dev.", "lab_"):
        assert Namespaces(prefix, Bridge("unix:/nonexistent", prefix + "ovs")).name("pod1") == prefix + "pod1"
