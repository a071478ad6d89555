"""Behaviour the code table does not pin down: where findings land, what counts as attached, order."""

from __future__ import annotations

import json
import random

from apibridge.check.findings import CODES, Finding, codes_markdown, from_problem, sort_findings
from apibridge.check.validator import check
from apibridge.model.cluster import Cluster
from apibridge.model.load import parse_text
from apibridge.plan.planner import plan
from apibridge.plan.types import PlanProblem

from .kit import (
    NETWORKS,
    SEED,
    SEED_PROVIDER,
    SEED_ROUTES,
    SEED_ROUTES_KEY,
    api_subnet,
    bridge,
    by_code,
    codes,
    doc,
    nad,
    pod,
    routes,
    run,
    seed_pod,
    subnet,
    vpc,
)

GW = "100.100.100.1"


def test_finding_json_is_exactly_the_contract() -> None:
    f = Finding("AB001", "error", "Subnet/s", "spec.gateway", "m", "h")
    assert f.to_json() == {
        "code": "AB001",
        "severity": "error",
        "object": "Subnet/s",
        "field": "spec.gateway",
        "message": "m",
        "hint": "h",
    }


def test_findings_sort_by_object_then_code_and_drop_duplicates() -> None:
    a = Finding("AB002", "error", "Subnet/a", "f", "m")
    b = Finding("AB001", "error", "Subnet/b", "f", "m")
    c = Finding("AB001", "error", "Subnet/a", "f", "m")
    assert sort_findings([b, a, c, a]) == [c, a, b]


def test_plan_problems_become_findings_one_to_one() -> None:
    problem = PlanProblem("AB103", "ApiBridge/b", "spec.cidrBlock", "full", "hint", "error")
    assert from_problem(problem) == Finding("AB103", "error", "ApiBridge/b", "spec.cidrBlock", "full", "hint")


def test_registry_renders_as_a_docs_table() -> None:
    table = codes_markdown()
    for code, info in CODES.items():
        assert f"| {code} | {info.severity} | {info.title} |" in table
    assert all(code[:2] == "AB" and len(code) == 5 for code in CODES)


def test_output_is_independent_of_input_order() -> None:
    docs = [
        *SEED,
        vpc("vpc2", "ns2", cidr="10.0.2.0/24"),
        seed_pod("a"),
        seed_pod("b", "ns2"),
        seed_pod("c", "ns1", **{SEED_ROUTES_KEY: routes({"dst": "10.96.0.0/16", "gw": GW})}),
        subnet("x", "10.0.1.0/25", vpc="vpc1"),
        bridge("b1", "vpc2"),
    ]
    expected = run(*docs)
    assert expected == sorted(expected, key=Finding.sort_key)
    rng = random.Random(7)
    for _ in range(5):
        shuffled = docs[:]
        rng.shuffle(shuffled)
        assert run(*shuffled) == expected


def test_own_subnet_is_a_connected_route_and_still_wins() -> None:
    """dst 10.0.0.0/16 covers only the pod's own 10.0.1.0/24, which the kernel reaches on-link via eth0."""
    wide = seed_pod(**{SEED_ROUTES_KEY: routes({"dst": "10.96.0.1/32", "gw": GW}, {"dst": "10.0.0.0/16", "gw": GW})})
    assert "AB207" not in codes(run(*SEED, wide))
    narrow = seed_pod(**{SEED_ROUTES_KEY: routes({"dst": "10.96.0.1/32", "gw": GW}, {"dst": "10.0.1.0/25", "gw": GW})})
    assert "AB207" in codes(run(*SEED, narrow))  # more specific than the connected route: it wins


def test_planned_subnet_clash_is_reported_on_the_bridge() -> None:
    findings = run(vpc("vpc1", "ns1"), pod(), bridge("b", cidrBlock="10.16.5.0/24"))
    [clash] = by_code(findings, "AB016")
    assert (clash.obj, clash.field) == ("ApiBridge/b", "spec.cidrBlock")
    assert "planned Subnet apibridge-b" in clash.message and "ovn-default" in clash.message


def test_planned_subnet_holding_the_api_clusterip_is_reported_on_the_bridge() -> None:
    findings = run(vpc("vpc1", "ns1"), pod(), bridge("b", cidrBlock="10.96.0.0/24"))
    assert [(f.obj, f.field) for f in by_code(findings, "AB014")] == [("ApiBridge/b", "spec.cidrBlock")]


def test_a_clash_between_injection_and_hand_written_annotations_is_marked() -> None:
    ls_key = "apibridge-b.kube-system.ovn.kubernetes.io/logical_switch"
    findings = run(
        vpc("vpc1", "ns1"), pod(annotations={ls_key: "ovn-default"}), bridge("b", cidrBlock="100.100.5.0/24")
    )
    assert "AB040" in codes(findings)
    [gw] = by_code(findings, "AB208")
    assert "after ApiBridge/b injects its annotations" in gw.message
    assert gw.field == 'metadata.annotations["apibridge-b.kube-system.ovn.kubernetes.io/routes"][0].gw'


def test_opted_out_pods_are_not_selected() -> None:
    findings = run(vpc("vpc1", "ns1"), pod(annotations={"apibridge.dev/inject": "false"}), bridge("b"))
    assert "AB113" in codes(findings)


def test_workload_fields_are_below_the_pod_template() -> None:
    cronjob = doc(
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "job", "namespace": "ns1"},
            "spec": {
                "schedule": "* * * * *",
                "jobTemplate": {
                    "spec": {
                        "template": {
                            "metadata": {
                                "annotations": {
                                    NETWORKS: "kube-system/api-ovn-nad",
                                    SEED_ROUTES_KEY: routes({"dst": "10.96.0.1"}),
                                }
                            }
                        },
                        "spec": {"containers": [{"name": "c", "image": "x"}]},
                    }
                },
            },
        }
    )
    [bad] = by_code(run(*SEED, cronjob), "AB202")
    assert bad.obj == "CronJob/ns1/job"
    assert bad.field == f'spec.jobTemplate.spec.template.metadata.annotations["{SEED_ROUTES_KEY}"][0].dst'


def test_same_nad_twice_uses_interface_providers_and_plain_routes_key() -> None:
    nets = json.dumps(
        [
            {"name": "api-ovn-nad", "namespace": "kube-system", "interface": "net1"},
            {"name": "api-ovn-nad", "namespace": "kube-system", "interface": "net2"},
        ]
    )
    findings = run(*SEED, pod(annotations={NETWORKS: nets, SEED_ROUTES_KEY: SEED_ROUTES}))
    assert not {"AB210", "AB211", "AB030", "AB031"} & codes(findings)


def test_routes_in_the_nad_config_count_as_api_routes() -> None:
    with_routes = nad(routes=[{"dst": "10.96.0.1/32", "gw": GW}])
    findings = run(
        with_routes, api_subnet(), vpc("vpc1", "ns1"), pod(annotations={NETWORKS: "kube-system/api-ovn-nad"})
    )
    assert "AB211" not in codes(findings)


def test_ipam_only_nad_is_an_attachment_without_ovn_rules() -> None:
    macvlan = nad(
        "macvlan",
        "default",
        config=json.dumps(
            {
                "cniVersion": "0.3.1",
                "type": "macvlan",
                "master": "eth0",
                "ipam": {
                    "type": "kube-ovn",
                    "server_socket": "/run/openvswitch/kube-ovn-daemon.sock",
                    "provider": "macvlan.default",
                },
            }
        ),
    )
    under = subnet("underlay", "172.30.0.0/24", provider="macvlan.default")
    findings = run(
        macvlan,
        under,
        vpc("vpc1", "ns1"),
        pod(
            annotations={
                NETWORKS: "default/macvlan",
                "macvlan.default.kubernetes.io/routes": routes({"dst": "", "gw": "172.30.0.1"}),
            }
        ),
    )
    assert not {"AB036", "AB205", "AB210", "AB033", "AB034"} & codes(findings)


def test_foreign_nad_routes_are_not_read() -> None:
    foreign = nad("other", "default", config='{"cniVersion": "0.3.1", "type": "bridge"}')
    findings = run(
        foreign,
        vpc("vpc1", "ns1"),
        pod(annotations={NETWORKS: "default/other", "other.default.ovn.kubernetes.io/routes": SEED_ROUTES}),
    )
    assert "AB210" in codes(findings)
    assert "AB033" in codes(findings)  # the ovn-style key says someone meant a kube-ovn NAD


def test_primary_routes_are_checked_against_the_primary_subnet() -> None:
    findings = run(
        vpc("vpc1", "ns1"),
        pod(
            annotations={
                "ovn.kubernetes.io/routes": routes({"gw": "10.0.1.254"}, {"dst": "114.114.114.0/26", "gw": "10.9.0.1"})
            }
        ),
    )
    # the upstream e2e case: a default route on eth0 is fine; a gw off eth0's subnet is not
    assert [f.field for f in findings if f.severity == "error"] == [
        'metadata.annotations["ovn.kubernetes.io/routes"][1].gw'
    ]


def test_one_cached_analysis_serves_many_pods() -> None:
    text = "\n---\n".join([*SEED, *(seed_pod(f"p{i}", **{SEED_ROUTES_KEY: "[{"}) for i in range(50))])
    cluster = Cluster.from_documents(parse_text(text, "t.yaml"))
    findings = check(cluster, plan(cluster))
    assert sorted(f.obj for f in by_code(findings, "AB201")) == sorted(f"Pod/ns1/p{i}" for i in range(50))


def test_api_route_through_custom_vpc_attachment() -> None:
    findings = run(nad(), api_subnet(vpc="vpc1"), vpc("vpc1", "ns1"), seed_pod())
    assert "AB022" in codes(findings)
    assert "AB302" not in codes(findings)  # not a door into the default VPC


def test_provider_key_is_the_nad_config_provider() -> None:
    """The seed's own keys: the routes key is built from the provider the CNI sends."""
    assert f"{SEED_PROVIDER}.kubernetes.io/routes" == SEED_ROUTES_KEY


def test_route_values_are_parsed_like_go_without_trimming() -> None:
    """kube-ovn-cni's net.ParseCIDR / net.ParseIP do not trim: a stray space drops the route."""
    spaced = seed_pod(**{SEED_ROUTES_KEY: routes({"dst": "10.96.0.1/32 ", "gw": " 100.100.100.1"})})
    assert {"AB202", "AB203"} <= codes(run(*SEED, spaced))


def test_private_subnet_with_unknown_endpoints_is_judged_by_allow_subnets() -> None:
    blocked = run(nad(), api_subnet(private=True), vpc("vpc1", "ns1"), seed_pod())
    assert "AB024" in codes(blocked)  # no endpoint known and nothing allowed: nothing leaves the subnet
    unknown = run(nad(), api_subnet(private=True, allowSubnets=["172.18.0.0/16"]), vpc("vpc1", "ns1"), seed_pod())
    assert "AB024" not in codes(unknown)  # something is allowed; without endpoints we cannot say it is wrong
