"""Issue 11 item 2 on real OVN: ``enableLb: false`` with kube-proxy reaches ClusterIPs through the host.

kube-ovn v1.16.2: the 29000 router policy (``pkg/controller/subnet.go``) takes a default-VPC subnet's traffic to
an address that is no subnet and no node to the node's ``ovn0``; ``pkg/daemon/gateway_linux.go`` forwards it and
kube-proxy's PREROUTING DNAT sends a ClusterIP to its endpoints. The twin programs that DNAT with nftables in
the node's namespace (``twin/ovn/hostpath.py``); before, the pod's API ClusterIP went unanswered.
"""

from __future__ import annotations

import shutil

import pytest

from apibridge.twin.ovn.hostpath import TABLE
from apibridge.twin.proc import run
from apibridge.twin.proof.verify import verify

from .conftest import data, example, running_lab

pytestmark = [pytest.mark.ovn, pytest.mark.skipif(shutil.which("nft") is None, reason="nft not installed")]


def test_enable_lb_false_reaches_the_api_through_kube_proxy_on_the_host() -> None:
    with running_lab("nolb") as lab:
        report = lab.up([example("seed", "cluster.yaml"), data("no-lb-subnet.yaml")])
        assert report.failures == {}
        pods = lab.require().pods
        netns = {ref: rec.netns for ref, rec in pods.items()}
        topo = lab.desired().topology
        sw = topo.switch("nolb")
        assert sw is not None and not sw.load_balancers  # no OVN DNAT on the pod's switch
        result = verify(topo, netns, ca_file=lab.place.ca_file)
        api = {c.exp.source: c.result for c in result.checked if c.exp.kind == "api"}
        assert api.get("nolb/client") == "reach"
        listed = run(["ip", "netns", "exec", netns["node/kind-control-plane"], "nft", "list", "table", "inet", TABLE])
        assert "10.96.0.1 tcp dport 443 dnat ip to 172.18.0.2:6443" in listed.stdout
