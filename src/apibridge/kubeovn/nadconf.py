"""NetworkAttachmentDefinition ``spec.config`` as Kube-OVN reads it.

The controller (``loadNetConf``) only asks: is this a kube-ovn NAD (``type: kube-ovn``, or any plugin
of a conflist), an IPAM-only one (``ipam.type: kube-ovn``), or foreign? The provider it *derives*
from the NAD's name and namespace; the CNI binary instead sends the config's own ``provider``
field (default ``ovn``!). The two must agree, which is why the derived provider is the one we write.

What the CNI reads follows ``loadNetConf`` (kube-ovn v1.16.2 ``cmd/cni/cni.go``): a ``type: kube-ovn``
plugin's own ``provider``, ``server_socket`` and ``routes``; for any other type with ``ipam.type: kube-ovn``
those of ``ipam`` (the plugin's top-level ones are ignored). An empty ``server_socket`` fails every pod
("server_socket is required in cni.conf").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from apibridge.kubeovn import rules

Kind = Literal["kube-ovn", "ipam-only", "foreign", "empty"]


class NadConfigError(ValueError):
    """``spec.config`` is not a JSON object."""


@dataclass(frozen=True)
class NadConfig:
    kind: Kind
    provider: str | None  # the config's own "provider" field (what kube-ovn-cni sends), if any
    routes: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    server_socket: str = ""  # what kube-ovn-cni dials; "" fails every pod (loadNetConf)

    def cni_provider(self) -> str:
        """What kube-ovn-cni uses: the config's provider, ``ovn`` when empty (cmd/cni/cni.go loadNetConf)."""
        return self.provider or rules.OVN_PROVIDER

    def routes_key(self) -> str:
        """The routes annotation kube-ovn-cni reads for an interface of this NAD: the one of the provider it
        sends (``cni_provider``; kube-ovn v1.16.2 pkg/daemon/handler.go handleAdd reads
        ``<provider>.kubernetes.io/routes``) — eth0's plain ``ovn.kubernetes.io/routes`` without a provider."""
        return rules.provider_key(self.cni_provider(), rules.ROUTES)

    def derived_provider(self, name: str, namespace: str) -> str | None:
        """What kube-ovn-controller derives, or None for a NAD it ignores."""
        if self.kind == "kube-ovn":
            return rules.nad_provider(name, namespace)
        if self.kind == "ipam-only":
            return rules.nad_provider(name, namespace, ipam_only=True)
        return None


def _plugin_kind(plugin: dict[str, Any]) -> Kind | None:
    if plugin.get("type") == rules.NAD_TYPE:
        return "kube-ovn"
    ipam = plugin.get("ipam")
    if isinstance(ipam, dict) and ipam.get("type") == rules.NAD_TYPE:
        return "ipam-only"
    return None


def _delegate_plugins(data: dict[str, Any]) -> list[Any]:
    """The plugins as kube-ovn-controller's ``loadNetConf`` takes them (kube-ovn v1.16.2
    ``pkg/controller/network_attachment.go``, Multus v4.2.4 ``LoadDelegateNetConfList``): a config with a
    ``type`` is one plugin (its ``plugins`` are ignored); without one it must be a list whose first plugin
    has a ``type``. Every plugin unmarshals into containernetworking/cni v1.3.0 ``types.NetConf``, whose
    ``ipam`` is an object: ``"ipam": "kube-ovn"`` fails (and with it every pod that attaches the NAD)."""
    kind = data.get("type")
    if kind is not None and not isinstance(kind, str):
        raise NadConfigError('"type" must be a string')
    if kind:
        plugins: list[Any] = [data]
    else:
        listed = data.get("plugins")
        if not isinstance(listed, list) or not listed:
            raise NadConfigError("delegate must have the 'type' or 'plugin' field")
        first = listed[0]
        if not isinstance(first, dict) or not isinstance(first.get("type"), str) or not first.get("type"):
            raise NadConfigError("a plugin delegate must have the 'type' field")
        plugins = listed
    for plugin in plugins:
        if not isinstance(plugin, dict):
            raise NadConfigError("every plugin must be a JSON object")
        ipam = plugin.get("ipam")
        if ipam is not None and not isinstance(ipam, dict):
            raise NadConfigError('"ipam" must be an object')
    return plugins


def parse(config: str | None) -> NadConfig:
    if config is None or not config.strip():
        return NadConfig("empty", None)
    try:
        data = json.loads(config)
    except json.JSONDecodeError as exc:
        raise NadConfigError(f"not valid JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(data, dict):
        raise NadConfigError("must be a JSON object")
    plugins = _delegate_plugins(data)
    kinds = [_plugin_kind(p) for p in plugins if isinstance(p, dict)]
    kind: Kind = "kube-ovn" if "kube-ovn" in kinds else "ipam-only" if "ipam-only" in kinds else "foreign"
    provider: str | None = None
    routes: list[dict[str, Any]] = []
    socket = ""
    for plugin in plugins:
        if isinstance(plugin, dict) and _plugin_kind(plugin):
            ipam = plugin.get("ipam")
            if ipam is not None and not isinstance(ipam, dict):
                raise NadConfigError('"ipam" must be an object')
            # loadNetConf: a kube-ovn plugin's own fields; another type's from "ipam"
            source = plugin if plugin.get("type") == rules.NAD_TYPE else (ipam or {})
            raw_routes = source.get("routes")
            if raw_routes is not None and not isinstance(raw_routes, list):
                raise NadConfigError('"routes" must be a list')
            provider = source.get("provider") or None
            routes = list(raw_routes or [])
            sock = source.get("server_socket")
            socket = sock if isinstance(sock, str) else ""
            break
    return NadConfig(kind, provider if isinstance(provider, str) else None, routes, data, socket)


def render(provider: str) -> str:
    """The ``spec.config`` of a kube-ovn NAD, in the seed's shape, with ``provider`` set."""
    return json.dumps(
        {
            "cniVersion": rules.NAD_CNI_VERSION,
            "type": rules.NAD_TYPE,
            "server_socket": rules.NAD_SERVER_SOCKET,
            "provider": provider,
        },
        indent=2,
    )
