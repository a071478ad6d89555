"""The one Kubernetes client stack of apibridge: the operator, the webhook's watches and ``doctor`` use it.

kr8s (on httpx) provides connection, kubeconfig / in-cluster auth and TLS, configured the same way for
every component: ``KubeConfig`` names a kubeconfig file and context (``--kubeconfig/--context``), and
without them kr8s reads ``$KUBECONFIG`` or ``~/.kube/config`` and else the pod's service account. This
module adds explicit paths (so a CRD needs no discovery round-trip), the patch content types the API
server distinguishes, uid preconditions on delete, a list+watch with the resourceVersion semantics a
reflector needs, and errors that callers can branch on by meaning rather than by HTTP code —
``ConflictError`` (stale resourceVersion: re-read and retry), ``AlreadyExistsError`` (our cache is behind),
``NotFoundError``, ``GoneError`` (a watch's resourceVersion expired: relist; kr8s's own watch re-watches
from the same version instead, ecosystem.md §1.1, so the watch here is our own).

kopf (the operator's watches) gets its credentials from the same ``Client`` (``connection_info``).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import kr8s
import kr8s.asyncio
import yaml

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


class GoneError(ApiError):
    """410 Gone: the resourceVersion a watch asked for is no longer in the API server's history."""


class UnreachableError(Exception):
    """No usable connection to the API server (no credentials, refused, timed out)."""


def _why(exc: BaseException) -> str:
    """One line: the server a failed request went to (when known), and the cause. httpx's messages can run to
    two lines (a status error adds 'For more information check: https://developer.mozilla.org/…'), and kr8s
    wraps them (``ServerError``): the httpx error is looked for down the chain."""
    found: BaseException | None = exc
    while found is not None and not isinstance(found, httpx.HTTPError):
        found = found.__cause__ or found.__context__
    lines = str(exc).strip().splitlines()
    cause = lines[0] if lines else type(exc).__name__
    if not isinstance(found, httpx.HTTPError):
        return f": {cause}"
    if isinstance(found, httpx.HTTPStatusError):
        r = found.response
        cause = f"it answered {r.status_code} {r.reason_phrase} to {r.request.method} {r.request.url.path}"
        if r.status_code == 404:
            cause += " (is it a Kubernetes API server?)"
    try:
        url = found.request.url
    except RuntimeError:  # httpx raises when the error carries no request
        return f": {cause}"
    return f" at {url.scheme}://{url.netloc.decode()}: {cause}"


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
    if code == 410:
        return GoneError(code, reason, message, details)
    if code == 409 and reason == "AlreadyExists":
        return AlreadyExistsError(code, reason, message, details)
    if code == 409:
        return ConflictError(code, reason, message, details)
    return ApiError(code, reason, message, details)


@dataclass(frozen=True)
class KubeConfig:
    """Where the credentials come from: a kubeconfig file and context, or (both None) the usual search —
    ``$KUBECONFIG``, ``~/.kube/config``, then the pod's service account (in cluster)."""

    kubeconfig: str | None = None
    context: str | None = None


# The kubeconfig fields that name a file (k8s.io/client-go tools/clientcmd/api/v1 types.go), resolved
# against the kubeconfig's directory as client-go does (clientcmd loader.go ResolvePaths).
_FILE_FIELDS = (
    ("clusters", "cluster", "certificate-authority"),
    ("users", "user", "client-certificate"),
    ("users", "user", "client-key"),
)


def missing_file(config: KubeConfig) -> str | None:
    """``kubeconfig F: cluster C: certificate-authority: no file P`` when the context's cluster or user names
    a file that is not there — kr8s says only '[Errno 2] No such file or directory'. None when all are there,
    or the kubeconfig cannot be read (kr8s then reports that itself)."""
    path = config.kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config"
    file = Path(path).expanduser()
    try:
        doc = yaml.safe_load(file.read_text())
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(doc, dict):
        return None
    contexts = {c.get("name"): c.get("context") or {} for c in doc.get("contexts") or [] if isinstance(c, dict)}
    context = contexts.get(config.context or doc.get("current-context"), {})
    for section, key, field in _FILE_FIELDS:
        name = context.get(key) if isinstance(context, dict) else None
        entry = next((e for e in doc.get(section) or [] if isinstance(e, dict) and e.get("name") == name), None)
        named = (entry or {}).get(key) or {}
        value = named.get(field) if isinstance(named, dict) else None
        if isinstance(value, str) and value and not (file.parent / Path(value).expanduser()).is_file():
            return f"kubeconfig {file}: {key} {name}: {field}: no file {file.parent / Path(value).expanduser()}"
    return None


class Client:
    """Async JSON calls against one API server; build with :meth:`connect`."""

    def __init__(self, api: kr8s.asyncio.Api) -> None:
        self._api = api

    @classmethod
    async def connect(cls, config: KubeConfig | str | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> Client:
        """Credentials as ``config`` says (a plain string is a kubeconfig path)."""
        if not isinstance(config, KubeConfig):
            config = KubeConfig(kubeconfig=config)
        if (missing := missing_file(config)) is not None:
            raise UnreachableError(f"cannot connect to the Kubernetes API: {missing}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # kr8s warns about server versions it was not tested with
                api = await kr8s.asyncio.api(kubeconfig=config.kubeconfig, context=config.context)
        except (ValueError, KeyError, OSError, httpx.HTTPError, kr8s.ServerError) as exc:
            raise UnreachableError(f"cannot connect to the Kubernetes API{_why(exc)}") from exc
        api.timeout = timeout
        return cls(api)

    def connection_info(self) -> dict[str, Any]:
        """The server and credentials this client uses, as keyword arguments of ``kopf.ConnectionInfo``."""
        auth = self._api.auth
        return {
            "server": auth.server,
            "ca_path": str(auth.server_ca_file) if auth.server_ca_file else None,
            "insecure": bool(getattr(auth, "_insecure_skip_tls_verify", False)) or None,
            "token": auth.token or None,
            "certificate_path": str(auth.client_cert_file) if auth.client_cert_file else None,
            "private_key_path": str(auth.client_key_file) if auth.client_key_file else None,
            "default_namespace": self.default_namespace,
        }

    async def reauthenticate(self) -> None:
        """Re-read the credentials (a bound service-account token rotates) for the next request."""
        await self._api.auth.reauthenticate()
        await self._api._create_session()  # kr8s builds the Authorization header with the session

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
        for attempt in (1, 2):
            try:
                base, _, last = path.rpartition("/")  # kr8s joins base and url with "/"
                async with self._api.call_api(
                    method, version="", base=base, url=last, raise_for_status=False, **kwargs
                ) as resp:
                    if resp.status_code == 401 and attempt == 1:
                        await self.reauthenticate()
                        continue
                    if resp.status_code >= 400:
                        raise _error(resp)
                    if not resp.content:
                        return {}
                    return resp.json()
            except (httpx.TransportError, kr8s.APITimeoutError) as exc:
                raise UnreachableError(f"{method} {path}{_why(exc)}") from exc
        raise AssertionError("unreachable")

    async def list_page(
        self, kind: Kind, namespace: str | None = None, *, field_selector: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        """Every object of ``kind`` (stamped with apiVersion and kind) and the list's resourceVersion."""
        params = {"fieldSelector": field_selector} if field_selector else None
        data = await self.request("GET", kind.path(namespace), params=params)
        items = data.get("items") if isinstance(data, dict) else None
        out: list[dict[str, Any]] = []
        for item in items or []:
            if isinstance(item, dict):
                item.setdefault("apiVersion", kind.api_version)
                item.setdefault("kind", kind.kind)
                out.append(item)
        md = data.get("metadata") if isinstance(data, dict) else None
        return out, str((md or {}).get("resourceVersion") or "")

    async def watch(
        self,
        kind: Kind,
        resource_version: str,
        namespace: str | None = None,
        *,
        field_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[dict[str, Any]]:
        """Watch events from ``resource_version`` (with bookmarks) until the server ends the watch.

        Raises ``GoneError`` when the version expired — as a 410 answer or as an ERROR event with code 410 —
        so the caller relists; other API errors as their ``ApiError``; a dropped stream as ``UnreachableError``.
        """
        params = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        if field_selector:
            params["fieldSelector"] = field_selector
        base, _, last = kind.path(namespace).rpartition("/")
        timeout = httpx.Timeout(DEFAULT_TIMEOUT, read=timeout_seconds + 30)
        try:
            async with self._api.call_api(
                "GET",
                version="",
                base=base,
                url=last,
                raise_for_status=False,
                stream=True,
                params=params,
                timeout=timeout,
            ) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    raise _error(resp)
                async for line in resp.aiter_lines():
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if not isinstance(event, dict):
                        continue
                    obj = event.get("object")
                    if event.get("type") == "ERROR" and isinstance(obj, dict):
                        code = int(obj.get("code") or 500)
                        error = (GoneError if code == 410 else ApiError)(
                            code, str(obj.get("reason") or ""), str(obj.get("message") or "")
                        )
                        raise error
                    yield event
        except (httpx.TransportError, kr8s.APITimeoutError) as exc:
            raise UnreachableError(f"watch {kind.plural}: {exc or type(exc).__name__}") from exc

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
