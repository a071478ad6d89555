"""Issue 11: the twin builds from what an exported cluster says, as Kube-OVN would (no daemons here).

Item 15: given both Endpoints and EndpointSlices (``kubectl get ep,endpointslices -o yaml``), Kube-OVN's
load balancers come from the slices alone (kube-ovn v1.16.2 ``pkg/controller/endpoint_slice.go
handleUpdateEndpointSlice`` lists EndpointSlices by ``kubernetes.io/service-name``; Endpoints are never read).
"""

from __future__ import annotations

from apibridge.model.cluster import Cluster
from apibridge.model.load import parse_text
from apibridge.plan.planner import plan
from apibridge.twin.ovn.topology import Topology, build_topology

NODES = "".join(
    f"""---
apiVersion: v1
kind: Node
metadata: {{name: n{i}, labels: {{node-role.kubernetes.io/control-plane: ""}}}}
status: {{addresses: [{{type: InternalIP, address: 172.18.0.1{i}}}]}}
"""
    for i in (1, 2, 3)
)
API = """---
apiVersion: v1
kind: Service
metadata: {name: kubernetes, namespace: default}
spec: {clusterIP: 10.43.0.1, clusterIPs: [10.43.0.1], ports: [{name: https, port: 443, protocol: TCP}]}
"""
ENDPOINTS = """---
apiVersion: v1
kind: Endpoints
metadata: {name: kubernetes, namespace: default}
subsets:
- addresses: [{ip: 172.18.0.11}, {ip: 172.18.0.12}, {ip: 172.18.0.13}]
  ports: [{name: https, port: 6443, protocol: TCP}]
"""
SLICE = """---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: kubernetes, namespace: default, labels: {kubernetes.io/service-name: kubernetes}}
addressType: IPv4
endpoints:
- addresses: [172.18.0.11]
- addresses: [172.18.0.12]
- addresses: [172.18.0.13]
ports: [{name: https, port: 6443, protocol: TCP}]
"""


def topology(text: str) -> Topology:
    cluster = Cluster.from_documents(parse_text(text, "export.yaml"), lab_defaults=True)
    return build_topology(cluster, plan(cluster))


def backends(topo: Topology, vip: str) -> list[str]:
    found = [lb.vips[vip] for lb in topo.load_balancers if vip in lb.vips]
    assert len(found) == 1, found
    return found[0].split(",")


WANT = ["172.18.0.11:6443", "172.18.0.12:6443", "172.18.0.13:6443"]


def test_endpoints_and_slices_together_give_each_backend_once() -> None:
    assert backends(topology(NODES + API + ENDPOINTS + SLICE), "10.43.0.1:443") == WANT


def test_the_slice_wins_where_endpoints_disagree() -> None:
    stale = ENDPOINTS.replace("{ip: 172.18.0.13}", "{ip: 172.18.0.99}")
    assert backends(topology(NODES + API + stale + SLICE), "10.43.0.1:443") == WANT


def test_endpoints_alone_still_give_backends() -> None:
    """An export without slices: the EndpointSlice mirroring controller would mirror the Endpoints."""
    assert backends(topology(NODES + API + ENDPOINTS), "10.43.0.1:443") == WANT
