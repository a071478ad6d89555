"""Names, keys and defaults of Kube-OVN and Multus, as their code spells them.

Sources (kube-ovn v1.17 master unless noted): ``pkg/util/const.go`` (annotation templates,
priorities), ``pkg/controller/config.go`` (controller flag defaults), ``pkg/ovs/util.go`` (OVN object
naming), ``pkg/controller/pod.go getPodAttachmentNet`` (provider derivation). A Kube-OVN operator
looking at a twin or a rendered manifest should recognise every name produced here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from apibridge.base import kinds
from apibridge.base.kinds import Kind

# --- API groups and kinds ---------------------------------------------------------------------
KUBEOVN_API: Final = "kubeovn.io/v1"
NAD_API: Final = "k8s.cni.cncf.io/v1"
APIBRIDGE_GROUP: Final = "apibridge.dev"
APIBRIDGE_API: Final = "apibridge.dev/v1alpha1"
NETWORKING_API: Final = "networking.k8s.io/v1"  # NetworkPolicy (rules: apibridge.kubeovn.netpol)
ANP_API: Final = "policy.networking.k8s.io/v1alpha1"  # AdminNetworkPolicy, BaselineAdminNetworkPolicy
# The kinds of those groups (the built-in ones are in ``apibridge.base.kinds``).
SUBNET_KIND: Final = Kind(KUBEOVN_API, "Subnet", "subnets", False)
VPC_KIND: Final = Kind(KUBEOVN_API, "Vpc", "vpcs", False)
NAD_KIND: Final = Kind(NAD_API, "NetworkAttachmentDefinition", "network-attachment-definitions", True)
APIBRIDGE_KIND: Final = Kind(APIBRIDGE_API, "ApiBridge", "apibridges", False)
NETWORKPOLICY_KIND: Final = Kind(NETWORKING_API, "NetworkPolicy", "networkpolicies", True)
ANP_KIND: Final = Kind(ANP_API, "AdminNetworkPolicy", "adminnetworkpolicies", False)
BANP_KIND: Final = Kind(ANP_API, "BaselineAdminNetworkPolicy", "baselineadminnetworkpolicies", False)
# plural -> (apiVersion, kind) of every resource apibridge lists or watches on an API server (the live check,
# doctor, the kube lab's node agent): one table, so a listing and the documents made of it cannot disagree
API_RESOURCES: Final = {
    k.plural: (k.api_version, k.kind)
    for k in (
        kinds.NODE,
        kinds.NAMESPACE,
        kinds.POD,
        kinds.SERVICE,
        kinds.ENDPOINTSLICE,
        VPC_KIND,
        SUBNET_KIND,
        NAD_KIND,
        APIBRIDGE_KIND,
        NETWORKPOLICY_KIND,
        ANP_KIND,
        BANP_KIND,
    )
}

# --- Multus -----------------------------------------------------------------------------------
NETWORKS_ANNOTATION: Final = "k8s.v1.cni.cncf.io/networks"
NETWORK_STATUS_ANNOTATION: Final = "k8s.v1.cni.cncf.io/network-status"
DEFAULT_NETWORK_ANNOTATION: Final = "v1.multus-cni.io/default-network"
MULTUS_GLOBAL_NAMESPACE: Final = "default"  # the only namespace readable from all others under namespaceIsolation
# Multus names attachment interfaces net1, net2, ... by position unless the selection names one.
ATTACHMENT_IFNAME_PREFIX: Final = "net"
PRIMARY_IFNAME: Final = "eth0"
NODE_NIC: Final = "ovn0"  # the node's OVS internal port on the join switch (kube-ovn-cni configureNodeNic)

# --- Kube-OVN controller defaults (pkg/controller/config.go) ------------------------------------
DEFAULT_VPC: Final = "ovn-cluster"  # --cluster-router
JOIN_SUBNET: Final = "join"  # --node-switch
JOIN_CIDR: Final = "100.64.0.0/16"  # --node-switch-cidr
DEFAULT_SUBNET: Final = "ovn-default"  # --default-ls
DEFAULT_CIDR: Final = "10.16.0.0/16"  # --default-cidr
SERVICE_CIDR: Final = "10.96.0.0/12"  # --service-cluster-ip-range
# Not Kube-OVN's: the service range assumed around an API ClusterIP outside SERVICE_CIDR when none is given
# (kube-apiserver gives the kubernetes Service the range's first address, so the range holds at least it; k3s,
# RKE2, OpenShift and EKS use a /16 — kubespray a /18 — and IPv6 installs a /112)
ASSUMED_SERVICE_PREFIX: Final = {4: 16, 6: 112}
# dual-stack install defaults (dist/images/install.sh)
JOIN_CIDR_V6: Final = "fd00:100:64::/112"
DEFAULT_CIDR_V6: Final = "fd00:10:16::/112"
OVN_PROVIDER: Final = "ovn"  # the primary network's provider
DEFAULT_GATEWAY_TYPE: Final = "distributed"
NAD_SERVER_SOCKET: Final = "/run/openvswitch/kube-ovn-daemon.sock"
NAD_TYPE: Final = "kube-ovn"
NAD_CNI_VERSION: Final = "0.3.1"

# SubnetStatus counts of the addresses Kube-OVN gave out (pkg/apis/kubeovn/v1 SubnetStatus); its webhook denies
# a gateway change while either is not zero (v1.16.2 pkg/webhook/subnet.go SubnetUpdateHook: "can't update
# gateway of cidr when any IPs in Using")
SUBNET_USING_IPS: Final = ("v4usingIPs", "v6usingIPs")


def subnet_usage(status: object) -> dict[str, int]:
    """The ``SUBNET_USING_IPS`` counts that are not zero, as 1: whether addresses are in use, per family. Watch
    caches keep only this, so a pod starting on a Subnet that is in use already changes nothing they hold."""
    out: dict[str, int] = {}
    for key in SUBNET_USING_IPS:
        value = status.get(key) if isinstance(status, Mapping) else None
        try:
            if isinstance(value, (int, float, str)) and not isinstance(value, bool) and float(value) > 0:
                out[key] = 1
        except ValueError:
            continue
    return out


# --- the seed's configuration (examples/seed/, as the seed wrote it) -----------------------------
SEED_NAD_NAME: Final = "api-ovn-nad"
SEED_NAD_NAMESPACE: Final = "kube-system"
SEED_SUBNET: Final = "vpc-apiserver-subnet"
SEED_CIDR: Final = "100.100.100.0/24"

# --- Kubernetes -------------------------------------------------------------------------------
KUBERNETES_SERVICE: Final = ("default", "kubernetes")
KUBE_DNS_SERVICE: Final = ("kube-system", "kube-dns")
# The cluster DNS Service is not always kube-system/kube-dns (issue 11 item 13). Users' tools find it by the
# label kubeadm, kubespray, k3s and RKE2 put on it (``k8s-app: kube-dns``: kubernetes/kubernetes
# cluster/addons/dns/coredns, kubespray roles/kubernetes-apps/ansible/templates/coredns-svc.yml.j2, the
# coredns Helm chart RKE2 ships with ``isClusterService``), in kube-system; then by the usual names:
# kubeadm/k3s ``kube-dns``, kubespray ``coredns``, RKE2 ``rke2-coredns-rke2-coredns``, OpenShift's DNS
# operator ``openshift-dns/dns-default``. ``Settings.dns_service`` names it outright.
DNS_SERVICE_NAMESPACE: Final = "kube-system"
DNS_SERVICE_LABEL: Final = ("k8s-app", "kube-dns")
DNS_SERVICE_NAMES: Final = (
    KUBE_DNS_SERVICE,
    ("kube-system", "coredns"),
    ("kube-system", "rke2-coredns-rke2-coredns"),
    ("openshift-dns", "dns-default"),
)
# The DNS ports of that Service, by name (every one of the above names them so; ``metrics`` is not DNS).
DNS_PORT_NAMES: Final = ("dns", "dns-tcp")
DNS_PORT: Final = 53
DEFAULT_API_CLUSTER_IP: Final = "10.96.0.1"
DEFAULT_API_PORT: Final = 443
DEFAULT_APISERVER_PORT: Final = 6443  # kind / kubeadm endpoint port
DEFAULT_DNS_CLUSTER_IP: Final = "10.96.0.10"
ROLLOUT_RESTART_ANNOTATION: Final = "kubectl.kubernetes.io/restartedAt"
NAMESPACE_NAME_LABEL: Final = "kubernetes.io/metadata.name"  # set on every Namespace by the API server
SERVICE_NAME_LABEL: Final = "kubernetes.io/service-name"  # links an EndpointSlice to its Service
CONTROL_PLANE_LABELS: Final = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
# apimachinery ValidateAnnotationsSize: all of an object's annotations together, keys and values (256 KiB).
# The API server refuses a larger pod after admission, so no parser here reads more than this.
ANNOTATIONS_MAX_BYTES: Final = 256 * 1024
# Entries read from one networks / routes annotation. Neither Multus nor kube-ovn-cni caps them; a pod
# has a handful (one per attachment, one per route). The bound keeps a hostile value's cost fixed.
NETWORKS_MAX_ENTRIES: Final = 64
ROUTES_MAX_ENTRIES: Final = 256


# --- provider-scoped pod annotations (pkg/util/const.go: "%s.kubernetes.io/<key>") -------------
PROVIDER_KEY_INFIX: Final = ".kubernetes.io/"


def provider_key(provider: str, key: str) -> str:
    """The pod annotation key ``<provider>.kubernetes.io/<key>`` that Kube-OVN reads or writes."""
    return f"{provider}{PROVIDER_KEY_INFIX}{key}"


def provider_key_suffix(key: str) -> str:
    """``.kubernetes.io/<key>``: what every provider's ``key`` annotation ends with."""
    return f"{PROVIDER_KEY_INFIX}{key}"


def provider_of_key(annotation: str, key: str) -> str | None:
    """The provider of a ``<provider>.kubernetes.io/<key>`` annotation, or None if it is not one."""
    suffix = provider_key_suffix(key)
    return annotation[: -len(suffix)] if annotation.endswith(suffix) and len(annotation) > len(suffix) else None


ROUTES: Final = "routes"
LOGICAL_SWITCH: Final = "logical_switch"
LOGICAL_ROUTER: Final = "logical_router"
IP_ADDRESS: Final = "ip_address"
MAC_ADDRESS: Final = "mac_address"
CIDR: Final = "cidr"
GATEWAY: Final = "gateway"
ALLOCATED: Final = "allocated"
ROUTED: Final = "routed"
DEFAULT_ROUTE: Final = "default_route"
IP_POOL: Final = "ip_pool"
PORT_SECURITY: Final = "port_security"
# ``<p>.kubernetes.io/port_security`` turns port security on only when it is exactly "true"
# (pkg/controller/pod.go: ``pod.Annotations[...PortSecurityAnnotationTemplate...] == "true"``); the LSP then
# gets ``port_security ["<mac> <ips>"]`` and OVN drops frames whose source MAC or IP is not the port's own
# (buildLogicalSwitchPort, pkg/ovs/ovn-nb-logical_switch_port.go; kube-ovn v1.16).
PORT_SECURITY_ON: Final = "true"
# The keys by which a pod's annotations pick an attachment's subnet or address (getPodAttachmentNet and
# IPAM, pkg/controller/pod.go): per provider, with or without a ``.<ifname>`` suffix on the provider.
SUBNET_CLAIM_KEYS: Final = (LOGICAL_SWITCH, IP_ADDRESS, IP_POOL)
# the primary network's switch, on a pod or a namespace (``ovn.kubernetes.io/logical_switch``)
PRIMARY_LOGICAL_SWITCH_ANNOTATION: Final = provider_key(OVN_PROVIDER, LOGICAL_SWITCH)

# The provider-scoped keys a bridge's pod mutation writes (``plan.mutation``). Everything that must see the
# same keys — the webhook's memo key, the validator's per-shape cache key, the controller's drift report —
# derives them from here, so a new key cannot silently be left out of one of them.
MUTATION_PROVIDER_KEYS: Final = (LOGICAL_SWITCH, ROUTES, PORT_SECURITY)
MUTATION_KEY_SUFFIXES: Final = tuple(provider_key_suffix(k) for k in MUTATION_PROVIDER_KEYS)


@functools.lru_cache(maxsize=1024)  # providers are the bridges' (a handful); asked once per review
def mutation_keys(provider: str) -> tuple[str, ...]:
    """Every pod annotation key the mutation for ``provider`` writes (and so reads): the networks list, then
    ``<provider>.kubernetes.io/<key>`` for each of ``MUTATION_PROVIDER_KEYS``."""
    return (NETWORKS_ANNOTATION, *(provider_key(provider, k) for k in MUTATION_PROVIDER_KEYS))


def port_security_key(provider: str) -> str:
    """``<provider>.kubernetes.io/port_security``: the key Kube-OVN reads for an attachment's port security."""
    return provider_key(provider, PORT_SECURITY)


def port_security_on(annotations: Mapping[str, str], provider: str) -> bool:
    """Does Kube-OVN give this attachment's port ``port_security`` (MAC and IPs locked to its own)?"""
    return annotations.get(port_security_key(provider)) == PORT_SECURITY_ON


def subnet_claim_keys(annotations: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """``(key, claim, provider)`` for every ``<provider>.kubernetes.io/{logical_switch,ip_address,ip_pool}`` key.

    These keys pick the subnet or the address of the attachment of ``provider`` (getPodAttachmentNet and
    IPAM, pkg/controller/pod.go); ``provider`` may carry a ``.<ifname>`` suffix (use ``subnet_provider``).
    """
    out: list[tuple[str, str, str]] = []
    for key in annotations:
        if PROVIDER_KEY_INFIX not in key:  # most keys of most pods: one substring test, not three suffixes
            continue
        for claim, suffix in _CLAIM_SUFFIXES:
            if key.endswith(suffix) and len(key) > len(suffix):
                out.append((key, claim, key[: -len(suffix)]))
                break
    return out


_CLAIM_SUFFIXES: Final = tuple((claim, provider_key_suffix(claim)) for claim in SUBNET_CLAIM_KEYS)


def names_subnet(value: str, subnet: str) -> bool:
    """Does a ``logical_switch`` value name ``subnet``? Kube-OVN looks the exact value up; a comma list is
    split too, so that no spelling of the name gets past a check."""
    return value == subnet or subnet in (part.strip() for part in value.split(","))


def subnet_claims(annotations: Mapping[str, str], provider: str, subnet: str) -> list[str]:
    """The annotation keys by which a pod claims a place on attachment subnet ``subnet`` (of ``provider``).

    Kube-OVN reads ``<provider>[.<ifname>].kubernetes.io/{logical_switch,ip_address,ip_pool}`` for the
    attachment of that provider, and any provider's ``logical_switch`` may name a subnet of another provider
    (getPodAttachmentNet takes the annotation first), ``ovn.kubernetes.io/logical_switch`` included. A pod
    that may not use the subnet must carry none of these.
    """
    out = [
        key
        for key, claim, p in subnet_claim_keys(annotations)
        if subnet_provider(p) == provider or (claim == LOGICAL_SWITCH and names_subnet(annotations[key], subnet))
    ]
    return sorted(out)


# --- our own keys ---------------------------------------------------------------------------------
INJECT_ANNOTATION: Final = "apibridge.dev/inject"  # "false" opts a pod out
BRIDGE_OBJECT_PREFIX: Final = "apibridge-"  # the NAD and Subnet of bridge X are both "apibridge-X"
BRIDGE_NAME_MAX: Final = 63 - len(BRIDGE_OBJECT_PREFIX)  # so that the NAD name stays a DNS-1123 label


def bridge_object_name(bridge: str) -> str:
    """Name of the NAD and the Subnet an ApiBridge owns."""
    return f"{BRIDGE_OBJECT_PREFIX}{bridge}"


def bridge_labels(bridge: str) -> dict[str, str]:
    """The labels on the NAD and Subnet a bridge owns: how everyone tells ours from a foreign object."""
    return {MANAGED_BY_LABEL: MANAGED_BY, BRIDGE_LABEL: bridge}


def owned_by_bridge(labels: Mapping[str, str], bridge: str) -> bool:
    """Does an object with these labels belong to ApiBridge ``bridge``? A name alone never proves it."""
    return labels.get(BRIDGE_LABEL) == bridge and labels.get(MANAGED_BY_LABEL) == MANAGED_BY


BRIDGE_LABEL: Final = "apibridge.dev/bridge"  # on the NAD and Subnet a bridge owns
# On a bridge's Subnet: its VPC and the names of every Subnet of that VPC (comma-separated, sorted). The
# chart's ValidatingAdmissionPolicy takes bridge Subnets as its parameters (cluster-scoped, so one binding
# covers every nadNamespace; the NAD is named by the Subnet's provider) and admits a pod that attaches the
# bridge (or names its subnet) only when every subnet of the pod's namespace (Kube-OVN's namespace
# annotation ``ovn.kubernetes.io/logical_switch``) is in that list: the namespace belongs to the bridge's VPC.
VPC_ANNOTATION: Final = "apibridge.dev/vpc"
VPC_SUBNETS_ANNOTATION: Final = "apibridge.dev/vpc-subnets"
RESTARTED_FOR_ANNOTATION: Final = "apibridge.dev/restarted-for"  # on workloads the operator restarted
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "apibridge"


# --- provider naming (pkg/controller/pod.go getPodAttachmentNet) -----------------------------------
def nad_provider(nad_name: str, nad_namespace: str, *, ipam_only: bool = False, ifname: str | None = None) -> str:
    """The provider Kube-OVN derives for an attachment.

    ``<nad>.<ns>.ovn`` for a ``type: kube-ovn`` NAD, ``<nad>.<ns>`` for an IPAM-only one (another CNI
    with ``ipam.type: kube-ovn``); ``.<ifname>`` is appended to a kube-ovn one attached twice.
    """
    base = f"{nad_name}.{nad_namespace}" if ipam_only else f"{nad_name}.{nad_namespace}.{OVN_PROVIDER}"
    # an IPAM-only attachment never gets the suffix (kube-ovn v1.16.2 pod.go getPodKubeovnNets)
    return f"{base}.{ifname}" if ifname and not ipam_only else base


def is_ovn_provider(provider: str) -> bool:
    """``util.IsOvnProvider``: "", "ovn", or exactly three dot-separated fields ending in ``ovn``."""
    if provider in ("", OVN_PROVIDER):
        return True
    fields = provider.split(".")
    return len(fields) == 3 and fields[2] == OVN_PROVIDER


def subnet_provider(provider: str) -> str:
    """The provider a Subnet must carry for an attachment provider (strips a ``.<ifname>`` suffix)."""
    fields = provider.split(".")
    return ".".join(fields[:3]) if len(fields) > 3 and fields[2] == OVN_PROVIDER else provider


def nad_of_provider(provider: str) -> tuple[str, str] | None:
    """``util.GetNadBySubnetProvider``: (name, namespace) of the NAD behind an OVN provider, if any."""
    fields = subnet_provider(provider).split(".")
    if len(fields) == 3 and fields[2] == OVN_PROVIDER:
        return fields[0], fields[1]
    return None


# --- OVN northbound object names (pkg/ovs/util.go, pkg/util) --------------------------------------
def lsp_name(pod: str, namespace: str, provider: str = OVN_PROVIDER) -> str:
    """``PodNameToPortName``: ``<pod>.<ns>`` for the primary network, ``<pod>.<ns>.<provider>`` otherwise."""
    return f"{pod}.{namespace}" if provider == OVN_PROVIDER else f"{pod}.{namespace}.{provider}"


def router_port(router: str, switch: str) -> str:
    """The router side of a switch/router patch pair: LRP ``<lr>-<ls>``."""
    return f"{router}-{switch}"


def switch_router_port(switch: str, router: str) -> str:
    """The switch side of a switch/router patch pair: LSP ``<ls>-<lr>`` of type router."""
    return f"{switch}-{router}"


def node_port(node: str) -> str:
    """``util.NodeLspName``: the node's port on the join switch (host side: ``ovn0``)."""
    return f"node-{node}"


def port_group_name(*parts: str) -> str:
    """Port groups and address sets cannot contain ``-``; Kube-OVN replaces it by ``.``.

    ``port_group_name(subnet, node)`` is the per-node group of a distributed subnet.
    """
    return ".".join(parts).replace("-", ".")


LB_PROTOCOLS: Final = ("tcp", "udp", "sctp")


def cluster_load_balancers() -> list[str]:
    """The six load balancers of the default VPC (``init.go initLB``), in Kube-OVN's order."""
    return vpc_load_balancers(DEFAULT_VPC)


def vpc_load_balancers(vpc: str) -> list[str]:
    """The six load balancer names of a VPC (``GenVpcLoadBalancer``; ``cluster-*`` for the default VPC)."""
    return [spec.name for spec in load_balancer_specs(vpc)]


@dataclass(frozen=True)
class LoadBalancerSpec:
    """One of a VPC's six load balancers with the columns ``initLB`` gives it.

    Session LBs keep a client on one backend: ``selection_fields`` ``ip_src`` (Kube-OVN also sets
    ``ipv6_src``, which OVN 23.03's schema does not know) and ``affinity_timeout``; from master/v1.17 UDP LBs
    flush conntrack when a backend goes (v1.16.2 has no ``ct_flush`` anywhere: ``lab diff`` against its
    controller showed it); every LB carries ``prefer_local_backend`` (a Kube-OVN northd patch).
    """

    name: str
    protocol: str  # tcp, udp, sctp
    session: bool
    ct_flush: bool = False  # the release sets ct_flush on non-session UDP LBs (master/v1.17 only)

    @property
    def options(self) -> dict[str, str]:
        options = {"prefer_local_backend": "false"}
        if self.session:
            options["affinity_timeout"] = "10800"
        elif self.protocol == "udp" and self.ct_flush:
            options["ct_flush"] = "true"
        return options

    @property
    def selection_fields(self) -> tuple[str, ...]:
        return ("ip_src",) if self.session else ()


def load_balancer_specs(vpc: str, version: str = "") -> list[LoadBalancerSpec]:
    """The six load balancers of ``vpc`` (``cluster-*`` for the default VPC), in Kube-OVN's order, with the
    options release ``version`` gives them: ``ct_flush`` on UDP only from master/v1.17 (pkg/controller/init.go
    initLB; v1.16.2 has no such option)."""
    ct_flush = version_tuple(version) >= (1, 17, 0)
    return [
        LoadBalancerSpec(load_balancer_for(vpc, proto, session=session), proto, session, ct_flush)
        for session in (False, True)
        for proto in LB_PROTOCOLS
    ]


def load_balancer_for(vpc: str, protocol: str, *, session: bool = False) -> str:
    """The VPC load balancer that carries Service VIPs of ``protocol`` (tcp/udp/sctp)."""
    proto = protocol.lower()
    if vpc == DEFAULT_VPC:
        return f"cluster-{proto}-session-loadbalancer" if session else f"cluster-{proto}-loadbalancer"
    return f"vpc-{vpc}-{proto}-sess-load" if session else f"vpc-{vpc}-{proto}-load"


# --- router policy and ACL priorities (pkg/util/const.go) -----------------------------------------
SUBNET_ROUTER_POLICY_PRIORITY: Final = 31000  # ip4.dst == <subnet cidr> allow
NODE_ROUTER_POLICY_PRIORITY: Final = 30000  # ip4.dst == <node ip> reroute <node join ip>
GATEWAY_ROUTER_POLICY_PRIORITY: Final = 29000  # ip4.src == $<subnet>.<node>_ip4 reroute <node join ip>
DEFAULT_DROP_PRIORITY: Final = 1000
SUBNET_ALLOW_PRIORITY: Final = 1001
NODE_ALLOW_PRIORITY: Final = 3000
ALLOW_EW_PRIORITY: Final = 1900

# Router options kube-ovn-controller sets on every VPC router (vpc.go createVpcRouter).
ROUTER_OPTIONS: Final = {
    "mac_binding_age_threshold": "300",
    "dynamic_neigh_routers": "true",
    "always_learn_from_arp_request": "false",
}
VENDOR: Final = {"vendor": "kube-ovn"}
# NB_Global options kube-ovn-controller sets (controller.go); the ls_* ones only mean something to
# Kube-OVN's patched northd and are inert on upstream OVN, but an operator would look for them.
NB_GLOBAL_OPTIONS: Final = {
    "use_ct_inv_match": "false",
    "ls_dnat_mod_dl_dst": "true",
    "ls_ct_skip_dst_lport_ips": "true",
}
# external_ids of a pod port whose switch is in a custom VPC (buildLogicalSwitchPort)
CUSTOM_VPC_PORT_IDS: Final = {"associated_sg_default-securitygroup": "false"}
ACL_PRIORITY_MAX: Final = 32767  # OVN's ACL priority range is 0..32767

# Subnet spec values Kube-OVN accepts (pkg/util/validator.go).
GATEWAY_TYPES: Final = (DEFAULT_GATEWAY_TYPE, "centralized")
PROTOCOLS: Final = ("IPv4", "IPv6", "Dual")
MAC_PROTOCOL: Final = "Mac"  # kubeovnv1.ProtocolMac, master (v1.17) only: an underlay subnet without IPAM


# --- rules that differ by Kube-OVN release (``Settings.kubeovn_version``) ---------------------------
@functools.lru_cache(maxsize=64)  # a handful of versions, asked once per Subnet by check
def version_tuple(version: str) -> tuple[int, int, int]:
    """``v1.16.2`` -> (1, 16, 2); a text without three numbers reads as (0, 0, 0) (the oldest rules)."""
    digits = re.findall(r"\d+", version)[:3]
    return (int(digits[0]), int(digits[1]), int(digits[2])) if len(digits) == 3 else (0, 0, 0)


def protocols(version: str) -> tuple[str, ...]:
    """Subnet ``spec.protocol`` values ``ValidateSubnet`` accepts (``Mac`` from master/v1.17 on)."""
    return (*PROTOCOLS, MAC_PROTOCOL) if version_tuple(version) >= (1, 17, 0) else PROTOCOLS


def ipv6_all_ones_is_host(version: str) -> bool:
    """May an IPv6 subnet's all-ones address be a gateway? ``ValidateNetworkBroadcast`` treated it as a
    broadcast address until kube-ovn #6883 (in v1.15.15 on the 1.15 line and in master/v1.17; not in v1.16.2)."""
    v = version_tuple(version)
    return (1, 15, 15) <= v < (1, 16, 0) or v >= (1, 17, 0)


ACL_DIRECTIONS: Final = ("from-lport", "to-lport")
ACL_ACTIONS: Final = ("allow", "allow-related", "allow-stateless", "drop", "reject", "pass")
