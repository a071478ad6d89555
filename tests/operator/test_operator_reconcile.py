"""Desired vs. actual, without an API server: what the controller writes, leaves alone and deletes."""

from __future__ import annotations

import copy
from typing import Any

from opkit import applied, bridge, run, with_uid, world

from apibridge.kubeovn import rules
from apibridge.operator import kube
from apibridge.operator.reconcile import desired_object, update_patch
from apibridge.operator.status import READY, VALIDATED, ApplyOutcome, conditions
from apibridge.plan.planner import plan


def test_missing_objects_are_created_with_labels_and_owner() -> None:
    b = with_uid(bridge("tenant-a"))
    d = run(world(b)).bridges["tenant-a"]
    # the Subnet first: if Kube-OVN refuses it, its NAD is not created either (both or neither)
    assert [(w.op, w.kind.kind, w.namespace, w.name) for w in d.writes] == [
        ("create", "Subnet", None, "apibridge-tenant-a"),
        ("create", "NetworkAttachmentDefinition", "kube-system", "apibridge-tenant-a"),
    ]
    assert d.plan is not None
    subnet, nad = (w.body for w in d.writes)
    assert nad == desired_object(d.plan.nad, b) and subnet == desired_object(d.plan.subnet, b)
    assert nad["metadata"]["labels"] == {rules.BRIDGE_LABEL: "tenant-a", rules.MANAGED_BY_LABEL: rules.MANAGED_BY}
    assert nad["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert nad["spec"] == d.plan.nad["spec"]


def test_objects_as_planned_are_left_alone() -> None:
    b = with_uid(bridge("tenant-a"))
    first = run(world(b))
    second = run(world(b, *applied(first, "tenant-a"))).bridges["tenant-a"]
    assert second.writes == []
    assert [v.state for v in second.verdicts] == ["in-sync", "in-sync"]


def test_foreign_object_with_our_name_is_name_taken_and_blocks_the_pair() -> None:
    foreign = {
        "apiVersion": rules.KUBEOVN_API,
        "kind": "Subnet",
        "metadata": {"name": "apibridge-tenant-a", "labels": {rules.BRIDGE_LABEL: "someone"}},
        "spec": {"cidrBlock": "192.168.9.0/24"},
    }
    d = run(world(with_uid(bridge("tenant-a")), foreign))
    decision = d.bridges["tenant-a"]
    assert decision.writes == []  # both or neither: no NAD without its Subnet
    taken = [v for v in decision.verdicts if v.state == "name-taken"]
    assert len(taken) == 1 and "Subnet/apibridge-tenant-a" in taken[0].message and "'someone'" in taken[0].message
    blocked = [v for v in decision.verdicts if v.state == "blocked"]
    assert [v.ref for v in blocked] == ["NetworkAttachmentDefinition/kube-system/apibridge-tenant-a"]
    assert "Subnet/apibridge-tenant-a is in the way" in blocked[0].message
    assert d.orphans == []


def test_update_patch_owns_planned_keys_only() -> None:
    b = with_uid(bridge("tenant-a"))
    first = run(world(b))
    subnet = applied(first, "tenant-a")[1]
    manifest = first.bridges["tenant-a"].plan.subnet  # type: ignore[union-attr]
    assert update_patch(subnet, manifest, b) is None
    subnet["spec"]["enableDHCP"] = True  # someone else's key (Kube-OVN defaulting)
    assert update_patch(subnet, manifest, b) is None
    subnet["spec"]["enableLb"] = False
    subnet["metadata"]["labels"]["extra"] = "kept"
    patch = update_patch(subnet, manifest, b)
    assert patch == {"metadata": {"resourceVersion": "1"}, "spec": {"enableLb": True}}
    # isolation: open -> the planner omits acls -> they must go
    open_manifest = copy.deepcopy(manifest)
    del open_manifest["spec"]["acls"]
    assert update_patch(subnet, open_manifest, b)["spec"] == {"enableLb": True, "acls": None}  # type: ignore[index]


def test_subnet_annotations_for_the_admission_policy_are_kept_in_step() -> None:
    """The admission policy reads a bridge Subnet's VPC subnets: a stale list is patched, others' keys kept."""
    b = with_uid(bridge("tenant-a"))
    first = run(world(b))
    nad = applied(first, "tenant-a")[1]
    manifest = first.bridges["tenant-a"].plan.subnet  # type: ignore[union-attr]
    assert update_patch(nad, manifest, b) is None
    nad["metadata"]["annotations"][rules.VPC_SUBNETS_ANNOTATION] = "someone-elses-subnet"
    nad["metadata"]["annotations"]["example.com/note"] = "kept"
    patch = update_patch(nad, manifest, b)
    want = manifest["metadata"]["annotations"][rules.VPC_SUBNETS_ANNOTATION]
    assert patch == {"metadata": {"resourceVersion": "1", "annotations": {rules.VPC_SUBNETS_ANNOTATION: want}}}


def test_owner_reference_of_an_earlier_incarnation_is_replaced_in_place() -> None:
    old = with_uid(bridge("tenant-a"), uid="old")
    new = with_uid(bridge("tenant-a"), uid="new")
    first = run(world(old))
    nad = applied(first, "tenant-a")[0]
    other = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "cm"}
    nad["metadata"]["ownerReferences"].append(other)
    patch = update_patch(nad, first.bridges["tenant-a"].plan.nad, new)  # type: ignore[union-attr]
    assert patch is not None
    assert [r["uid"] for r in patch["metadata"]["ownerReferences"]] == ["new", "cm"]


def test_terminating_object_waits() -> None:
    b = with_uid(bridge("tenant-a"))
    objs = applied(run(world(b)), "tenant-a")
    objs[1]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    objs[1]["spec"]["cidrBlock"] = "100.100.1.0/24"
    d = run(world(b, *objs)).bridges["tenant-a"]
    assert d.writes == []
    assert [v.state for v in d.verdicts] == ["terminating", "in-sync"]  # Subnet, NAD


def test_orphans_are_ours_by_labels_and_name_and_unwanted() -> None:
    labels = {rules.MANAGED_BY_LABEL: rules.MANAGED_BY}

    def subnet(name: str, owner: str, uid: str = "u") -> dict[str, Any]:
        return {
            "apiVersion": rules.KUBEOVN_API,
            "kind": "Subnet",
            "metadata": {"name": name, "uid": uid, "labels": {**labels, rules.BRIDGE_LABEL: owner}},
            "spec": {"cidrBlock": "100.100.77.0/24"},
        }

    b = with_uid(bridge("tenant-a", nadNamespace="default"))
    stale_nad = {
        "apiVersion": rules.NAD_API,
        "kind": "NetworkAttachmentDefinition",
        "metadata": {
            "name": "apibridge-tenant-a",
            "namespace": "kube-system",
            "uid": "n1",
            "labels": {**labels, rules.BRIDGE_LABEL: "tenant-a"},
        },
        "spec": {"config": "{}"},
    }
    bad = with_uid(bridge("broken", cidrBlock="100.100.5.0/24,100.100.6.0/24"))
    d = run(
        world(
            b,
            bad,
            stale_nad,
            subnet("apibridge-gone", "gone", "g1"),
            subnet("not-our-name", "gone"),
            subnet("apibridge-broken", "broken"),
        )
    )
    deletes = sorted((w.kind.kind, w.namespace, w.name, w.uid) for w in d.orphans)
    assert deletes == [
        ("NetworkAttachmentDefinition", "kube-system", "apibridge-tenant-a", "n1"),
        ("Subnet", None, "apibridge-gone", "g1"),
    ]
    assert d.bridges["broken"].rejected is not None  # exists but cannot be planned: its objects stay
    assert "spec.cidrBlock" in d.bridges["broken"].rejected.message


def test_a_malformed_foreign_object_does_not_stop_the_others() -> None:
    junk = {
        "apiVersion": rules.KUBEOVN_API,
        "kind": "Subnet",
        "metadata": {"name": "junk"},
        "spec": {"cidrBlock": "not-a-cidr"},
    }
    cluster, rejected = kube.build_cluster(world(with_uid(bridge("tenant-a")), junk))
    assert [r.obj for r in rejected] == ["Subnet/junk"]
    assert "not-a-cidr" in rejected[0].message
    assert "tenant-a" in plan(cluster).bridges


def test_validator_errors_belong_to_their_bridge() -> None:
    d = run(world(with_uid(bridge("lost", vpc="nowhere")), with_uid(bridge("tenant-a"), uid="u2")))
    assert [f.code for f in d.bridges["lost"].errors] == ["AB111"]
    assert d.bridges["tenant-a"].errors == []


def test_documents_are_in_a_stable_order() -> None:
    objs = world(with_uid(bridge("tenant-a")))
    assert kube.to_documents(objs) == kube.to_documents(list(reversed(objs)))


def test_slim_keeps_what_the_model_and_controller_read() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "namespace": "n",
            "uid": "u",
            "labels": {"a": "b"},
            "annotations": {"x": "y"},
            "managedFields": [{"big": True}],
            "ownerReferences": [{"kind": "ReplicaSet"}],
        },
        "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
        "status": {"phase": "Running", "podIP": "1"},
    }
    slim = kube.slim(pod)
    assert slim == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "namespace": "n",
            "uid": "u",
            "labels": {"a": "b"},
            "annotations": {"x": "y"},
            "ownerReferences": [{"kind": "ReplicaSet"}],
        },
        "spec": {"nodeName": "n1"},
        "status": {"phase": "Running"},
    }
    changed = copy.deepcopy(pod)
    changed["status"]["podIP"] = "2"
    changed["metadata"]["resourceVersion"] = "99"
    assert kube.fingerprint(kube.slim(changed)) == kube.fingerprint(slim)
    changed["metadata"]["labels"]["a"] = "c"
    assert kube.fingerprint(kube.slim(changed)) != kube.fingerprint(slim)


def test_a_cidr_change_under_pods_in_use_is_refused_not_written() -> None:
    """A live bridge's cidrBlock edited while its Subnet has addresses in use: the operator patched the Subnet
    in place and stayed Ready. Kube-OVN v1.16.2 denies the gateway change that comes with it
    (pkg/webhook/subnet.go SubnetUpdateHook: "can't update gateway of cidr when any IPs in Using")."""
    b = with_uid(bridge("tenant-a", cidrBlock="100.100.7.0/24"))
    subnet, nad = applied(run(world(b)), "tenant-a")[::-1]
    assert subnet["kind"] == "Subnet"
    subnet["status"] = {"v4usingIPs": 3, "v6usingIPs": 0}  # three pods hold addresses on it
    moved = with_uid(bridge("tenant-a", cidrBlock="100.100.9.0/24"), generation=2)
    d = run(world(moved, kube.slim(subnet), kube.slim(nad))).bridges["tenant-a"]
    assert d.writes == [] and not d.valid, d.writes
    (err,) = [f for f in d.errors if f.code == "AB119"]
    assert (err.obj, err.field) == ("ApiBridge/tenant-a", "spec.cidrBlock")
    assert "100.100.7.0/24" in err.message and "addresses in use" in err.message and "v1.16.2" in err.message
    assert "100.100.7.0/24" in err.hint  # the fix: back to the range in use, or free it first
    shown = {c["type"]: c for c in conditions(d, ApplyOutcome(), 2)}  # not green: Ready and Validated say why
    assert shown[READY]["status"] == "False" and shown[VALIDATED]["status"] == "False"
    assert "AB119" in shown[VALIDATED]["message"]
    subnet["status"] = {"v4usingIPs": 0, "v6usingIPs": 0}  # drained: the move is Kube-OVN's to accept
    free = run(world(moved, kube.slim(subnet), kube.slim(nad))).bridges["tenant-a"]
    assert [(w.op, w.kind.kind) for w in free.writes] == [("update", "Subnet")]
