"""Issue 11 item 13: the cluster DNS Service is found as users' tools find it, not only as kube-system/kube-dns.

kubespray names it ``kube-system/coredns``, RKE2 ``kube-system/rke2-coredns-rke2-coredns`` (both labelled
``k8s-app: kube-dns``), OpenShift ``openshift-dns/dns-default``; a setting can name it. Its DNS ports are
taken by name (``dns``, ``dns-tcp``), never the metrics port.
"""

from __future__ import annotations

from typing import Any

import pytest

from apibridge.check.intent import bridge_wants, intent_context
from apibridge.plan.settings import Settings, SettingsError, parse_settings

from .plan_kit import Body, bridge, seed_cluster
from .test_planner import plan_of


def dns_service(ns: str, name: str, ip: str, labels: dict[str, str] | None = None, *, port: int = 53) -> Body:
    md: dict[str, Any] = {"name": name, "namespace": ns}
    if labels:
        md["labels"] = labels
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": md,
        "spec": {
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ports": [
                {"name": "dns", "port": port, "protocol": "UDP", "targetPort": 5353},
                {"name": "dns-tcp", "port": port, "protocol": "TCP", "targetPort": 5353},
                {"name": "metrics", "port": 9153, "protocol": "TCP"},
            ],
        },
    }


LABEL = {"k8s-app": "kube-dns"}
DNS_BRIDGE = bridge("tenant-a", "tenant-a", destinations={"dns": True})


def dns_routes(*bodies: Body, config: Settings | None = None) -> tuple[set[str], list[str], list[str]]:
    _, p = plan_of(*seed_cluster(), *bodies, DNS_BRIDGE, config=config)
    codes = [f"{x.code}:{x.message}" for x in p.problems]
    bp = p.bridges.get("tenant-a")
    routes = {r.dst for r in bp.routes} if bp else set()
    acls = [a.match for a in bp.acls] if bp else []
    return routes, codes, acls


@pytest.mark.parametrize(
    ("ns", "name", "labels"),
    [
        ("kube-system", "coredns", LABEL),  # kubespray
        ("kube-system", "rke2-coredns-rke2-coredns", LABEL),  # RKE2
        ("kube-system", "rke2-coredns-rke2-coredns", None),  # by its usual name alone
        ("openshift-dns", "dns-default", None),  # OpenShift
        ("kube-system", "my-dns", LABEL),  # any name, by the label
    ],
)
def test_dns_service_of_other_distributions_is_found(ns: str, name: str, labels: dict[str, str] | None) -> None:
    routes, codes, _ = dns_routes(dns_service(ns, name, "10.233.0.3", labels))
    assert "10.233.0.3/32" in routes
    assert not [c for c in codes if c.startswith("AB102")]
    taken = [c for c in codes if c.startswith("AB105")]
    assert taken and f"{ns}/{name}" in taken[0]  # says which Service was taken


def test_labelled_service_wins_over_a_usual_name() -> None:
    routes, _, _ = dns_routes(
        dns_service("kube-system", "coredns", "10.233.0.3", LABEL),
        dns_service("openshift-dns", "dns-default", "10.233.0.9"),
    )
    assert "10.233.0.3/32" in routes and "10.233.0.9/32" not in routes


def test_setting_names_the_dns_service() -> None:
    config = Settings(dns_service=("infra", "resolver"))
    routes, codes, _ = dns_routes(
        dns_service("kube-system", "kube-dns", "10.96.0.10", LABEL),
        dns_service("infra", "resolver", "10.96.0.53"),
        config=config,
    )
    assert routes == {"10.96.0.1/32", "10.96.0.53/32"}
    assert any(c.startswith("AB105") and "infra/resolver" in c for c in codes)


def test_setting_naming_a_missing_service_is_ab102_naming_it() -> None:
    config = Settings(dns_service=("infra", "resolver"))
    _, codes, _ = dns_routes(dns_service("kube-system", "kube-dns", "10.96.0.10", LABEL), config=config)
    assert any(c.startswith("AB102") and "infra/resolver" in c for c in codes)


def test_no_dns_service_names_what_was_looked_for() -> None:
    _, codes, _ = dns_routes()
    ab102 = [c for c in codes if c.startswith("AB102")]
    assert ab102 and "k8s-app=kube-dns" in ab102[0] and "coredns" in ab102[0]


def test_dns_ports_are_taken_by_name_not_the_metrics_port() -> None:
    _, _, acls = dns_routes(dns_service("kube-system", "coredns", "10.233.0.3", LABEL, port=1053))
    dns = [m for m in acls if "10.233.0.3" in m]
    assert any("udp.dst == 1053" in m for m in dns) and any("tcp.dst == 1053" in m for m in dns)
    assert not any("9153" in m for m in dns) and not any(".dst == 53" in m for m in dns)


def test_intent_shares_the_plans_dns_service_and_ports() -> None:
    c, p = plan_of(
        *seed_cluster(),
        dns_service("kube-system", "coredns", "10.233.0.3", LABEL, port=1053),
        DNS_BRIDGE,
    )
    wants = [w for w in bridge_wants(c.bridges["tenant-a"], intent_context(c, p)) if w.kind == "dns"]
    assert [str(w.network) for w in wants] == ["10.233.0.3/32"]
    assert {(x.port, x.protocol) for x in wants[0].ports} == {(1053, "UDP"), (1053, "TCP")}


def test_dns_service_setting_from_text() -> None:
    assert parse_settings(dns_service="infra/resolver").dns_service == ("infra", "resolver")
    with pytest.raises(SettingsError, match="--dns-service"):
        parse_settings(dns_service="resolver")


# ---- issue 11 item 5: API endpoints that are not node addresses need natOutgoing ------------------------------
def test_bridge_subnet_gets_nat_outgoing_when_an_api_endpoint_is_not_a_node() -> None:
    external = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["192.0.2.50"]}],
        "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
    }
    _, p = plan_of(*seed_cluster(), external, bridge("tenant-a", "tenant-a"))
    assert p.bridges["tenant-a"].subnet["spec"]["natOutgoing"] is True
    _, p = plan_of(*seed_cluster(), bridge("tenant-a", "tenant-a"))
    assert p.bridges["tenant-a"].subnet["spec"]["natOutgoing"] is False
