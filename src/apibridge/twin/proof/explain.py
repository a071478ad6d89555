"""Why a probe contradicted the intent, from the logical pipeline and from the datapath.

A BLOCKED or LEAK line alone leaves the user to guess whether the configuration or the machine is
at fault. For each contradiction (the first :data:`LIMIT`; expected results need no trace) this
adds two lines: what ``ovn-trace`` says OVN's logical pipeline does with the packet (the verdict and
the ACL or route that decides), and what ``ofproto/trace`` says ovs-vswitchd's OpenFlow tables do
with the same packet entering at the pod's host port (the final datapath actions, following
conntrack with ``--ct-next``). When the two agree with the probe, the configuration is the cause;
when the pipeline delivers but the probe timed out, the machine was.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Literal

from apibridge.base.errors import InputError
from apibridge.twin.ovn.daemons import INTEGRATION_BRIDGE, OvnDaemons
from apibridge.twin.ovn.topology import Topology
from apibridge.twin.pods.netns import host_ifname
from apibridge.twin.proc import CommandError
from apibridge.twin.proof import trace
from apibridge.twin.proof.verify import Checked, VerifyReport

LIMIT = 10  # contradictions explained per verify (each costs two tool runs)
CT_PASSES = 3  # conntrack recirculations to follow (LB, ACL, router), as ovn-trace's --ct=new ×3


def ofproto_flow(request: trace.TraceRequest, in_port: str) -> str:
    """The ``ofproto/trace`` flow of the probe's first packet (a SYN for TCP) entering at ``in_port``."""
    v6 = ipaddress.ip_address(request.dst).version == 6
    proto = request.protocol + ("6" if v6 else "")
    addr = ("ipv6_src", "ipv6_dst") if v6 else ("nw_src", "nw_dst")
    ttl = "nw_ttl=64"
    flags = ",tcp_flags=syn" if request.protocol == "tcp" else ""
    # OVS names the ports per protocol: tcp_src (alias tp_src) needs nw_proto=6, udp_src nw_proto=17
    # (OVS 3.1 lib/meta-flow.xml); tp_src on a udp flow is "prerequisites not met for setting tp_src"
    port = request.protocol
    return (
        f"in_port={in_port},{proto},dl_src={request.eth_src},dl_dst={request.eth_dst},"
        f"{addr[0]}={request.src},{addr[1]}={request.dst},{ttl},"
        f"{port}_src={trace.TRACE_SRC_PORT},{port}_dst={request.port}{flags}"
    )


def datapath_actions(output: str) -> str:
    """The last ``Datapath actions:`` of an ``ofproto/trace`` output (after every followed recirculation)."""
    lines = [line.split(":", 1)[1].strip() for line in output.splitlines() if line.startswith("Datapath actions:")]
    return lines[-1] if lines else "(no datapath actions in the output)"


def explain_one(c: Checked, topo: Topology, daemons: OvnDaemons) -> tuple[str, ...]:
    e = c.exp
    pod = topo.pod(e.source)
    if pod is None:
        return ()
    host = f"[{e.target}]" if ":" in e.target else e.target
    protocol: Literal["tcp", "udp"] = "udp" if e.protocol == "udp" else "tcp"
    try:
        request = trace.build_request(topo, pod, e.netns, f"{host}:{e.port}", protocol=protocol)
    except InputError as exc:
        return (f"ovn-trace: not traced: {exc.message}",)  # the probe's own destination: no field to name
    lines: list[str] = []
    try:
        _, summary = trace.trace(topo, request, daemons.paths.sb_remote, env=daemons.env())
        deciding = [s.text for s in summary.steps if s.what in ("acl", "drop", "route", "policy", "lb")][-2:]
        lines.append("ovn-trace: " + summary.verdict + (f" ({'; '.join(deciding)})" if deciding else ""))
    except CommandError as exc:
        lines.append(f"ovn-trace failed: {exc}")
    flow = ofproto_flow(request, host_ifname(e.netns, request.nic))
    ct = [arg for _ in range(CT_PASSES) for arg in ("--ct-next", "trk,new")]
    try:
        vswitchd = daemons.chassis_of(pod.node).daemon("ovs-vswitchd")  # the source's node's datapath
        done = daemons.appctl(vswitchd, "ofproto/trace", INTEGRATION_BRIDGE, flow, *ct, timeout=20)
        lines.append(f"ofproto/trace: datapath actions {datapath_actions(done.stdout)}")
    except CommandError as exc:
        lines.append(f"ofproto/trace failed: {exc}")
    return tuple(lines)


def explain_failures(report: VerifyReport, topo: Topology, daemons: OvnDaemons, *, limit: int = LIMIT) -> int:
    """Attach explanations to the first ``limit`` contradictions of ``report``; returns how many."""
    done = 0
    for i, c in enumerate(report.checked):
        if c.ok or done >= limit:
            continue
        report.checked[i] = dataclasses.replace(c, explanation=explain_one(c, topo, daemons))
        done += 1
    return done
