"""Issue 11 item 12: details that depend on the cluster's families, the attachment type or the release.

- IPv6-only: kube-ovn's install defaults ``--node-switch-cidr`` fd00:100:64::/112 and ``--default-cidr``
  fd00:10:16::/112 (dist/images/install.sh, v1.16.2, ``IPv6`` branch).
- An IPAM-only attachment's provider is ``<nad>.<ns>`` with no ``.<ifname>`` suffix, even when attached twice
  (kube-ovn v1.16.2 pkg/controller/pod.go getPodKubeovnNets).
- ``ct_flush`` on the non-session UDP load balancers exists only on master (v1.17, pkg/controller/init.go
  initLB); v1.16.2 sets no such option.
"""

from __future__ import annotations

from apibridge.kubeovn import rules
from model.model_kit import cluster, service  # tests/ is on sys.path


def test_ipv6_only_cluster_defaults_ipv6_join_and_default_subnets() -> None:
    c = cluster(service("default", "kubernetes", "fd00:10:96::1"))
    assert [str(n) for n in c.subnets[rules.JOIN_SUBNET].cidrs] == ["fd00:100:64::/112"]
    assert [str(n) for n in c.subnets[rules.DEFAULT_SUBNET].cidrs] == ["fd00:10:16::/112"]


def test_ipam_only_provider_never_gets_the_ifname_suffix() -> None:
    assert rules.nad_provider("mv", "ns", ipam_only=True, ifname="net2") == "mv.ns"
    assert rules.nad_provider("a", "ns", ifname="net2") == "a.ns.ovn.net2"


def test_ct_flush_only_from_v1_17() -> None:
    def udp_options(version: str) -> dict[str, str]:
        spec = next(
            s for s in rules.load_balancer_specs(rules.DEFAULT_VPC, version) if s.protocol == "udp" and not s.session
        )
        return spec.options

    assert "ct_flush" not in udp_options("v1.16.2")
    assert udp_options("v1.17.0")["ct_flush"] == "true"
