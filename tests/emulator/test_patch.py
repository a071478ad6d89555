"""PATCH by content type: merge (RFC 7386), JSON (RFC 6902 with test ops and ~1), SMP as merge, 415s."""

from __future__ import annotations

from .support import CM, Api, cm

JSON = "application/json-patch+json"


async def test_merge_patch_merges_objects_deletes_nulls_replaces_lists(api: Api) -> None:
    body = {**cm("m", a="1", b="2"), "metadata": {"name": "m", "annotations": {"keep": "1", "drop": "2"}}}
    await api.post(CM, body)
    out = await api.patch(
        f"{CM}/m", {"data": {"a": None, "c": "3"}, "metadata": {"annotations": {"drop": None}, "finalizers": ["x/y"]}}
    )
    assert out.status == 200
    assert out.body["data"] == {"b": "2", "c": "3"}
    assert out.body["metadata"]["annotations"] == {"keep": "1"}
    again = await api.patch(f"{CM}/m", {"metadata": {"finalizers": ["z/w"]}})
    assert again.body["metadata"]["finalizers"] == ["z/w"]  # lists are replaced, not merged
    smp = await api.patch(f"{CM}/m", {"data": {"d": "4"}}, "application/strategic-merge-patch+json")
    assert smp.status == 200 and smp.body["data"]["d"] == "4"


async def test_json_patch_with_escaping_and_test_ops(api: Api) -> None:
    created = (await api.post(CM, {**cm("j"), "metadata": {"name": "j", "annotations": {}}})).body
    rv = created["metadata"]["resourceVersion"]
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "add", "path": "/metadata/annotations/example.com~1role", "value": "edge"},
        {"op": "add", "path": "/metadata/annotations/tilde~0key", "value": "t"},
        {"op": "add", "path": "/data", "value": {"k": "v"}},
    ]
    out = await api.patch(f"{CM}/j", ops, JSON)
    assert out.status == 200, out.body
    assert out.body["metadata"]["annotations"] == {"example.com/role": "edge", "tilde~key": "t"}

    stale = await api.patch(
        f"{CM}/j",
        [{"op": "test", "path": "/metadata/resourceVersion", "value": rv}, {"op": "remove", "path": "/data/k"}],
        JSON,
    )
    assert stale.status == 422 and stale.body["kind"] == "Status" and stale.body["code"] == 422
    missing = await api.patch(f"{CM}/j", [{"op": "remove", "path": "/data/nope"}], JSON)
    assert missing.status == 422
    removed = await api.patch(f"{CM}/j", [{"op": "remove", "path": "/metadata/annotations/example.com~1role"}], JSON)
    assert removed.body["metadata"]["annotations"] == {"tilde~key": "t"}
    not_a_list = await api.patch(f"{CM}/j", {"op": "add"}, JSON)
    assert not_a_list.status == 400


async def test_unsupported_patches_and_missing_objects(api: Api) -> None:
    await api.post(CM, cm("u"))
    apply = await api.patch(f"{CM}/u", {"data": {}}, "application/apply-patch+yaml")
    assert apply.status == 415 and apply.body["reason"] == "UnsupportedMediaType"
    assert (await api.patch(f"{CM}/u", {}, "text/plain")).status == 415
    assert (await api.patch(f"{CM}/ghost", {"data": {"a": "b"}})).status == 404
