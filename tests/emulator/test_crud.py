"""CRUD over real HTTP: status codes, Status bodies, resourceVersion/generation rules, names, namespaces."""

from __future__ import annotations

from typing import Any

import aiohttp

from apibridge.emulator import Running

from .support import CM, PODS, Api, cm, pod


def rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


async def test_create_get_list_delete_round_trip(api: Api) -> None:
    created = await api.post(CM, cm("a", x="1"))
    assert created.status == 201
    meta = created.body["metadata"]
    assert meta["namespace"] == "default" and meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert created.body["apiVersion"] == "v1" and created.body["kind"] == "ConfigMap"

    got = await api.get(f"{CM}/a")
    assert got.status == 200 and got.body == created.body

    listed = await api.get(CM)
    assert listed.body["kind"] == "ConfigMapList"
    assert int(listed.body["metadata"]["resourceVersion"]) >= rv(created.body)
    assert "a" in [i["metadata"]["name"] for i in listed.body["items"]]
    assert "kind" not in listed.body["items"][0]  # typed lists: apiVersion/kind only on the list

    deleted = await api.delete(f"{CM}/a")
    assert deleted.status == 200
    assert deleted.body["kind"] == "Status" and deleted.body["status"] == "Success"
    assert deleted.body["details"] == {"name": "a", "kind": "configmaps", "uid": meta["uid"]}
    assert (await api.get(f"{CM}/a")).status == 404


async def test_errors_are_status_objects(api: Api) -> None:
    missing = await api.get(f"{CM}/nope")
    assert missing.status == 404
    assert missing.body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'configmaps "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "kind": "configmaps"},
        "code": 404,
    }
    assert (await api.post(CM, cm("dup"))).status == 201
    dup = await api.post(CM, cm("dup"))
    assert (dup.status, dup.body["reason"], dup.body["code"]) == (409, "AlreadyExists", 409)
    assert dup.body["message"] == 'configmaps "dup" already exists'

    grouped = await api.get("/apis/apps/v1/namespaces/default/deployments/nope")
    assert grouped.body["message"] == 'deployments.apps "nope" not found'
    assert grouped.body["details"]["group"] == "apps"

    unknown = await api.get("/apis/nothing.example.com/v1/things")
    assert unknown.status == 404 and unknown.body["message"] == "the server could not find the requested resource"

    no_name = await api.post(CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})
    assert no_name.status == 422 and no_name.body["reason"] == "Invalid"
    assert no_name.body["details"]["causes"][0]["field"] == "metadata.name"

    bad_name = await api.post(CM, cm("Not_Valid"))
    assert bad_name.status == 422 and "metadata.name" in bad_name.body["message"]

    wrong_kind = await api.post(CM, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}})
    assert wrong_kind.status == 400

    other_ns = await api.post(CM, {**cm("x"), "metadata": {"name": "x", "namespace": "kube-system"}})
    assert other_ns.status == 400 and other_ns.body["reason"] == "BadRequest"

    assert (await api.call("POST", f"{CM}/x", cm("x"))).status == 405


async def test_resource_version_is_monotonic_and_stale_writes_conflict(api: Api) -> None:
    first = (await api.post(CM, cm("v", a="1"))).body
    second = (await api.post(CM, cm("w", a="1"))).body
    assert rv(second) > rv(first)

    updated = await api.put(f"{CM}/v", {**first, "data": {"a": "2"}})
    assert updated.status == 200 and rv(updated.body) > rv(second)

    stale = await api.put(f"{CM}/v", {**first, "data": {"a": "3"}})
    assert stale.status == 409 and stale.body["reason"] == "Conflict"
    assert stale.body["message"].startswith(
        'Operation cannot be fulfilled on configmaps "v": the object has been modified'
    )

    pinned_old = {"resourceVersion": first["metadata"]["resourceVersion"]}
    stale_patch = await api.patch(f"{CM}/v", {"metadata": pinned_old, "data": {"a": "4"}})
    assert stale_patch.status == 409

    pinned_new = {"resourceVersion": updated.body["metadata"]["resourceVersion"]}
    fresh_patch = await api.patch(f"{CM}/v", {"metadata": pinned_new, "data": {"a": "5"}})
    assert fresh_patch.status == 200 and fresh_patch.body["data"] == {"a": "5"}

    unconditional = await api.put(f"{CM}/v", {**cm("v", a="6")})  # no resourceVersion: allowed for built-ins
    assert unconditional.status == 200

    # an update that changes nothing writes nothing: same resourceVersion, no event
    same = await api.put(f"{CM}/v", unconditional.body)
    assert same.status == 200 and rv(same.body) == rv(unconditional.body)

    renamed = await api.put(f"{CM}/v", {**unconditional.body, "metadata": {"name": "other"}})
    assert renamed.status == 400
    assert (await api.put(f"{CM}/ghost", cm("ghost"))).status == 404


async def test_system_metadata_is_the_servers(api: Api) -> None:
    created = (await api.post(CM, cm("sys"))).body
    forged = {"uid": "forged", "creationTimestamp": "2000-01-01T00:00:00Z"}
    body = {**created, "metadata": {**created["metadata"], **forged}}
    updated = (await api.put(f"{CM}/sys", body)).body
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert updated["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]

    with_rv = await api.post(CM, {**cm("rv"), "metadata": {"name": "rv", "resourceVersion": "5"}})
    assert with_rv.status == 500 and "resourceVersion should not be set" in with_rv.body["message"]


async def test_generation_moves_on_spec_changes_only(api: Api) -> None:
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }
    path = "/apis/apps/v1/namespaces/default/deployments"
    created = (await api.post(path, deploy)).body
    assert created["metadata"]["generation"] == 1
    assert created["spec"]["replicas"] == 1  # defaulted
    labelled = (await api.patch(f"{path}/d", {"metadata": {"labels": {"x": "y"}}})).body
    assert labelled["metadata"]["generation"] == 1
    status = (await api.patch(f"{path}/d/status", {"status": {"replicas": 3}})).body
    assert status["metadata"]["generation"] == 1 and status["status"] == {"replicas": 3}
    scaled = (await api.patch(f"{path}/d", {"spec": {"replicas": 3}})).body
    assert scaled["metadata"]["generation"] == 2
    # configmaps do not track generation at all
    assert "generation" not in (await api.post(CM, cm("g"))).body["metadata"]


async def test_generate_name_and_dry_run(api: Api) -> None:
    made = await api.post(CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}})
    assert made.status == 201 and made.body["metadata"]["name"].startswith("gen-")
    assert len(made.body["metadata"]["name"]) == len("gen-") + 5

    dry = await api.post(CM, cm("dry"), dryRun="All")
    assert dry.status == 201 and dry.body["metadata"]["uid"]
    assert (await api.get(f"{CM}/dry")).status == 404
    before = (await api.get(CM)).body["metadata"]["resourceVersion"]
    await api.post(CM, cm("dry2"), dryRun="All")
    assert (await api.get(CM)).body["metadata"]["resourceVersion"] == before


async def test_namespaces_gate_creation_and_delete_their_content(api: Api) -> None:
    missing_ns = await api.post("/api/v1/namespaces/nowhere/configmaps", cm("x"))
    assert missing_ns.status == 404 and missing_ns.body["message"] == 'namespaces "nowhere" not found'

    ns = await api.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "t1"}})
    assert ns.status == 201
    assert ns.body["status"]["phase"] == "Active"
    assert ns.body["metadata"]["labels"]["kubernetes.io/metadata.name"] == "t1"
    sa = await api.get("/api/v1/namespaces/t1/serviceaccounts/default")
    assert sa.status == 200
    assert (await api.post("/api/v1/namespaces/t1/configmaps", cm("a"))).status == 201
    held = {**cm("held"), "metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    assert (await api.post("/api/v1/namespaces/t1/configmaps", held)).status == 201

    deleting = await api.delete("/api/v1/namespaces/t1")
    assert deleting.status == 200 and deleting.body["status"]["phase"] == "Terminating"
    assert (await api.get("/api/v1/namespaces/t1/configmaps/a")).status == 404
    refused = await api.post("/api/v1/namespaces/t1/configmaps", cm("late"))
    assert refused.status == 403 and "is being terminated" in refused.body["message"]

    assert (await api.patch("/api/v1/namespaces/t1/configmaps/held", {"metadata": {"finalizers": None}})).status == 200
    assert (await api.get("/api/v1/namespaces/t1")).status == 404


async def test_pods_get_real_defaults_and_a_service_account_volume(api: Api) -> None:
    created = (await api.post(PODS, pod("p"))).body
    spec = created["spec"]
    assert spec["serviceAccountName"] == "default" and spec["restartPolicy"] == "Always"
    assert spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert spec["volumes"][0]["name"].startswith("kube-api-access-")
    assert created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}

    no_sa = pod("q")
    no_sa["spec"]["serviceAccountName"] = "ghost"
    refused = await api.post(PODS, no_sa)
    assert refused.status == 403 and 'serviceaccount "ghost" not found' in refused.body["message"]


async def test_pagination_with_limit_and_continue(api: Api) -> None:
    for i in range(5):
        await api.post(CM, cm(f"page-{i}", {"page": "yes"}))
    names: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params = {"limit": "2", "labelSelector": "page=yes"}
        if token:
            params["continue"] = token
        body = (await api.get(CM, **params)).body
        names += [i["metadata"]["name"] for i in body["items"]]
        pages += 1
        token = body["metadata"].get("continue")
        if not token:
            break
    assert names == [f"page-{i}" for i in range(5)] and pages == 3


async def test_auth_discovery_and_health(running: Running, api: Api) -> None:
    async with aiohttp.ClientSession(running.url) as anonymous:
        async with anonymous.get("/healthz") as resp:
            assert resp.status == 200 and await resp.text() == "ok"
        async with anonymous.get("/version") as resp:
            assert (await resp.json())["gitVersion"].startswith("v1.")
    core = (await api.get("/api/v1")).body
    pods = next(r for r in core["resources"] if r["name"] == "pods")
    assert pods["namespaced"] and pods["kind"] == "Pod" and "watch" in pods["verbs"] and pods["shortNames"] == ["po"]
    assert any(r["name"] == "pods/status" for r in core["resources"])
    groups = {g["name"] for g in (await api.get("/apis")).body["groups"]}
    assert {
        "apps",
        "batch",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "events.k8s.io",
    } <= groups
    assert (await api.get("/apis/apps")).body["preferredVersion"]["groupVersion"] == "apps/v1"
    assert (await api.get("/readyz")).status == 200


async def test_bearer_token_is_required_over_https(tmp_path: Any) -> None:
    from apibridge.emulator import Emulator, serve

    async with serve(Emulator(token="sekret"), self_signed_tls=True) as running:
        assert running.url.startswith("https://") and running.ca_pem
        import ssl

        ctx = ssl.create_default_context(cadata=running.ca_pem)
        async with aiohttp.ClientSession(running.url) as session:
            async with session.get("/api/v1/namespaces", ssl=ctx) as resp:
                assert resp.status == 401 and (await resp.json())["reason"] == "Unauthorized"
            async with session.get("/api/v1/namespaces", ssl=ctx, headers={"Authorization": "Bearer sekret"}) as resp:
                assert resp.status == 200
