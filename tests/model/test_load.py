"""The loader reads manifests as ``kubectl apply -f`` does and every failure names file and document."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from apibridge.base.errors import InputError
from apibridge.model.load import load_documents, parse_text

from .model_kit import namespace, pod, write_yaml


def names(docs: list) -> list[str]:  # type: ignore[type-arg]
    return [d.body["metadata"]["name"] for d in docs]


def test_multi_document_yaml_skips_empty_documents_and_keeps_indexes(tmp_path: Path) -> None:
    text = (
        "---\n"
        + "\n---\n".join(
            [
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}",
                "",  # empty document
                "# only a comment",
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}",
            ]
        )
        + "\n---\n"
    )
    path = tmp_path / "m.yaml"
    path.write_text(text)
    docs = load_documents([str(path)])
    assert names(docs) == ["a", "b"]
    assert [d.source for d in docs] == [str(path)] * 2
    assert docs[0].index == 0
    assert docs[1].index == 3  # its position in the stream, counting the empty documents
    assert "document 4" in str(docs[1].location())


def test_json_object_and_json_array(tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text(json.dumps(namespace("a"), indent=2))
    many = tmp_path / "many.json"
    many.write_text(json.dumps([namespace("b"), namespace("c")]))
    assert names(load_documents([str(one), str(many)])) == ["a", "b", "c"]


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_kind_list_is_unpacked(tmp_path: Path, fmt: str) -> None:
    body = {"apiVersion": "v1", "kind": "List", "items": [namespace("a"), pod("p", "a")]}
    path = tmp_path / f"list.{fmt}"
    path.write_text(
        json.dumps(body) if fmt == "json" else "---\n" + json.dumps(namespace("z")) + "\n---\n" + json.dumps(body)
    )
    docs = load_documents([str(path)])
    got = names(docs)
    assert got[-2:] == ["a", "p"]
    assert docs[-1].index == docs[-2].index  # items share their List's document index


def test_typed_list_is_unpacked() -> None:
    docs = parse_text(json.dumps({"apiVersion": "v1", "kind": "PodList", "items": [pod("p", "a")]}), "x.json")
    assert [d.body["kind"] for d in docs] == ["Pod"]


def test_empty_list_and_empty_file(tmp_path: Path) -> None:
    assert parse_text('{"apiVersion": "v1", "kind": "List", "items": []}', "x") == []
    assert parse_text("", "x") == []
    assert parse_text("---\n---\n", "x") == []


def test_directories_are_walked_in_order_and_only_manifests_read(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write_yaml(tmp_path / "b.yaml", namespace("b"))
    write_yaml(tmp_path / "a.yml", namespace("a"))
    (tmp_path / "sub" / "c.json").write_text(json.dumps(namespace("c")))
    (tmp_path / "notes.txt").write_text("not: a manifest\n")
    (tmp_path / "README.md").write_text("# hi\n")
    assert names(load_documents([str(tmp_path)])) == ["a", "b", "c"]


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: s\n"))
    docs = load_documents(["-"])
    assert names(docs) == ["s"]
    assert docs[0].source == "-"


# ---- errors: each names the file (and the document where there is one) -----------------------------
def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    with pytest.raises(InputError) as err:
        load_documents([missing])
    assert missing in str(err.value)


def test_malformed_yaml_names_file_document_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n"
    )
    with pytest.raises(InputError) as err:
        load_documents([str(path)])
    text = str(err.value)
    assert str(path) in text
    assert "document 2" in text
    assert "line 9" in text or "line 10" in text  # the problem is at the end of the unclosed flow sequence


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "apiVersion": "v1",\n  "kind": "Namespace"\n  "metadata": {}\n}\n')
    with pytest.raises(InputError) as err:
        load_documents([str(path)])
    assert str(path) in str(err.value)
    assert "line 4" in str(err.value)


def test_items_that_are_not_objects_are_errors() -> None:
    with pytest.raises(InputError) as err:
        parse_text(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: List\nitems: [1]\n",
            "f.yaml",
        )
    assert "f.yaml (document 2, item 1)" in str(err.value)
    with pytest.raises(InputError, match="items"):
        parse_text('{"apiVersion": "v1", "kind": "List", "items": {"a": 1}}', "f.json")
    with pytest.raises(InputError):
        parse_text("just a string\n", "f.yaml")


def test_yaml_flow_style_document_is_yaml() -> None:
    docs = parse_text("{apiVersion: v1, kind: Namespace, metadata: {name: flow}}\n", "flow.yaml")
    assert names(docs) == ["flow"]


def test_a_repeated_key_is_an_error_not_a_lost_object() -> None:
    """Two documents run together without ``---``: kubectl refuses them, and so do we (naming the line)."""
    text = (
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n"
    )
    with pytest.raises(InputError, match=r"line 4 .*duplicate key 'apiVersion'") as err:
        parse_text(text, "two.yaml")
    assert err.value.location.source == "two.yaml"
