"""Kubernetes LabelSelector (``matchLabels`` + ``matchExpressions``) parsing and matching.

One implementation for every place that selects: ApiBridge namespace/pod selectors, the webhook,
the operator. ``None`` selector means "everything" only where the caller says so; an empty
selector ``{}`` matches everything, as in Kubernetes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class SelectorError(ValueError):
    pass


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    @classmethod
    def parse(cls, raw: Any) -> LabelSelector:
        """Parse a LabelSelector mapping; raises ``SelectorError`` with the sub-field at fault."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise SelectorError("must be a mapping with matchLabels and/or matchExpressions")
        reqs: list[Requirement] = []
        match_labels = raw.get("matchLabels") or {}
        if not isinstance(match_labels, Mapping):
            raise SelectorError("matchLabels must be a mapping")
        for key, value in match_labels.items():
            reqs.append(Requirement(str(key), "In", frozenset({str(value)})))
        exprs = raw.get("matchExpressions") or []
        if not isinstance(exprs, list):
            raise SelectorError("matchExpressions must be a list")
        for i, expr in enumerate(exprs):
            if not isinstance(expr, Mapping) or "key" not in expr or "operator" not in expr:
                raise SelectorError(f"matchExpressions[{i}] needs key and operator")
            op = expr["operator"]
            if op not in OPERATORS:
                raise SelectorError(f"matchExpressions[{i}].operator {op!r} is not one of {', '.join(OPERATORS)}")
            values = expr.get("values") or []
            if not isinstance(values, list):
                raise SelectorError(f"matchExpressions[{i}].values must be a list")
            if op in ("In", "NotIn") and not values:
                raise SelectorError(f"matchExpressions[{i}]: operator {op} needs values")
            if op in ("Exists", "DoesNotExist") and values:
                raise SelectorError(f"matchExpressions[{i}]: operator {op} takes no values")
            reqs.append(Requirement(str(expr["key"]), op, frozenset(str(v) for v in values)))
        return cls(tuple(reqs))
