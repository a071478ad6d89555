"""The twin's pure parts, without daemons: topology extensions, the NB diff, the verify matrix,
the trace reader and the picture."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from apibridge.model.cluster import load_cluster
from apibridge.plan.planner import plan
from apibridge.twin.lab import LAB_NODE
from apibridge.twin.ovn import realize
from apibridge.twin.ovn.topology import Topology, allocations, build_topology
from apibridge.twin.proof import graph, trace, verify

from .conftest import DATA, data, example


def _topology(*paths: str, previous: Any = None) -> Topology:
    cluster = load_cluster(paths, assume_node=LAB_NODE)
    return build_topology(cluster, plan(cluster), previous=previous)


def _netns(topo: Topology) -> dict[str, str]:
    return {p.ref: f"ns-{p.ref}" for p in topo.pods if p.failure is None}


def test_workloads_become_pods_and_addresses_stay_put_when_a_pod_is_added() -> None:
    before = _topology(example("seed"))
    assert [p.ref for p in before.pods] == ["ingress-nginx/ingress-nginx-controller-0", "tenant-b/operator-0"]
    assert before.pods[0].owner == "Deployment/ingress-nginx/ingress-nginx-controller"
    after = _topology(example("seed"), data("plain-pod.yaml"), previous=allocations(before))
    kept = allocations(before)
    now = allocations(after)
    assert all(now[lsp] == alloc for lsp, alloc in kept.items())
    new = set(now) - set(kept)
    assert new == {"backend.ingress-nginx"}
    # without `previous` the new pod would have taken an address of an existing one (sorted first)
    fresh = allocations(_topology(example("seed"), data("plain-pod.yaml")))
    assert fresh != {**kept, **{k: now[k] for k in new}}


class _Recorder:
    """Stands in for nb.Batch: records the verbs plan_changes queues."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self.calls.append((name, args))


def test_the_nb_diff_is_empty_for_the_same_topology_and_one_port_for_one_pod() -> None:
    topo = _topology(example("seed"))
    want = realize.desired(topo)
    rec = _Recorder()
    assert realize.plan_changes(rec, want, realize.desired(topo)).empty  # type: ignore[arg-type]
    assert rec.calls == []
    bigger = _topology(example("seed"), data("plain-pod.yaml"), previous=allocations(topo))
    rec = _Recorder()
    changes = realize.plan_changes(rec, realize.desired(bigger), want)  # type: ignore[arg-type]
    assert changes.added == {"switch ports": 1}
    assert [c for c in rec.calls if c[0] == "lsp_add"] == [("lsp_add", ("tenant-a-subnet", "backend.ingress-nginx"))]


def test_the_nb_diff_updates_changed_children_and_removes_vanished_ones_by_uuid() -> None:
    want = realize.desired(_topology(example("seed")))
    have = copy.deepcopy(want)
    changed = (30000, "ip4.dst == 172.18.0.2")
    have.policies["ovn-cluster"][changed] = {**want.policies["ovn-cluster"][changed], "action": "drop"}
    stale = (31000, "ip4.dst == 192.0.2.1")
    have.policies["ovn-cluster"][stale] = {"action": "allow", "nexthops": [], "external_ids": {}}
    have.uuids[("policy", "ovn-cluster", stale)] = "uuid-of-stale"
    missing = ("10.0.1.0/24", "src-ip", "")
    del have.routes["tenant-a"][missing]
    rec = _Recorder()
    changes = realize.plan_changes(rec, want, have)  # type: ignore[arg-type]
    assert (changes.added, changes.changed, changes.removed) == ({"static routes": 1}, {"policies": 1}, {"policies": 1})
    assert [args[:3] for verb, args in rec.calls if verb == "lr_policy_add"] == [("ovn-cluster", *changed)]
    assert [args[:2] for verb, args in rec.calls if verb == "lr_route_add"] == [("tenant-a", "10.0.1.0/24")]
    removed: list[tuple[Any, ...]] = []
    api = SimpleNamespace(db_remove=lambda *args, **kwargs: removed.append(args))
    for verb, args in rec.calls:
        if verb == "raw":
            args[1](api)
    assert removed == [("Logical_Router", "ovn-cluster", "policies", "uuid-of-stale")]


def test_nb_rows_carry_kube_ovn_names_and_external_ids() -> None:
    want = realize.desired(_topology(example("seed")))
    switch, cols = want.lsps["operator-0.tenant-b.api-ovn-nad.kube-system.ovn"]
    assert switch == "vpc-apiserver-subnet"
    assert cols["external_ids"] == {"ls": "vpc-apiserver-subnet", "pod": "tenant-b/operator-0", "vendor": "kube-ovn"}
    assert want.lsps["operator-0.tenant-b"][1]["external_ids"]["associated_sg_default-securitygroup"] == "false"
    router_lsp = want.lsps["vpc-apiserver-subnet-ovn-cluster"][1]
    assert router_lsp["options"] == {"router-port": "ovn-cluster-vpc-apiserver-subnet"}
    assert want.lbs["cluster-tcp-loadbalancer"]["vips"] == {"10.96.0.1:443": "172.18.0.2:6443"}
    assert "cluster-tcp-loadbalancer" in want.ls_lbs["vpc-apiserver-subnet"]
    assert (30000, "ip4.dst == 172.18.0.2") in want.policies["ovn-cluster"]
    assert ("10.0.1.0/24", "src-ip", "") in want.routes["tenant-a"]


def test_the_matrix_expects_the_seed_to_reach_the_api_and_nothing_across_tenants() -> None:
    topo = _topology(example("seed"), data("plain-pod.yaml"))
    exps = verify.expectations(topo, _netns(topo))
    api = {e.source: e.expect for e in exps if e.kind == "api"}
    assert api == {
        "ingress-nginx/ingress-nginx-controller-0": "reach",
        "tenant-b/operator-0": "reach",
        "ingress-nginx/backend": "blocked",
    }
    shared = [e for e in exps if e.shared_subnet]
    assert {(e.source, e.target) for e in shared} == {
        ("ingress-nginx/ingress-nginx-controller-0", "100.100.100.3"),
        ("tenant-b/operator-0", "100.100.100.2"),
    }
    assert all(e.expect == "blocked" for e in exps if e.kind == "cross-vpc")
    same = [e for e in exps if e.kind == "same-vpc"]
    assert {(e.source, e.to_pod) for e in same} == {
        ("ingress-nginx/ingress-nginx-controller-0", "ingress-nginx/backend"),
        ("ingress-nginx/backend", "ingress-nginx/ingress-nginx-controller-0"),
    }
    assert not [e for e in exps if e.kind == "node"]  # the seed's attachment is not fenced: nothing to assert


def test_strict_bridges_add_node_probes_and_adversarial_routes() -> None:
    topo = _topology(
        example("seed", "cluster.yaml"), example("apibridge", "bridges.yaml"), example("apibridge", "workload.yaml")
    )
    exps = verify.expectations(topo, _netns(topo))
    nodes = [e for e in exps if e.kind == "node"]
    assert {e.target for e in nodes} == {"172.18.0.2", "100.64.0.2"} and all(e.expect == "blocked" for e in nodes)
    pod = topo.pods[0]
    routes = verify.adversarial_routes(topo, pod)
    assert any(r.startswith("100.64.0.0/16 via ") and r.endswith(" dev net1") for r in routes)
    assert any(r.startswith("172.18.0.2/32 via ") for r in routes)


def test_the_dual_stack_matrix_probes_both_cluster_ips() -> None:
    topo = _topology(example("dualstack"))
    api = [e for e in verify.expectations(topo, _netns(topo)) if e.kind == "api"]
    assert {e.target for e in api} == {"10.96.0.1", "fd00:10:96::1"} and all(e.expect == "reach" for e in api)


def test_trace_reader_finds_dnat_policy_and_delivery() -> None:
    topo = _topology(
        example("seed", "cluster.yaml"), example("apibridge", "bridges.yaml"), example("apibridge", "workload.yaml")
    )
    summary = trace.summarize((DATA / "trace-api.txt").read_text(), topo)
    texts = [s.text for s in summary.steps]
    assert "load balancer cluster-tcp-loadbalancer DNATs 10.96.0.1:443 → 172.18.0.2:6443" in texts
    assert any(t.startswith("policy 30000 'ip4.dst == 172.18.0.2' → reroute to 100.64.0.2") for t in texts)
    assert summary.delivered_to == "node/kind-control-plane ovn0" and not summary.dropped


def test_destinations_parse() -> None:
    assert trace.parse_destination("10.96.0.1:443") == ("10.96.0.1", 443)
    assert trace.parse_destination("[fd00:10:96::1]:443") == ("fd00:10:96::1", 443)
    assert trace.parse_destination("fd00:10:96::1") == ("fd00:10:96::1", None)


def test_the_picture_shows_vpcs_the_shared_subnet_and_the_api_routes(tmp_path: Path) -> None:
    dot = graph.to_dot(_topology(example("seed")))
    assert '"cluster_tenant-a"' in dot and '"cluster_ovn-cluster"' in dot
    assert "shared by VPCs tenant-a, tenant-b" in dot
    assert "route 10.96.0.1/32 via 100.100.100.1 dev net1" in dot
    out = graph.render(dot, tmp_path / "lab.svg")
    assert out.read_text().lstrip().startswith("<?xml")


def test_client_ip_affinity_lands_in_the_session_load_balancer() -> None:
    """Kube-OVN programs Services with sessionAffinity: ClientIP into the *-session-* load balancers."""
    from apibridge.model.cluster import Cluster
    from apibridge.model.load import parse_text
    from apibridge.plan.planner import plan
    from apibridge.twin.ovn.topology import build_topology

    text = """
apiVersion: v1
kind: Service
metadata: {name: sticky, namespace: default}
spec:
  clusterIP: 10.96.5.5
  sessionAffinity: ClientIP
  ports: [{port: 80, protocol: TCP}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: sticky, namespace: default}
subsets: [{addresses: [{ip: 10.16.0.9}], ports: [{port: 8080, protocol: TCP}]}]
"""
    cluster = Cluster.from_documents(parse_text(text, "sticky.yaml"), assume_node=LAB_NODE)
    topo = build_topology(cluster, plan(cluster))
    holders = {lb.name for lb in topo.load_balancers if "10.96.5.5:80" in lb.vips}
    assert holders == {"cluster-tcp-session-loadbalancer"}
