"""The twin as kube-ovn-cni: pods and nodes wired from what kube-ovn-controller wrote into their annotations.

With the kube-ovn engine the model still says *which* interfaces a pod has (``eth0`` and one ``netN`` per
attachment, each with its provider and the routes of its ``routes`` annotation, which kube-ovn-cni applies
at ADD), but *what* each interface is comes from the controller, as kube-ovn-cni reads it
(``pkg/daemon/handler.go`` ``handleAdd``, kube-ovn v1.16.2): per provider,
``<provider>.kubernetes.io/{allocated,routed,ip_address,mac_address,cidr,gateway,logical_switch}``; the OVS
port's ``iface-id`` is ``ovs.PodNameToPortName`` (``<pod>.<ns>`` for ``ovn``, ``<pod>.<ns>.<provider>``
otherwise). Failure modes, as kube-ovn-cni's:

* not ``allocated`` or not ``routed`` yet: kube-ovn-cni waits (the CNI ADD retries), so the pod is left out
  (it stays Pending) until the controller's annotations arrive;
* an annotation it cannot parse (an address outside its ``cidr``, a bad MAC): the ADD fails, so the pod
  gets the failure and no interfaces.

A node's ``ovn0`` comes from the Node's annotations (``ovn.kubernetes.io/ip_address``, ``mac_address``;
``handleAddNode`` in pkg/controller/node.go) when the controller has written them; until then the model's.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

from apibridge.kubeovn import rules
from apibridge.twin.ovn.topology import LspNic, Topology, TwinNode, TwinPod

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
MAX_ANNOTATION = 1024  # bytes of one address annotation (a tenant can write annotations): more is refused


class AnnotationError(ValueError):
    pass


def _annotations(docs: Sequence[Mapping[str, Any]], kind: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for body in docs:
        if body.get("kind") != kind:
            continue
        meta = body.get("metadata") or {}
        ref = f"{meta.get('namespace')}/{meta.get('name')}" if kind == "Pod" else str(meta.get("name"))
        out[ref] = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    return out


def _field(ann: Mapping[str, str], provider: str, key: str) -> str:
    value = ann.get(rules.provider_key(provider, key), "")
    if len(value) > MAX_ANNOTATION:
        raise AnnotationError(f"{rules.provider_key(provider, key)} is longer than {MAX_ANNOTATION} bytes")
    return value


def ready(ann: Mapping[str, str], provider: str) -> bool:
    """kube-ovn-cni's wait: the controller allocated the provider's address and routed its port."""
    return ann.get(rules.provider_key(provider, rules.ALLOCATED)) == "true" and (
        ann.get(rules.provider_key(provider, rules.ROUTED)) == "true"
    )


def wired(nic: LspNic, ann: Mapping[str, str], provider: str, port: str) -> LspNic:
    """``nic`` with the controller's address, MAC, gateway and switch for ``provider`` (AnnotationError)."""
    key = rules.provider_key
    ips = [s.strip() for s in _field(ann, provider, rules.IP_ADDRESS).split(",") if s.strip()]
    cidrs = [s.strip() for s in _field(ann, provider, rules.CIDR).split(",") if s.strip()]
    gateways = [s.strip() for s in _field(ann, provider, rules.GATEWAY).split(",") if s.strip()]
    mac = _field(ann, provider, rules.MAC_ADDRESS).lower()
    switch = _field(ann, provider, rules.LOGICAL_SWITCH)
    if not ips or not switch:
        raise AnnotationError(f"{key(provider, rules.IP_ADDRESS)} or {key(provider, rules.LOGICAL_SWITCH)} is empty")
    if not _MAC.match(mac):
        raise AnnotationError(f"{key(provider, rules.MAC_ADDRESS)} {mac!r} is not a MAC address")
    try:
        networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        addresses = []
        for text in ips:
            ip = ipaddress.ip_address(text)
            net = next((n for n in networks if n.version == ip.version and ip in n), None)
            if net is None:
                raise AnnotationError(f"{key(provider, rules.IP_ADDRESS)} {ip} is in none of {cidrs}")
            addresses.append(f"{ip}/{net.prefixlen}")
        gws = tuple(ipaddress.ip_address(g) for g in gateways)
    except ValueError as exc:
        if isinstance(exc, AnnotationError):
            raise
        raise AnnotationError(f"{provider}: {exc}") from None
    return dataclasses.replace(nic, lsp=port, switch=switch, mac=mac, addresses=tuple(addresses), gateways=gws)


def _pod(pod: TwinPod, ann: Mapping[str, str]) -> TwinPod | None:
    """The pod as kube-ovn-cni wires it; None while the controller has not allocated and routed it."""
    if pod.failure:
        return pod
    nics = []
    for nic in pod.nics:
        provider = rules.OVN_PROVIDER if nic.provider == rules.OVN_PROVIDER else rules.subnet_provider(nic.provider)
        if not ready(ann, provider):
            return None
        try:
            nics.append(wired(nic, ann, provider, rules.lsp_name(pod.name, pod.namespace, provider)))
        except AnnotationError as exc:
            return dataclasses.replace(pod, nics=(), failure=f"kube-ovn-cni: {exc}")
    return dataclasses.replace(pod, nics=tuple(nics))


def _node(node: TwinNode, ann: Mapping[str, str]) -> TwinNode:
    if not ready_node(ann):
        return node
    try:
        nic = wired(node.nic, ann, rules.OVN_PROVIDER, rules.node_port(node.name))
    except AnnotationError:
        return node
    return dataclasses.replace(node, nic=nic)


def ready_node(ann: Mapping[str, str]) -> bool:
    return ann.get(rules.provider_key(rules.OVN_PROVIDER, rules.ALLOCATED)) == "true" and bool(
        ann.get(rules.provider_key(rules.OVN_PROVIDER, rules.IP_ADDRESS))
    )


def from_annotations(topo: Topology, docs: Sequence[Mapping[str, Any]]) -> tuple[Topology, list[str]]:
    """``topo`` with pods and nodes wired from the controller's annotations in ``docs`` (object bodies),
    and the refs of the pods still waiting for them."""
    pods_ann = _annotations(docs, "Pod")
    nodes_ann = _annotations(docs, "Node")
    pods: list[TwinPod] = []
    waiting: list[str] = []
    for pod in topo.pods:
        wired_pod = _pod(pod, pods_ann.get(pod.ref, {}))
        if wired_pod is None:
            waiting.append(pod.ref)
        else:
            pods.append(wired_pod)
    nodes = [_node(n, nodes_ann.get(n.name, {})) for n in topo.nodes]
    return dataclasses.replace(topo, pods=pods, nodes=nodes), waiting


def node_seed(node: TwinNode, chassis: str | None) -> dict[str, str]:
    """What the Node carries before kube-ovn-controller sees it, in the kube-ovn engine.

    ``ovn0`` must exist from the start (the control-plane node's namespace holds kube-apiserver and is
    never recreated), so the node's join address is the model's, offered to the controller the way it
    finds it after a restart: ``allocated``/``ip_address``/``mac_address``/``logical_switch``, which
    ``handleAddNode`` takes through ``ipam.GetStaticAddress`` (pkg/controller/node.go, v1.16.2) and programs
    as the ``node-<name>`` port. ``chassis`` (``ovn.kubernetes.io/chassis``) is what kube-ovn-cni writes:
    each Node names its own chassis, whose hostname is the node's name, because ``gcChassis`` deletes a
    chassis no Node names and one whose hostname is not the Node naming it (pkg/controller/gc.go, v1.16.2).
    """
    nic = node.nic
    out = {
        rules.provider_key(rules.OVN_PROVIDER, rules.ALLOCATED): "true",
        rules.provider_key(rules.OVN_PROVIDER, rules.IP_ADDRESS): ",".join(str(ip) for ip in nic.ips),
        rules.provider_key(rules.OVN_PROVIDER, rules.MAC_ADDRESS): nic.mac,
        rules.provider_key(rules.OVN_PROVIDER, rules.LOGICAL_SWITCH): nic.switch,
    }
    if chassis:
        out[rules.provider_key(rules.OVN_PROVIDER, "chassis")] = chassis
    return out
