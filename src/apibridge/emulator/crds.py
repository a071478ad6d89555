"""CustomResourceDefinitions: what a CRD object makes the server serve, and how custom objects are shaped.

Creating a CRD must make ``/apis/<group>/<version>/<plural>`` appear (in discovery too, so kopf and kr8s can
find it), with the declared scope and status subresource. And, just as importantly for an operator's tests,
custom objects go through the CRD's structural schema like on a real server: unknown fields are **pruned**
(writing ``status.foo`` that the schema does not declare silently loses it), ``default:`` values are filled in,
and values are validated (types, required, enums, patterns, bounds) with ``jsonschema`` (OpenAPI 3.0 ≈ Draft 4;
skipped if it is not installed). Pruned fields are reported the way ``fieldValidation`` asks: a ``Warning``
header by default, a 400 with ``Strict`` (kubectl's default). CEL rules (``x-kubernetes-validations``),
``scale`` subresources and conversion webhooks are not emulated; every served version shares one storage,
which is exactly the ``conversion: None`` strategy.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Iterable
from typing import Any

from apibridge.emulator.kinds import ResourceType, version_priority
from apibridge.emulator.strategies import now
from apibridge.emulator.wire import Obj, StatusCause

CRD_GROUP = "apiextensions.k8s.io"
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"

jsonschema: Any
try:  # optional: validation needs jsonschema, pruning/defaulting do not
    jsonschema = importlib.import_module("jsonschema")
except ImportError:  # pragma: no cover - jsonschema is installed in dev environments
    jsonschema = None


def _names(obj: Obj) -> dict[str, Any]:
    names = dict((obj.get("spec") or {}).get("names") or {})
    kind = str(names.get("kind") or "")
    names.setdefault("singular", kind.lower())
    names.setdefault("listKind", f"{kind}List")
    return names


def validate_crd(obj: Obj) -> list[StatusCause]:
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind = str(spec.get("group") or ""), str(names.get("plural") or ""), str(names.get("kind") or "")
    causes: list[StatusCause] = []

    def bad(field: str, message: str, reason: str = "FieldValueInvalid") -> None:
        causes.append({"reason": reason, "field": field, "message": message})

    if not group or "." not in group:
        bad("spec.group", f'Invalid value: "{group}": should be a domain with at least one dot')
    if not plural or plural != plural.lower():
        bad("spec.names.plural", f'Invalid value: "{plural}": a lowercase RFC 1123 label is required')
    if not kind:
        bad("spec.names.kind", "Required value", "FieldValueRequired")
    if obj["metadata"].get("name") != f"{plural}.{group}":
        given = obj["metadata"].get("name")
        bad("metadata.name", f'Invalid value: "{given}": must be spec.names.plural+"."+spec.group')
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        bad(
            "spec.scope",
            f'Unsupported value: {spec.get("scope")!r}: supported values: "Cluster", "Namespaced"',
            "FieldValueNotSupported",
        )
    versions = spec.get("versions") or []
    if not versions or sum(1 for v in versions if v.get("storage")) != 1:
        bad("spec.versions", "Invalid value: must have exactly one version marked as storage version")
    for i, v in enumerate(versions):
        if not (v.get("schema") or {}).get("openAPIV3Schema"):
            bad(
                f"spec.versions[{i}].schema.openAPIV3Schema",
                "Required value: schemas are required",
                "FieldValueRequired",
            )
    return causes


def validate_crd_update(old: Obj, new: Obj) -> list[StatusCause]:
    causes: list[StatusCause] = []
    for field in ("group", "scope"):
        if (old.get("spec") or {}).get(field) != (new.get("spec") or {}).get(field):
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": f"spec.{field}",
                    "message": "Invalid value: field is immutable",
                }
            )
    return causes


def crd_status(obj: Obj) -> dict[str, Any]:
    stamp = now()
    storage = next((v["name"] for v in (obj.get("spec") or {}).get("versions") or [] if v.get("storage")), "")
    old = obj.get("status") or {}
    stored = list(dict.fromkeys([*(old.get("storedVersions") or []), storage]))
    conditions = old.get("conditions") or [  # kept as they are once set: an unchanged CRD is not rewritten
        {
            "type": "NamesAccepted",
            "status": "True",
            "reason": "NoConflicts",
            "message": "no conflicts found",
            "lastTransitionTime": stamp,
        },
        {
            "type": "Established",
            "status": "True",
            "reason": "InitialNamesAccepted",
            "message": "the initial names have been accepted",
            "lastTransitionTime": stamp,
        },
    ]
    return {"acceptedNames": _names(obj), "conditions": conditions, "storedVersions": stored}


def crd_types(obj: Obj) -> list[ResourceType]:
    """The served versions of a CRD as resource types (preferred version first)."""
    spec = obj.get("spec") or {}
    names = _names(obj)
    versions = [v for v in spec.get("versions") or [] if v.get("served", True)]
    storage = next((v["name"] for v in spec.get("versions") or [] if v.get("storage")), "")
    out = []
    for v in sorted(versions, key=lambda v: version_priority(str(v["name"]))):
        subresources = frozenset(k for k in (v.get("subresources") or {}) if k == "status")
        out.append(
            ResourceType(
                group=str(spec["group"]),
                version=str(v["name"]),
                plural=str(names["plural"]),
                kind=str(names["kind"]),
                singular=str(names["singular"]),
                namespaced=spec.get("scope") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=subresources,
                custom=True,
                unconditional_update=False,
                return_deleted_object=True,
                field_labels=tuple(str(f.get("jsonPath", "")).lstrip(".") for f in v.get("selectableFields") or []),
                schema=(v.get("schema") or {}).get("openAPIV3Schema"),
                storage_version=storage,
            )
        )
    return out


# ------------------------------------------------------------------------------ structural schema handling


def prune_and_default(schema: dict[str, Any], obj: Obj) -> list[str]:
    """Apply a CRD schema to a custom object in place: drop undeclared fields, fill declared defaults.
    ``apiVersion``, ``kind`` and ``metadata`` are the server's, never pruned. Returns the pruned paths
    (``spec.foo``), which ``fieldValidation`` turns into warnings (default) or a 400 (``Strict``)."""
    props = schema.get("properties") or {}
    pruned: list[str] = []
    for key in list(obj):
        if key in ("apiVersion", "kind", "metadata"):
            continue
        if key in props:
            obj[key] = _walk(props[key], obj[key], key, pruned)
        elif not schema.get("x-kubernetes-preserve-unknown-fields"):
            del obj[key]
            pruned.append(key)
    _fill_defaults(props, obj, skip=("apiVersion", "kind", "metadata"))
    return pruned


def _fill_defaults(props: dict[str, Any], value: dict[str, Any], skip: Iterable[str] = ()) -> None:
    for key, sub in props.items():
        if key not in value and isinstance(sub, dict) and "default" in sub and key not in skip:
            value[key] = _walk(sub, copy.deepcopy(sub["default"]), key, [])


def _walk(schema: Any, value: Any, path: str, pruned: list[str]) -> Any:
    if not isinstance(schema, dict) or value is None:
        return value
    if schema.get("x-kubernetes-int-or-string"):
        return value
    if isinstance(value, dict):
        if schema.get("x-kubernetes-embedded-resource"):
            keep = {k: value[k] for k in ("apiVersion", "kind", "metadata") if k in value}
        else:
            keep = {}
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        out: dict[str, Any] = {}
        for key, item in value.items():
            if props and key in props:
                out[key] = _walk(props[key], item, f"{path}.{key}", pruned)
            elif isinstance(extra, dict):
                out[key] = _walk(extra, item, f"{path}.{key}", pruned)
            elif extra is True or preserve or key in keep:
                out[key] = item
            else:
                pruned.append(f"{path}.{key}")
        _fill_defaults(props or {}, out)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_walk(schema["items"], item, f"{path}[{i}]", pruned) for i, item in enumerate(value)]
    return value


def _to_jsonschema(schema: Any) -> Any:
    """OpenAPI 3.0 (k8s flavour) → Draft 4: ``nullable`` and ``x-kubernetes-int-or-string`` become types."""
    if isinstance(schema, list):
        return [_to_jsonschema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key.startswith("x-kubernetes-") or key in ("format", "default", "example", "nullable"):
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: _to_jsonschema(v) for k, v in value.items()}
        else:
            out[key] = _to_jsonschema(value)
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def validate_object(schema: dict[str, Any], obj: Obj) -> list[StatusCause]:
    if jsonschema is None:  # pragma: no cover
        return []
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    root = _to_jsonschema(schema)
    props = root.get("properties")
    if isinstance(props, dict):
        for key in ("apiVersion", "kind", "metadata"):
            props.pop(key, None)
    causes: list[StatusCause] = []
    for err in sorted(jsonschema.Draft4Validator(root).iter_errors(body), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in err.absolute_path)
        if err.validator == "required":
            missing = str(err.message).split("'")[1] if "'" in err.message else ""
            field = f"{path}.{missing}" if path else missing
            causes.append({"reason": "FieldValueRequired", "field": field, "message": "Required value"})
        elif err.validator == "enum":
            allowed = ", ".join(f'"{v}"' for v in err.validator_value)
            causes.append(
                {
                    "reason": "FieldValueNotSupported",
                    "field": path,
                    "message": f"Unsupported value: {err.instance!r}: supported values: {allowed}",
                }
            )
        else:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": path,
                    "message": f"Invalid value: {err.instance!r}: {path} in body {err.message}",
                }
            )
    return causes
