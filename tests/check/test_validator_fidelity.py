"""Issue 11 item 10: validator rules in step with the targeted Kube-OVN (``Settings.kubeovn_version``).

- ``pkg/webhook/subnet.go SubnetCreateHook`` (v1.16.2): a Subnet named like *any* Vpc is denied (AB013).
- ``pkg/util/validator.go ValidateSubnet``: only the controller's ``KUBERNETES_SERVICE_HOST`` is tested
  against a default-VPC subnet — one address, the Service's primary ClusterIP (AB014).
- An ACL entry without ``priority`` unmarshals to 0 (Go's zero value), a valid priority (AB018).
- ``ValidateNetworkBroadcast``: the all-ones IPv6 host is a valid gateway from kube-ovn #6883 (v1.15.15 on the
  1.15 line, master/v1.17), not in v1.16.2 (AB002).
- ``protocol: Mac`` is valid only on master/v1.17 (``kubeovnv1.ProtocolMac``), not in v1.16.2 (AB010).
"""

from __future__ import annotations

import pytest

from apibridge.plan.settings import Settings

from .kit import by_code, codes, run, service, subnet, vpc

FENCE = {"direction": "to-lport", "match": "ip4.src == 10.1.0.0/24", "action": "allow-related"}
DUAL_API = service("default", "kubernetes", "10.96.0.1", "fd00:10:96::1")


def test_a_subnet_named_like_another_vpc_is_denied() -> None:
    found = run(vpc("tenant", "ns1"), subnet("tenant", "10.9.0.0/24", vpc="tenant-net-vpc"), vpc("tenant-net-vpc"))
    assert any(f.obj == "Subnet/tenant" and f.field == "metadata.name" for f in by_code(found, "AB013")), found
    assert "AB013" in codes(run(subnet("ovn-cluster", "10.9.0.0/24")))  # the default VPC's name too


def test_only_the_primary_api_clusterip_is_checked() -> None:
    v6_only = subnet("s6", "fd00:10:96::/112", protocol="IPv6")
    assert "AB014" not in codes(run(DUAL_API, v6_only))
    assert "AB014" in codes(run(DUAL_API, subnet("s4", "10.96.0.0/24")))


def test_a_missing_acl_priority_is_zero_and_valid() -> None:
    assert "AB018" not in codes(run(subnet("s", "10.1.0.0/24", acls=[FENCE])))


@pytest.mark.parametrize(
    ("version", "valid"), [("v1.16.2", False), ("v1.15.15", True), ("v1.17.0", True), ("v1.15.14", False)]
)
def test_all_ones_ipv6_gateway_by_version(version: str, valid: bool) -> None:
    body = subnet("s6", "fd00:1::/112", protocol="IPv6", gateway="fd00:1::ffff")
    found = codes(run(body, config=Settings(kubeovn_version=version)))
    assert ("AB002" not in found) is valid
    assert "AB002" in codes(
        run(subnet("s4", "10.1.0.0/24", gateway="10.1.0.255"), config=Settings(kubeovn_version=version))
    )


@pytest.mark.parametrize(("version", "valid"), [("v1.16.2", False), ("v1.17.0", True)])
def test_mac_protocol_by_version(version: str, valid: bool) -> None:
    found = codes(run(subnet("m", "10.1.0.0/24", protocol="Mac"), config=Settings(kubeovn_version=version)))
    assert ("AB010" not in found) is valid
