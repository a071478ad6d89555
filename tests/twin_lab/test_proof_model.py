"""The twin's proof without daemons, on manifests shaped like real clusters (kubespray, RKE2):
Service ports paired by name, what each pod intends to reach, and the trace reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from apibridge.base.errors import InputError
from apibridge.model.cluster import load_cluster
from apibridge.plan.planner import plan
from apibridge.twin.lab import LAB_NODE
from apibridge.twin.ovn.topology import Topology, build_topology
from apibridge.twin.proof import graph, intent, trace, verify

from .conftest import DATA, example

KUBESPRAY = DATA / "kubespray"
RKE2 = DATA / "rke2"


def _topology(*paths: object) -> Topology:
    cluster = load_cluster([str(p) for p in paths], assume_node=LAB_NODE)
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
        [str(KUBESPRAY / "cluster.yaml"), str(KUBESPRAY / "dns-endpointslice.yaml")], assume_node=LAB_NODE
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


# --- the trace reader invents no receiver ---------------------------------------------------------------


def test_an_address_no_port_has_is_dropped_not_delivered_to_whoever_the_arp_flood_reached() -> None:
    topo = _topology(KUBESPRAY / "cluster.yaml", KUBESPRAY / "ghost-backend.yaml")
    summary = trace.summarize((DATA / "trace-ghost-backend.txt").read_text(), topo)
    texts = [s.text for s in summary.steps]
    assert "load balancer cluster-tcp-loadbalancer DNATs 10.233.12.7:443 → 10.233.64.15:9443" in texts
    assert "ovn-cluster has no MAC for the next hop 10.233.64.15 and sends an ARP request instead" in texts
    assert summary.delivered_to is None and summary.dropped
    assert summary.verdict.startswith("dropped: no port has 10.233.64.15")
    assert not any(s.what == "deliver" for s in summary.steps)


def test_ipv6_speaks_of_neighbour_discovery() -> None:
    topo = _topology(example("dualstack"))
    summary = trace.summarize((DATA / "trace-nd-black-hole.txt").read_text(), topo)
    text = " ".join(s.text for s in summary.steps) + " " + summary.verdict
    assert "neighbour solicitation" in text and "ARP" not in text
    assert summary.delivered_to is None
    assert summary.verdict.startswith("black hole: tenant-a has no route to the destination")


@pytest.mark.parametrize(
    ("dest", "want"),
    [
        ("10.233.0.1:443", ("10.233.0.1", 443)),
        ("10.233.0.1", ("10.233.0.1", None)),
        ("[fd00:10:96::1]:443", ("fd00:10:96::1", 443)),
        ("[fd00:10:96::1]", ("fd00:10:96::1", None)),
        ("fd00:10:96::1", ("fd00:10:96::1", None)),  # the last group cannot be a port: "fd00:10:96:" is no address
        ("2001:db8:0:0:0:0:0:1", ("2001:db8::1", None)),
    ],
)
def test_destinations_parse(dest: str, want: tuple[str, int | None]) -> None:
    assert trace.parse_destination(dest) == want


@pytest.mark.parametrize(
    ("dest", "says"),
    [
        ("fd00:10:96::1:443", "ambiguous"),  # today read as the address fd00:10:96::1:443, port 80
        ("[fd00:10:96::1]443", "[IPv6 address]:PORT"),
        ("[fd00:10:96::1:443", "[IPv6 address]:PORT"),
        ("10.233.0.1:0", "not a port number"),
        ("[fd00::1]:99999", "not a port number"),
        ("kubernetes.default:443", "not an IP address"),
    ],
)
def test_ambiguous_or_broken_destinations_are_errors(dest: str, says: str) -> None:
    with pytest.raises(InputError) as err:
        trace.parse_destination(dest)
    assert says in str(err.value)


# --- what each pod intends, and the picture of it -----------------------------------------------------


def test_the_picture_draws_dns_and_extra_routes_where_the_destinations_live(tmp_path: Path) -> None:
    dot = graph.to_dot(_topology(KUBESPRAY / "cluster.yaml", KUBESPRAY / "bridge-extra.yaml"))
    assert "Service kube-system/kube-dns\\n10.233.0.3:53" in dot
    assert "extra 192.0.2.40/32\\n8200/TCP\\noutside the cluster, behind the hosts" in dot
    assert "extra 10.10.1.12/32\\n10250/TCP\\non node node2" in dot
    assert '"pod:beta/external-secrets-0" -> dns [style=dashed' in dot
    assert '"pod:beta/external-secrets-0" -> "extra:192.0.2.40/32" [style=dashed' in dot
    assert "route 192.0.2.40/32 via" in dot
    assert graph.render(dot, tmp_path / "lab.svg").read_text().lstrip().startswith("<?xml")


def test_the_picture_names_the_dns_service_the_plan_took(tmp_path: Path) -> None:
    """kubespray names it ``coredns`` (found by its ``k8s-app: kube-dns`` label), not ``kube-dns``."""
    cluster = tmp_path / "cluster.yaml"
    text = (KUBESPRAY / "cluster.yaml").read_text()
    assert "  name: kube-dns\n  namespace: kube-system" in text
    cluster.write_text(
        text.replace("  name: kube-dns\n  namespace: kube-system", "  name: coredns\n  namespace: kube-system")
    )
    dot = graph.to_dot(_topology(cluster, KUBESPRAY / "bridge-extra.yaml"))
    assert "Service kube-system/coredns\\n10.233.0.3:53" in dot
    assert "kube-system/kube-dns" not in dot


def test_a_verify_that_probed_nothing_fails_and_names_the_pods_that_are_not_running() -> None:
    """`lab up` with a NAD provider typo on a cluster whose only pod needs it: nothing runs, nothing is proven."""
    cluster = load_cluster(
        [str(KUBESPRAY / "cluster.yaml"), str(KUBESPRAY / "seed-provider-typo.yaml")], assume_node=LAB_NODE
    )
    cluster.pods = [p for p in cluster.pods if p.namespace == "alpha"]  # no CoreDNS: only the broken pod
    topo = build_topology(cluster, plan(cluster))
    report = verify.verify(topo, {}, ca_file=None)
    assert report.empty and report.checked == []
    assert [(u.pod, u.intends) for u in report.unrealized] == [("alpha/cert-manager-0", "the API server")]
    assert report.failed == 2 and report.passed == 0
    assert report.to_json()["unrealized"][0]["reason"].startswith("no address allocated to pod alpha/cert-manager-0")


def test_a_verify_fails_on_an_anp_the_twin_cannot_program() -> None:
    """An ANP Deny drops a bridged pod's API traffic on a real cluster (check: AB313); the twin has no ACL
    tiers and does not program it, so its probes reach — the verify must still fail, naming the ANP."""
    topo = _topology(example("demo", "cluster.yaml"), example("demo", "3-bridges.yaml"), DATA / "drops-api.yaml")
    report = verify.verify(topo, {}, ca_file=None)
    assert [u.code for u in report.unprogrammed] == ["AB313"]
    message = report.unprogrammed[0].message()
    assert "AdminNetworkPolicy/no-api" in message and "does not program" in message
    assert report.failed == 1 + len(report.unrealized) + int(report.empty)
    assert report.to_json()["unprogrammed"][0]["code"] == "AB313"


def test_a_next_hop_no_port_has_is_explained_in_the_users_terms(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pod route through an address no port owns: say what it means (nothing answers ARP for it: the packet
    is never sent), not only that the twin does not know it."""
    topo = _topology(KUBESPRAY / "cluster.yaml", KUBESPRAY / "seed.yaml")
    pod = topo.pod("alpha/cert-manager-0")
    assert pod is not None
    monkeypatch.setattr(trace, "route_get", lambda netns, ip: ("net1", "10.60.0.1", None))
    with pytest.raises(InputError) as caught:
        trace.build_request(topo, pod, "unused", "10.233.0.1:443")
    message = caught.value.message
    assert "alpha/cert-manager-0 routes 10.233.0.1 via 10.60.0.1 on net1" in message
    assert "no port" in message and "nothing answers its ARP" in message


def test_the_trace_names_a_network_policys_allow_related_acl_by_its_nb_action() -> None:
    """A NetworkPolicy's ACLs hang on its port group, not on the switch: the trace still finds the NB ACL and
    says allow-related (the logical flow of allow and allow-related look alike)."""
    topo = _topology(example("demo", "cluster.yaml"), example("demo", "3-bridges.yaml"), DATA / "netpol.yaml")
    acl = next(
        a for pg in topo.port_groups for a in pg.acls if a.action == "allow-related" and a.direction == "to-lport"
    )
    text = (
        'egress(dp="ovn-default", inport="x", outport="y")\n'
        "--------------------------------------------------\n"
        f" 4. ls_out_acl (northd.c:6445): reg0[7] == 1 && ({acl.match}), priority "
        f"{acl.priority + trace.ACL_PRIORITY_OFFSET}, uuid d66cfd82\n"
        "    reg0[1] = 1;\n    next;\n"
    )
    (step,) = [s.text for s in trace.summarize(text, topo).steps if s.what == "acl"]
    assert step.endswith(": allow-related → allowed"), step


def test_an_api_path_without_nat_outgoing_points_to_ab026() -> None:
    """An API endpoint beyond the nodes answers only natOutgoing attachments: the expectation the blocked probe
    prints names check's finding, as a NetworkPolicy's drop names AB310."""
    seed = [example("seed", "cluster.yaml"), example("seed", "seed.yaml"), example("seed", "workload.yaml")]
    topo = _topology(*seed, DATA / "external-api-lb.yaml")
    pod = next(p for p in topo.pods if p.ref.startswith("ingress-nginx/ingress-nginx-controller"))
    expect, why = intent.api_expectation(pod, topo.api_cluster_ips[0], topo.api_port, topo)
    assert expect == "reach"
    assert "203.0.113.10" in why and "natOutgoing" in why and why.endswith("(check: AB026)"), why
    plain = _topology(*seed)  # the endpoint on the node: nothing to point to
    pod = next(p for p in plain.pods if p.ref.startswith("ingress-nginx/ingress-nginx-controller"))
    assert "AB026" not in intent.api_expectation(pod, plain.api_cluster_ips[0], plain.api_port, plain)[1]
