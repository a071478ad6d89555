"""API errors as kube-apiserver reports them: an HTTP code plus a ``Status`` body.

Clients branch on ``reason`` and ``code`` (kopf maps 404/409/410/422 to distinct exceptions; kr8s reads
``message``), so every failure inside the emulator is an ``ApiError`` built by one of the constructors below,
whose messages copy kube-apiserver's wording (``pods "x" not found``, ``Operation cannot be fulfilled on …``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apibridge.emulator.wire import Status, StatusCause, StatusDetails


@dataclass
class ApiError(Exception):
    """A failed API call; ``status()`` is the response body, ``code`` the HTTP status."""

    code: int
    reason: str
    message: str
    details: StatusDetails = field(default_factory=lambda: StatusDetails())

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def status(self) -> Status:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


def qualified(plural: str, group: str) -> str:
    """``pods`` for the core group, ``deployments.apps`` otherwise — kube-apiserver's GroupResource string."""
    return f"{plural}.{group}" if group else plural


def _details(name: str | None, plural: str, group: str) -> StatusDetails:
    details = StatusDetails(kind=plural)
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    return details


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(plural, group)} "{name}" not found', _details(name, plural, group))


def path_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", StatusDetails())


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409, "AlreadyExists", f'{qualified(plural, group)} "{name}" already exists', _details(name, plural, group)
    )


def conflict(plural: str, group: str, name: str, why: str | None = None) -> ApiError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {why}',
        _details(name, plural, group),
    )


def invalid(kind: str, group: str, name: str, causes: list[StatusCause]) -> ApiError:
    """422 ``Invalid``: ``<Kind>.<group> "<name>" is invalid: <field>: <message>, …``."""
    listed = ", ".join(f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes)
    details = StatusDetails(name=name, kind=kind, causes=causes)
    if group:
        details["group"] = group
    return ApiError(422, "Invalid", f'{qualified(kind, group)} "{name}" is invalid: {listed}', details)


def unprocessable(message: str) -> ApiError:
    """422 without a field (e.g. a JSON Patch ``test`` op that failed), as kube-apiserver does."""
    return ApiError(422, "", message, StatusDetails())


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message, StatusDetails())


def forbidden(plural: str, group: str, name: str, why: str) -> ApiError:
    """``pods "x" is forbidden: why`` (``pods is forbidden: why`` when there is no name yet)."""
    subject = f'{qualified(plural, group)} "{name}"' if name else qualified(plural, group)
    return ApiError(403, "Forbidden", f"{subject} is forbidden: {why}", _details(name, plural, group))


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized", StatusDetails())


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {content_type}")


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message, StatusDetails())


def internal(message: str) -> ApiError:
    return ApiError(
        500, "InternalError", f"Internal error occurred: {message}", StatusDetails(causes=[{"message": message}])
    )


def list_item_name_causes(name: str, field: str, seen: set[str], *, valid: bool, rule: str) -> list[StatusCause]:
    """Validation causes for the ``name`` of one item of a list whose names must be set, valid and unique
    (webhooks of a configuration, matchConditions of a webhook); records ``name`` in ``seen``."""
    causes: list[StatusCause] = []
    if not name:
        causes.append({"reason": "FieldValueRequired", "field": field, "message": "Required value"})
    elif not valid:
        causes.append({"reason": "FieldValueInvalid", "field": field, "message": f'Invalid value: "{name}": {rule}'})
    elif name in seen:
        causes.append({"reason": "FieldValueDuplicate", "field": field, "message": f'Duplicate value: "{name}"'})
    seen.add(name)
    return causes
