"""Multus' ``k8s.v1.cni.cncf.io/network-status`` pod annotation, as Multus writes it.

Built by ``nadutils.CreateNetworkStatus`` from each CNI result: a JSON list of entries with ``name``
(``<ns>/<nad>``; the default network is named after its conflist, ``kube-ovn``), ``interface``,
``ips``, ``mac``, ``default``, ``dns`` and ``gateway``. It is the one place that says which
interface an attachment really got and with which addresses, so ``doctor`` reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


class NetworkStatusError(ValueError):
    """Missing, not JSON, or not a list."""


@dataclass(frozen=True)
class NetworkStatusEntry:
    name: str
    interface: str
    ips: tuple[str, ...]
    mac: str = ""
    default: bool = False


def parse(value: str | None) -> list[NetworkStatusEntry]:
    if not value:
        raise NetworkStatusError("missing")
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        raise NetworkStatusError(f"not JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise NetworkStatusError("not a JSON list")
    return [
        NetworkStatusEntry(
            str(e.get("name") or ""),
            str(e.get("interface") or ""),
            tuple(str(i) for i in e.get("ips") or []),
            str(e.get("mac") or ""),
            bool(e.get("default", False)),
        )
        for e in data
        if isinstance(e, dict)
    ]


def entry(entries: list[NetworkStatusEntry], nad: str) -> NetworkStatusEntry | None:
    """The first entry named ``nad`` (``<ns>/<name>``), as kube-ovn v1.16.2
    pkg/util/network_attachment.go ``GetNadInterfaceFromNetworkStatusAnnotation`` takes it (it then wants an
    ``interface``; ``doctor`` says which is missing)."""
    return next((e for e in entries if e.name == nad), None)
