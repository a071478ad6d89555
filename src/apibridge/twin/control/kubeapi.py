"""A small synchronous client for the lab's own kube-apiserver: requests, server-side apply, list+watch.

The node agent (:mod:`apibridge.twin.control.kubelet`) and the lab's set-up talk to one API server whose
CA and token the lab wrote itself, from plain threads, with no event loop around them: the stdlib
(``http.client`` over ``ssl``) with one kept-alive connection per thread is all that takes, and it keeps
the twin free of the in-cluster client stack (which lives above the twin's layer). Watches are the
API server's streaming JSON lines, resumed from the last ``resourceVersion`` and re-listed on 410 Gone.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JSON = dict[str, Any]


class KubeApiError(Exception):
    """The API server answered with an error status (``status`` 0: it could not be reached)."""

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        self.status = status
        self.body = body
        super().__init__(f"HTTP {status}: {message}" if status else message)


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API: ``/api/v1/pods`` or ``/apis/<group>/<version>/<plural>``."""

    api_version: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        root = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        path = (
            f"{root}/namespaces/{namespace}/{self.plural}" if namespace and self.namespaced else f"{root}/{self.plural}"
        )
        return f"{path}/{name}" if name else path


class KubeApi:
    """One API server, one identity (a bearer token), one kept-alive connection per thread."""

    def __init__(self, url: str, ca_file: Path, token: str, *, timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.url = url
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 443
        self.token = token
        self.timeout = timeout
        self._ctx = ssl.create_default_context(cafile=str(ca_file))
        self._local = threading.local()

    def _conn(self, timeout: float | None = None) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self.host, self.port, context=self._ctx, timeout=timeout or self.timeout)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """One call; the decoded JSON (or text) body, :class:`KubeApiError` for a status >= 400."""
        if params:
            path += "?" + urllib.parse.urlencode(params)
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        for attempt in range(2):  # a kept-alive connection the server closed: once more on a fresh one
            conn: http.client.HTTPSConnection | None = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = self._conn()
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._local.conn = None
                if attempt:
                    raise KubeApiError(0, f"{method} {self.url}{path}: {exc}") from None
        text = raw.decode(errors="replace")
        try:
            decoded: Any = json.loads(text) if text else None
        except ValueError:
            decoded = text
        if resp.status >= 400:
            message = decoded.get("message", text) if isinstance(decoded, dict) else text
            raise KubeApiError(resp.status, str(message)[:500], decoded)
        return decoded

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> JSON | None:
        try:
            out: JSON = self.request("GET", resource.path(namespace, name))
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            raise
        return out

    def apply(self, resource: Resource, obj: Mapping[str, Any], *, manager: str, status: bool = False) -> JSON:
        """Server-side apply of ``obj`` (its ``status`` through the status subresource when ``status``)."""
        meta = obj["metadata"]
        path = resource.path(meta.get("namespace"), meta["name"]) + ("/status" if status else "")
        out: JSON = self.request(
            "PATCH",
            path,
            obj,
            content_type="application/apply-patch+yaml",
            params={"fieldManager": manager, "force": "true"},
        )
        return out

    def merge_patch(
        self, resource: Resource, name: str, patch: Any, namespace: str | None = None, *, sub: str = ""
    ) -> JSON:
        out: JSON = self.request(
            "PATCH",
            resource.path(namespace, name) + (f"/{sub}" if sub else ""),
            patch,
            content_type="application/merge-patch+json",
        )
        return out

    def list(self, resource: Resource) -> tuple[list[JSON], str]:
        """Every object of a kind (all namespaces) and the list's resourceVersion."""
        items: list[JSON] = []
        params = {"limit": "500"}
        while True:
            out = self.request("GET", resource.path(), params=params)
            items += out.get("items") or []
            token = (out.get("metadata") or {}).get("continue")
            if not token:
                return items, str((out.get("metadata") or {}).get("resourceVersion") or "")
            params = {"limit": "500", "continue": token}

    def watch(self, resource: Resource, resource_version: str, *, timeout: int = 300) -> Iterator[JSON]:
        """The watch events after ``resource_version``; ends when the server ends the stream.
        A ``KubeApiError`` with status 410 means: list again."""
        params = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout),
        }
        conn = self._conn(timeout + 30)
        try:
            conn.request(
                "GET",
                resource.path() + "?" + urllib.parse.urlencode(params),
                headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
            )
            resp = conn.getresponse()
            if resp.status >= 400:
                raise KubeApiError(resp.status, resp.read().decode(errors="replace")[:500])
            while True:
                line = resp.readline()
                if not line:
                    return
                event: JSON = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise KubeApiError(int(status.get("code") or 500), str(status.get("message") or ""))
                yield event
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise KubeApiError(0, f"watch {resource.plural}: {exc}") from None
        finally:
            conn.close()


class Informer:
    """List then watch one kind, keeping a cache by ``namespace/name``; ``on_change`` after every change.

    Runs in its own daemon thread until ``stop``; on any error it lists again (after ``backoff`` s)."""

    def __init__(
        self, api: KubeApi, resource: Resource, on_change: Callable[[], None], *, backoff: float = 0.5
    ) -> None:
        self.api = api
        self.resource = resource
        self.on_change = on_change
        self.backoff = backoff
        self.cache: dict[str, JSON] = {}
        self.synced = threading.Event()
        self.error = ""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"watch-{resource.plural}", daemon=True)

    def start(self) -> Informer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def items(self) -> list[JSON]:
        with self._lock:
            return list(self.cache.values())

    @staticmethod
    def key(obj: Mapping[str, Any]) -> str:
        meta = obj.get("metadata") or {}
        return f"{meta.get('namespace') or ''}/{meta.get('name')}"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                items, rv = self.api.list(self.resource)
                with self._lock:
                    self.cache = {self.key(o): o for o in items}
                self.synced.set()
                self.error = ""
                self.on_change()
                while not self._stop.is_set():
                    for event in self.api.watch(self.resource, rv):
                        obj = event.get("object") or {}
                        rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                        kind = event.get("type")
                        if kind == "BOOKMARK":
                            continue
                        with self._lock:
                            if kind == "DELETED":
                                self.cache.pop(self.key(obj), None)
                            else:
                                self.cache[self.key(obj)] = obj
                        self.on_change()
                        if self._stop.is_set():
                            return
            except KubeApiError as exc:
                self.error = str(exc)
                self._stop.wait(self.backoff)
