"""CRDs: registration and discovery, scope, status subresource, structural schema, and removal."""

from __future__ import annotations

import copy

from .support import WIDGET_CRD, WIDGETS, Api, make_crd, widget

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


async def test_crd_creation_serves_the_resource_and_shows_in_discovery(api: Api) -> None:
    assert (await api.get(WIDGETS)).status == 404
    crd = await make_crd(api)
    assert crd["metadata"]["finalizers"] == ["customresourcecleanup.apiextensions.k8s.io"]
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    groups = (await api.get("/apis")).body["groups"]
    example = next(g for g in groups if g["name"] == "example.com")
    assert example["preferredVersion"] == {"groupVersion": "example.com/v1", "version": "v1"}
    resources = (await api.get("/apis/example.com/v1")).body["resources"]
    main = next(r for r in resources if r["name"] == "widgets")
    assert (main["kind"], main["namespaced"], main["singularName"], main["shortNames"]) == (
        "Widget",
        True,
        "widget",
        ["wd"],
    )
    assert any(r["name"] == "widgets/status" for r in resources)

    made = await api.post(WIDGETS, widget("w1", size=3))
    assert made.status == 201
    assert made.body["metadata"]["generation"] == 1
    assert made.body["spec"] == {"size": 3, "color": "red"}  # schema default
    listed = (await api.get(WIDGETS)).body
    assert listed["kind"] == "WidgetList" and listed["items"][0]["kind"] == "Widget"
    everywhere = (await api.get("/apis/example.com/v1/widgets")).body
    assert [i["metadata"]["name"] for i in everywhere["items"]] == ["w1"]


async def test_custom_resources_follow_their_schema(api: Api) -> None:
    await make_crd(api)
    pruned = await api.post(WIDGETS, widget("p", size=1, unknown="x", extra={"free": {"form": 1}}))
    assert pruned.status == 201
    assert pruned.body["spec"] == {"size": 1, "color": "red", "extra": {"free": {"form": 1}}}
    assert "unknown" not in pruned.body["spec"]

    invalid = await api.post(WIDGETS, widget("bad", size=-1, color="green"))
    assert invalid.status == 422 and invalid.body["reason"] == "Invalid"
    fields = {c["field"] for c in invalid.body["details"]["causes"]}
    assert fields == {"spec.size", "spec.color"}
    assert invalid.body["message"].startswith('Widget.example.com "bad" is invalid: ')
    missing = await api.post(WIDGETS, {**widget("m"), "spec": {}})
    assert missing.status == 422 and missing.body["details"]["causes"][0]["field"] == "spec.size"

    no_kind = await api.post(WIDGETS, {"metadata": {"name": "k"}, "spec": {"size": 1}})
    assert no_kind.status == 400
    unpinned = await api.put(f"{WIDGETS}/p", {**widget("p", size=2)})
    assert unpinned.status == 422  # custom resources need metadata.resourceVersion on update


async def test_status_and_generation_for_custom_resources(api: Api) -> None:
    await make_crd(api)
    made = (await api.post(WIDGETS, {**widget("g", size=1), "status": {"ignored": True}})).body
    assert "status" not in made
    status = (await api.patch(f"{WIDGETS}/g/status", {"status": {"ready": True}})).body
    assert status["status"] == {"ready": True} and status["metadata"]["generation"] == 1
    spec = (await api.patch(f"{WIDGETS}/g", {"spec": {"size": 2}, "status": {"ready": False}})).body
    assert spec["metadata"]["generation"] == 2 and spec["status"] == {"ready": True}
    annotated = (await api.patch(f"{WIDGETS}/g", {"metadata": {"annotations": {"a": "b"}}})).body
    assert annotated["metadata"]["generation"] == 2

    no_status = copy.deepcopy(WIDGET_CRD)
    no_status["metadata"]["name"] = "gadgets.example.com"
    no_status["spec"]["names"] = {"plural": "gadgets", "kind": "Gadget"}
    no_status["spec"]["scope"] = "Cluster"
    del no_status["spec"]["versions"][0]["subresources"]
    await make_crd(api, no_status)
    gadgets = "/apis/example.com/v1/gadgets"
    created = (
        await api.post(
            gadgets,
            {
                "apiVersion": "example.com/v1",
                "kind": "Gadget",
                "metadata": {"name": "c"},
                "spec": {"size": 1},
                "status": {"a": 1},
            },
        )
    ).body
    assert created["status"] == {"a": 1} and "namespace" not in created["metadata"]
    bumped = (await api.patch(f"{gadgets}/c", {"status": {"a": 2}})).body
    assert bumped["metadata"]["generation"] == 2  # without a status subresource, status is just data
    assert (await api.patch(f"{gadgets}/c/status", {"status": {}})).status == 404
    assert (await api.get("/apis/example.com/v1/namespaces/default/gadgets")).status == 404


async def test_deleting_a_crd_deletes_its_objects_then_stops_serving(api: Api) -> None:
    await make_crd(api)
    await api.post(WIDGETS, widget("keep", size=1))
    held = widget("held", size=1)
    held["metadata"]["finalizers"] = ["example.com/hold"]
    await api.post(WIDGETS, held)
    deleting = await api.delete(f"{CRDS}/widgets.example.com")
    assert deleting.status == 200 and deleting.body["metadata"]["deletionTimestamp"]
    assert (await api.get(f"{WIDGETS}/keep")).status == 404
    assert (await api.get(f"{WIDGETS}/held")).body["metadata"]["deletionTimestamp"]
    refused = await api.post(WIDGETS, widget("late"))
    assert refused.status == 405
    await api.patch(f"{WIDGETS}/held", {"metadata": {"finalizers": None}})
    assert (await api.get(f"{CRDS}/widgets.example.com")).status == 404
    assert (await api.get(WIDGETS)).status == 404
    assert "example.com" not in {g["name"] for g in (await api.get("/apis")).body["groups"]}
    assert (await api.get("/apis/example.com/v1")).status == 404


async def test_invalid_crds_are_rejected(api: Api) -> None:
    bad = copy.deepcopy(WIDGET_CRD)
    bad["metadata"]["name"] = "wrong.example.com"
    reply = await api.post(CRDS, bad)
    assert reply.status == 422 and reply.body["details"]["causes"][0]["field"] == "metadata.name"
    no_schema = copy.deepcopy(WIDGET_CRD)
    del no_schema["spec"]["versions"][0]["schema"]
    assert (await api.post(CRDS, no_schema)).status == 422


async def test_multiple_versions_share_storage(api: Api) -> None:
    crd = copy.deepcopy(WIDGET_CRD)
    v1beta1 = copy.deepcopy(crd["spec"]["versions"][0])
    v1beta1.update(name="v1beta1", storage=False)
    crd["spec"]["versions"].append(v1beta1)
    await make_crd(api, crd)
    await api.post(WIDGETS, widget("mv", size=1))
    old = (await api.get("/apis/example.com/v1beta1/namespaces/default/widgets/mv")).body
    assert old["apiVersion"] == "example.com/v1beta1" and old["spec"]["size"] == 1
    group = (await api.get("/apis/example.com")).body
    assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1"]


async def test_field_validation_reports_pruned_fields(api: Api) -> None:
    await make_crd(api)
    warned = await api.post(WIDGETS, widget("fv", size=1, bogus=1))
    assert warned.status == 201 and warned.headers.getall("Warning") == ['299 - "unknown field \\"spec.bogus\\""']
    strict = await api.post(WIDGETS, widget("fv2", size=1, bogus=1), fieldValidation="Strict")
    assert strict.status == 400
    assert strict.body["message"] == (
        'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.bogus"'
    )
    ignored = await api.post(WIDGETS, widget("fv3", size=1, bogus=1), fieldValidation="Ignore")
    assert ignored.status == 201 and "Warning" not in ignored.headers
    assert (await api.post(WIDGETS, widget("fv4"), fieldValidation="Loud")).status == 400


async def test_an_unchanged_crd_is_not_rewritten(api: Api) -> None:
    crd = await make_crd(api)
    again = await api.put(f"{CRDS}/widgets.example.com", crd)
    assert again.status == 200
    assert again.body["metadata"]["resourceVersion"] == crd["metadata"]["resourceVersion"]
