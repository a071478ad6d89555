"""LabelSelector matches exactly as Kubernetes' ``metav1.LabelSelectorAsSelector`` does.

Checked against a small independent reference written from the Kubernetes API documentation:
all requirements are ANDed; ``In`` needs the key with one of the values; ``NotIn`` matches when the
key is absent or has another value; ``Exists``/``DoesNotExist`` look at the key only; ``{}`` matches
everything.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apibridge.model.selectors import LabelSelector, SelectorError

FAST = settings(max_examples=200, deadline=None)

KEYS = st.sampled_from(["app", "tier", "tenant", "kubernetes.io/metadata.name"])
VALUES = st.sampled_from(["a", "b", "c", ""])
LABELS = st.dictionaries(KEYS, VALUES, max_size=4)


@st.composite
def expressions(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]))
    expr: dict[str, Any] = {"key": draw(KEYS), "operator": op}
    if op in ("In", "NotIn"):
        expr["values"] = draw(st.lists(VALUES, min_size=1, max_size=3))
    return expr


SELECTORS = st.fixed_dictionaries(
    {},
    optional={
        "matchLabels": st.dictionaries(KEYS, VALUES, max_size=3),
        "matchExpressions": st.lists(expressions(), max_size=3),
    },
)


def reference_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], set(expr.get("values") or [])
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[op]
        if not ok:
            return False
    return True


@FAST
@given(SELECTORS, LABELS)
def test_matches_like_kubernetes(selector: dict[str, Any], labels: dict[str, str]) -> None:
    assert LabelSelector.parse(selector).matches(labels) is reference_matches(selector, labels)


@FAST
@given(LABELS)
def test_empty_selector_matches_everything(labels: dict[str, str]) -> None:
    assert LabelSelector.parse({}).matches(labels)
    assert LabelSelector.parse(None).matches(labels)
    assert LabelSelector().matches(labels)


@pytest.mark.parametrize(
    "raw",
    [
        "app=a",
        {"matchLabels": ["app", "a"]},
        {"matchExpressions": {"key": "app"}},
        {"matchExpressions": [{"operator": "Exists"}]},
        {"matchExpressions": [{"key": "app"}]},
        {"matchExpressions": [{"key": "app", "operator": "Equals", "values": ["a"]}]},
        {"matchExpressions": [{"key": "app", "operator": "In"}]},
        {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": []}]},
        {"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["a"]}]},
        {"matchExpressions": [{"key": "app", "operator": "In", "values": "a"}]},
    ],
)
def test_invalid_selectors_are_errors(raw: Any) -> None:
    with pytest.raises(SelectorError):
        LabelSelector.parse(raw)
