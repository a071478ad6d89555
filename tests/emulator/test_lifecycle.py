"""The status subresource, finalizers with deletionTimestamp, and ownerReference garbage collection."""

from __future__ import annotations

from typing import Any

from .support import CM, PODS, Api, cm, pod

DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"


async def test_status_subresource_splits_spec_from_status(api: Api) -> None:
    created = (await api.post(PODS, {**pod("s"), "status": {"phase": "Running"}})).body
    assert created["status"]["phase"] == "Pending"  # status is not writable on create

    via_main = await api.patch(f"{PODS}/s", {"status": {"phase": "Running"}, "metadata": {"labels": {"a": "b"}}})
    assert via_main.body["status"]["phase"] == "Pending" and via_main.body["metadata"]["labels"] == {"a": "b"}

    via_status = await api.patch(
        f"{PODS}/s/status", {"status": {"phase": "Running"}, "metadata": {"labels": {"c": "d"}}}
    )
    assert via_status.status == 200
    assert via_status.body["status"]["phase"] == "Running"
    assert via_status.body["metadata"]["labels"] == {"a": "b"}  # /status ignores everything but status

    put_status = await api.put(
        f"{PODS}/s/status", {**via_status.body, "spec": {"containers": []}, "status": {"phase": "Succeeded"}}
    )
    assert put_status.status == 200 and put_status.body["status"]["phase"] == "Succeeded"
    assert put_status.body["spec"]["containers"][0]["name"] == "c"
    assert (await api.get(f"{PODS}/s/status")).body["status"]["phase"] == "Succeeded"
    assert (await api.patch(f"{CM}/x/status", {"status": {}})).status == 404  # configmaps have no status


async def test_finalizers_hold_deletion_until_removed(api: Api) -> None:
    body = {**cm("fin"), "metadata": {"name": "fin", "finalizers": ["example.com/a", "example.com/b"]}}
    created = (await api.post(CM, body)).body
    marked = await api.delete(f"{CM}/fin")
    assert marked.status == 200
    assert marked.body["metadata"]["deletionTimestamp"] and marked.body["metadata"]["deletionGracePeriodSeconds"] == 0
    assert int(marked.body["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    again = await api.delete(f"{CM}/fin")
    assert again.body["metadata"]["resourceVersion"] == marked.body["metadata"]["resourceVersion"]  # no change

    adding = await api.patch(f"{CM}/fin", {"metadata": {"finalizers": ["example.com/a", "example.com/b", "new/c"]}})
    assert adding.status == 422 and "no new finalizers" in adding.body["message"]

    one_left = await api.patch(f"{CM}/fin", {"metadata": {"finalizers": ["example.com/b"]}})
    assert one_left.status == 200 and (await api.get(f"{CM}/fin")).status == 200
    rv = one_left.body["metadata"]["resourceVersion"]
    gone = await api.patch(f"{CM}/fin", {"metadata": {"finalizers": []}})
    assert gone.status == 200
    assert (await api.get(f"{CM}/fin")).status == 404
    events = await api.watch(CM, resourceVersion=rv, timeoutSeconds="3", until=lambda ev: bool(ev))
    assert [e["type"] for e in events] == ["DELETED"]  # removing the last finalizer deletes; no MODIFIED first


async def test_generation_bumps_when_marked_for_deletion(api: Api) -> None:
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "gd", "finalizers": ["example.com/hold"]},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}}},
    }
    await api.post(DEPLOYS, deploy)
    marked = await api.delete(f"{DEPLOYS}/gd")
    assert marked.body["metadata"]["generation"] == 2


def owned_by(owner: dict[str, Any], name: str) -> dict[str, Any]:
    obj = cm(name)
    obj["metadata"]["ownerReferences"] = [
        {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
        }
    ]
    return obj


async def test_background_garbage_collection_follows_owner_references(api: Api) -> None:
    owner = (await api.post(CM, cm("owner"))).body
    other = (await api.post(CM, cm("other-owner"))).body
    await api.post(CM, owned_by(owner, "child"))
    grandchild = owned_by((await api.get(f"{CM}/child")).body, "grandchild")
    await api.post(CM, grandchild)
    shared = owned_by(owner, "shared")
    shared["metadata"]["ownerReferences"] += owned_by(other, "x")["metadata"]["ownerReferences"]
    await api.post(CM, shared)
    held = owned_by(owner, "held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    await api.post(CM, held)

    assert (await api.delete(f"{CM}/owner")).status == 200
    assert (await api.get(f"{CM}/child")).status == 404
    assert (await api.get(f"{CM}/grandchild")).status == 404
    survivor = (await api.get(f"{CM}/shared")).body
    assert [r["name"] for r in survivor["metadata"]["ownerReferences"]] == ["other-owner"]
    assert (await api.get(f"{CM}/held")).body["metadata"]["deletionTimestamp"]


async def test_orphan_propagation_keeps_dependents(api: Api) -> None:
    owner = (await api.post(CM, cm("o2"))).body
    await api.post(CM, owned_by(owner, "kept"))
    await api.delete(f"{CM}/o2", {"propagationPolicy": "Orphan"})
    kept = (await api.get(f"{CM}/kept")).body
    assert "ownerReferences" not in kept["metadata"]
    bad = await api.delete(f"{CM}/kept", {"propagationPolicy": "Sometimes"})
    assert bad.status == 400


async def test_delete_preconditions_and_collections(api: Api) -> None:
    created = (await api.post(CM, cm("pre"))).body
    wrong = await api.delete(f"{CM}/pre", {"preconditions": {"uid": "nope"}})
    assert wrong.status == 409 and "Precondition failed" in wrong.body["message"]
    right = await api.delete(f"{CM}/pre", {"preconditions": {"uid": created["metadata"]["uid"]}})
    assert right.status == 200
    for i in range(3):
        await api.post(CM, cm(f"col-{i}", {"batch": "1"}))
    await api.post(CM, cm("col-x", {"batch": "2"}))
    result = await api.delete(CM, labelSelector="batch=1")
    assert result.status == 200 and len(result.body["items"]) == 3
    left = (await api.get(CM, labelSelector="batch")).body["items"]
    assert [i["metadata"]["name"] for i in left] == ["col-x"]
    pod_deleted = await api.post(PODS, pod("pd"))
    assert pod_deleted.status == 201
    returned = await api.delete(f"{PODS}/pd")
    assert returned.body["kind"] == "Pod"  # pods (and custom resources) answer with the object
