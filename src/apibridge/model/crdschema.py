"""ApiBridge input checked against the CRD's own ``openAPIV3Schema``, as the API server checks it.

The chart's CRD (``deploy/chart/crds/apibridges.apibridge.dev.yaml``) is the one source of what an ApiBridge
may say. The package ships a byte-identical copy (``apibridges.apibridge.dev.yaml`` beside this module, read
with ``importlib.resources``; ``tests/model/test_crdschema.py`` fails when the two differ), so that ``check``,
``render`` and ``inject`` accept exactly what ``kubectl apply --validate=strict`` accepts: a misspelled field
(``podSelecter``, ``extras``) is an error, not a silently widened bridge.

The interpreter follows the rules of a *structural* schema as kube-apiserver applies them
(k8s.io/apiextensions-apiserver, pkg/apiserver/schema and kube-openapi's validate, v1.31):
- unknown fields are errors (strict field validation reports ``unknown field "spec.x"``; without it
  they are pruned, which is how the bridge "silently widened"); ``metadata`` is checked against
  ObjectMeta's field names, as the strict decoder does;
- ``null`` for a field that is not ``nullable`` is pruned, i.e. the same as leaving it out;
- ``type``, ``required``, ``enum``, ``pattern`` (unanchored, as in JSON Schema), ``minLength``/``maxLength``,
  ``minimum``/``maximum``, ``items``, ``additionalProperties`` and the string format ``date-time``.
Integers are JSON integers (``1.0`` and ``true`` are not). ``status`` is not checked: the CRD enables the
status subresource, so creating or updating the object ignores it (only the operator writes it).
What the schema cannot say (overlapping CIDRs, one CIDR per family) stays in ``parse_apibridge``.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import re
from dataclasses import dataclass
from typing import Any

import yaml

CRD_RESOURCE = "apibridges.apibridge.dev.yaml"

# metav1.ObjectMeta's JSON field names (k8s.io/apimachinery/pkg/apis/meta/v1/types.go, v0.31)
OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class SchemaError:
    """One violation: the field path as kubectl prints it (``spec.destinations.extra[0].ports[0]``)."""

    field: str
    message: str
    hint: str | None = None


@functools.cache
def crd_text() -> str:
    """The shipped CRD, as text (byte-identical to the chart's)."""
    return importlib.resources.files("apibridge.model").joinpath(CRD_RESOURCE).read_text(encoding="utf-8")


@functools.cache
def openapi_schema() -> dict[str, Any]:
    """The served version's ``openAPIV3Schema``."""
    crd = yaml.safe_load(crd_text())
    (version,) = [v for v in crd["spec"]["versions"] if v.get("served")]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_RENAMED = {"ip": "cidr"}  # spellings the CLI once read from files


# Hints that show the accepted form for the shorthands earlier versions of the CLI read from files.
def _hint_for(path: str, value: Any, expected: str) -> str | None:
    if expected == "object" and re.search(r"destinations\.extra\[\d+\]$", path) and isinstance(value, str):
        return f"write {{cidr: {value}}}"
    if expected == "object" and re.search(r"\.ports\[\d+\]$", path) and isinstance(value, int):
        return f"write {{port: {value}}} (protocol defaults to TCP)"
    return None


class _Validator:
    def __init__(self) -> None:
        self.errors: list[SchemaError] = []

    def add(self, path: str, message: str, hint: str | None = None) -> None:
        self.errors.append(SchemaError(path or "<root>", message, hint))

    def check(self, value: Any, schema: dict[str, Any], path: str) -> None:
        expected = schema.get("type")
        actual = _type_name(value)
        if expected and actual != expected:
            self.add(
                path,
                f"must be of type {expected}, got {actual} {_show(value)}",
                _hint_for(path, value, expected),
            )
            return
        if "enum" in schema and value not in schema["enum"]:
            allowed = ", ".join(repr(v) for v in schema["enum"])
            hint = "leave the field out for its default" if value == "" and "default" in schema else None
            self.add(path, f"unsupported value {_show(value)}: supported values: {allowed}", hint)
        if isinstance(value, str):
            self._string(value, schema, path)
        elif isinstance(value, int) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                self.add(path, f"should be greater than or equal to {schema['minimum']}, got {value}")
            if "maximum" in schema and value > schema["maximum"]:
                self.add(path, f"should be less than or equal to {schema['maximum']}, got {value}")
        elif isinstance(value, list):
            items = schema.get("items")
            if isinstance(items, dict):
                for i, item in enumerate(value):
                    self.child(item, items, f"{path}[{i}]")
        elif isinstance(value, dict):
            self._object(value, schema, path)

    def child(self, value: Any, schema: dict[str, Any], path: str) -> None:
        if value is None and not schema.get("nullable"):
            return  # pruned by the API server, as if absent
        self.check(value, schema, path)

    def _string(self, value: str, schema: dict[str, Any], path: str) -> None:
        if "minLength" in schema and len(value) < schema["minLength"]:
            hint = "leave the field out for its default" if value == "" and "default" in schema else None
            self.add(path, f"should be at least {schema['minLength']} chars long", hint)
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            self.add(path, f"may not be more than {schema['maxLength']} chars long")
        pattern = schema.get("pattern")
        if pattern and not re.search(pattern, value):
            hint = "leave the field out for its default" if value == "" and "default" in schema else None
            self.add(path, f"{_show(value)} should match '{pattern}'", hint)
        if schema.get("format") == "date-time" and not _DATE_TIME.match(value):
            self.add(path, f"{_show(value)} is not an RFC 3339 date-time")

    def _object(self, value: dict[Any, Any], schema: dict[str, Any], path: str) -> None:
        prefix = f"{path}." if path else ""
        properties: dict[str, Any] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for name in schema.get("required") or ():
            if value.get(name) is None:
                self.add(f"{prefix}{name}", "Required value")
        if path == "metadata":  # ObjectMeta: the API server's own type, not the CRD's schema
            properties, known = {}, OBJECT_META_FIELDS
        elif schema.get("x-kubernetes-preserve-unknown-fields"):
            return
        else:
            known = frozenset(properties)
        for key, item in value.items():
            field = f"{prefix}{key}"
            if not isinstance(key, str):
                self.add(field, f"field names are strings, got {_type_name(key)}")
            elif key in properties:
                self.child(item, properties[key], field)
            elif isinstance(additional, dict):
                self.child(item, additional, f'{path}["{key}"]')
            elif key not in known:
                close = [_RENAMED[key]] if _RENAMED.get(key) in known else []
                close = close or difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
                hint = f"did you mean {close[0]}?" if close else f"known fields: {', '.join(sorted(known)) or 'none'}"
                self.add(field, f'unknown field "{field}"', hint)


def validate(body: dict[str, Any], schema: dict[str, Any] | None = None) -> list[SchemaError]:
    """Every violation of the ApiBridge schema in ``body`` (a whole object, as read), in document order.

    An easy entry for a corpus: ``[validate(obj) == [] for obj in objects]`` is what the API server's
    dry-run with strict field validation answers (accepted / refused).
    """
    validator = _Validator()
    if "status" in body:  # with the status subresource, create and update of the object ignore status
        body = {k: v for k, v in body.items() if k != "status"}
    validator.check(body, schema or openapi_schema(), "")
    return validator.errors
