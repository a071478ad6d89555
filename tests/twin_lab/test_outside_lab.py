"""Issue 11 item 5 on real OVN: an API endpoint beyond the nodes answers only natOutgoing subnets.

kube-ovn v1.16.2: only node InternalIPs get the 30000 reroute (``pkg/controller/init.go``); the seed's
attachment reaches an external load balancer by the 29000 reroute to its node's ``ovn0``, and the host
masquerades only ``natOutgoing`` subnets (``pkg/daemon/gateway_linux.go``, ``ovn40subnets-nat``). The twin
puts the endpoint in a namespace beyond the nodes (``twin/ovn/outside.py``) that routes only to node
addresses: before, the endpoint was nowhere and the API went unanswered whatever the subnet said.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from apibridge.twin.ovn.hostpath import NAT_TABLE
from apibridge.twin.pods.netns import netns_exists
from apibridge.twin.proc import run
from apibridge.twin.proof.verify import verify

from .conftest import EXAMPLES, data, example, running_lab

pytestmark = [pytest.mark.ovn, pytest.mark.skipif(shutil.which("nft") is None, reason="nft not installed")]


def _api(lab: object) -> dict[str, str]:
    from apibridge.twin.lab import Lab

    assert isinstance(lab, Lab)
    netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
    result = verify(lab.desired().topology, netns, ca_file=lab.place.ca_file)
    return {c.exp.source: c.result for c in result.checked if c.exp.kind == "api"}


def test_an_external_api_endpoint_answers_only_a_nat_outgoing_attachment(tmp_path: Path) -> None:
    seed = (EXAMPLES / "seed" / "seed.yaml").read_text()
    assert "cidrBlock: 100.100.100.0/24\n" in seed
    nat = tmp_path / "seed-nat.yaml"
    nat.write_text(seed.replace("cidrBlock: 100.100.100.0/24\n", "cidrBlock: 100.100.100.0/24\n  natOutgoing: true\n"))
    cluster, workload, slice_ = (
        example("seed", "cluster.yaml"),
        example("seed", "workload.yaml"),
        data("external-api-lb.yaml"),
    )
    with running_lab("out") as lab:
        report = lab.up([cluster, example("seed", "seed.yaml"), workload, slice_])
        assert report.failures == {}
        topo = lab.desired().topology
        assert [str(ip) for ip in topo.outside_ips] == ["203.0.113.10"]
        assert netns_exists(lab.place.outside_netns)
        attached = "ingress-nginx/ingress-nginx-controller"
        before = _api(lab)
        ingress = next(k for k in before if k.startswith(attached))
        assert before[ingress] == "blocked"  # the endpoint answers 100.100.100.x, which it has no route to

        lab.up([cluster, str(nat), workload, slice_])
        after = _api(lab)
        assert after[ingress] == "reach"  # masqueraded to the node's address on its way out
        node = lab.require().pods["node/kind-control-plane"].netns
        listed = run(["ip", "netns", "exec", node, "nft", "list", "table", "inet", NAT_TABLE]).stdout
        assert "100.100.100.0/24" in listed.split("set nat4", 1)[1].split("}", 1)[0]

        lab.up([cluster, str(nat), workload])  # the endpoint back on the node: nothing beyond it
        assert not netns_exists(lab.place.outside_netns)
        assert _api(lab)[ingress] == "reach"


def test_planned_bridges_set_nat_outgoing_and_reach_an_external_endpoint_without_leaks() -> None:
    """The planner sets ``natOutgoing: true`` on a bridge's Subnet when an API endpoint is off the nodes
    (item 5, planner side): on real OVN the bridges' pods reach it, and the adversarial verify finds no leak."""
    with running_lab("outb") as lab:
        report = lab.up([example("apibridge"), data("external-api-lb.yaml")])
        assert report.failures == {}
        topo = lab.desired().topology
        nat = {str(c) for c in topo.nat_subnets}
        for b in topo.bridges:
            sw = topo.switch(b.subnet)
            assert sw is not None and {str(c) for c in sw.cidrs} <= nat
        netns = {ref: rec.netns for ref, rec in lab.require().pods.items()}
        result = verify(topo, netns, ca_file=lab.place.ca_file, adversarial=True)
        api = {c.exp.source: c.result for c in result.checked if c.exp.kind == "api"}
        bridged = [p.ref for p in topo.pods if p.bridge]
        assert bridged and all(api[ref] == "reach" for ref in bridged), api
        assert result.leaks() == [], [c.message() for c in result.leaks()]
        assert result.failed == 0, [c.message() for c in result.failures]
