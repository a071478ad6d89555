"""Label and field selectors with kube-apiserver's grammar and matching rules.

Selectors are where an emulator most easily lies: ``!=`` and ``notin`` *match objects that lack the label*,
``in`` does not; a field selector on an unsupported field is a 400, not an empty list. Both the string form
(``?labelSelector=``) and the object form (``namespaceSelector``/``objectSelector`` in webhooks) parse into
the same ``LabelSelectorReq`` tuples, so list, watch and admission filtering share one implementation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from apibridge.emulator.wire import LabelSelector

Op = Literal["=", "!=", "in", "notin", "exists", "!", "gt", "lt"]

_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class SelectorError(ValueError):
    """The selector text cannot be parsed; the server answers 400 BadRequest with this message."""


def valid_label_key(key: str) -> bool:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _SUBDOMAIN_RE.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_NAME_RE.match(name))


def valid_label_value(value: str) -> bool:
    return value == "" or (len(value) <= 63 and bool(_NAME_RE.match(value)))


@dataclass(frozen=True)
class LabelSelectorReq:
    """One requirement of a label selector; a selector is the AND of its requirements."""

    key: str
    op: Op
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        # gt / lt: both sides must be integers
        if value is None:
            return False
        try:
            have, want = int(value), int(next(iter(self.values)))
        except ValueError:
            return False
        return have > want if self.op == "gt" else have < want


Selector = tuple[LabelSelectorReq, ...]


def matches(selector: Selector, labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    return all(req.matches(labels) for req in selector)


_TOKEN_RE = re.compile(r"\s*(!=|==|=|!|\(|\)|,|>|<|[^\s!=(),<>]+)")


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN_RE.match(text, pos)
        if not m:  # pragma: no cover - the pattern accepts every non-space character
            raise SelectorError(f"unable to parse requirement: unexpected character at {pos} in {text!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


def _check(key: str, values: Sequence[str], op: Op) -> LabelSelectorReq:
    if not valid_label_key(key):
        raise SelectorError(
            f"unable to parse requirement: values[0][{key}]: Invalid value: {key!r}: name part must consist of "
            "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        )
    for value in values:
        if op in ("gt", "lt"):
            try:
                int(value)
            except ValueError:
                raise SelectorError(
                    f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer: {value!r}"
                ) from None
        elif not valid_label_value(value):
            raise SelectorError(
                f"unable to parse requirement: values[0][{key}]: Invalid value: {value!r}: a valid label must be an "
                "empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                "alphanumeric character"
            )
    return LabelSelectorReq(key, op, frozenset(values))


def parse_label_selector(text: str | None) -> Selector:
    """Parse ``?labelSelector=`` text: ``a=b,c!=d,e in (x,y),f notin (z),g,!h,n>3``."""
    if not text or not text.strip():
        return ()
    toks = _tokens(text)
    reqs: list[LabelSelectorReq] = []
    i = 0

    def take() -> str:
        nonlocal i
        if i >= len(toks):
            raise SelectorError(f"unable to parse requirement: found '', expected: identifier in {text!r}")
        tok = toks[i]
        i += 1
        return tok

    while i < len(toks):
        tok = take()
        if tok == "!":
            reqs.append(_check(take(), (), "!"))
        else:
            key = tok
            nxt = toks[i] if i < len(toks) else ","
            if nxt == ",":
                reqs.append(_check(key, (), "exists"))
            elif nxt in ("=", "==", "!="):
                i += 1
                value = toks[i] if i < len(toks) and toks[i] != "," else ""
                if value:
                    i += 1
                reqs.append(_check(key, (value,), "!=" if nxt == "!=" else "="))
            elif nxt in (">", "<"):
                i += 1
                reqs.append(_check(key, (take(),), "gt" if nxt == ">" else "lt"))
            elif nxt in ("in", "notin"):
                i += 1
                if take() != "(":
                    raise SelectorError(f"unable to parse requirement: found '{toks[i - 1]}', expected: '('")
                vals: list[str] = []
                if i < len(toks) and toks[i] != ")":
                    vals.append("")
                    while (t := take()) != ")":
                        if t == ",":
                            vals.append("")
                        elif vals[-1]:
                            raise SelectorError(f"unable to parse requirement: found '{t}', expected: ',' or ')'")
                        else:
                            vals[-1] = t
                else:
                    take()
                if not vals:
                    raise SelectorError(
                        "unable to parse requirement: for 'in', 'notin' operators, values set can't be empty"
                    )
                reqs.append(_check(key, vals, "in" if nxt == "in" else "notin"))
            else:
                raise SelectorError(
                    f"unable to parse requirement: found '{nxt}', expected: in, notin, =, ==, !=, gt, lt"
                )
        if i < len(toks):
            if toks[i] != ",":
                raise SelectorError(f"unable to parse requirement: found '{toks[i]}', expected: ','")
            i += 1
            if i >= len(toks):
                raise SelectorError(f"unable to parse requirement: found '', expected: identifier in {text!r}")
    return tuple(reqs)


def selector_from_object(obj: LabelSelector | None) -> Selector | None:
    """``metav1.LabelSelector`` → requirements. ``None`` (null selector) matches nothing; ``{}`` matches all."""
    if obj is None:
        return None
    reqs = [_check(k, (v,), "=") for k, v in sorted((obj.get("matchLabels") or {}).items())]
    for expr in obj.get("matchExpressions") or []:
        op = expr.get("operator")
        values = list(expr.get("values") or [])
        if op == "In":
            reqs.append(_check(expr["key"], values, "in"))
        elif op == "NotIn":
            reqs.append(_check(expr["key"], values, "notin"))
        elif op == "Exists":
            reqs.append(_check(expr["key"], (), "exists"))
        elif op == "DoesNotExist":
            reqs.append(_check(expr["key"], (), "!"))
        else:
            raise SelectorError(f"{op!r} is not a valid label selector operator")
    return tuple(reqs)


# ---------------------------------------------------------------- field selectors

FieldOp = Literal["=", "!="]


@dataclass(frozen=True)
class FieldReq:
    field: str
    op: FieldOp
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        have = field_value(obj, self.field)
        return (have == self.value) if self.op == "=" else (have != self.value)


FieldSelector = tuple[FieldReq, ...]
ALWAYS_FIELDS = ("metadata.name", "metadata.namespace")


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string a field selector compares against: missing → ``""``, booleans → ``"true"``/``"false"``."""
    if path == "source":  # core/v1 Event: "source" means source.component
        path = "source.component"
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return ""
        cur = cur[part]
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return "" if cur is None else str(cur)


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, cur, escaped = [], "", False
    for ch in text:
        if escaped:
            cur += "\\" + ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur + ("\\" if escaped else ""))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_field_selector(text: str | None, supported: Sequence[str] = ALWAYS_FIELDS) -> FieldSelector:
    """Parse ``?fieldSelector=``; fields outside ``supported`` are a 400, as on a real server."""
    if not text or not text.strip():
        return ()
    reqs: list[FieldReq] = []
    for term in _split_unescaped(text, ","):
        if not term.strip():
            continue
        m = re.match(r"^((?:[^\\=!]|\\.)*)(!=|==|=)(.*)$", term)
        if not m:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        key, op, value = m.group(1).strip(), m.group(2), _unescape(m.group(3))
        if key not in supported:
            raise SelectorError(f"field label not supported: {key}")
        reqs.append(FieldReq(key, "!=" if op == "!=" else "=", value))
    return tuple(reqs)


def fields_match(selector: FieldSelector, obj: Mapping[str, Any]) -> bool:
    return all(req.matches(obj) for req in selector)
