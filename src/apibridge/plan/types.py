"""What the planner produces, as plain frozen dataclasses shared by every consumer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from apibridge.kubeovn.dualstack import IPAddress, IPNetwork
from apibridge.kubeovn.routes import Route
from apibridge.model.objects import Acl, ApiBridge, Nad, Service, Subnet
from apibridge.plan.settings import KUBEOVN_VERSION

DestinationKind = Literal["apiserver", "dns", "extra"]


@dataclass(frozen=True)
class PortSpec:
    port: int
    protocol: str  # TCP, UDP, SCTP


@dataclass(frozen=True)
class Destination:
    """An address (or CIDR) the bridge's pods may reach through the attachment, on these ports (empty: any)."""

    network: IPNetwork
    ports: tuple[PortSpec, ...]
    kind: DestinationKind

    @property
    def family(self) -> int:
        return self.network.version


@dataclass(frozen=True)
class DnsService:
    """The cluster DNS Service taken for ``destinations.dns`` (or None), how it was found, its DNS ports."""

    service: Service | None
    ref: str  # "namespace/name" taken, or what was looked for
    how: str
    ports: tuple[PortSpec, ...]


@dataclass(frozen=True)
class PlanProblem:
    """Something the planner could not do; the validator reports it as a finding."""

    code: str
    obj: str
    field: str
    message: str
    hint: str = ""
    severity: Literal["error", "warning", "info"] = "error"


@dataclass(frozen=True)
class BridgePlan:
    bridge: ApiBridge
    nad_name: str
    nad_namespace: str
    subnet_name: str
    provider: str
    cidrs: tuple[IPNetwork, ...]
    gateways: tuple[IPAddress, ...]
    destinations: tuple[Destination, ...]
    routes: tuple[Route, ...]
    acls: tuple[Acl, ...]
    nad: dict[str, Any] = field(repr=False)  # manifest to apply
    subnet: dict[str, Any] = field(repr=False)  # manifest to apply
    # the same two objects as the model reads them once applied (Kube-OVN's defaulting included), for
    # the validator and the twin, which judge and build the cluster as the plan would leave it
    model_nad: Nad = field(repr=False, compare=False)
    model_subnet: Subnet = field(repr=False, compare=False)

    def gateway(self, family: int) -> IPAddress | None:
        return next((g for g in self.gateways if g.version == family), None)

    @property
    def cidr_block(self) -> str:
        return ",".join(str(c) for c in self.cidrs)


@dataclass
class Plan:
    bridges: dict[str, BridgePlan] = field(default_factory=dict)
    problems: list[PlanProblem] = field(default_factory=list)
    by_vpc: dict[str, list[BridgePlan]] = field(default_factory=dict)  # bridges per custom VPC, by name
    service_cidrs: tuple[IPNetwork, ...] = ()  # the cluster's service CIDRs as given (--service-cidr), if any
    dns: DnsService | None = None  # the cluster DNS Service taken (``apibridge.plan.dns``)
    kubeovn_version: str = KUBEOVN_VERSION  # the Kube-OVN release whose rules the validator applies
    kube_proxy: bool = True  # kube-proxy runs on the nodes (``Settings.kube_proxy``)
