"""The ``<provider>.kubernetes.io/routes`` pod annotation, as kube-ovn-cni reads it.

kube-ovn-cni unmarshals it into ``[]request.Route`` (``{"dst": "...", "gw": "..."}``, both
omitempty) at CNI ADD, with Go's ``encoding/json`` rules (kube-ovn v1.16.2 pkg/daemon/handler.go handleAdd):
keys match case-insensitively, ``null`` leaves a field empty, a ``null`` element is the zero route (a
default route), and a value of only whitespace is not JSON. A value that is not a JSON list of such
objects fails the pod's sandbox with ``invalid routes for pod <ns>/<pod>: <json error>``; that is the only
check Kube-OVN makes. Semantic checks (bad dst, empty gw, default route …) belong to the validator,
which reads ``Route`` objects from here.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from apibridge.kubeovn import dualstack, rules
from apibridge.kubeovn.dualstack import IPAddress, IPNetwork
from apibridge.kubeovn.networks import check_entries, check_size


class RoutesError(ValueError):
    """Not JSON, or not a list of route objects: kube-ovn-cni would fail the pod."""


@dataclass(frozen=True)
class Route:
    dst: str = ""
    gw: str = ""
    extra: dict[str, Any] = field(default_factory=dict, hash=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.dst:
            out["dst"] = self.dst
        if self.gw:
            out["gw"] = self.gw
        out.update(self.extra)
        return out


def parse(value: str | None) -> list[Route]:
    """Parse the annotation; ``None``/blank is no routes. Raises ``RoutesError`` like kube-ovn-cni fails.

    Bounded: at most ``rules.ANNOTATIONS_MAX_BYTES`` characters and ``rules.ROUTES_MAX_ENTRIES`` routes
    (``RoutesError`` names the bound).
    """
    if not value:  # handleAdd reads the annotation only when it is not ""
        return []
    if not value.strip():
        raise RoutesError("not valid JSON: unexpected end of JSON input")
    check_size(value, RoutesError)
    try:
        data = json.loads(value, parse_constant=_not_json)  # NaN, Infinity: Python extensions, not JSON
    except json.JSONDecodeError as exc:
        raise RoutesError(f"not valid JSON: {exc.msg} at character {exc.pos}") from None
    except RecursionError:
        raise RoutesError("JSON nested too deeply") from None
    if data is None:  # json.Unmarshal of null into a slice: no routes
        return []
    if not isinstance(data, list):
        raise RoutesError('must be a JSON list of {"dst": ..., "gw": ...} objects')
    check_entries(len(data), rules.ROUTES_MAX_ENTRIES, "routes", RoutesError)
    routes: list[Route] = []
    for i, item in enumerate(data):
        if item is None:  # json.Unmarshal of null into a Route: the zero Route (no dst: a default route)
            routes.append(Route())
            continue
        if not isinstance(item, dict):
            raise RoutesError(f"element {i} is not an object")
        fields = {"dst": "", "gw": ""}
        extra: dict[str, Any] = {}
        for key, val in item.items():  # Go matches struct tags case-insensitively; the last duplicate wins
            tag = key.lower() if key.lower() in fields else None
            if tag is None:
                extra[key] = val
            elif val is None:  # null into a string: left as it is
                continue
            elif not isinstance(val, str):
                raise RoutesError(f'element {i}: "{key}" must be a string')
            else:
                fields[tag] = val
        routes.append(Route(dst=fields["dst"], gw=fields["gw"], extra=extra))
    return routes


def _not_json(name: str) -> Any:
    raise RoutesError(f"not valid JSON: invalid character {name[0]!r} looking for beginning of value")


def format(routes: list[Route]) -> str:
    """Compact JSON, as Kube-OVN and the seed write it: ``[{"dst":"10.96.0.1/32","gw":"100.100.100.1"}]``."""
    return compact_json([r.to_json() for r in routes], plain=not any(r.extra for r in routes))


def compact_json(value: Any, *, plain: bool) -> str:
    """``json.dumps(value, separators=(",", ":"))``, through orjson (5x faster: injecting 100k pods formats
    100k annotations) when ``plain`` says every value is a string: orjson then writes the same text
    unless a string is non-ASCII (json.dumps escapes it), which is checked. Numbers and other values
    taken from the input (a route's extra fields) keep json.dumps, whose float and integer text is Python's."""
    if plain:
        text = orjson.dumps(value).decode()
        if text.isascii():
            return text
    return json.dumps(value, separators=(",", ":"))


def cni_dst(text: str) -> IPNetwork | None:
    """A route ``dst`` as kube-ovn-cni reads it (Go's ``net.ParseCIDR``): address/prefix required, host
    bits allowed and dropped, no spaces. ``None`` means kube-ovn-cni logs "invalid route destination" and
    skips the route. (An empty ``dst`` is a default route; callers handle that before asking.)"""
    if "/" not in text or text != text.strip() or "%" in text:  # net.ParseCIDR: no zone
        return None
    prefix = text.rsplit("/", 1)[1]
    if not prefix.isascii() or not prefix.isdigit():  # a netmask ("/255.255.255.0") is Python's, not Go's
        return None
    try:
        return dualstack.network(text, strict=False)
    except ValueError:
        return None


def cni_gw(text: str) -> IPAddress | None:
    """A route ``gw`` as kube-ovn-cni reads it (Go's ``net.ParseIP``); ``None``: logged and skipped.

    Go refuses a zone (``fe80::1%eth0``, which Python takes) and keeps an IPv4-mapped IPv6 address
    (``::ffff:10.0.0.1``) as the IPv4 address it maps (its ``To4()`` is not nil: an IPv4 gateway)."""
    if "%" in text:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def merge(existing: list[Route], wanted: list[Route]) -> list[Route]:
    """``existing`` plus every route of ``wanted`` whose dst is not routed yet: append-only, idempotent."""
    have = {r.dst for r in existing}
    merged = list(existing)
    for route in wanted:
        if route.dst not in have:
            have.add(route.dst)
            merged.append(route)
    return merged
