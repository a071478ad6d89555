"""The ``ofproto/trace`` flow that explains a failed probe must parse in ovs-vswitchd for every protocol.

OVS names the TCP ports ``tp_src``/``tcp_src`` (prerequisite: nw_proto=6) and the UDP ports
``udp_src``/``udp_dst`` (prerequisite: nw_proto=17; OVS 3.1 ``lib/meta-flow.xml``), so a UDP flow with
``tp_src`` was refused with "prerequisites not met for setting tp_src". The second test feeds the flows
to a real vswitchd on a dummy datapath (no namespaces, no traffic).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from apibridge.twin.proof import trace
from apibridge.twin.proof.explain import ofproto_flow

CASES: list[tuple[Literal["tcp", "udp"], str, str]] = [
    ("tcp", "10.0.0.1", "10.0.0.2"),
    ("udp", "10.0.0.1", "10.0.0.2"),
    ("tcp", "fd00::1", "fd00::2"),
    ("udp", "fd00::1", "fd00::2"),
]


def _request(protocol: Literal["tcp", "udp"], src: str, dst: str) -> trace.TraceRequest:
    return trace.TraceRequest(
        pod="p",
        netns="ns",
        nic="eth0",
        datapath="ls",
        inport="p.ns",
        eth_src="00:00:00:00:00:01",
        eth_dst="00:00:00:00:00:02",
        src=src,
        dst=dst,
        port=53,
        protocol=protocol,
        next_hop=None,
    )


@pytest.mark.parametrize(("protocol", "src", "dst"), CASES)
def test_ports_are_named_for_the_protocol(protocol: Literal["tcp", "udp"], src: str, dst: str) -> None:
    flow = ofproto_flow(_request(protocol, src, dst), "p1").split(",")
    assert (protocol + ("6" if ":" in dst else "")) in flow
    assert f"{protocol}_src={trace.TRACE_SRC_PORT}" in flow
    assert f"{protocol}_dst=53" in flow
    assert ("tcp_flags=syn" in flow) == (protocol == "tcp")


@pytest.fixture
def dummy_vswitchd(tmp_path: Path) -> Iterator[str]:
    tools = [shutil.which(t) for t in ("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl")]
    schema = Path("/usr/share/openvswitch/vswitch.ovsschema")
    if not all(tools) or not schema.exists():
        pytest.skip("Open vSwitch not installed")
    env = {**os.environ, **{k: str(tmp_path) for k in ("OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR", "OVS_SYSCONFDIR")}}
    db, sock, ctl = tmp_path / "conf.db", f"unix:{tmp_path}/db.sock", str(tmp_path / "vs.ctl")

    def run(*argv: str) -> None:
        subprocess.run(argv, env=env, check=True, capture_output=True, timeout=20)

    run("ovsdb-tool", "create", str(db), str(schema))
    pids = [tmp_path / "ovsdb-server.pid", tmp_path / "ovs-vswitchd.pid"]
    try:
        run("ovsdb-server", f"--remote=p{sock}", f"--pidfile={pids[0]}", f"--unixctl={tmp_path}/db.ctl",
            "--detach", f"--log-file={tmp_path}/ovsdb.log", str(db))  # fmt: skip
        run("ovs-vsctl", f"--db={sock}", "--no-wait", "init")
        run("ovs-vswitchd", sock, "--enable-dummy=override", f"--pidfile={pids[1]}", f"--unixctl={ctl}",
            "--detach", f"--log-file={tmp_path}/vs.log")  # fmt: skip
        bridge = ("add-br", "br-ux2", "--", "set", "bridge", "br-ux2", "datapath_type=dummy")
        port = ("add-port", "br-ux2", "p1", "--", "set", "interface", "p1", "type=dummy")
        run("ovs-vsctl", f"--db={sock}", *bridge, "--", *port)
        yield ctl
    finally:
        for pid in reversed(pids):
            if pid.exists():
                subprocess.run(["kill", pid.read_text().strip()], check=False)


@pytest.mark.parametrize(("protocol", "src", "dst"), CASES)
def test_vswitchd_accepts_the_flow(dummy_vswitchd: str, protocol: Literal["tcp", "udp"], src: str, dst: str) -> None:
    flow = ofproto_flow(_request(protocol, src, dst), "p1")
    done = subprocess.run(
        ["ovs-appctl", "-t", dummy_vswitchd, "ofproto/trace", "br-ux2", flow],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Datapath actions:" in done.stdout
