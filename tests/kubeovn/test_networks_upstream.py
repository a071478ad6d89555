"""Issue 11 item 16 (part): the networks annotation parsed as network-attachment-definition-client v1.7.7
``pkg/utils/net-attach-def.go ParseNetworkAnnotation`` parses it — the parser Multus and kube-ovn-controller
both call (kube-ovn-cni receives the result from Multus).

- ``parsePodNetworkObjectText``: an empty namespace (``/net1``) is the pod's namespace, an empty interface
  (``net1@``) is no interface request; only non-empty parts must be DNS-1123 labels.
- JSON form: ``json.Unmarshal`` into ``NetworkSelectionElement`` matches the tags case-insensitively (``"Name"``).
"""

from __future__ import annotations

import pytest

from apibridge.kubeovn import networks


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("/net1", ("net1", None, None)),  # nad-client: namespace "" -> the pod's
        ("net1@", ("net1", None, None)),  # interface "" -> none requested
        ("ns/net1@", ("net1", "ns", None)),
        (" ns / net1 @ eth9 ", ("net1", "ns", "eth9")),
    ],
)
def test_empty_parts_are_absent_not_errors(value: str, want: tuple[str, str | None, str | None]) -> None:
    (sel,) = networks.parse(value).selections
    assert (sel.name, sel.namespace, sel.interface) == want


def test_json_keys_match_case_insensitively() -> None:
    (sel,) = networks.parse('[{"Name": "net1", "NAMESPACE": "ns", "Interface": "eth9"}]').selections
    assert (sel.name, sel.namespace, sel.interface) == ("net1", "ns", "eth9")


@pytest.mark.parametrize("value", ["Net1", "ns/Bad", "net1@Eth0", "a/b/c", "a@b@c"])
def test_what_nad_client_refuses_is_still_refused(value: str) -> None:
    with pytest.raises(networks.NetworksError):
        networks.parse(value)
