"""Skimming (issue #13, item 4: "a 50 MB file of ordinary manifests is checked in seconds, not 44 s").

``load_cluster`` leaves the bodies of kinds the model ignores (ConfigMaps, Secrets, …) unbuilt. The guards:
the number of YAML nodes built does not grow with the number of ignored objects (it did: every node of every
ConfigMap was built), the load time grows linearly with the file, and whatever is skimmed, the modelled
objects, the document indexes and every error are those of a full build.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from apibridge.base.errors import InputError
from apibridge.model import load
from apibridge.model.cluster import ignored, load_cluster, unread
from apibridge.model.load import Limits, load_documents, parse_text

CONFIGMAP = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%d, namespace: default}\ndata: {k: v}\n"
SECRET_ITEM = (
    "- apiVersion: v1\n  data:\n    tls.crt: eHh4\n  kind: Secret\n  metadata:\n"
    "    managedFields:\n    - manager: kubectl\n      fieldsV1:\n        f:data: {}\n"
    "    name: s-%d\n    namespace: ns\n  type: Opaque\n"
)
POD = "---\napiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: default}\nspec: {containers: [{name: c}]}\n"
SERVICE_ITEM = (
    "- apiVersion: v1\n  kind: Service\n  metadata:\n    name: kubernetes\n    namespace: default\n"
    "  spec:\n    clusterIP: 10.96.0.1\n    ports:\n    - {name: https, port: 443, protocol: TCP}\n"
)


class NodeCounter:
    """Counts the YAML nodes the loader builds (``_Builder._node`` calls)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = load._Builder._node

        def counted(builder: Any, node: Any, depth: int) -> Any:
            self.count += 1
            return real(builder, node, depth)

        monkeypatch.setattr(load._Builder, "_node", counted)


def configmaps(n: int) -> str:
    return "".join(CONFIGMAP % i for i in range(n)) + POD


def kubectl_list(n: int) -> str:
    return "apiVersion: v1\nitems:\n" + "".join(SECRET_ITEM % i for i in range(n)) + SERVICE_ITEM + "kind: List\n"


@pytest.mark.parametrize("make", [configmaps, kubectl_list], ids=["documents", "kind-List"])
def test_ignored_objects_are_not_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Any) -> None:
    """Nodes built for 100 and for 2,000 ignored objects: the same (before the skim: 20x as many)."""
    counter = NodeCounter(monkeypatch)
    built = []
    for n in (100, 2000):
        path = tmp_path / f"{n}.yaml"
        path.write_text(make(n))
        counter.count = 0
        cluster = load_cluster([str(path)])
        built.append(counter.count)
        assert len(cluster.others) == n
        assert len(cluster.documents) == 1  # the Pod or the Service is built, in full
    assert built[1] <= built[0] + 10, f"nodes built for 100 and 2,000 ignored objects: {built}"


def test_load_time_grows_linearly(tmp_path: Path) -> None:
    """CPU time for a 10x larger file of ConfigMaps at most ~12x (a quadratic step gives 100x)."""
    small, large = tmp_path / "small.yaml", tmp_path / "large.yaml"
    small.write_text(configmaps(5_000))
    large.write_text(configmaps(50_000))

    def cpu(path: Path) -> float:
        best = float("inf")
        for _ in range(2):
            started = time.process_time()
            load_cluster([str(path)])
            best = min(best, time.process_time() - started)
        return best

    cpu(small)  # warm up (imports, regex caches)
    ratio = cpu(large) / cpu(small)
    assert ratio <= 15, f"10x the ConfigMaps took {ratio:.1f}x the CPU time"


def full_and_skimmed(text: str, limits: Limits = load.DEFAULT_LIMITS) -> tuple[list[Any], list[Any]]:
    full = parse_text(text, "f.yaml", limits)
    skimmed = parse_text(text, "f.yaml", limits, skip=ignored)
    return full, skimmed


def same_model(full: list[Any], skimmed: list[Any]) -> None:
    """Same objects at the same indexes; ignored ones may be stubs of their apiVersion and kind."""
    assert [(d.index, d.body.get("apiVersion"), d.body.get("kind")) for d in full] == [
        (d.index, d.body.get("apiVersion"), d.body.get("kind")) for d in skimmed
    ]
    for a, b in zip(full, skimmed, strict=True):
        if not ignored(str(a.body.get("apiVersion")), str(a.body.get("kind"))):
            assert a.body == b.body


def test_a_mixed_stream_reads_as_a_full_build() -> None:
    text = (
        "# a comment before the first document\n"
        + configmaps(3)
        + "---\n---\n# only a comment\n"
        + "---\n"
        + kubectl_list(3)
        + "---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec:\n  a: [1, 2]\n"
        + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: script}\ndata:\n  run.sh: |\n    ls *.yaml\n"
    )
    full, skimmed = full_and_skimmed(text)
    same_model(full, skimmed)
    assert sum(d.body == {"apiVersion": "v1", "kind": "ConfigMap"} for d in skimmed) == 3  # run.sh has "*": built
    assert sum(d.body == {"apiVersion": "v1", "kind": "Secret"} for d in skimmed) == 3
    assert {"apiVersion": "example.com/v1", "kind": "Widget"} in [d.body for d in skimmed]


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param("apiVersion: v1\nkind: Yes\nmetadata: {name: x}\n", id="kind-is-a-bool"),
        pytest.param("apiVersion: v1\nkind: ConfigMap\nkind: Pod\nmetadata: {name: x}\n", id="kind-twice"),
        pytest.param('apiVersion: v1\n"kind": Pod\nx: "a\nkind: ConfigMap"\n', id="quoted-key-and-fake-kind"),
        pytest.param("apiVersion: v1\nx: 'a\nkind: ConfigMap'\nmetadata: {name: x}\n", id="kind-only-in-a-quote"),
        pytest.param("apiVersion: v1\nkind: ConfigMap\n  Pod\nmetadata: {name: x}\n", id="kind-goes-on"),
        pytest.param("apiVersion: v1\nkind: !!str ConfigMap\nmetadata: {name: x}\n", id="tagged"),
        pytest.param("- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: x}\n", id="a-sequence-document"),
        pytest.param("apiVersion: apps/v1\nkind: Service\nmetadata: {name: x}\n", id="served-elsewhere"),
    ],
)
def test_what_could_hide_a_kind_is_built(doc: str) -> None:
    """Each of these is built in full, so it reads (or fails) exactly as without the skim."""
    text = CONFIGMAP % 1 + "---\n" + doc + CONFIGMAP % 2
    try:
        full = parse_text(text, "f.yaml")
    except InputError as exc:
        with pytest.raises(InputError) as skim_exc:
            parse_text(text, "f.yaml", skip=ignored)
        assert str(skim_exc.value) == str(exc)
        return
    skimmed = parse_text(text, "f.yaml", skip=ignored)
    assert [d.body for d in skimmed][1] == [d.body for d in full][1]


# What the builder refuses, as the block value of a key (``data:`` of an ignored ConfigMap, ``status:`` of a
# Deployment): the skim leaves neither unbuilt without the same error
BAD_BLOCKS = [
    pytest.param("\n  a: [unclosed\n", id="syntax"),
    pytest.param("\n  a: &a [1, 2]\n  b: *a\n", id="alias-over-limit"),
    pytest.param("\n  a: " + "[" * 150 + "]" * 150 + "\n", id="deep-flow"),
    pytest.param("\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 150)) + "x\n", id="deep-block"),
    pytest.param("\n  a: !!python/object:os.system x\n", id="unknown-tag"),
    pytest.param("\n  <<: 1\n", id="bad-merge"),
    pytest.param("\n  ? [a]\n  : b\n", id="complex-key"),
]


@pytest.mark.parametrize("block", BAD_BLOCKS)
def test_errors_in_ignored_objects_are_those_of_a_full_build(block: str) -> None:
    text = configmaps(3) + "---\napiVersion: v1\nkind: ConfigMap\ndata:" + block + configmaps(2)
    limits = Limits(max_alias_nodes=2)
    with pytest.raises(InputError) as full:
        parse_text(text, "f.yaml", limits)
    with pytest.raises(InputError) as skimmed:
        parse_text(text, "f.yaml", limits, skip=ignored)
    assert str(skimmed.value) == str(full.value)
    assert "document 5" in str(full.value)


def test_an_error_after_skimmed_documents_names_its_line_and_document() -> None:
    text = configmaps(3) + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: a, name: b}\n" + CONFIGMAP % 9
    with pytest.raises(InputError) as full:
        parse_text(text, "f.yaml")
    with pytest.raises(InputError) as skimmed:
        parse_text(text, "f.yaml", skip=ignored)
    assert str(skimmed.value) == str(full.value)
    assert "line 24" in str(full.value) and "document 5" in str(full.value)


def test_skimmed_list_items_keep_their_file_and_index(tmp_path: Path) -> None:
    """``load_documents`` with the model's skip, as ``check`` reads a file."""
    path = tmp_path / "export.yaml"
    path.write_text(kubectl_list(50))
    docs = load_documents([str(path)], skip=ignored)
    assert len(docs) == 51
    assert {d.source for d in docs} == {str(path)} and {d.index for d in docs} == {0}


# ---- subtrees the model never reads (issue #13 item 4: a realistic export, Deployments and Pods) ---------------
MANAGED = (
    "  managedFields:\n  - apiVersion: apps/v1\n    fieldsType: FieldsV1\n    fieldsV1:\n      f:spec:\n"
    '        f:template:\n          k:{"name":"app"}:\n            .: {}\n    manager: kubectl\n'
)
DEPLOYMENT = (
    "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  labels:\n    app: web\n"
    + MANAGED
    + "  name: web-%d\n  namespace: default\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n"
    "    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: app\n        ports:\n"
    "        - containerPort: 8080\nstatus:\n  conditions:\n  - status: 'True'\n    type: Available\n  replicas: 2\n"
)
NODE = (
    "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: node-1\n"
    + MANAGED
    + "status:\n  addresses:\n  - address: 172.18.0.2\n    type: InternalIP\n"
)


def unread_too(text: str, limits: Limits = load.DEFAULT_LIMITS) -> list[Any]:
    return parse_text(text, "f.yaml", limits, skip=ignored, unread=unread)


def without_unread(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` as the model sees it: without the subtrees ``unread`` names for its kind."""
    out = dict(body)
    for path in unread(str(body.get("apiVersion")), str(body.get("kind"))):
        top, _, sub = path.partition(".")
        if sub and isinstance(out.get(top), dict):
            out[top] = {k: v for k, v in out[top].items() if k != sub}
        elif not sub:
            out.pop(top, None)
    return out


def as_list_items(docs: str) -> str:
    """The same objects as a kubectl ``kind: List``: each document an item, indented by two."""
    items = [d for d in docs.split("---\n") if d.strip()]
    body = "".join("- " + item.replace("\n", "\n  ").rstrip(" ") for item in items)
    return "apiVersion: v1\nitems:\n" + body + "kind: List\n"


@pytest.mark.parametrize("shape", [str, as_list_items], ids=["documents", "kind-List"])
def test_unread_subtrees_are_not_built_and_the_rest_is(shape: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """managedFields of every read kind and status of a Deployment are left unbuilt; a Node's status (its
    addresses) and everything else read as a full build reads them."""
    text = shape("".join(DEPLOYMENT % i for i in range(20)) + NODE)
    full = parse_text(text, "f.yaml")
    counter = NodeCounter(monkeypatch)
    cut = unread_too(text)
    assert [d.index for d in cut] == [d.index for d in full]
    assert [d.body for d in cut] == [without_unread(d.body) for d in full]
    assert "status" in cut[-1].body and "managedFields" not in cut[-1].body["metadata"]  # the Node
    assert "status" not in cut[0].body and "managedFields" not in cut[0].body["metadata"]
    built = counter.count
    counter.count = 0
    parse_text(text, "f.yaml")
    assert built < counter.count * 0.7, (built, counter.count)


def test_a_pod_keeps_its_status() -> None:
    """``PodLike.status_ips`` reads status.podIPs: a Pod's status is built."""
    pod = "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n" + MANAGED + "status:\n  podIPs:\n  - ip: 10.16.0.5\n"
    (doc,) = unread_too(pod)
    assert doc.body["status"] == {"podIPs": [{"ip": "10.16.0.5"}]}
    assert "managedFields" not in doc.body["metadata"]


@pytest.mark.parametrize(
    "status",
    [
        *(pytest.param("status:" + p.values[0], id=p.id) for p in BAD_BLOCKS),
        pytest.param("status: {}\nstatus:\n  a: 1\n", id="status-twice"),
        pytest.param("status:\n  a: 1\nspec: {a: 1}\nspec: {}\n", id="a-key-twice-beside-it"),
    ],
)
def test_errors_in_unread_subtrees_are_those_of_a_full_build(status: str) -> None:
    """What the builder refuses in a subtree it would leave unbuilt, it still refuses there, with the same
    file, document and line (the subtree is built when its text could hide an error)."""
    bad = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n" + status
    for text in (
        configmaps(3) + DEPLOYMENT % 1 + "---\n" + bad + configmaps(2),
        as_list_items(DEPLOYMENT % 1 + "---\n" + bad),
    ):
        limits = Limits(max_alias_nodes=2)
        with pytest.raises(InputError) as full:
            parse_text(text, "f.yaml", limits)
        with pytest.raises(InputError) as cut:
            unread_too(text, limits)
        assert str(cut.value) == str(full.value)


def test_a_finding_on_a_field_beside_an_unread_subtree_is_still_found(tmp_path: Path) -> None:
    """``check`` on a Deployment with managedFields and status: the misplaced annotation (AB043) on the
    workload's own metadata, below managedFields, is still reported with its file and field."""
    deployment = (DEPLOYMENT % 1).replace(
        "  labels:\n    app: web\n",
        "  annotations:\n    k8s.v1.cni.cncf.io/networks: kube-system/x\n  labels:\n    app: web\n",
    )
    path = tmp_path / "export.yaml"
    path.write_text(deployment + DEPLOYMENT % 2)
    cluster = load_cluster([str(path)])
    (workload, _) = cluster.pods
    assert workload.meta.annotations == {"k8s.v1.cni.cncf.io/networks": "kube-system/x"}
    assert "managedFields" not in workload.raw["metadata"] and "status" not in workload.raw
    from apibridge.check.validator import check
    from apibridge.plan.planner import plan

    found = [f for f in check(cluster, plan(cluster)) if f.code == "AB043"]
    assert [(f.obj, f.field) for f in found] == [("Deployment/default/web-1", "metadata.annotations")]


def test_a_list_built_item_by_item_reads_as_a_full_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """A List's items are built one at a time (their nodes do not all live at once); an alias to an anchor in
    another item, which only the whole List resolves, and a depth counted from the List's root still read as
    the full build reads them."""
    items = (
        DEPLOYMENT % 1
        + DEPLOYMENT.replace("replicas: 2", "replicas: &r 2") % 2
        + "---\n"
        + ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  priority: *r\n")
    )
    text = as_list_items(items + "".join(DEPLOYMENT % i for i in range(3, 20)))
    full, cut = parse_text(text, "f.yaml"), unread_too(text)
    assert [d.body for d in cut] == [d.body for d in full]  # item by item it fails: the List is built whole
    assert cut[2].body["spec"] == {"priority": 2}
    plain = as_list_items("".join(DEPLOYMENT % i for i in range(20)))
    assert [d.body for d in unread_too(plain)] == [without_unread(d.body) for d in parse_text(plain, "f.yaml")]
    # a mapping 50 levels below the List's root: too deep for max_depth 50 there (49 below the item's own root)
    deep = "spec:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 48)) + "  " * 48 + "x: 1\n"
    pod = "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: d\n" + deep
    block_configmap = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n  k: v\n"
    near = as_list_items("".join(block_configmap % i for i in range(20)) + pod)
    limits = Limits(max_depth=50)
    assert any(d.body == {"apiVersion": "v1", "kind": "ConfigMap"} for d in unread_too(near.replace("k47:", "x:")))
    with pytest.raises(InputError) as full_error:
        parse_text(near, "f.yaml", limits)
    with pytest.raises(InputError) as cut_error:
        unread_too(near, limits)
    assert str(cut_error.value) == str(full_error.value) and "nested deeper" in str(full_error.value)
