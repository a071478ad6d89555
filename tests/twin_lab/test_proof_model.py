"""The twin's proof without daemons, on manifests shaped like real clusters (kubespray, RKE2):
Service ports paired by name, what each pod intends to reach, and the trace reader."""

from __future__ import annotations

from apibridge.model.cluster import load_cluster
from apibridge.plan.planner import plan
from apibridge.twin.ovn.topology import Topology, build_topology

from .conftest import DATA

KUBESPRAY = DATA / "kubespray"
RKE2 = DATA / "rke2"


def _topology(*paths: object) -> Topology:
    cluster = load_cluster([str(p) for p in paths], lab_defaults=True)
    return build_topology(cluster, plan(cluster))


def _vips(topo: Topology) -> dict[tuple[str, str], str]:
    return {(lb.protocol, vip): backends for lb in topo.load_balancers for vip, backends in lb.vips.items()}


def test_each_service_port_gets_the_endpoint_port_of_its_own_name() -> None:
    vips = _vips(_topology(KUBESPRAY / "cluster.yaml", KUBESPRAY / "dns-endpointslice.yaml"))
    assert vips[("udp", "10.233.0.3:53")] == "10.233.64.2:53,10.233.64.3:53"
    assert vips[("tcp", "10.233.0.3:53")] == "10.233.64.2:53,10.233.64.3:53"
    assert vips[("tcp", "10.233.0.3:9153")] == "10.233.64.2:9153,10.233.64.3:9153"
    assert vips[("tcp", "10.233.0.1:443")] == "10.10.1.11:6443,10.10.1.12:6443,10.10.1.13:6443"


def test_a_service_port_whose_name_no_endpoint_port_has_gets_no_backends() -> None:
    """Kube-OVN adds no VIP for a Service port without a same-named endpoint port (no guessing by number)."""
    cluster = load_cluster(
        [str(KUBESPRAY / "cluster.yaml"), str(KUBESPRAY / "dns-endpointslice.yaml")], lab_defaults=True
    )
    svc = cluster.services[("kube-system", "kube-dns")]
    renamed = [
        type(p)(p.port, p.protocol, "metrics-renamed" if p.name == "metrics" else p.name, p.target_port)
        for p in svc.ports
    ]
    cluster.services[("kube-system", "kube-dns")] = type(svc)(svc.meta, svc.cluster_ips, tuple(renamed), svc.selector)
    vips = _vips(build_topology(cluster, plan(cluster)))
    assert ("tcp", "10.233.0.3:9153") not in vips
    assert ("tcp", "10.233.0.3:53") in vips


def test_without_endpoints_the_selected_pods_serve_each_target_port() -> None:
    vips = _vips(_topology(KUBESPRAY / "cluster.yaml"))
    dns = vips[("udp", "10.233.0.3:53")].split(",")
    assert len(dns) == 2 and all(b.endswith(":53") for b in dns)
    assert all(b.endswith(":9153") for b in vips[("tcp", "10.233.0.3:9153")].split(","))
