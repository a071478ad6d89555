"""Which Service is the cluster's DNS, and which of its ports are DNS: ``destinations.dns`` resolved.

The DNS Service is ``kube-system/kube-dns`` on kubeadm and k3s, but kubespray names it ``coredns``, RKE2
``rke2-coredns-rke2-coredns`` and OpenShift ``openshift-dns/dns-default`` (issue 11 item 13); insisting on
one name failed ``dns: true`` on those clusters in every entry point. So it is found as users' tools find
it (``rules.DNS_SERVICE_*``): the setting names it outright; else a kube-system Service labelled
``k8s-app: kube-dns`` (several: the usual name first, then by name); else the first usual name present.
Its DNS ports are the ones named ``dns`` and ``dns-tcp`` (the ``metrics`` port is not DNS); a Service
naming neither gets 53/UDP and 53/TCP.

Every consumer — planner, validator intent, operator, webhook — resolves it here, with the same settings.
"""

from __future__ import annotations

from apibridge.kubeovn import rules
from apibridge.model.cluster import Cluster
from apibridge.model.objects import Service
from apibridge.plan.settings import Settings
from apibridge.plan.types import DnsService, PortSpec

DEFAULT_DNS_PORTS = (PortSpec(rules.DNS_PORT, "UDP"), PortSpec(rules.DNS_PORT, "TCP"))


def _ref(key: tuple[str, str]) -> str:
    return f"{key[0]}/{key[1]}"


def _label() -> str:
    return "=".join(rules.DNS_SERVICE_LABEL)


def looked_for(config: Settings | None = None) -> str:
    """What the search covers, for a finding when nothing was found."""
    if config is not None and config.dns_service is not None:
        return f"Service {_ref(config.dns_service)} (the DNS Service setting)"
    names = ", ".join(_ref(k) for k in rules.DNS_SERVICE_NAMES)
    return f"a {rules.DNS_SERVICE_NAMESPACE} Service labelled {_label()}, then {names}"


def find_dns_service(cluster: Cluster, config: Settings | None = None) -> DnsService:
    """The cluster DNS Service as the settings name it or users' tools find it (see the module doc)."""
    if config is not None and config.dns_service is not None:
        svc = cluster.service(*config.dns_service)
        return _taken(svc, _ref(config.dns_service), "named by the DNS Service setting")
    key, value = rules.DNS_SERVICE_LABEL
    usual = {k: i for i, k in enumerate(rules.DNS_SERVICE_NAMES)}
    labelled = sorted(
        (
            (ns, name)
            for (ns, name), svc in cluster.services.items()
            if ns == rules.DNS_SERVICE_NAMESPACE and svc.meta.labels.get(key) == value
        ),
        key=lambda k: (usual.get(k, len(usual)), k),
    )
    if labelled:
        return _taken(cluster.services[labelled[0]], _ref(labelled[0]), f"labelled {_label()}")
    for ref in rules.DNS_SERVICE_NAMES:
        if (svc := cluster.service(*ref)) is not None:
            return _taken(svc, _ref(ref), "by its usual name")
    return _taken(None, looked_for(config), "not found")


def _taken(service: Service | None, ref: str, how: str) -> DnsService:
    return DnsService(service, ref, how, dns_ports(service) if service is not None else DEFAULT_DNS_PORTS)


def is_dns_candidate(namespace: str, name: str, labels: dict[str, str], config: Settings | None = None) -> bool:
    """Could this Service be the DNS Service ``find_dns_service`` takes? (What in-cluster watchers keep.)"""
    if config is not None and config.dns_service is not None:
        return (namespace, name) == config.dns_service
    key, value = rules.DNS_SERVICE_LABEL
    return (namespace == rules.DNS_SERVICE_NAMESPACE and labels.get(key) == value) or (
        namespace,
        name,
    ) in rules.DNS_SERVICE_NAMES


def dns_ports(service: Service) -> tuple[PortSpec, ...]:
    """The Service's DNS ports: those named ``dns``/``dns-tcp``; a Service naming none gets 53/UDP and 53/TCP."""
    named = tuple(PortSpec(p.port, p.protocol) for p in service.ports if p.name in rules.DNS_PORT_NAMES)
    return named or DEFAULT_DNS_PORTS
