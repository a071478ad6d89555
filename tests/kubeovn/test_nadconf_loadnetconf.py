"""NAD configs read as kube-ovn-cni's ``loadNetConf`` reads them (kube-ovn v1.16.2 cmd/cni/cni.go).

A ``type: kube-ovn`` config takes ``provider``, ``server_socket`` and ``routes`` from its top level; any other
type with ``ipam.type: kube-ovn`` takes all three from ``ipam`` (the top level is ignored). An empty
``server_socket`` fails every pod ("server_socket is required in cni.conf"); an empty provider is ``ovn``.
"""

from __future__ import annotations

import json
from typing import Any

from apibridge.kubeovn import nadconf

SOCK = "/run/openvswitch/kube-ovn-daemon.sock"


def parse(body: dict[str, Any]) -> nadconf.NadConfig:
    return nadconf.parse(json.dumps(body))


def test_kube_ovn_type_reads_the_top_level_only() -> None:
    c = parse({"type": "kube-ovn", "server_socket": SOCK, "provider": "a.b.ovn", "routes": [{"dst": "1.1.1.1/32"}]})
    assert (c.kind, c.server_socket, c.cni_provider(), c.routes) == (
        "kube-ovn",
        SOCK,
        "a.b.ovn",
        [{"dst": "1.1.1.1/32"}],
    )
    # a provider written only under "ipam" is not read for type kube-ovn: the CNI sends "ovn"
    c = parse({"type": "kube-ovn", "server_socket": SOCK, "ipam": {"provider": "a.b.ovn"}})
    assert c.cni_provider() == "ovn" and c.provider is None


def test_ipam_only_reads_provider_socket_and_routes_from_ipam() -> None:
    c = parse(
        {
            "type": "macvlan",
            "provider": "top.level",
            "server_socket": "/top",
            "routes": [{"dst": "9.9.9.9/32"}],
            "ipam": {"type": "kube-ovn", "provider": "a.b", "server_socket": SOCK, "routes": [{"dst": "1.1.1.1/32"}]},
        }
    )
    assert (c.kind, c.provider, c.server_socket, c.routes) == ("ipam-only", "a.b", SOCK, [{"dst": "1.1.1.1/32"}])


def test_missing_server_socket_is_recorded_as_empty() -> None:
    assert parse({"type": "kube-ovn", "provider": "a.b.ovn"}).server_socket == ""
    assert parse({"type": "macvlan", "server_socket": SOCK, "ipam": {"type": "kube-ovn"}}).server_socket == ""
