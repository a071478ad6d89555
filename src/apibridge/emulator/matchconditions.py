"""Admission webhooks' ``matchConditions``: CEL expressions evaluated the way kube-apiserver does (KEP-3716).

A webhook with ``matchConditions`` is called only if every condition is ``true`` for the request. Our chart
uses one to keep opted-out pods from ever reaching the webhook, so an emulator that ignored them would call
the webhook where a real cluster does not. This module compiles conditions (with ``celpy``, a pure-Python
CEL) and evaluates them over kube-apiserver's variables: ``object``, ``oldObject`` (``null`` on CREATE, and
``object`` is ``null`` on DELETE), ``request`` (the AdmissionRequest without ``object``/``oldObject``).

The rules follow ``matchconditions/matcher.go``: every condition is evaluated; if any is ``false`` the webhook
is skipped (whatever the others did); otherwise, if any failed with an error, ``failurePolicy`` decides —
``Fail`` rejects the request (403, ``expression '…' resulted in error: …``), ``Ignore`` skips the webhook.
Any result other than ``false`` or an error counts as a match, as in kube-apiserver (whose type checker
lets a ``dyn`` result through).

Differences from kube-apiserver: there is no type checker, so an unknown field or function is an evaluation
error (subject to ``failurePolicy``) instead of a rejected configuration; ``authorizer`` is not supported
(an expression naming it fails to evaluate); no cost budget. Of Kubernetes' CEL libraries, the strings
extension (``trim``, ``lowerAscii``, ``split`` …), the regex ``find``/``findAll`` and the lists
``indexOf``/``lastIndexOf``/``isSorted``/``sum`` are provided; URL, IP/CIDR, quantity and semver are not.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError, bool_eq

from apibridge.emulator.errors import list_item_name_causes
from apibridge.emulator.wire import Obj, StatusCause

log = logging.getLogger(__name__)

MAX_CONDITIONS = 64
UNSUPPORTED_VARIABLES = ("authorizer",)
_ENV = celpy.Environment()
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


# ------------------------------------------------------------------------------------------ Kubernetes' CEL libraries


def _error(message: str) -> CELEvalError:
    return CELEvalError(message)


def _char_at(s: str, i: int) -> Any:
    if not 0 <= i <= len(s):
        return _error(f"index out of range: {i}")
    return celtypes.StringType(s[i : i + 1])


def _index_of(target: Any, item: Any, offset: int = 0) -> Any:
    if isinstance(target, list):
        return celtypes.IntType(target.index(item) if item in target else -1)
    if not 0 <= offset <= len(target):
        return _error(f"index out of range: {offset}")
    return celtypes.IntType(str(target).find(str(item), offset))


def _last_index_of(target: Any, item: Any, offset: int | None = None) -> Any:
    if isinstance(target, list):
        found = [i for i, v in enumerate(target) if v == item]
        return celtypes.IntType(found[-1] if found else -1)
    end = len(target) if offset is None else offset
    if not 0 <= end <= len(target):
        return _error(f"index out of range: {offset}")
    return celtypes.IntType(str(target).rfind(str(item), 0, end + len(item)))


def _ascii(convert: Callable[[str], str]) -> Callable[[str], celtypes.StringType]:
    return lambda s: celtypes.StringType("".join(convert(c) if c.isascii() else c for c in s))


def _replace(s: str, old: str, new: str, n: int = -1) -> celtypes.StringType:
    return celtypes.StringType(s.replace(old, new, n if n >= 0 else -1))


def _split(s: str, sep: str, n: int = -1) -> celtypes.ListType:
    if n == 0:
        return celtypes.ListType()
    parts = (list(s) if s else []) if sep == "" else s.split(sep, n - 1 if n > 0 else -1)
    if sep == "" and n > 0 and len(parts) > n:
        parts = [*parts[: n - 1], "".join(parts[n - 1 :])]
    return celtypes.ListType(celtypes.StringType(p) for p in parts)


def _substring(s: str, start: int, end: int | None = None) -> Any:
    end = len(s) if end is None else end
    if not 0 <= start <= end <= len(s):
        return _error(f"index out of range: {start}, {end}")
    return celtypes.StringType(s[start:end])


def _join(items: Sequence[Any], sep: str = "") -> celtypes.StringType:
    return celtypes.StringType(sep.join(str(i) for i in items))


def _find(s: str, pattern: str) -> celtypes.StringType:
    match = re.search(pattern, s)
    return celtypes.StringType(match.group(0) if match else "")


def _find_all(s: str, pattern: str, n: int = -1) -> celtypes.ListType:
    found = [m.group(0) for m in re.finditer(pattern, s)]
    return celtypes.ListType(celtypes.StringType(f) for f in (found if n < 0 else found[:n]))


def _sum(items: Sequence[Any]) -> Any:
    total: Any = celtypes.IntType(0)
    for i, item in enumerate(items):
        total = item if i == 0 else total + item
    return total


def _equal(a: Any, b: Any) -> Any:
    """cel-go's heterogeneous equality (what Kubernetes runs): ``object != null`` is true for a map, values of
    different types are unequal rather than an error, numbers compare by value."""
    if isinstance(a, CELEvalError):
        return a
    if isinstance(b, CELEvalError):
        return b
    if a is None or b is None:
        return celtypes.BoolType(a is None and b is None)
    try:
        result = bool_eq(a, b)
    except TypeError:
        result = None
    if isinstance(result, celtypes.BoolType):
        return result
    numbers = (celtypes.IntType, celtypes.UintType, celtypes.DoubleType)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return celtypes.BoolType(float(a) == float(b))
    return celtypes.BoolType(False)


def _not_equal(a: Any, b: Any) -> Any:
    result = _equal(a, b)
    return result if isinstance(result, CELEvalError) else celtypes.BoolType(not result)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "_==_": _equal,
    "_!=_": _not_equal,
    "charAt": _char_at,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "lowerAscii": _ascii(str.lower),
    "upperAscii": _ascii(str.upper),
    "replace": _replace,
    "split": _split,
    "substring": _substring,
    "trim": lambda s: celtypes.StringType(str(s).strip()),
    "join": _join,
    "find": _find,
    "findAll": _find_all,
    "isSorted": lambda items: celtypes.BoolType(all(a <= b for a, b in itertools.pairwise(items))),
    "sum": _sum,
}
"""Kubernetes' CEL extensions that celpy lacks (cel-go ``ext.Strings``, k8s ``regex`` and ``lists``), and
heterogeneous equality."""


# ------------------------------------------------------------------------------------------ compile


@dataclass(frozen=True)
class Condition:
    """One compiled ``matchConditions`` entry; ``error`` is set when it did not compile."""

    name: str
    expression: str
    program: Any = None  # celpy.Runner
    error: str | None = None


def compile_condition(name: str, expression: str) -> Condition:
    try:
        ast = _ENV.compile(expression)
    except CELParseError as exc:
        return Condition(name, expression, error=f"compilation failed: {_syntax_error(exc)}")
    unsupported = sorted(
        {
            str(t.children[0])
            for t in ast.find_data("ident")
            if t.children and str(t.children[0]) in UNSUPPORTED_VARIABLES
        }
    )
    if unsupported:
        return Condition(name, expression, error=f"the emulator does not support the variable {unsupported[0]!r}")
    return Condition(name, expression, program=_ENV.program(ast, functions=FUNCTIONS))


def compile_hook(hook: Mapping[str, Any]) -> list[Condition]:
    return [
        compile_condition(str(c.get("name") or ""), str(c.get("expression") or ""))
        for c in hook.get("matchConditions") or []
        if isinstance(c, dict)
    ]


def _syntax_error(exc: CELParseError) -> str:
    """``ERROR: <input>:1:4: Syntax error``, cel-go's prefix (celpy gives the position, not the reason)."""
    where = f"<input>:{exc.line}:{exc.column}: " if exc.line is not None else "<input>: "
    return f"ERROR: {where}Syntax error"


class CompileCache:
    """Compiled conditions per configuration object, keyed by ``(uid, resourceVersion, webhook name)``.

    A configuration's conditions are compiled once, the first time a request needs them; a new
    resourceVersion of the same configuration replaces the entries of the old one.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[str, dict[str, list[Condition]]]] = {}
        self.compilations = 0
        """How many webhooks' conditions were compiled (tests check the cache with it)."""

    def get(self, config: Obj, hook: Mapping[str, Any]) -> list[Condition]:
        meta = config.get("metadata") or {}
        uid, rv = str(meta.get("uid") or meta.get("name") or ""), str(meta.get("resourceVersion") or "")
        version, hooks = self._entries.get(uid, ("", {}))
        if version != rv or not rv:
            hooks = {}
            self._entries[uid] = (rv, hooks)
        name = str(hook.get("name") or "")
        if name not in hooks:
            hooks[name] = compile_hook(hook)
            self.compilations += 1
        return hooks[name]


# ------------------------------------------------------------------------------------------ evaluate


@dataclass(frozen=True)
class Outcome:
    """``false_condition`` names the first condition that was ``false`` (then the webhook is skipped and
    ``errors`` is irrelevant); otherwise ``errors`` lists the failed evaluations, in kube-apiserver's words."""

    false_condition: str | None
    errors: list[str]

    @property
    def matches(self) -> bool:
        return self.false_condition is None and not self.errors

    def error_message(self) -> str:
        """``utilerrors.NewAggregate``: the message alone, or ``[m1, m2]``."""
        unique = list(dict.fromkeys(self.errors))
        return unique[0] if len(unique) == 1 else f"[{', '.join(unique)}]"


def activation(obj: Obj | None, old: Obj | None, request: Mapping[str, Any]) -> dict[str, Any]:
    """The CEL variables: ``object``, ``oldObject`` and ``request`` (without its object fields)."""
    req = {k: v for k, v in request.items() if k not in ("object", "oldObject")}
    return {"object": json_to_cel(obj), "oldObject": json_to_cel(old), "request": json_to_cel(req)}


def evaluate(conditions: Sequence[Condition], variables: Mapping[str, Any]) -> Outcome:
    errors: list[str] = []
    for condition in conditions:
        if condition.error is not None:
            errors.append(f"expression '{condition.expression}' resulted in error: {condition.error}")
            continue
        try:
            result = condition.program.evaluate(dict(variables))
        except CELEvalError as exc:
            result = exc
        except Exception as exc:  # celpy lets Python errors through on odd inputs
            log.debug("matchCondition %s raised", condition.name, exc_info=True)
            result = CELEvalError(f"{type(exc).__name__}: {exc}")
        if isinstance(result, CELEvalError):
            errors.append(f"expression '{condition.expression}' resulted in error: {_eval_message(result)}")
        elif isinstance(result, celtypes.BoolType) and not result:
            return Outcome(condition.name, [])
    return Outcome(None, errors)


def _eval_message(exc: CELEvalError) -> str:
    message = str(exc.args[0]) if exc.args else "evaluation error"
    message = message.split(" (in activation", 1)[0]  # celpy appends the whole activation
    if message == "no such key" and len(exc.args) > 2 and exc.args[2]:
        message = f"no such key: {exc.args[2][0]}"
    return message


# ------------------------------------------------------------------------------------------ validate


def validate(hook: Mapping[str, Any], at: str) -> list[StatusCause]:
    """``validateMatchConditions``: at most 64, each with a qualified name (unique) and an expression that
    compiles (here: parses — celpy has no type checker)."""
    conditions = hook.get("matchConditions")
    if conditions is None:
        return []
    field = f"{at}.matchConditions"
    if not isinstance(conditions, list):
        return [{"reason": "FieldValueInvalid", "field": field, "message": "Invalid value: must be a list"}]
    causes: list[StatusCause] = []
    if len(conditions) > MAX_CONDITIONS:
        causes.append(
            {
                "reason": "FieldValueTooMany",
                "field": field,
                "message": f"Too many: {len(conditions)}: must have at most {MAX_CONDITIONS} items",
            }
        )
    seen: set[str] = set()
    for i, condition in enumerate(conditions):
        here = f"{field}[{i}]"
        condition = condition if isinstance(condition, dict) else {}
        expression = str(condition.get("expression") or "").strip()
        if not expression:
            causes.append({"reason": "FieldValueRequired", "field": f"{here}.expression", "message": "Required value"})
        else:
            try:
                _ENV.compile(expression)
            except CELParseError as exc:
                causes.append(
                    {
                        "reason": "FieldValueInvalid",
                        "field": f"{here}.expression",
                        "message": f"Invalid value: {expression!r}: compilation failed: {_syntax_error(exc)}",
                    }
                )
        name = str(condition.get("name") or "")
        causes += list_item_name_causes(
            name,
            f"{here}.name",
            seen,
            valid=_qualified_name(name),
            rule="name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
            "with an alphanumeric character",
        )
    return causes


def _qualified_name(name: str) -> bool:
    prefix, slash, part = name.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(part) <= 63 and bool(_QUALIFIED_NAME.match(part))


__all__ = [
    "FUNCTIONS",
    "MAX_CONDITIONS",
    "CompileCache",
    "Condition",
    "Outcome",
    "activation",
    "compile_condition",
    "compile_hook",
    "evaluate",
    "validate",
]
