"""A small, typed async client for the few calls the operator and ``doctor`` make, on top of kr8s.

kopf does the watching; everything the controller *writes* (and everything ``doctor`` reads) goes through
here. kr8s provides connection, kubeconfig / in-cluster auth and TLS; this module adds explicit paths
(so a CRD needs no discovery round-trip), the patch content types the API server distinguishes, uid
preconditions on delete, and errors that callers can branch on by meaning rather than by HTTP code —
``ConflictError`` (stale resourceVersion: re-read and retry), ``AlreadyExistsError`` (our cache is behind),
``NotFoundError``.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping
from typing import Any

import httpx
import kr8s
import kr8s.asyncio

from apibridge.base.kinds import Kind

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
DEFAULT_TIMEOUT = 15.0


class ApiError(Exception):
    """The API server refused a request (``code`` is the HTTP status, ``reason`` the Status reason)."""

    def __init__(self, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details or {})


class NotFoundError(ApiError):
    pass


class ConflictError(ApiError):
    """409 with reason Conflict: the object changed since we read it."""


class AlreadyExistsError(ApiError):
    """409 with reason AlreadyExistsError: create raced with another writer (or our cache is behind)."""


class UnreachableError(Exception):
    """No usable connection to the API server (no credentials, refused, timed out)."""


def _error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except (json.JSONDecodeError, ValueError):
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = response.status_code
    reason = str(body.get("reason") or response.reason_phrase or "")
    message = str(body.get("message") or response.text or reason)
    details = body.get("details") if isinstance(body.get("details"), dict) else {}
    if code == 404:
        return NotFoundError(code, reason, message, details)
    if code == 409 and reason == "AlreadyExists":
        return AlreadyExistsError(code, reason, message, details)
    if code == 409:
        return ConflictError(code, reason, message, details)
    return ApiError(code, reason, message, details)


class Client:
    """Async JSON calls against one API server; build with :meth:`connect`."""

    def __init__(self, api: kr8s.asyncio.Api) -> None:
        self._api = api

    @classmethod
    async def connect(cls, kubeconfig: str | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> Client:
        """Credentials from ``kubeconfig`` (else ``$KUBECONFIG``/``~/.kube/config``), else in-cluster."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # kr8s warns about server versions it was not tested with
                api = await kr8s.asyncio.api(kubeconfig=kubeconfig)
        except (ValueError, OSError, httpx.HTTPError, kr8s.ServerError) as exc:
            raise UnreachableError(f"cannot connect to the Kubernetes API: {exc}") from exc
        api.timeout = timeout
        return cls(api)

    @property
    def default_namespace(self) -> str:
        """The kubeconfig context's namespace (or the service account's), else ``default``."""
        return str(self._api.namespace or "default")

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        """One call; returns the decoded JSON body. Raises ``ApiError`` subclasses or ``UnreachableError``."""
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["content"] = json.dumps(body)
            kwargs["headers"] = {"Content-Type": content_type}
        if params:
            kwargs["params"] = dict(params)
        try:
            base, _, last = path.rpartition("/")  # kr8s joins base and url with "/"
            async with self._api.call_api(
                method, version="", base=base, url=last, raise_for_status=False, **kwargs
            ) as resp:
                if resp.status_code >= 400:
                    raise _error(resp)
                if not resp.content:
                    return {}
                return resp.json()
        except (httpx.TransportError, kr8s.APITimeoutError) as exc:
            raise UnreachableError(f"{method} {path}: {exc or type(exc).__name__}") from exc

    async def get(self, kind: Kind, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            obj = await self.request("GET", kind.path(namespace, name))
        except NotFoundError:
            return None
        return obj if isinstance(obj, dict) else None

    async def list(
        self, kind: Kind, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else None
        data = await self.request("GET", kind.path(namespace), params=params)
        items = data.get("items") if isinstance(data, dict) else None
        out: list[dict[str, Any]] = []
        for item in items or []:
            if isinstance(item, dict):
                item.setdefault("apiVersion", kind.api_version)  # lists omit them on items
                item.setdefault("kind", kind.kind)
                out.append(item)
        return out

    async def create(self, kind: Kind, body: Mapping[str, Any]) -> dict[str, Any]:
        namespace = (body.get("metadata") or {}).get("namespace")
        result = await self.request("POST", kind.path(namespace), body=body)
        return result if isinstance(result, dict) else {}

    async def replace(self, kind: Kind, body: Mapping[str, Any]) -> dict[str, Any]:
        md = body.get("metadata") or {}
        result = await self.request("PUT", kind.path(md.get("namespace"), md.get("name")), body=body)
        return result if isinstance(result, dict) else {}

    async def patch(
        self,
        kind: Kind,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        content_type: str = MERGE_PATCH,
    ) -> dict[str, Any]:
        result = await self.request(
            "PATCH", kind.path(namespace, name, subresource), body=patch, content_type=content_type
        )
        return result if isinstance(result, dict) else {}

    async def delete(self, kind: Kind, name: str, namespace: str | None = None, *, uid: str | None = None) -> bool:
        """Delete; with ``uid``, only that incarnation of the name. False if it was already gone."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}} if uid else None
        try:
            await self.request("DELETE", kind.path(namespace, name), body=body)
        except NotFoundError:
            return False
        return True
