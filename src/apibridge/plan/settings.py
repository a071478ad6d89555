"""The cluster-wide settings every planner run needs, in one object shared by every entry point.

``render`` run by hand must write exactly what the operator writes and what the webhook injects; that
only holds when all of them plan with the same pools and the same service CIDR. So these settings
exist once: the CLI's ``--pool``/``--pool-v6``/``--service-cidr`` build one, and the operator, the
webhook and ``doctor`` take the same flags (the Helm chart sets them once, in ``values.settings``).

``kubeovn_version`` names the Kube-OVN release whose behaviour the rules in ``apibridge.kubeovn.rules``
follow (the newest release the Go module proxy serves when this was pinned); it is reported, not
branched on.

``dns_service`` names the cluster DNS Service (``namespace/name``) for ``destinations.dns``; unset, the
planner finds it as users' tools do (``apibridge.plan.dns``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from apibridge.kubeovn.dualstack import IPNetwork

DEFAULT_POOL_V4: IPNetwork = ipaddress.ip_network("100.100.0.0/16")
DEFAULT_POOL_V6: IPNetwork = ipaddress.ip_network("fd00:100:100::/48")
BLOCK_V4 = 24
BLOCK_V6 = 120
KUBEOVN_VERSION = "v1.16.2"


class SettingsError(ValueError):
    """A setting that cannot be used (the message names the setting)."""


@dataclass(frozen=True)
class Settings:
    """Where ``cidrBlock: auto`` allocates from, what else to keep clear of, and the Kube-OVN targeted."""

    pool_v4: IPNetwork = DEFAULT_POOL_V4
    block_v4: int = BLOCK_V4
    pool_v6: IPNetwork = DEFAULT_POOL_V6
    block_v6: int = BLOCK_V6
    service_cidrs: tuple[IPNetwork, ...] = field(default_factory=tuple)
    kubeovn_version: str = KUBEOVN_VERSION
    dns_service: tuple[str, str] | None = None  # (namespace, name) of the cluster DNS Service; None: found
    # kube-proxy runs on the nodes (Kube-OVN's default install keeps it): a ClusterIP that no OVN load balancer
    # DNATs still is DNATed on the host, which the 29000 reroute reaches through ovn0 (issue 11 item 2)
    kube_proxy: bool = True

    def problems(self) -> list[str]:
        """What makes these settings unusable (empty when they are fine)."""
        out = []
        for name, pool, family, block in (
            ("--pool", self.pool_v4, 4, self.block_v4),
            ("--pool-v6", self.pool_v6, 6, self.block_v6),
        ):
            if pool.version != family:
                out.append(f"{name} {pool} is not an IPv{family} CIDR")
            elif pool.prefixlen > block:
                out.append(f"{name}: pool {pool} is smaller than one /{block} block")
        return out

    def describe(self) -> str:
        """One line for logs: what this process plans with."""
        services = ",".join(str(c) for c in self.service_cidrs) or "-"
        dns = "/".join(self.dns_service) if self.dns_service else "found"
        return (
            f"pool {self.pool_v4} (/{self.block_v4}), pool-v6 {self.pool_v6} (/{self.block_v6}), "
            f"service CIDR {services}, DNS Service {dns}, kube-proxy {'yes' if self.kube_proxy else 'no'}, "
            f"Kube-OVN {self.kubeovn_version}"
        )


def parse_service_ref(text: str, name: str = "--dns-service") -> tuple[str, str]:
    """``namespace/name`` of a Service, from a setting's text; raises ``SettingsError`` naming the setting."""
    ns, _, svc = text.strip().partition("/")
    if not ns or not svc or "/" in svc:
        raise SettingsError(f"{name} {text!r} is not namespace/name")
    return ns.strip(), svc.strip()


def parse_settings(
    pool_v4: str | None = None,
    pool_v6: str | None = None,
    service_cidrs: tuple[str, ...] = (),
    dns_service: str | None = None,
) -> Settings:
    """Settings from their text form (flags, environment); raises ``SettingsError`` naming the bad one."""

    def net(text: str, name: str) -> IPNetwork:
        try:
            return ipaddress.ip_network(text.strip(), strict=True)
        except ValueError as exc:
            raise SettingsError(f"{name} {text!r} is not a CIDR: {exc}") from None

    settings = Settings(
        pool_v4=net(pool_v4, "--pool") if pool_v4 else DEFAULT_POOL_V4,
        pool_v6=net(pool_v6, "--pool-v6") if pool_v6 else DEFAULT_POOL_V6,
        service_cidrs=tuple(net(c, "--service-cidr") for text in service_cidrs for c in text.split(",") if c.strip()),
        dns_service=parse_service_ref(dns_service) if dns_service and dns_service.strip() else None,
    )
    if problems := settings.problems():
        raise SettingsError("; ".join(problems))
    return settings
