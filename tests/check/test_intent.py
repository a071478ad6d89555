"""``apibridge.check.intent``: what a pod means to reach, read from evidence of intent only —
the one definition ``check`` and ``lab verify`` share."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

from apibridge.check.intent import PodIntent, intent_context, pod_intent
from apibridge.check.validator import check
from apibridge.kubeovn import rules
from apibridge.model.cluster import Cluster, load_cluster
from apibridge.plan.planner import plan

DATA = Path(__file__).resolve().parents[1] / "twin_lab" / "data"
KUBESPRAY = DATA / "kubespray"
NETWORKS = rules.NETWORKS_ANNOTATION
SEED_ROUTES = "api-ovn-nad.kube-system.ovn.kubernetes.io/routes"


def _cluster(*paths: Path) -> Cluster:
    return load_cluster([str(p) for p in paths])


def _intent(cluster: Cluster, annotations: dict[str, str], namespace: str = "alpha") -> PodIntent:
    return pod_intent(annotations, namespace, None, intent_context(cluster, plan(cluster)))


def _api(intent: PodIntent) -> list[tuple[str, str]]:
    return [(str(w.network), w.why) for w in intent.of_kind("api")]


def test_a_plain_custom_vpc_pod_intends_nothing() -> None:
    assert _intent(_cluster(KUBESPRAY / "cluster.yaml", KUBESPRAY / "seed.yaml"), {}).wants == ()


def test_the_seed_attachment_means_the_api_server_whatever_its_routes_say() -> None:
    cluster = _cluster(KUBESPRAY / "cluster.yaml", KUBESPRAY / "seed.yaml")
    attached = "it attaches kube-system/api-ovn-nad, on subnet vpc-apiserver-subnet of the default VPC"
    # no route at all, a route to a kubeadm ClusterIP (RKE2 copy), a route under another NAD's key
    for routes in ({}, {SEED_ROUTES: '[{"dst":"10.96.0.1/32","gw":"100.100.100.1"}]'}):
        intent = _intent(cluster, {NETWORKS: "kube-system/api-ovn-nad", **routes})
        assert _api(intent) == [("10.233.0.1/32", attached + " (the way to the API server)")]
        assert intent.want(ipaddress.ip_address("10.233.0.1"), 443, "TCP") is not None
        assert intent.want(ipaddress.ip_address("10.233.0.1"), 80, "TCP") is None


def test_a_typo_in_the_nad_config_provider_still_shows_the_intent() -> None:
    cluster = _cluster(KUBESPRAY / "cluster.yaml", KUBESPRAY / "seed-provider-typo.yaml")
    assert _intent(cluster, {NETWORKS: "kube-system/api-ovn-nad"}).api


def test_a_routes_annotation_naming_the_api_clusterip_means_the_api_server_on_any_key() -> None:
    cluster = _cluster(KUBESPRAY / "cluster.yaml")
    for key, dst in (
        ("api-nad.kube-system.ovn.kubernetes.io/routes", "10.233.0.1/32"),  # a NAD the pod does not attach
        ("ovn.kubernetes.io/routes", "10.233.0.0/18"),  # eth0, a custom VPC: a route that cannot work
        (SEED_ROUTES, "10.233.0.1"),  # no /32: kube-ovn-cni skips it, the author still meant it
    ):
        intent = _intent(cluster, {key: f'[{{"dst":"{dst}","gw":"10.233.0.1"}}]'})
        assert _api(intent) == [("10.233.0.1/32", f"its annotation {key} routes the API ClusterIP 10.233.0.1")]


def test_broken_or_hostile_annotations_are_read_without_error() -> None:
    cluster = _cluster(KUBESPRAY / "cluster.yaml", KUBESPRAY / "seed.yaml")
    many = "[" + ",".join(['{"dst":"10.9.9.9/32"}'] * 100_000) + ',{"dst":"10.233.0.1/32"}]'
    for ann in (
        {NETWORKS: "[{not json"},
        {SEED_ROUTES: '{"dst": "10.233.0.1/32"}'},
        {SEED_ROUTES: '[{"dst": 7}, "x", {"dst": "not-an-ip"}]'},
        {SEED_ROUTES: many},  # only the first MAX_ROUTES_READ entries are read
    ):
        assert not _intent(cluster, ann).api


def test_a_bridge_means_each_destination_of_its_spec() -> None:
    cluster = _cluster(KUBESPRAY / "cluster.yaml", KUBESPRAY / "bridge-extra.yaml")
    bridge = cluster.bridges["beta"]
    intent = pod_intent({}, "beta", bridge, intent_context(cluster, plan(cluster)))
    got = [(w.kind, str(w.network), tuple((p.port, p.protocol) for p in w.ports)) for w in intent.wants]
    assert got == [
        ("api", "10.233.0.1/32", ((443, "TCP"),)),
        ("dns", "10.233.0.3/32", ((53, "UDP"), (53, "TCP"))),
        ("extra", "192.0.2.40/32", ((8200, "TCP"),)),
        ("extra", "10.10.1.12/32", ((10250, "TCP"),)),
    ]
    assert all(w.why == "ApiBridge beta selects it" for w in intent.wants)


def test_the_bridges_own_injection_is_not_evidence_of_api_intent() -> None:
    """A bridge with apiserver: false injects an attachment to a default-VPC subnet; that is its doing."""
    cluster = _cluster(KUBESPRAY / "cluster.yaml", KUBESPRAY / "bridge-extra.yaml")
    p = plan(cluster)
    bp = p.bridges["beta"]
    no_api = dataclasses.replace(bp.bridge, apiserver=False)
    injected = {
        NETWORKS: f"{bp.nad_namespace}/{bp.nad_name}",
        rules.provider_key(bp.provider, rules.ROUTES): '[{"dst":"10.233.0.1/32","gw":"100.100.0.1"}]',
    }
    intent = pod_intent(injected, "beta", no_api, intent_context(cluster, p), nad=f"{bp.nad_namespace}/{bp.nad_name}")
    assert not intent.api and intent.of_kind("extra")


def _errors(*paths: Path) -> list[tuple[str, str]]:
    cluster = _cluster(*paths)
    return [(f.code, f.message) for f in check(cluster, plan(cluster)) if f.severity == "error"]


def test_check_calls_the_kubeadm_route_on_rke2_an_error() -> None:
    """The seed's fix copied to RKE2 unchanged: only warning AB211 used to say so, and check exited 0."""
    errors = _errors(DATA / "rke2")
    assert [code for code, _ in errors] == ["AB211"]
    assert "routes no API ClusterIP (10.43.0.1/32) through it" in errors[0][1]


def test_check_calls_routes_under_the_wrong_key_an_error() -> None:
    assert [code for code, _ in _errors(KUBESPRAY / "cluster.yaml", KUBESPRAY / "seed-wrong-key.yaml")] == ["AB211"]


def test_check_and_verify_agree_that_the_working_fix_and_a_bridge_are_fine() -> None:
    assert _errors(KUBESPRAY / "cluster.yaml", KUBESPRAY / "seed.yaml") == []
    assert _errors(KUBESPRAY / "cluster.yaml", KUBESPRAY / "bridge-extra.yaml") == []
