"""The Multus ``k8s.v1.cni.cncf.io/networks`` annotation, parsed as Multus and Kube-OVN parse it.

Kube-OVN calls ``nadutils.ParseNetworkAnnotation`` (network-attachment-definition-client): a value
containing ``[``, ``{`` or ``"`` is a JSON list of NetworkSelectionElement objects; otherwise it is a
comma list of ``[<namespace>/]<name>[@<ifname>]`` items, each trimmed, every non-empty part a DNS-1123
label (nad-client v1.7.7 ``pkg/utils/net-attach-def.go``). A missing or empty namespace means the pod's
namespace, an empty interface none; JSON keys match case-insensitively, as ``json.Unmarshal`` matches them.

Round trips keep everything the user wrote: JSON elements keep unknown fields (``ips``, ``mac``,
``cni-args`` …) in order, and ``append`` extends the text the pod already has in the same form
instead of re-serialising it.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from apibridge.kubeovn import rules
from apibridge.kubeovn.addresses import AddressError, parse_mac

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

Form = Literal["comma", "json"]


class NetworksError(ValueError):
    """The annotation is not something Multus would accept."""


@dataclass(frozen=True)
class NetworkSelection:
    """One attachment request: ``name``, optional ``namespace`` and ``interface``, other JSON fields kept."""

    name: str
    namespace: str | None = None
    interface: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=True, hash=False)

    def resolved_namespace(self, pod_namespace: str) -> str:
        return self.namespace or pod_namespace

    def ref(self, pod_namespace: str) -> tuple[str, str]:
        """(namespace, name) of the NAD this selects, for a pod in ``pod_namespace``."""
        return self.resolved_namespace(pod_namespace), self.name

    def to_text(self) -> str:
        text = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{text}@{self.interface}" if self.interface else text

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.namespace:
            out["namespace"] = self.namespace
        if self.interface:
            out["interface"] = self.interface
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class NetworksAnnotation:
    form: Form
    selections: tuple[NetworkSelection, ...]

    def format(self) -> str:
        if self.form == "json":
            return json.dumps([s.to_json() for s in self.selections], separators=(",", ":"))
        return ",".join(s.to_text() for s in self.selections)


def _is_json(value: str) -> bool:
    return any(ch in value for ch in '[{"')


def _parse_text_item(item: str) -> NetworkSelection:
    if item.count("/") > 1 or item.count("@") > 1:
        raise NetworksError(f"{item!r}: at most one '/' and one '@' are allowed ([namespace/]name[@interface])")
    namespace: str | None = None
    interface: str | None = None
    rest = item
    if "/" in rest:
        namespace, rest = rest.split("/", 1)
        namespace = namespace.strip()
    if "@" in rest:
        rest, interface = rest.split("@", 1)
        interface = interface.strip()
    rest = rest.strip()
    # parsePodNetworkObjectText (nad-client v1.7.7): only non-empty parts are checked; an empty namespace is the
    # pod's, an empty interface is no request
    for what, part in (("namespace", namespace), ("name", rest), ("interface", interface)):
        if part is not None and (part or what == "name") and not _LABEL.match(part):
            raise NetworksError(f"{item!r}: {what} {part!r} is not a DNS-1123 label (lower case, digits, '-')")
    if interface:
        _check_ifname(item, interface)
    return NetworkSelection(name=rest, namespace=namespace or None, interface=interface or None)


IFNAMSIZ = 16  # Linux: interface names are at most 15 bytes


def _check_ifname(where: str, name: str) -> None:
    """Multus ``parsePodNetworkObjectName`` (multus-cni ``pkg/k8sclient/k8sclient.go``): at most
    ``IFNAMSIZ - 1`` characters, no whitespace, no ``/``; the kernel refuses such a name as well."""
    if len(name.encode()) > IFNAMSIZ - 1 or any(ch in name for ch in " \t\n\v\f\r/"):
        raise NetworksError(f"{where!r}: interface name {name!r} must be at most 15 characters, without '/' or spaces")


def _go_ip(text: str) -> bool:
    """Go's ``net.ParseIP`` accepts ``text`` (no zone, no prefix)."""
    if "%" in text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _check_requests(index: int, element: dict[str, Any]) -> None:
    """What Multus checks of a JSON element before it runs a plugin (multus-cni ``pkg/k8sclient/k8sclient.go
    parsePodNetworkAnnotation``): ``mac`` parses (``net.ParseMAC``), each of ``ips`` is an address or a CIDR;
    ``default-route`` unmarshals into ``[]net.IP`` (nad-client v1.7.7 ``GatewayRequest``), so an entry that is
    no address fails ``json.Unmarshal`` itself. Any of these fails the pod."""
    mac = element.get("mac")
    if mac is not None:
        if not isinstance(mac, str):
            raise NetworksError(f'element {index}: "mac" must be a string')
        if mac:
            try:
                parse_mac(mac)
            except AddressError:
                raise NetworksError(f'element {index}: "mac" {mac!r} is not a MAC address') from None
    ips = element.get("ips")
    if ips is not None:
        if not isinstance(ips, list) or not all(isinstance(i, str) for i in ips):
            raise NetworksError(f'element {index}: "ips" must be a list of strings')
        for ip in ips:
            ok = _go_ip(ip.split("/", 1)[0]) and ("/" not in ip or (ip.split("/", 1)[1].isdigit() and _go_cidr(ip)))
            if not ok:
                raise NetworksError(f'element {index}: "ips" entry {ip!r} is not an IP address or CIDR')
    gws = element.get("default-route")
    if gws is not None:
        if not isinstance(gws, list) or not all(isinstance(g, str) for g in gws):
            raise NetworksError(f'element {index}: "default-route" must be a list of strings')
        for gw in gws:
            if gw and not _go_ip(gw):
                raise NetworksError(f'element {index}: "default-route" entry {gw!r} is not an IP address')


def _go_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _parse_json_item(index: int, element: Any) -> NetworkSelection:
    if not isinstance(element, dict):
        raise NetworksError(f"element {index} is not an object")
    # json.Unmarshal matches the struct tags case-insensitively; the last of duplicates wins
    folded: dict[str, Any] = {}
    for key, val in element.items():
        folded[key.lower() if key.lower() in ("name", "namespace", "interface") else key] = val
    element = folded
    name = element.get("name")
    if not isinstance(name, str) or not name:
        raise NetworksError(f'element {index} has no "name"')
    namespace = element.get("namespace")
    interface = element.get("interface")
    for key, val in (("namespace", namespace), ("interface", interface)):
        if val is not None and not isinstance(val, str):
            raise NetworksError(f'element {index}: "{key}" must be a string')
    if interface:
        _check_ifname(f"element {index}", interface)
    _check_requests(index, element)
    extra = {k: v for k, v in element.items() if k not in ("name", "namespace", "interface")}
    return NetworkSelection(name=name, namespace=namespace or None, interface=interface or None, extra=extra)


def check_size(value: str, error: type[ValueError]) -> None:
    """Refuse, before parsing, a value longer than the API server allows all annotations together."""
    if len(value) > rules.ANNOTATIONS_MAX_BYTES:
        raise error(
            f"{len(value)} characters; at most {rules.ANNOTATIONS_MAX_BYTES} are read "
            "(the API server's limit for all of a pod's annotations together)"
        )


def check_entries(count: int, max_entries: int, what: str, error: type[ValueError]) -> None:
    """Refuse more than ``max_entries`` entries before any of them is read."""
    if count > max_entries:
        raise error(f"{count} {what}; at most {max_entries} are read")


def parse(value: str | None) -> NetworksAnnotation:
    """Parse the annotation value; ``None`` or blank means no attachments (comma form).

    Bounded: at most ``rules.ANNOTATIONS_MAX_BYTES`` characters and ``rules.NETWORKS_MAX_ENTRIES``
    selections (``NetworksError`` names the bound).
    """
    if value is None or not value.strip():
        return NetworksAnnotation("comma", ())
    check_size(value, NetworksError)
    if _is_json(value):
        try:
            data = json.loads(value)
        except json.JSONDecodeError as exc:
            raise NetworksError(f"not valid JSON: {exc.msg} at character {exc.pos}") from None
        except RecursionError:
            raise NetworksError("JSON nested too deeply") from None
        if not isinstance(data, list):
            raise NetworksError("JSON form must be a list of network selection objects")
        check_entries(len(data), rules.NETWORKS_MAX_ENTRIES, "network selections", NetworksError)
        return NetworksAnnotation("json", tuple(_parse_json_item(i, el) for i, el in enumerate(data)))
    check_entries(value.count(",") + 1, rules.NETWORKS_MAX_ENTRIES, "network selections", NetworksError)
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise NetworksError("empty item in comma-separated list")
    return NetworksAnnotation("comma", tuple(_parse_text_item(item) for item in items))


def append(value: str | None, selection: NetworkSelection) -> str:
    """``value`` with ``selection`` added at the end, in the form ``value`` already uses.

    Comma form is extended textually, so spacing and order the user wrote stay as they were.
    """
    current = parse(value)
    if current.form == "json":
        return NetworksAnnotation("json", (*current.selections, selection)).format()
    if value is None or not value.strip():
        return selection.to_text()
    return f"{value.rstrip()},{selection.to_text()}"


def free_interface(annotation: NetworksAnnotation) -> str | None:
    """The interface to name for one more selection appended to ``annotation``: ``None`` when Multus'
    positional name (``net<n+1>``) is free, else the first free ``net<k>`` — so that an appended
    attachment never collides with an interface the pod named itself (``macvlan@net2``)."""
    taken = set(interface_names(annotation))
    positional = f"{rules.ATTACHMENT_IFNAME_PREFIX}{len(annotation.selections) + 1}"
    if positional not in taken:
        return None
    k = 1
    while f"{rules.ATTACHMENT_IFNAME_PREFIX}{k}" in taken:
        k += 1
    return f"{rules.ATTACHMENT_IFNAME_PREFIX}{k}"


def _deprecated_interface(sel: NetworkSelection) -> str | None:
    """``interfaceRequest`` (any case, as ``json.Unmarshal`` matches tags), which Multus v4.2.4 still takes when
    ``interface`` is empty (``pkg/types/types.go DeprecatedInterfaceRequest``, ``pkg/k8sclient/k8sclient.go``);
    nad-client v1.7.7 — kube-ovn-controller — has no such field."""
    value = next((v for k, v in sel.extra.items() if k.lower() == "interfacerequest"), None)
    return value if isinstance(value, str) and value else None


def interface_names(annotation: NetworksAnnotation) -> list[str]:
    """The interface Multus gives each selection: its own name (``interface``, else the deprecated
    ``interfaceRequest``), else ``net<position>``."""
    return [
        s.interface or _deprecated_interface(s) or f"{rules.ATTACHMENT_IFNAME_PREFIX}{i}"
        for i, s in enumerate(annotation.selections, start=1)
    ]
