"""Label and field selectors: the grammar, the matching rules (property-tested against a reference), and HTTP."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apibridge.emulator.selectors import (
    SelectorError,
    matches,
    parse_field_selector,
    parse_label_selector,
    selector_from_object,
)

from .support import CM, PODS, Api, cm, pod

KEYS = ["app", "tier", "example.com/role", "n"]
VALUES = ["a", "b", "web", "1", "10", "2"]
OPS = ["=", "==", "!=", "in", "notin", "exists", "!", ">", "<"]

Req = tuple[str, str, tuple[str, ...]]


def reference(req: Req, labels: dict[str, str]) -> bool:
    """The documented semantics, written independently of the implementation."""
    key, op, values = req
    if op in ("=", "==", "in"):
        return key in labels and labels[key] in values
    if op in ("!=", "notin"):
        return key not in labels or labels[key] not in values
    if op == "exists":
        return key in labels
    if op == "!":
        return key not in labels
    if key not in labels or not labels[key].lstrip("-").isdigit():
        return False
    return int(labels[key]) > int(values[0]) if op == ">" else int(labels[key]) < int(values[0])


def render(req: Req) -> str:
    key, op, values = req
    if op in ("in", "notin"):
        return f"{key} {op} ({', '.join(values)})"
    if op == "exists":
        return key
    if op == "!":
        return f"!{key}"
    return f"{key}{op}{values[0]}"


@st.composite
def requirement(draw: st.DrawFn) -> Req:
    key, op = draw(st.sampled_from(KEYS)), draw(st.sampled_from(OPS))
    if op in ("in", "notin"):
        return key, op, tuple(draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=3, unique=True)))
    if op in (">", "<"):
        return key, op, (str(draw(st.integers(-5, 20))),)
    if op in ("exists", "!"):
        return key, op, ()
    return key, op, (draw(st.sampled_from(VALUES)),)


def random_requirement(rng: random.Random) -> Req:
    key, op = rng.choice(KEYS), rng.choice(OPS)
    if op in ("in", "notin"):
        return key, op, tuple(rng.sample(VALUES, rng.randint(1, 3)))
    if op in (">", "<"):
        return key, op, (str(rng.randint(-5, 20)),)
    return (key, op, ()) if op in ("exists", "!") else (key, op, (rng.choice(VALUES),))


labelsets = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=4)


@given(reqs=st.lists(requirement(), max_size=4), labels=labelsets)
def test_string_selectors_match_like_the_reference(reqs: list[Req], labels: dict[str, str]) -> None:
    selector = parse_label_selector(",".join(render(r) for r in reqs))
    assert matches(selector, labels) == all(reference(r, labels) for r in reqs)


@given(reqs=st.lists(requirement().filter(lambda r: r[1] not in (">", "<")), max_size=4), labels=labelsets)
def test_object_selectors_agree_with_string_selectors(reqs: list[Req], labels: dict[str, str]) -> None:
    op_names = {
        "=": "In",
        "==": "In",
        "in": "In",
        "!=": "NotIn",
        "notin": "NotIn",
        "exists": "Exists",
        "!": "DoesNotExist",
    }
    exprs: list[Any] = []
    for key, op, values in reqs:
        expr: dict[str, Any] = {"key": key, "operator": op_names[op]}
        if values:
            expr["values"] = list(values)
        exprs.append(expr)
    as_object = selector_from_object({"matchExpressions": exprs})
    assert as_object is not None
    assert matches(as_object, labels) == matches(parse_label_selector(",".join(render(r) for r in reqs)), labels)


def test_selector_edge_cases() -> None:
    assert parse_label_selector("") == () and matches((), {})
    assert matches(parse_label_selector("a in (x,)"), {"a": ""})  # an empty value inside the set
    assert matches(parse_label_selector("a="), {"a": ""}) and not matches(parse_label_selector("a="), {})
    assert selector_from_object(None) is None  # null selector: matches nothing (callers check)
    assert matches(selector_from_object({}) or (), {"anything": "x"})
    for bad in ("a in ()", "a in (x", "a b", "-bad=1", "a=b,", "a=b c", "a>x", "a=" + "x" * 64):
        with pytest.raises(SelectorError):
            parse_label_selector(bad)


def test_field_selector_grammar() -> None:
    sel = parse_field_selector(r"metadata.name=a\,b,metadata.namespace!=x")
    assert [(r.field, r.op, r.value) for r in sel] == [("metadata.name", "=", "a,b"), ("metadata.namespace", "!=", "x")]
    with pytest.raises(SelectorError, match=r"field label not supported: spec\.foo"):
        parse_field_selector("spec.foo=1")


async def test_list_filters_by_random_selectors_like_the_reference(api: Api) -> None:
    rng = random.Random(1234)
    objects = {}
    for i in range(12):
        labels = {k: rng.choice(VALUES) for k in rng.sample(KEYS, rng.randint(0, 3))}
        objects[f"sel-{i}"] = labels
        assert (await api.post(CM, cm(f"sel-{i}", labels))).status == 201
    for _ in range(25):
        reqs = [random_requirement(rng) for _ in range(rng.randint(1, 2))]
        text = ",".join(render(r) for r in reqs)
        reply = await api.get(CM, labelSelector=text)
        assert reply.status == 200, (text, reply.body)
        got = {i["metadata"]["name"] for i in reply.body["items"] if i["metadata"]["name"].startswith("sel-")}
        want = {name for name, labels in objects.items() if all(reference(r, labels) for r in reqs)}
        assert got == want, text


async def test_field_selectors_over_http(api: Api) -> None:
    await api.post(CM, cm("f1"))
    await api.post(CM, cm("f2"))
    only = await api.get(CM, fieldSelector="metadata.name=f1")
    assert [i["metadata"]["name"] for i in only.body["items"]] == ["f1"]
    others = await api.get("/api/v1/configmaps", fieldSelector="metadata.namespace!=default")
    assert all(i["metadata"]["namespace"] != "default" for i in others.body["items"]) and others.body["items"]
    await api.post(PODS, pod("fp"))
    pending = await api.get(PODS, fieldSelector="status.phase=Pending")
    assert [i["metadata"]["name"] for i in pending.body["items"]] == ["fp"]
    bad = await api.get(CM, fieldSelector="data.x=1")
    assert bad.status == 400 and bad.body["reason"] == "BadRequest"
    bad_labels = await api.get(CM, labelSelector="a in (")
    assert bad_labels.status == 400
