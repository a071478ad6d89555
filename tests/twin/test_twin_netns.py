"""Namespaces and NICs as kube-ovn-cni builds them, plugged into a real br-int."""

from __future__ import annotations

import json
import subprocess

import pytest
from twinlab import Lab, root_links

from apibridge.kubeovn import rules
from apibridge.twin.pods.listener import start_listener
from apibridge.twin.pods.netns import KernelNic, Route, exec_argv, host_ifname, netns_exists

pytestmark = pytest.mark.ovn


def _ip(netns: str, *args: str) -> str:
    return subprocess.run(["ip", "-n", netns, *args], capture_output=True, text=True, check=True).stdout


def _iface_ids(lab: Lab, host: str) -> dict[str, str]:
    out = lab.daemons.vsctl("--format=json", "--columns=external_ids", "find", "Interface", f"name={host}").stdout
    rows = json.loads(out)["data"]
    return dict(rows[0][0][1]) if rows else {}


@pytest.fixture(scope="module")
def switch(lab: Lab) -> str:
    with lab.nb.batch() as b:
        b.lr_add("r1", options=rules.ROUTER_OPTIONS)
        b.ls_add("s1")
        b.connect_switch_to_router("s1", "r1", "0a:00:00:00:aa:01", ["10.1.0.1/24", "fd00:1::1/64"])
        for i in (2, 3, 4):
            b.lsp_add("s1", f"p{i}.ns", addresses=[f"0a:00:00:00:aa:0{i} 10.1.0.{i} fd00:1::{i}"])
    return "s1"


def test_plug_configures_both_ends_like_kube_ovn_cni(lab: Lab, switch: str) -> None:
    netns = lab.ns.create("p2")
    assert netns == f"{lab.prefix}p2" and netns in lab.ns.owned()
    nic = KernelNic(
        "eth0", "p2.ns", "0a:00:00:00:aa:02", ("10.1.0.2/24", "fd00:1::2/64"), mtu=1400,
        gateways=("10.1.0.1", "fd00:1::1"),
        routes=(Route("10.96.0.1/32", "10.1.0.1"), Route("192.0.2.0/24", ""), Route("10.96.0.10", "10.1.0.1"),
                Route("198.51.100.0/24", "203.0.113.1")),
        pod_name="p2", pod_namespace="ns",
    )  # fmt: skip
    plugged = lab.ns.plug(netns, nic)
    lab.host_ifnames.add(plugged.host_ifname)
    assert plugged.host_ifname == host_ifname(netns, "eth0")

    link = _ip(netns, "-o", "link", "show", "eth0")
    assert "0a:00:00:00:aa:02" in link and "mtu 1400" in link
    addrs = _ip(netns, "-o", "addr", "show", "eth0")
    assert "10.1.0.2/24" in addrs and "fd00:1::2/64" in addrs
    routes4 = _ip(netns, "route")
    assert "default via 10.1.0.1 dev eth0" in routes4
    assert "10.96.0.1 via 10.1.0.1 dev eth0" in routes4
    assert "192.0.2.0/24 dev eth0" in routes4  # empty gw: on-link
    assert "default via fd00:1::1 dev eth0" in _ip(netns, "-6", "route")
    # invalid dst (no mask) and an unreachable gateway are skipped with a reason, as kube-ovn-cni logs them
    reasons = {r.route.dst: r.reason for r in plugged.skipped_routes}
    assert set(reasons) == {"10.96.0.10", "198.51.100.0/24"}
    assert "not a CIDR" in reasons["10.96.0.10"] and "gateway" in reasons["198.51.100.0/24"].lower()

    features = subprocess.run(exec_argv(netns, ["ethtool", "-k", "eth0"]), capture_output=True, text=True).stdout
    assert "tx-checksumming: off" in features

    sw = lab.daemons.switch_netns
    assert plugged.host_ifname in lab.ns.host_ports()
    assert plugged.host_ifname not in root_links()
    v6 = subprocess.run(exec_argv(sw, ["cat", f"/proc/sys/net/ipv6/conf/{plugged.host_ifname}/disable_ipv6"]),
                        capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert v6 == "1"
    ids = {k: v for k, v in _iface_ids(lab, plugged.host_ifname).items() if not k.startswith("ovn-installed")}
    assert ids == {
        "iface-id": "p2.ns",
        "vendor": "kube-ovn",
        "pod_name": "p2",
        "pod_namespace": "ns",
        "ip": "10.1.0.2,fd00:1::2",
        "pod_netns": netns,
    }
    lab.ns.wait_installed([plugged.host_ifname], timeout=20)
    assert _iface_ids(lab, plugged.host_ifname)["ovn-installed"] == "true"
    lab.nb.wait_hv(timeout=20)
    ping = subprocess.run(exec_argv(netns, ["ping", "-c1", "-W2", "10.1.0.1"]), capture_output=True, text=True)
    assert ping.returncode == 0, ping.stdout + ping.stderr

    again = lab.ns.plug(netns, nic)  # idempotent: no error, same veth, config re-applied
    assert again.host_ifname == plugged.host_ifname
    assert lab.ns.host_ports().count(plugged.host_ifname) == 1


def test_two_pods_talk_tcp_over_br_int(lab: Lab, switch: str) -> None:
    a, b = lab.ns.create("p3"), lab.ns.create("p4")
    plugged = lab.ns.plug_many([
        (a, KernelNic("eth0", "p3.ns", "0a:00:00:00:aa:03", ("10.1.0.3/24",), gateways=("10.1.0.1",))),
        (b, KernelNic("eth0", "p4.ns", "0a:00:00:00:aa:04", ("10.1.0.4/24",), gateways=("10.1.0.1",))),
    ])  # fmt: skip
    lab.host_ifnames.update(p.host_ifname for p in plugged)
    lab.ns.wait_installed([p.host_ifname for p in plugged], timeout=20)
    server = start_listener(b, name="p4", run_dir=lab.state / "run", tcp=[8080], udp=[5300])
    lab.servers.append(server)
    got = subprocess.run(exec_argv(a, ["curl", "-sS", "-m", "3", "http://10.1.0.4:8080/"]), capture_output=True,
                         text=True)  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert got.stdout == "p4\n"
    echo = subprocess.run(
        exec_argv(a, ["python3", "-c", "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
                      "s.settimeout(3);s.sendto(b'hi',('10.1.0.4',5300));print(s.recv(10).decode())"]),
        capture_output=True, text=True,
    )  # fmt: skip
    assert echo.stdout.strip() == "hi", echo.stderr


def test_unplug_and_delete_leave_nothing(lab: Lab, switch: str) -> None:
    netns = lab.ns.create("gone")
    plugged = lab.ns.plug(netns, KernelNic("net1", "p9.ns", "0a:00:00:00:aa:09", ("10.1.0.9/24",)))
    lab.host_ifnames.add(plugged.host_ifname)
    lab.ns.unplug(netns, "net1")
    assert plugged.host_ifname not in lab.ns.host_ports()
    assert _iface_ids(lab, plugged.host_ifname) == {}
    plugged = lab.ns.plug(netns, KernelNic("net1", "p9.ns", "0a:00:00:00:aa:09", ("10.1.0.9/24",)))
    sleeper = subprocess.Popen(exec_argv(netns, ["sleep", "60"]))
    lab.ns.delete(netns)
    assert sleeper.wait(5) is not None  # processes inside are ours and go with it
    assert not netns_exists(netns)
    assert netns not in lab.ns.owned()
    assert _iface_ids(lab, plugged.host_ifname) == {}
    with pytest.raises(ValueError, match="not a pod/node namespace"):
        lab.ns.delete("someone-elses-netns")
    with pytest.raises(ValueError, match="not a pod/node namespace"):
        lab.ns.delete(lab.daemons.switch_netns)
