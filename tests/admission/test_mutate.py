"""The webhook's decision: same mutation as ``inject``, only for selected pods, idempotent, never a denial."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apibridge.admission.mutate import admit, pod_of
from apibridge.admission.review import read_request
from apibridge.admission.snapshot import Snapshot
from apibridge.kubeovn import rules
from apibridge.model.cluster import Cluster
from apibridge.model.load import Document
from apibridge.plan.mutation import apply_to_body, bridge_for, inject_documents, mutate_annotations

from .support import INGRESS, make_cluster, patch_of, pod, review

NETWORKS = rules.NETWORKS_ANNOTATION
TENANT_A = "apibridge-tenant-a.kube-system.ovn"
TENANT_B = "apibridge-tenant-b.kube-system.ovn"


def decide(snapshot: Snapshot | None, obj: dict[str, Any] | None, **kw: Any) -> tuple[str, dict[str, Any]]:
    outcome = admit(snapshot, review(obj, **kw))
    assert outcome.review is not None
    return outcome.result, outcome.review


def mutated(snapshot: Snapshot, obj: dict[str, Any], namespace: str = "ingress-nginx") -> dict[str, Any]:
    result, answer = decide(snapshot, obj, namespace=namespace)
    assert result == "mutated", answer
    assert answer["response"]["allowed"] is True
    ops = patch_of(answer)
    assert ops
    out: dict[str, Any] = jsonpatch.apply_patch(obj, ops)
    return out


def expected(snapshot: Snapshot, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """What ``inject`` writes for the same pod (the reference behaviour)."""
    named = copy.deepcopy(obj)
    named["metadata"].setdefault("name", "x")
    named["metadata"]["namespace"] = namespace
    doc = Document(named, "test", 0)
    body = inject_documents(snapshot.cluster, snapshot.plan, [doc])[0]
    body["metadata"] = {**obj["metadata"], "annotations": body["metadata"].get("annotations")}
    if "annotations" not in obj["metadata"] and body["metadata"]["annotations"] is None:
        del body["metadata"]["annotations"]
    return body


def test_selected_pod_without_annotations_gets_the_whole_map(snapshot: Snapshot) -> None:
    obj = pod(labels=INGRESS)
    out = mutated(snapshot, obj)
    ann = out["metadata"]["annotations"]
    assert ann[NETWORKS] == "kube-system/apibridge-tenant-a"
    assert ann[f"{TENANT_A}.kubernetes.io/logical_switch"] == "apibridge-tenant-a"
    assert json.loads(ann[f"{TENANT_A}.kubernetes.io/routes"])[0]["dst"] == "10.96.0.1/32"
    assert out == expected(snapshot, obj, "ingress-nginx")


def test_comma_form_is_extended_and_other_annotations_kept(snapshot: Snapshot) -> None:
    obj = pod(labels=INGRESS, annotations={NETWORKS: "macvlan-conf, other/sriov@net5", "team": "edge"})
    out = mutated(snapshot, obj)
    ann = out["metadata"]["annotations"]
    assert ann[NETWORKS] == "macvlan-conf, other/sriov@net5,kube-system/apibridge-tenant-a"
    assert ann["team"] == "edge"
    assert out == expected(snapshot, obj, "ingress-nginx")
    ops = patch_of(admit(snapshot, review(obj)).review or {})
    assert ops is not None
    assert {op["path"] for op in ops} == {
        "/metadata/annotations/k8s.v1.cni.cncf.io~1networks",
        f"/metadata/annotations/{TENANT_A}.kubernetes.io~1logical_switch",
        f"/metadata/annotations/{TENANT_A}.kubernetes.io~1routes",
        f"/metadata/annotations/{TENANT_A}.kubernetes.io~1port_security",
    }
    assert [op["op"] for op in ops] == ["replace", "add", "add", "add"]


def test_json_form_gets_one_more_element(snapshot: Snapshot) -> None:
    value = json.dumps([{"name": "macvlan-conf", "ips": ["10.1.1.5/24"]}])
    obj = pod(labels=INGRESS, annotations={NETWORKS: value})
    out = mutated(snapshot, obj)
    assert json.loads(out["metadata"]["annotations"][NETWORKS]) == [
        {"name": "macvlan-conf", "ips": ["10.1.1.5/24"]},
        {"name": "apibridge-tenant-a", "namespace": "kube-system"},
    ]
    assert out == expected(snapshot, obj, "ingress-nginx")


def test_existing_routes_are_appended_to(snapshot: Snapshot) -> None:
    key = f"{TENANT_A}.kubernetes.io/routes"
    obj = pod(labels=INGRESS, annotations={key: '[{"dst":"192.0.2.0/24","gw":"100.100.225.1"}]'})
    out = mutated(snapshot, obj)
    assert [r["dst"] for r in json.loads(out["metadata"]["annotations"][key])] == ["192.0.2.0/24", "10.96.0.1/32"]
    assert out == expected(snapshot, obj, "ingress-nginx")


def test_generate_name_pod_without_namespace_in_metadata(snapshot: Snapshot) -> None:
    obj = pod(None, name=None, generate_name="ingress-nginx-controller-6d5f-", labels=INGRESS)
    out = mutated(snapshot, obj)
    assert "name" not in out["metadata"] and "namespace" not in out["metadata"]  # we add only annotations
    assert out["metadata"]["annotations"][NETWORKS] == "kube-system/apibridge-tenant-a"


def test_namespace_selector_bridge(snapshot: Snapshot) -> None:
    out = mutated(snapshot, pod("tenant-b"), namespace="tenant-b")
    assert out["metadata"]["annotations"][NETWORKS] == "kube-system/apibridge-tenant-b"
    assert f"{TENANT_B}.kubernetes.io/routes" in out["metadata"]["annotations"]


@pytest.mark.parametrize(
    ("namespace", "labels"),
    [
        ("default", INGRESS),  # the default VPC: no bridge there
        ("ingress-nginx", {"app.kubernetes.io/name": "other"}),  # the pod selector says no
        ("tenant-b-sandbox", {}),  # the VPC has a bridge but its namespace selector says no
        ("never-seen", INGRESS),  # a namespace the snapshot does not know: the default VPC
    ],
)
def test_not_selected_is_allowed_without_patch_or_warning(
    snapshot: Snapshot, namespace: str, labels: dict[str, str]
) -> None:
    result, answer = decide(snapshot, pod(namespace, labels=labels), namespace=namespace)
    assert result == "not_selected"
    assert answer["response"] == {"uid": answer["response"]["uid"], "allowed": True}


@pytest.mark.parametrize("value", ["false", "False", " FALSE "])
def test_opted_out(snapshot: Snapshot, value: str) -> None:
    result, answer = decide(snapshot, pod(labels=INGRESS, annotations={rules.INJECT_ANNOTATION: value}))
    assert result == "opted_out"
    assert patch_of(answer) is None


def test_dry_run_gets_the_same_answer(snapshot: Snapshot) -> None:
    obj = pod(labels=INGRESS)
    wet = admit(snapshot, review(obj, uid="same"))
    dry = admit(snapshot, review(obj, uid="same", dry_run=True))
    assert dry.review == wet.review
    assert dry.dry_run and not wet.dry_run and dry.injected


def test_reinvocation_gives_no_patch(snapshot: Snapshot) -> None:
    for obj in (
        pod(labels=INGRESS),
        pod(labels=INGRESS, annotations={NETWORKS: "a,b", "x": "y"}),
        pod("tenant-b", name=None, generate_name="op-"),
    ):
        ns = obj["metadata"].get("namespace", "ingress-nginx")
        once = mutated(snapshot, obj, namespace=ns)
        result, answer = decide(snapshot, once, namespace=ns)
        assert result == "unchanged"
        assert patch_of(answer) is None


@pytest.mark.parametrize(
    ("annotations", "key"),
    [
        ({NETWORKS: "[not json"}, NETWORKS),
        ({NETWORKS: "Bad_Name"}, NETWORKS),
        ({f"{TENANT_A}.kubernetes.io/routes": '{"dst": 1}'}, f"{TENANT_A}.kubernetes.io/routes"),
    ],
)
def test_unparseable_annotations_are_allowed_with_a_warning(
    snapshot: Snapshot, annotations: dict[str, str], key: str
) -> None:
    result, answer = decide(snapshot, pod(labels=INGRESS, annotations=annotations))
    assert result == "invalid"
    assert patch_of(answer) is None
    (warning,) = answer["response"]["warnings"]
    assert key in warning and warning.startswith("apibridge: ")


@pytest.mark.parametrize(
    ("obj", "kw", "result"),
    [
        (None, {}, "invalid"),  # CREATE without an object
        ({"kind": "Pod"}, {}, "invalid"),  # no metadata
        (pod(labels=INGRESS), {"kind": "Deployment"}, "invalid"),  # wrong kind
        (pod(labels={"app": [1]}), {}, "invalid"),  # type: ignore[dict-item]  # a label that is not a string
        (pod(labels=INGRESS), {"operation": "UPDATE"}, "skipped"),
        (pod(labels=INGRESS), {"operation": "DELETE"}, "skipped"),
    ],
)
def test_unusable_reviews_are_answered_allowed(snapshot: Snapshot, obj: Any, kw: dict[str, Any], result: str) -> None:
    got, answer = decide(snapshot, obj, **kw)
    assert got == result
    assert answer["response"]["allowed"] is True and patch_of(answer) is None
    if result == "invalid":
        assert len(answer["response"]["warnings"]) == 1


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "x",
        1,
        None,
        {},
        {"request": {}},
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"},
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": 7}},
    ],
)
def test_bodies_without_a_uid_are_rejected(snapshot: Snapshot, payload: Any) -> None:
    outcome = admit(snapshot, payload)
    assert outcome.review is None and outcome.result == "rejected" and outcome.error


def test_envelope_with_uid_but_wrong_version_is_answered(snapshot: Snapshot) -> None:
    payload = review(pod(labels=INGRESS), uid="u-1")
    payload["apiVersion"] = "admission.k8s.io/v1beta1"
    outcome = admit(snapshot, payload)
    assert outcome.review is not None and outcome.review["response"]["uid"] == "u-1"
    assert outcome.result == "invalid"


def test_no_snapshot_yet(snapshot: Snapshot) -> None:
    result, answer = decide(None, pod(labels=INGRESS))
    assert result == "not_ready" and patch_of(answer) is None and answer["response"]["warnings"]


def test_warnings_never_name_other_tenants(snapshot: Snapshot) -> None:
    others = {"tenant-b", "apibridge-tenant-b", "tenant-b-sandbox", "tenant-b-subnet", "10.0.2."}
    for obj, ns in [
        (pod(labels=INGRESS, annotations={NETWORKS: "[x"}), "ingress-nginx"),
        (None, "ingress-nginx"),
        (pod(labels=INGRESS), "ingress-nginx"),
    ]:
        answer = admit(snapshot, review(obj, namespace=ns)).review
        assert answer is not None
        text = json.dumps(answer["response"].get("warnings", []))
        assert not any(o in text for o in others)
    for answer in (admit(None, review(pod(labels=INGRESS))).review,):
        assert answer is not None and not any(o in json.dumps(answer) for o in others)


def test_realised_only_waits_for_the_nad_and_subnet() -> None:
    cluster = make_cluster()
    snap = Snapshot.build(cluster, realised_only=True)
    result, answer = decide(snap, pod(labels=INGRESS))
    assert result == "not_ready" and patch_of(answer) is None
    bp = snap.plan.bridges["tenant-a"]
    realised = Cluster.from_documents(
        [*cluster.documents, Document(bp.nad, "controller", 0), Document(bp.subnet, "controller", 1)]
    )
    snap = Snapshot.build(realised, realised_only=True)
    assert decide(snap, pod(labels=INGRESS))[0] == "mutated"


def test_the_original_object_is_not_modified(snapshot: Snapshot) -> None:
    obj = pod(labels=INGRESS, annotations={NETWORKS: "a"})
    payload = review(obj)
    before = copy.deepcopy(payload)
    admit(snapshot, payload)
    assert payload == before


# ---- the per-namespace index agrees with the planner's own bridge_for -------------------------------
_label_values = st.sampled_from(["ingress-nginx", "other", "tenant-b", ""])
_pods = st.builds(
    lambda ns, name_label, tenant, pinned, opt: pod(
        ns,
        labels={k: v for k, v in {"app.kubernetes.io/name": name_label, "tenant": tenant}.items() if v},
        annotations={
            **({"ovn.kubernetes.io/logical_switch": pinned} if pinned else {}),
            **({rules.INJECT_ANNOTATION: opt} if opt else {}),
        },
    ),
    st.sampled_from(["ingress-nginx", "tenant-b", "tenant-b-sandbox", "default", "kube-system", "elsewhere"]),
    _label_values,
    _label_values,
    st.sampled_from(["", "tenant-a-subnet", "tenant-b-subnet", "ovn-default", "missing"]),
    st.sampled_from(["", "false", "true"]),
)


@settings(max_examples=300)
@given(obj=_pods)
def test_index_agrees_with_mutation_bridge_for(snapshot: Snapshot, obj: dict[str, Any]) -> None:
    ns = obj["metadata"]["namespace"]
    req = read_request(review(obj, namespace=ns))
    podlike = pod_of(req)
    ours = snapshot.bridge_for(podlike)
    reference = bridge_for(snapshot.cluster, snapshot.plan, podlike)
    if reference is not None and not snapshot.same_tenant(ns, reference):
        reference = None  # a pin into another tenant's VPC: the webhook names nothing of it (test_answers_*)
    assert (ours.bridge.name if ours else None) == (reference.bridge.name if reference else None)
    _, changes = mutate_annotations(snapshot.cluster, snapshot.plan, podlike)
    if reference is None:
        changes = {}
    outcome = admit(snapshot, review(obj, namespace=ns))
    ops = patch_of(outcome.review or {}) or []
    assert jsonpatch.apply_patch(obj, ops) == apply_to_body(obj, (), changes)


# ---- the webhook's pod reader agrees with the model's parser on what selection reads --------------------
_scalar = st.one_of(
    st.text(max_size=8), st.integers(), st.booleans(), st.none(), st.lists(st.text(max_size=3), max_size=1)
)
_maps = st.one_of(st.none(), st.dictionaries(st.text(min_size=1, max_size=8), _scalar, max_size=3))


@settings(max_examples=300)
@given(labels=_maps, annotations=_maps)
def test_pod_of_reads_labels_and_annotations_like_parse_podlike(labels: Any, annotations: Any) -> None:
    from apibridge.base.errors import InputError
    from apibridge.model.objects import meta_of, parse_podlike

    obj = pod("ingress-nginx", labels=labels, annotations=annotations)
    for key, value in (("labels", labels), ("annotations", annotations)):
        if value is None:
            obj["metadata"].pop(key, None)
    doc = Document(copy.deepcopy(obj), "test", 0)
    try:
        reference = parse_podlike(doc, meta_of(doc))
    except InputError:
        reference = None
    try:
        ours = pod_of(read_request(review(obj)))
    except InputError:
        ours = None
    assert (ours is None) == (reference is None)
    if ours is not None and reference is not None:
        assert (ours.namespace, dict(ours.labels), dict(ours.annotations)) == (
            reference.namespace,
            dict(reference.labels),
            dict(reference.annotations),
        )


_NAMESPACES = st.sampled_from(["ingress-nginx", "tenant-b", "tenant-b-sandbox", "default", "kube-system"])
_LABELS = st.dictionaries(
    st.sampled_from(["app.kubernetes.io/name", "app", "tier"]),
    st.sampled_from(["ingress-nginx", "web", ""]),
    max_size=2,
)
_ANNOTATIONS = st.none() | st.dictionaries(
    st.sampled_from([NETWORKS, rules.INJECT_ANNOTATION, f"{TENANT_A}.kubernetes.io/logical_switch", "x/y"]),
    st.sampled_from(["", "false", "kube-system/apibridge-tenant-a", "other/nad", "[", "apibridge-tenant-a"]),
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(shapes=st.lists(st.tuples(_NAMESPACES, _LABELS, _ANNOTATIONS, st.booleans()), min_size=1, max_size=12))
def test_remembered_decisions_are_the_ones_a_fresh_snapshot_makes(
    snapshot: Snapshot, shapes: list[tuple[str, dict[str, str], dict[str, str] | None, bool]]
) -> None:
    """``Snapshot.decisions`` answers pods of a seen shape from memory: never another answer than deciding anew."""
    fresh = Snapshot.build(snapshot.cluster)
    for namespace, labels, notes, in_metadata in shapes:
        body = review(pod(namespace if in_metadata else None, labels=labels, annotations=notes), namespace=namespace)
        remembered = admit(snapshot, body)  # the session's snapshot has seen many pods
        fresh.decisions.clear()
        assert remembered == admit(fresh, body)
