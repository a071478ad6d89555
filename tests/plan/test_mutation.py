"""The pod mutation is append-only and idempotent, selects exactly the bridge's pods, and ``inject``
touches nothing else.

Append-only means: every annotation the pod had keeps its value, except the networks annotation
(comma form: the original text stays a prefix; JSON form: every original element is kept) and the
bridge's routes annotation (every original route is kept, text before the closing bracket kept).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apibridge.base.errors import InputError
from apibridge.kubeovn import networks, routes, rules
from apibridge.kubeovn.networks import NetworkSelection
from apibridge.model.load import Document
from apibridge.model.objects import TEMPLATE_PATHS
from apibridge.plan import planner
from apibridge.plan.mutation import BridgeIndex, inject_documents, mutate_annotations, pod_mutation
from apibridge.plan.types import BridgePlan

from .plan_kit import Body, bridge, cluster, namespace, pod, seed_cluster, service, tenant, workload

FAST = settings(max_examples=150, deadline=None)
NETWORKS = rules.NETWORKS_ANNOTATION


def _bridge_plans() -> list[BridgePlan]:
    v4 = planner.plan(cluster(*seed_cluster(), bridge("tenant-a", "tenant-a")))
    dual = planner.plan(
        cluster(
            service("default", "kubernetes", "10.96.0.1", "fd00:10:96::1"),
            *tenant("t", "ingress-nginx", "10.0.1.0/24"),
            bridge("dual", "t", destinations={"dns": False, "extra": [{"cidr": "192.168.9.0/24"}]}),
        )
    )
    return [v4.bridges["tenant-a"], dual.bridges["dual"]]


PLANS = _bridge_plans()
LABEL = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?", fullmatch=True)
POD_NS = st.sampled_from(["ingress-nginx", "kube-system"])
OTHER_KEYS = st.sampled_from(
    [
        "example.com/owner",
        "ovn.kubernetes.io/ip_address",
        "prometheus.io/scrape",
        "v1.multus-cni.io/default-network",
        "kubectl.kubernetes.io/restartedAt",
        "other.kube-system.ovn.kubernetes.io/routes",
    ]
)
OTHER = st.dictionaries(OTHER_KEYS, st.text(max_size=12), max_size=4)


@st.composite
def networks_value(draw: st.DrawFn, bp: BridgePlan) -> str | None:
    own = [NetworkSelection(bp.nad_name, bp.nad_namespace), NetworkSelection(bp.nad_name, bp.nad_namespace, "net9")]
    sels = draw(
        st.lists(
            st.builds(NetworkSelection, name=LABEL, namespace=st.none() | LABEL, interface=st.none() | LABEL)
            | st.sampled_from(own),
            max_size=3,
        )
    )
    form = draw(st.sampled_from(["none", "comma", "json"]))
    if form == "none" or not sels:
        return None
    if form == "comma":
        sep = draw(st.sampled_from([",", ", ", " , "]))
        return sep.join(s.to_text() for s in sels) + draw(st.sampled_from(["", " "]))
    elements = []
    for s in sels:
        el = s.to_json()
        if draw(st.booleans()):
            el["ips"] = ["100.100.0.9"]
        if draw(st.booleans()):
            el["cni-args"] = {"k": draw(st.integers(0, 9))}
        elements.append(el)
    return json.dumps(elements, indent=draw(st.sampled_from([None, 2])))


@st.composite
def routes_value(draw: st.DrawFn, bp: BridgePlan) -> str | None:
    dsts = [r.dst for r in bp.routes] + ["172.20.0.0/16", "0.0.0.0/0"]
    rs = draw(
        st.lists(
            st.builds(routes.Route, dst=st.sampled_from(dsts), gw=st.sampled_from(["100.100.200.1", "10.0.1.1", ""])),
            max_size=3,
        )
    )
    if not rs and draw(st.booleans()):
        return None
    return json.dumps([r.to_json() for r in rs], indent=draw(st.sampled_from([None, 1])))


@st.composite
def pod_annotations(draw: st.DrawFn) -> tuple[BridgePlan, str, dict[str, str]]:
    bp = draw(st.sampled_from(PLANS))
    ann: dict[str, str] = draw(OTHER)
    nets = draw(networks_value(bp))
    if nets is not None:
        ann[NETWORKS] = nets
    rts = draw(routes_value(bp))
    if rts is not None:
        ann[rules.provider_key(bp.provider, rules.ROUTES)] = rts
    if draw(st.booleans()):
        ann[rules.provider_key(bp.provider, rules.LOGICAL_SWITCH)] = draw(st.sampled_from([bp.subnet_name, "x"]))
    if draw(st.booleans()):
        ann[rules.port_security_key(bp.provider)] = rules.PORT_SECURITY_ON
    return bp, draw(POD_NS), ann


@FAST
@given(pod_annotations())
def test_mutation_is_append_only_idempotent_and_complete(case: tuple[BridgePlan, str, dict[str, str]]) -> None:
    bp, ns, before = case
    changes = pod_mutation(before, ns, bp)
    after = {**before, **changes}
    routes_key = rules.provider_key(bp.provider, rules.ROUTES)
    ls_key = rules.provider_key(bp.provider, rules.LOGICAL_SWITCH)
    ps_key = rules.port_security_key(bp.provider)

    # idempotent: mutating the output changes nothing
    assert pod_mutation(after, ns, bp) == {}
    # changes only what it must
    assert set(changes) <= {NETWORKS, routes_key, ls_key, ps_key}
    # append-only
    for key, value in before.items():
        if key == NETWORKS:
            old, new = networks.parse(value), networks.parse(after[key])
            assert new.form == old.form
            assert new.selections[: len(old.selections)] == old.selections
            if old.form == "comma":
                assert after[key].startswith(value.rstrip())
            else:
                assert json.loads(after[key])[: len(json.loads(value))] == json.loads(value)
        elif key == routes_key:
            old_routes, new_routes = routes.parse(value), routes.parse(after[key])
            assert new_routes[: len(old_routes)] == old_routes
            assert after[key].startswith(value.rstrip()[:-1].rstrip())  # the user's text up to its ']'
        else:
            assert after[key] == value
    # complete: Multus attaches the NAD, kube-ovn-cni finds a route for every destination
    refs = {s.ref(ns) for s in networks.parse(after[NETWORKS]).selections}
    assert (bp.nad_namespace, bp.nad_name) in refs
    assert {r.dst for r in bp.routes} <= {r.dst for r in routes.parse(after[routes_key])}
    assert after[ls_key]
    # port security on the attachment: OVN drops frames whose source MAC or IP is not the port's own
    assert rules.port_security_on(after, bp.provider)


def test_a_pod_that_turned_port_security_off_keeps_its_value_and_check_refuses_it() -> None:
    """Append-only: the mutation never rewrites a value; AB305 and the chart's policy refuse the pod instead."""
    bp = PLANS[0]
    key = rules.port_security_key(bp.provider)
    assert key not in pod_mutation({key: "false"}, "ingress-nginx", bp)


def test_pod_in_the_nad_namespace_may_name_it_without_namespace() -> None:
    bp = PLANS[0]
    changes = pod_mutation({NETWORKS: bp.nad_name}, bp.nad_namespace, bp)
    assert NETWORKS not in changes


def test_invalid_existing_values_are_reported_not_rewritten() -> None:
    bp = PLANS[0]
    with pytest.raises(networks.NetworksError):
        pod_mutation({NETWORKS: "a/b/c"}, "ingress-nginx", bp)
    with pytest.raises(routes.RoutesError):
        pod_mutation({rules.provider_key(bp.provider, rules.ROUTES): "{}"}, "ingress-nginx", bp)


# ---- selection -------------------------------------------------------------------------------------------
def selection_bodies() -> list[Body]:
    seed = [b for b in seed_cluster() if (b["kind"], b["metadata"]["name"]) != ("Vpc", "tenant-b")]
    return [
        *seed,
        namespace("tenant-b-extra", labels={"tenant": "other"}),
        *tenant("tenant-c", "tenant-c", "10.0.3.0/24"),
        bridge("tenant-a", "tenant-a", podSelector={"matchLabels": {"app": "ingress"}}),
        bridge("tenant-b", "tenant-b", namespaceSelector={"matchLabels": {"tenant": "tenant-b"}}),
        # tenant-b-extra is in VPC tenant-b (listed by the VPC) but does not match the namespaceSelector
        {
            "apiVersion": "kubeovn.io/v1",
            "kind": "Vpc",
            "metadata": {"name": "tenant-b"},
            "spec": {"namespaces": ["tenant-b", "tenant-b-extra"], "defaultSubnet": "tenant-b-subnet"},
        },
        pod("ingress", "ingress-nginx", labels={"app": "ingress"}),
        pod("other-app", "ingress-nginx", labels={"app": "other"}),
        pod("opted-out", "ingress-nginx", labels={"app": "ingress"}, annotations={"apibridge.dev/inject": " False "}),
        pod("not-opted-out", "ingress-nginx", labels={"app": "ingress"}, annotations={"apibridge.dev/inject": "true"}),
        pod(
            "moved-out",
            "ingress-nginx",
            labels={"app": "ingress"},
            annotations={"ovn.kubernetes.io/logical_switch": "ovn-default"},
        ),
        pod("outside", "default", labels={"app": "ingress"}),
        pod("op", "tenant-b"),
        pod("extra", "tenant-b-extra"),
        pod("no-bridge", "tenant-c", labels={"app": "ingress"}),
    ]


def test_selection() -> None:
    c = cluster(*selection_bodies())
    p = planner.plan(c)
    chosen = {}
    for pd in c.pods:
        bp, changes = mutate_annotations(c, p, pd)
        chosen[pd.meta.name] = (bp.bridge.name if bp else None, bool(changes))
    assert chosen == {
        "ingress": ("tenant-a", True),
        "other-app": (None, False),  # podSelector
        "opted-out": (None, False),  # apibridge.dev/inject: "false"
        "not-opted-out": ("tenant-a", True),
        "moved-out": (None, False),  # its own logical_switch puts it in the default VPC
        "outside": (None, False),  # labels match, but the pod is not in the VPC
        "op": ("tenant-b", True),
        "extra": (None, False),  # namespaceSelector
        "no-bridge": (None, False),  # no bridge for its VPC
    }
    # a bridge never selects a pod of another VPC, whatever its selectors say
    index = BridgeIndex(c, p)
    for pd in c.pods:
        for bp in index.selecting(pd):
            assert c.pod_vpc(pd) == bp.bridge.vpc


# ---- inject ------------------------------------------------------------------------------------------------
WORKLOADS = ["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"]


def inject_case() -> tuple[list[Document], list[Any]]:
    bodies = [
        *seed_cluster(),
        bridge("tenant-a", "tenant-a", podSelector={"matchLabels": {"app": "ingress"}}),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cm", "namespace": "ingress-nginx"},
            "data": {"k": "v"},
        },
        pod("other-app", "ingress-nginx", labels={"app": "other"}),
        pod("ingress", "ingress-nginx", labels={"app": "ingress"}, annotations={"keep": "me"}),
        *[workload(k, f"w-{k.lower()}", "ingress-nginx", labels={"app": "ingress"}) for k in WORKLOADS],
        workload("Deployment", "w-outside", "default", labels={"app": "ingress"}),
    ]
    docs = [Document(b, "in.yaml", i) for i, b in enumerate(bodies)]
    originals = [copy.deepcopy(d.body) for d in docs]
    c = cluster(*bodies)
    out = inject_documents(c, planner.plan(c), docs)
    return docs, [originals, out]


def pod_annotations_at(body: dict[str, Any]) -> dict[str, str]:
    node: Any = body
    for part in TEMPLATE_PATHS[body["kind"]]:
        node = node[part]
    return dict(node["metadata"].get("annotations") or {})


def test_inject_leaves_unselected_documents_untouched() -> None:
    docs, (originals, out) = inject_case()
    assert len(out) == len(docs)
    for doc, before, after in zip(docs, originals, out, strict=True):
        assert doc.body == before  # the input is never modified
        selected = doc.body["metadata"]["name"] in {"ingress", *(f"w-{k.lower()}" for k in WORKLOADS)}
        if not selected:
            assert after is doc.body


@pytest.mark.parametrize("name", ["ingress", *(f"w-{k.lower()}" for k in WORKLOADS)])
def test_inject_mutates_the_pod_template_of_every_workload_kind(name: str) -> None:
    docs, (originals, out) = inject_case()
    i = next(i for i, d in enumerate(docs) if d.body["metadata"]["name"] == name)
    before, after = originals[i], out[i]
    ann = pod_annotations_at(after)
    assert ann[NETWORKS] == "kube-system/apibridge-tenant-a"
    assert rules.provider_key("apibridge-tenant-a.kube-system.ovn", rules.ROUTES) in ann
    if name == "ingress":
        assert ann["keep"] == "me"
    # nothing but the pod (template) annotations changed
    stripped_after, stripped_before = copy.deepcopy(after), copy.deepcopy(before)
    for body in (stripped_after, stripped_before):
        node = body
        for part in TEMPLATE_PATHS[body["kind"]]:
            node = node[part]
        node["metadata"].pop("annotations", None)
    assert stripped_after == stripped_before
    if TEMPLATE_PATHS[after["kind"]]:
        assert after["metadata"] == before["metadata"]  # the workload's own metadata is not the pod's


def test_inject_output_is_a_fixed_point() -> None:
    _, (_, out) = inject_case()
    docs2 = [Document(b, "out.yaml", i) for i, b in enumerate(out)]
    c = cluster(*out)
    again = inject_documents(c, planner.plan(c), docs2)
    assert all(a is d.body for a, d in zip(again, docs2, strict=True))


def test_inject_passes_other_groups_kinds_through() -> None:
    volcano = {
        "apiVersion": "batch.volcano.sh/v1alpha1",
        "kind": "Job",
        "metadata": {"name": "vj", "namespace": "ingress-nginx"},
        "spec": {"tasks": [{"name": "t", "template": {"spec": {"containers": []}}}]},
    }
    bodies = [*seed_cluster(), bridge("tenant-a", "tenant-a"), volcano]
    docs = [Document(b, "in.yaml", i) for i, b in enumerate(bodies)]
    c = cluster(*bodies)
    out = inject_documents(c, planner.plan(c), docs)
    assert out[-1] is volcano


def test_inject_reports_bad_existing_annotations_as_input_errors() -> None:
    bodies = [
        *seed_cluster(),
        bridge("tenant-a", "tenant-a"),
        pod("bad", "ingress-nginx", annotations={NETWORKS: "a/b/c"}),
    ]
    docs = [Document(b, "in.yaml", i) for i, b in enumerate(bodies)]
    c = cluster(*bodies)
    with pytest.raises(InputError) as err:
        inject_documents(c, planner.plan(c), docs)
    assert err.value.location.document == len(bodies) - 1
    assert NETWORKS in (err.value.location.field or "")


def test_bridge_names_give_attachments_multus_and_kube_ovn_accept() -> None:
    """A name that would give an attachment Multus or Kube-OVN rejects is refused up front, naming the field."""
    with pytest.raises(InputError) as err:
        cluster(*seed_cluster(), bridge("my.bridge", "tenant-a"))
    assert err.value.location.field == "metadata.name"
    c = cluster(*seed_cluster(), bridge("my-bridge", "tenant-a"))
    for bp in planner.plan(c).bridges.values():
        assert rules.is_ovn_provider(bp.provider)
        networks.parse(pod_mutation({}, "ingress-nginx", bp)[NETWORKS])


def test_null_routes_annotation_is_replaced_by_the_bridge_routes() -> None:
    bp = PLANS[0]
    key = rules.provider_key(bp.provider, rules.ROUTES)
    changes = pod_mutation({key: "null"}, "ingress-nginx", bp)
    assert {r.dst for r in routes.parse(changes[key])} == {r.dst for r in bp.routes}
    assert pod_mutation({key: changes[key]}, "ingress-nginx", bp).get(key) is None


def test_appended_attachment_never_collides_with_an_interface_the_pod_named() -> None:
    bp = PLANS[0]
    changes = pod_mutation({NETWORKS: "macv@net2"}, "ingress-nginx", bp)
    annotation = networks.parse(changes[NETWORKS])
    names = networks.interface_names(annotation)
    assert len(names) == len(set(names)) == 2
    assert changes[NETWORKS].startswith("macv@net2,")
    # the usual case keeps Multus' positional name and writes no @interface
    plain = pod_mutation({NETWORKS: "macv"}, "ingress-nginx", bp)[NETWORKS]
    assert "@" not in plain and networks.interface_names(networks.parse(plain)) == ["net1", "net2"]
