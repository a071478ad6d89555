"""The kopf side of the controller: watches, caches and wake-ups — no decisions.

Every watched kind gets two registrations:

* ``@kopf.index`` keeps a slim copy of each object (``kube.slim``). kopf lists every indexed kind before it
  calls any other handler, so by the time the worker reads the indices they hold the whole cluster —
  planning from a half-listed cache could, for instance, re-allocate a ``cidrBlock: auto`` whose
  Subnet simply had not been listed yet.
* ``@kopf.on.event`` hands the live indices to the controller (``bind``) and reports the event
  (``notify``), which wakes the worker only if the object's fingerprint changed.

Services and EndpointSlices are narrowed to the ones the planner reads (``default/kubernetes``,
``kube-system/kube-dns`` and the API server's slices). Handlers are ``async`` so that they run on the event
loop, next to the worker, rather than in kopf's thread pool. No handler here writes to the watched
objects, so kopf never adds finalizers or annotations of its own to them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import kopf

from apibridge.base.kinds import Kind
from apibridge.base.kubeclient import Client
from apibridge.operator import kube
from apibridge.operator.controller import Controller

INDEX_PREFIX = "idx_"


def index_id(kind: Kind) -> str:
    return INDEX_PREFIX + kind.plural.replace("-", "_")


def _filter(kind: Kind, controller: Controller) -> Callable[..., bool] | None:
    if kind is kube.SERVICE:
        settings = controller.config.settings
        return lambda body, **_: kube.planned_service(body, settings)
    if kind is kube.ENDPOINTSLICE:
        return lambda body, **_: kube.planned_endpointslice(body)
    return None


def _register(registry: kopf.OperatorRegistry, controller: Controller, kind: Kind) -> None:
    when = _filter(kind, controller)

    async def index(body: Mapping[str, Any], **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
        return {(kube.namespace_of(body) or "", kube.name_of(body)): kube.slim(body)}

    async def on_event(event: Mapping[str, Any], **kwargs: Any) -> None:
        controller.bind({k: v for k, v in kwargs.items() if k.startswith(INDEX_PREFIX)})
        obj = event.get("object")
        if isinstance(obj, Mapping):
            controller.notify(event.get("type"), obj)

    kopf.index(kind.api_version, kind.plural, id=index_id(kind), when=when, registry=registry)(index)
    kopf.on.event(kind.api_version, kind.plural, id=f"watch_{index_id(kind)}", when=when, registry=registry)(on_event)


def build_registry(controller: Controller, client: Client) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    for kind in kube.WATCHED:
        _register(registry, controller, kind)
    logins = 0

    @kopf.on.login(registry=registry)
    async def login(**_: Any) -> Any:
        """The credentials of the controller's own client (one client stack: ``--kubeconfig/--context`` or
        in cluster). kopf logs in again after a 401: then the credentials are re-read (a rotated token)."""
        nonlocal logins
        logins += 1
        if logins > 1:
            await client.reauthenticate()
        return kopf.ConnectionInfo(**client.connection_info())

    return registry


def settings() -> kopf.OperatorSettings:
    s = kopf.OperatorSettings()
    s.posting.level = logging.WARNING  # kopf's own k8s Events: only problems
    s.watching.server_timeout = 300  # re-establish watches every 5 minutes
    s.watching.client_timeout = 330
    s.watching.connect_timeout = 10
    s.networking.request_timeout = 30
    s.batching.batch_window = 0.05
    return s
