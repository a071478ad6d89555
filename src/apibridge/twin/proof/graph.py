"""The twin as a picture: VPCs, subnets, pods, attachments, the routes to the API, the fences.

The point of the picture is the question the project answers — which pod has a door into the
default VPC, where does it lead, and is it fenced — so the layout follows it: one cluster per VPC
with its router and subnets, pods inside their VPC, attachment links (``net1``) crossing into the
default VPC's attachment subnets, the ``kubernetes`` ClusterIP with its DNAT to the API server on
the node, a dashed edge for every pod whose routes send the ClusterIP through an attachment, and a
red double border on subnets that carry an ACL fence. The other destinations a bridge intends get
the same treatment: the ``kube-dns`` ClusterIPs, and each ``extra`` destination drawn where it
lives (a node, a pod, or behind the hosts), with a dashed edge for each route that leads there.
A subnet shared by pods of different VPCs is drawn in orange: that is the seed's leak.

DOT text is generated here (the ``graphviz`` Python package is not needed) and rendered with the
``dot`` binary.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path

from apibridge.base.errors import InputError, Location
from apibridge.kubeovn import rules
from apibridge.kubeovn.dualstack import IPAddress, IPNetwork
from apibridge.twin.ovn.topology import Topology, TwinPod, iter_nics
from apibridge.twin.proc import run
from apibridge.twin.proof.intent import Places


def _q(text: str) -> str:
    """A DOT string; real newlines become centred line breaks."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _id(*parts: str) -> str:
    return _q(":".join(parts))


def _routes_to(targets: Sequence[IPAddress], pod: TwinPod) -> list[tuple[str, str]]:
    """(ifname, route) for routes of the pod's attachments that cover one of ``targets``."""
    out = []
    for nic in pod.nics[1:]:
        for r in nic.routes:
            try:
                net = ipaddress.ip_network(r.dst, strict=False)
            except ValueError:
                continue
            if any(ip.version == net.version and ip in net for ip in targets):
                out.append((nic.ifname, f"{r.dst} via {r.gw}"))
    return out


def _routes_api(topo: Topology, pod: TwinPod) -> list[tuple[str, str]]:
    """(ifname, route) for routes of the pod's attachments that cover an API ClusterIP."""
    return _routes_to(topo.api_cluster_ips, pod)


def _where(topo: Topology, ip: IPAddress) -> tuple[str, str]:
    """(graph node to link, words) for the place an intended destination lives."""
    for node in topo.nodes:
        if ip in node.internal_ips:
            return _id("node", node.name), f"on node {node.name}"
    for owner, nic in iter_nics(topo):
        if ip in nic.ips and not owner.startswith("node/"):
            return _id("pod", owner), f"pod {owner}"
    if any(ip in n.external_ips for n in topo.nodes):
        return "", "outside the cluster, behind the hosts"
    return "", "outside the lab"


def _destination_lines(topo: Topology) -> list[str]:
    """DNS ClusterIPs and ``extra`` destinations the pods intend, and the routes that lead there."""
    lines: list[str] = []
    dns: dict[IPAddress, None] = {}
    extra: dict[str, tuple[IPNetwork, str]] = {}
    for pod in topo.pods:
        for want in pod.intent.wants:
            if want.kind == "dns":
                dns[want.network.network_address] = None
            elif want.kind == "extra":
                ports = ",".join(f"{p.port}/{p.protocol}" for p in want.ports) or "any port"
                extra.setdefault(str(want.network), (want.network, ports))
    if dns:
        label = f"Service {topo.dns_service}\n" + ", ".join(f"{ip}:53" for ip in dns)
        lines.append(f"  dns [shape=diamond, style=filled, fillcolor=lightcyan, label={_q(label)}];")
    places = Places(topo)
    for key, (net, ports) in sorted(extra.items()):
        ip = places.address(net)
        link, words = _where(topo, ip)
        label = f"extra {net}\n{ports}\n{words}"
        lines.append(f"  {_id('extra', key)} [shape=note, style=filled, fillcolor=honeydew, label={_q(label)}];")
        if link:
            lines.append(f"  {_id('extra', key)} -> {link} [dir=none, style=dotted, color=gray40];")
    for pod in topo.pods:
        if pod.failure:
            continue
        for ifname, route in _routes_to(tuple(dns), pod):
            lines.append(
                f"  {_id('pod', pod.ref)} -> dns [style=dashed, color=teal, label={_q(f'route {route} dev {ifname}')}];"
            )
        for key, (net, _) in sorted(extra.items()):
            for ifname, route in _routes_to((places.address(net),), pod):
                lines.append(
                    f"  {_id('pod', pod.ref)} -> {_id('extra', key)} [style=dashed, color=darkolivegreen, "
                    f"label={_q(f'route {route} dev {ifname}')}];"
                )
    return lines


def to_dot(topo: Topology, title: str = "apibridge lab") -> str:
    lines = [
        "digraph lab {",
        f"  graph [rankdir=LR, compound=true, fontname=Helvetica, fontsize=12, label={_q(title)}, labelloc=t];",
        "  node [fontname=Helvetica, fontsize=10];",
        "  edge [fontname=Helvetica, fontsize=9];",
    ]
    vpcs: dict[str, list[str]] = {}
    for sw in topo.switches:
        vpcs.setdefault(sw.vpc, []).append(sw.name)
    attached_vpcs: dict[str, set[str]] = {}
    for pod in topo.pods:
        for nic in pod.nics[1:]:
            attached_vpcs.setdefault(nic.switch, set()).add(pod.vpc or "?")
    order = sorted(vpcs, key=lambda v: (v != rules.DEFAULT_VPC, v))
    for vpc in order:
        default = vpc == rules.DEFAULT_VPC
        lines.append(f"  subgraph {_q('cluster_' + vpc)} {{")
        label = f"VPC {vpc}" + (" (default)" if default else "")
        lines.append(f"    label={_q(label)}; style=rounded; color={'steelblue' if default else 'gray40'};")
        lines.append(f"    {_id('lr', vpc)} [shape=octagon, label={_q('router ' + vpc)}];")
        for name in vpcs[vpc]:
            found = topo.switch(name)
            assert found is not None
            sw = found
            cidrs = ", ".join(str(c) for c in sw.cidrs)
            attrs = ["shape=box", "style=filled"]
            fill = "white"
            extra = ""
            shared = attached_vpcs.get(name, set())
            if sw.acls:
                attrs += ["color=red", "peripheries=2"]
                extra = f"\nACL fence: {len(sw.acls)} rules"
            if len(shared) > 1:
                fill = "orange"
                extra += f"\nshared by VPCs {', '.join(sorted(shared))}"
            elif shared:
                fill = "lightyellow"
            attrs.append(f"fillcolor={fill}")
            label = f"{name}\n{cidrs}{extra}"
            lines.append(f"    {_id('ls', name)} [{', '.join(attrs)}, label={_q(label)}];")
            lines.append(f"    {_id('ls', name)} -> {_id('lr', vpc)} [dir=none, color=gray50];")
        for pod in topo.pods:
            if (pod.vpc or "?") != vpc:
                continue
            eth0 = pod.nic(rules.PRIMARY_IFNAME)
            ip = ", ".join(a.split("/")[0] for a in eth0.addresses) if eth0 else "no address"
            if pod.failure:
                plabel = f"{pod.ref}\nFAILED: {pod.failure[:60]}"
                lines.append(f"    {_id('pod', pod.ref)} [shape=ellipse, style=dashed, color=red, label={_q(plabel)}];")
                continue
            plabel = f"{pod.ref}\neth0 {ip}" + (f"\nApiBridge {pod.bridge}" if pod.bridge else "")
            lines.append(f"    {_id('pod', pod.ref)} [shape=ellipse, label={_q(plabel)}];")
            if eth0:
                lines.append(f"    {_id('pod', pod.ref)} -> {_id('ls', eth0.switch)} [dir=none];")
        if default:
            for node in topo.nodes:
                ips = ", ".join(str(i) for i in (*node.internal_ips, *node.nic.ips))
                api = f"\nkube-apiserver :{node.apiserver_port}" if node.apiserver_port else ""
                nlabel = f"node {node.name}\n{ips}{api}"
                lines.append(f"    {_id('node', node.name)} [shape=box3d, label={_q(nlabel)}];")
                lines.append(f"    {_id('node', node.name)} -> {_id('ls', node.nic.switch)} [dir=none, label=ovn0];")
            if topo.api_cluster_ips:
                vips = ", ".join(f"{ip}:{topo.api_port}" for ip in topo.api_cluster_ips)
                alabel = f"Service default/kubernetes\n{vips}\n(cluster load balancers)"
                lines.append(f"    api [shape=diamond, style=filled, fillcolor=lightblue, label={_q(alabel)}];")
                for node in topo.nodes:
                    if node.apiserver_port:
                        lines.append(f"    api -> {_id('node', node.name)} [label=DNAT, color=blue];")
        lines.append("  }")
    for pod in topo.pods:
        if pod.failure:
            continue
        for nic in pod.nics[1:]:
            label = f"{nic.ifname} {', '.join(a.split('/')[0] for a in nic.addresses)}"
            lines.append(
                f"  {_id('pod', pod.ref)} -> {_id('ls', nic.switch)} [color=darkgoldenrod, penwidth=1.5, "
                f"label={_q(label)}, dir=none];"
            )
        for ifname, route in _routes_api(topo, pod):
            lines.append(
                f"  {_id('pod', pod.ref)} -> api [style=dashed, color=darkgreen, "
                f"label={_q(f'route {route} dev {ifname}')}];"
            )
    lines += _destination_lines(topo)
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot_text: str, output: Path) -> Path:
    """Write ``output`` (.svg, .png, .pdf via ``dot``; .dot/.gv as text)."""
    suffix = output.suffix.lower().lstrip(".")
    output.parent.mkdir(parents=True, exist_ok=True)
    if suffix in ("dot", "gv"):
        output.write_text(dot_text)
        return output
    if suffix not in ("svg", "png", "pdf"):
        raise InputError(f"cannot render {output.name}: use .svg, .png, .pdf or .dot", Location(field="-o"))
    run(["dot", f"-T{suffix}", "-o", str(output)], input=dot_text)
    return output
