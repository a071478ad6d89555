"""NAD ``spec.config`` is classified as kube-ovn-controller classifies it (``loadNetConf``).

The controller derives the provider from the NAD's name and namespace; kube-ovn-cni sends the
config's own ``provider`` (``ovn`` when empty). A rendered config must make the two agree.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apibridge.kubeovn import nadconf, rules
from apibridge.kubeovn.nadconf import NadConfigError

FAST = settings(max_examples=150, deadline=None)
LABEL = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?", fullmatch=True)

SEED_CONFIG = """{
  "cniVersion": "0.3.0",
  "type": "kube-ovn",
  "server_socket": "/run/openvswitch/kube-ovn-daemon.sock",
  "provider": "api-ovn-nad.kube-system.ovn"
}"""


def test_seed_nad_is_kube_ovn_and_consistent() -> None:
    conf = nadconf.parse(SEED_CONFIG)
    assert conf.kind == "kube-ovn"
    assert conf.provider == "api-ovn-nad.kube-system.ovn"
    assert conf.derived_provider("api-ovn-nad", "kube-system") == conf.cni_provider()


def test_kube_ovn_nad_without_provider_makes_cni_use_ovn() -> None:
    conf = nadconf.parse('{"cniVersion":"0.3.1","type":"kube-ovn","server_socket":"/x.sock"}')
    assert conf.kind == "kube-ovn"
    assert conf.provider is None
    assert conf.cni_provider() == rules.OVN_PROVIDER  # the mismatch trap: controller derives n.ns.ovn
    assert conf.derived_provider("n", "ns") == "n.ns.ovn"


def test_ipam_only_nad() -> None:
    conf = nadconf.parse(
        json.dumps(
            {
                "cniVersion": "0.3.1",
                "type": "macvlan",
                "master": "eth0",
                "ipam": {
                    "type": "kube-ovn",
                    "provider": "macvlan.default",
                    "server_socket": "/run/openvswitch/kube-ovn-daemon.sock",
                },
            }
        )
    )
    assert conf.kind == "ipam-only"
    assert conf.provider == "macvlan.default"
    assert conf.derived_provider("macvlan", "default") == "macvlan.default"


@pytest.mark.parametrize(
    "config",
    [
        '{"cniVersion":"0.3.1","type":"bridge","ipam":{"type":"host-local","subnet":"10.1.0.0/24"}}',
        '{"cniVersion":"0.3.1","type":"macvlan","ipam":{"type":"whereabouts"}}',
        '{"cniVersion":"0.3.1","plugins":[{"type":"bridge"},{"type":"portmap"}]}',
    ],
)
def test_foreign_nads_are_ignored_by_kube_ovn(config: str) -> None:
    conf = nadconf.parse(config)
    assert conf.kind == "foreign"
    assert conf.derived_provider("x", "y") is None


def test_conflist_with_a_kube_ovn_plugin_is_kube_ovn() -> None:
    conf = nadconf.parse(
        json.dumps(
            {
                "cniVersion": "0.3.1",
                "name": "n",
                "plugins": [
                    {
                        "type": "kube-ovn",
                        "server_socket": "/x",
                        "provider": "n.ns.ovn",
                        "routes": [{"dst": "10.96.0.1/32", "gw": "100.100.100.1"}],
                    },
                    {"type": "portmap", "capabilities": {"portMappings": True}},
                ],
            }
        )
    )
    assert conf.kind == "kube-ovn"
    assert conf.provider == "n.ns.ovn"
    assert conf.routes == [{"dst": "10.96.0.1/32", "gw": "100.100.100.1"}]
    assert conf.derived_provider("n", "ns") == "n.ns.ovn"


@pytest.mark.parametrize("config", [None, "", "   "])
def test_empty_config(config: str | None) -> None:
    conf = nadconf.parse(config)
    assert conf.kind == "empty"
    assert conf.derived_provider("x", "y") is None


@pytest.mark.parametrize("config", ["{not json", "[1, 2]", '"kube-ovn"', "42"])
def test_not_a_json_object_is_an_error(config: str) -> None:
    with pytest.raises(NadConfigError):
        nadconf.parse(config)


@pytest.mark.parametrize("config", ['{"type":"kube-ovn","ipam":"kube-ovn"}', '{"type":"kube-ovn","routes":5}'])
def test_odd_shapes_are_an_error_not_a_crash(config: str) -> None:
    with pytest.raises(NadConfigError, match="must be"):
        nadconf.parse(config)


@FAST
@given(LABEL, LABEL)
def test_render_parses_back_with_the_same_provider(name: str, ns: str) -> None:
    provider = rules.nad_provider(name, ns)
    conf = nadconf.parse(nadconf.render(provider))
    assert conf.kind == "kube-ovn"
    assert conf.provider == provider
    assert conf.cni_provider() == conf.derived_provider(name, ns) == provider
    raw = json.loads(nadconf.render(provider))
    assert raw["type"] == "kube-ovn"
    assert raw["server_socket"] == "/run/openvswitch/kube-ovn-daemon.sock"
