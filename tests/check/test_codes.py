"""Every finding code: a minimal input that triggers it (on the right object and field) and one that does not.

The table is the contract between the registry and the rules: ``test_every_code_has_a_case`` fails
when a code is added without a test (or a case names a code that does not exist), so codes cannot rot.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pytest
import yaml

from apibridge.check.findings import CODES
from apibridge.plan.settings import Settings

from .kit import (
    ALLOW_ALL_INGRESS,
    DENY_EGRESS,
    FENCE,
    NETWORKS,
    SEED,
    SEED_ANNOTATIONS,
    SEED_PROVIDER,
    SEED_ROUTES,
    SEED_ROUTES_KEY,
    anp,
    api_subnet,
    bridge,
    by_code,
    codes,
    deployment,
    endpointslice,
    nad,
    netpol,
    node,
    pod,
    routes,
    run,
    seed_pod,
    service,
    subnet,
    vpc,
)

VPC1 = vpc("vpc1", "ns1")
NS1 = "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns1}\n"
API_EP_EXTERNAL = """
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: kubernetes, namespace: default, labels: {kubernetes.io/service-name: kubernetes}}
addressType: IPv4
endpoints: [{addresses: [192.0.2.50]}]
ports: [{name: https, port: 6443, protocol: TCP}]
"""
LS_KEY = f"{SEED_PROVIDER}.kubernetes.io/logical_switch"
POD = "Pod/ns1/app"
ROUTES_FIELD = f'metadata.annotations["{SEED_ROUTES_KEY}"]'
NETWORKS_FIELD = f'metadata.annotations["{NETWORKS}"]'
GW = "100.100.100.1"
DUAL_API = service("default", "kubernetes", "10.96.0.1", "fd00:10:96::1")
DNS = service("kube-system", "kube-dns", "10.96.0.10", port=53)
API = service("default", "kubernetes", "10.96.0.1")
API_SLICE = endpointslice("default", "kubernetes", "172.18.0.2", port=6443)  # a live cluster always lists it
RKE2_API = service("default", "kubernetes", "10.43.0.1")
LIVE_BRIDGE_SUBNET = yaml.safe_dump(
    {
        "apiVersion": "kubeovn.io/v1",
        "kind": "Subnet",
        "metadata": {
            "name": "apibridge-b",
            "labels": {"apibridge.dev/bridge": "b", "app.kubernetes.io/managed-by": "apibridge"},
        },
        "spec": {"vpc": "ovn-cluster", "cidrBlock": "100.100.7.0/24", "provider": "apibridge-b.kube-system.ovn"},
        "status": {"v4usingIPs": 2, "v6usingIPs": 0},
    }
)
RKE2_DNS = service("kube-system", "rke2-coredns-rke2-coredns", "10.43.0.10", port=53)
DNS_BRIDGE = bridge("b", destinations={"dns": True})


def labelled(body: str, labels: dict[str, str]) -> str:
    doc = yaml.safe_load(body)
    doc["metadata"]["labels"] = labels
    return str(yaml.safe_dump(doc))


def seed_route(dst: str = "10.96.0.1/32", gw: str | None = GW) -> str:
    item = {"dst": dst} if gw is None else {"dst": dst, "gw": gw}
    return routes(item)


def with_routes(value: str) -> str:
    return seed_pod(**{SEED_ROUTES_KEY: value})


@dataclass(frozen=True)
class Case:
    code: str
    trigger: list[str]
    clean: list[str]
    obj: str | None = None  # the object the triggered finding must name
    field: str | None = None  # ... and the start of its field
    config: Settings | None = None  # for the trigger only
    id: str = ""
    listed: frozenset[str] = frozenset()  # kinds listed from a live cluster (closed world), for both


def s(cidr: str = "10.1.0.0/24", **spec: object) -> list[str]:
    return [subnet("s", cidr, **spec)]


CASES = [
    # --- Subnet rules ---------------------------------------------------------------------------------
    Case("AB001", s(gateway="10.2.0.1"), s(gateway="10.1.0.1"), "Subnet/s", "spec.gateway"),
    Case("AB002", s(gateway="10.1.0.255"), s(gateway="10.1.0.254"), "Subnet/s", "spec.gateway", id="broadcast"),
    Case("AB002", s(gateway="10.1.0.0"), s(gateway="10.1.0.1"), "Subnet/s", "spec.gateway", id="network"),
    Case("AB003", s(gateway="fd00::1"), s(gateway="10.1.0.1"), "Subnet/s", "spec.gateway"),
    Case(
        "AB004",
        s("10.1.0.0/24,fd00:1::/64", gateway="10.1.0.1"),
        s("10.1.0.0/24,fd00:1::/64", gateway="10.1.0.1,fd00:1::1"),
        "Subnet/s",
        "spec.gateway",
    ),
    Case("AB005", s("10.1.0.5/32"), s("10.1.0.0/24"), "Subnet/s", "spec.cidrBlock"),
    Case("AB006", s("169.254.10.0/24"), s("10.1.0.0/24"), "Subnet/s", "spec.cidrBlock", id="link-local"),
    Case("AB006", s("fe80::/64"), s("fd00:1::/64"), "Subnet/s", "spec.cidrBlock", id="v6-link-local"),
    Case("AB006", s("224.1.0.0/24"), s("10.1.0.0/24"), "Subnet/s", "spec.cidrBlock", id="multicast"),
    Case(
        "AB007",
        s(excludeIps=["10.1.0.20..10.1.0.10"]),
        s(excludeIps=["10.1.0.10..10.1.0.20", "10.1.0.5"]),
        "Subnet/s",
        "spec.excludeIps[0]",
    ),
    Case(
        "AB007",
        s(excludeIps=["10.1.0.5", "10.1.0.x"]),
        s(excludeIps=["10.1.0.5"]),
        "Subnet/s",
        "spec.excludeIps[1]",
        id="not-an-ip",
    ),
    Case("AB008", s(allowSubnets=["10.16.0.1"]), s(allowSubnets=["10.16.0.0/16"]), "Subnet/s", "spec.allowSubnets[0]"),
    Case("AB009", s(gatewayType="central"), s(gatewayType="centralized"), "Subnet/s", "spec.gatewayType"),
    Case("AB010", s(protocol="IPv5"), s(protocol="IPv4"), "Subnet/s", "spec.protocol"),
    Case("AB011", s(protocol="Dual"), s(protocol="IPv4"), "Subnet/s", "spec.protocol"),
    Case(
        "AB012",
        s("fd00:1::/64", gateway="FD00:1::1"),
        s("fd00:1::/64", gateway="fd00:1::1"),
        "Subnet/s",
        "spec.gateway",
    ),
    Case(
        "AB013",
        [VPC1, subnet("vpc1", "10.0.2.0/24", vpc="vpc1")],
        [VPC1, subnet("vpc1-b", "10.0.2.0/24", vpc="vpc1")],
        "Subnet/vpc1",
        "spec.vpc",
    ),
    Case("AB014", s("10.96.0.0/24"), s("10.97.0.0/24"), "Subnet/s", "spec.cidrBlock"),
    Case("AB015", [node(), *s("172.18.0.0/24")], [node(), *s("172.19.0.0/24")], "Subnet/s", "spec.cidrBlock"),
    Case(
        "AB016",
        [VPC1, subnet("vpc1-b", "10.0.1.128/25", vpc="vpc1")],
        [VPC1, subnet("vpc1-b", "10.0.2.0/24", vpc="vpc1"), vpc("vpc2", "ns2", cidr="10.0.1.0/24")],
        "Subnet/vpc1-b",
        "spec.cidrBlock",
    ),
    Case("AB017", s(vpc="nope"), s(vpc="ovn-cluster"), "Subnet/s", "spec.vpc"),
    Case("AB028", s(vpc="nope"), s(vpc="ovn-cluster"), "Subnet/s", "spec.vpc", listed=frozenset({"Vpc"})),
    Case("AB029", s(), [vpc("ovn-cluster"), *s()], "Vpc/ovn-cluster", "metadata.name", listed=frozenset({"Vpc"})),
    Case("AB018", s(acls=[{**FENCE[0], "priority": 40000}]), s(acls=FENCE), "Subnet/s", "spec.acls[0].priority"),
    Case(
        "AB018",
        s(acls=[{**FENCE[0], "action": "permit"}]),
        s(acls=FENCE),
        "Subnet/s",
        "spec.acls[0].action",
        id="action",
    ),
    Case(
        "AB018",
        s(acls=[{**FENCE[0], "direction": "ingress"}]),
        s(acls=FENCE),
        "Subnet/s",
        "spec.acls[0].direction",
        id="direction",
    ),
    Case("AB018", s(acls=[{**FENCE[0], "match": " "}]), s(acls=FENCE), "Subnet/s", "spec.acls[0].match", id="match"),
    Case(
        "AB018",
        s(acls=[{**FENCE[0], "match": 'inport != "s-ovn-cluster" && ip'}]),
        s(acls=[{**FENCE[0], "match": 'inport == "s-ovn-cluster" && ip'}]),
        "Subnet/s",
        "spec.acls[0].match",
        id="nominal-inequality",
    ),
    Case(
        "AB019",
        [VPC1, subnet("vpc1-b", "10.0.2.0/24", vpc="vpc1", namespaces=["ns9"])],
        [VPC1, subnet("vpc1-b", "10.0.2.0/24", vpc="vpc1", namespaces=["ns1"])],
        "Subnet/vpc1-b",
        "spec.namespaces",
    ),
    Case("AB020", [VPC1, *s(namespaces=["ns1"])], [VPC1, *s(namespaces=["ns9"])], "Subnet/s", "spec.namespaces"),
    # --- attachment subnets ---------------------------------------------------------------------------
    Case(  # without kube-proxy nothing DNATs the ClusterIP (issue 11 item 2)
        "AB021",
        [nad(), api_subnet(enableLb=False), VPC1, seed_pod()],
        [*SEED, seed_pod()],
        "Subnet/vpc-apiserver-subnet",
        "spec.enableLb",
        config=Settings(kube_proxy=False),
    ),
    Case(  # with kube-proxy (the default) the host DNATs it: info, not an error (issue 11 item 2)
        "AB027",
        [nad(), api_subnet(enableLb=False), VPC1, seed_pod()],
        [*SEED, seed_pod()],
        "Subnet/vpc-apiserver-subnet",
        "spec.enableLb",
    ),
    Case(
        "AB022",
        [nad(), api_subnet(vpc="vpc2"), VPC1, vpc("vpc2", "ns2", cidr="10.0.2.0/24"), seed_pod()],
        [*SEED, seed_pod()],
        "Subnet/vpc-apiserver-subnet",
        "spec.vpc",
    ),
    Case(
        "AB023",
        [nad(), api_subnet(cidr="10.0.1.0/24"), VPC1, seed_pod()],
        [*SEED, seed_pod()],
        "Subnet/vpc-apiserver-subnet",
        "spec.cidrBlock",
    ),
    Case(
        "AB024",
        [nad(), api_subnet(private=True), VPC1, node(), seed_pod()],
        [nad(), api_subnet(private=True, allowSubnets=["172.18.0.0/16"]), VPC1, node(), seed_pod()],
        "Subnet/vpc-apiserver-subnet",
        "spec.allowSubnets",
    ),
    Case(  # an external LB as the API endpoint: it leaves through 29000 to the host, masqueraded only with
        # natOutgoing (kube-ovn v1.16.2 pkg/controller/subnet.go 30000 reroutes node IPs only; issue 11 item 5)
        "AB026",
        [nad(), api_subnet(), VPC1, node(), API_EP_EXTERNAL, seed_pod()],
        [nad(), api_subnet(natOutgoing=True), VPC1, node(), API_EP_EXTERNAL, seed_pod()],
        "Subnet/vpc-apiserver-subnet",
        "spec.natOutgoing",
    ),
    Case(  # kubespray: service CIDR 10.233.0.0/18; a tenant subnet inside it (issue #10, first list)
        "AB025",
        [service("default", "kubernetes", "10.233.0.1"), vpc("vpc1", "ns1", cidr="10.233.32.0/24")],
        [service("default", "kubernetes", "10.233.0.1"), vpc("vpc1", "ns1", cidr="10.233.64.0/24")],
        "Subnet/vpc1-net",
        "spec.cidrBlock",
        config=Settings(service_cidrs=(ipaddress.ip_network("10.233.0.0/18"),)),
    ),
    Case(  # RKE2: a bridge CIDR holding the DNS Service's ClusterIP 10.43.0.10 (the API's 10.43.0.1 is AB014)
        "AB047",
        [RKE2_API, RKE2_DNS, VPC1, pod(), bridge("b", cidrBlock="10.43.0.8/29")],
        [RKE2_API, RKE2_DNS, VPC1, pod(), bridge("b", cidrBlock="10.43.0.16/29")],
        "ApiBridge/b",
        "spec.cidrBlock",
    ),
    Case(  # RKE2 without --service-cidr: 10.43.200.0/24 is inside the /16 around the API ClusterIP 10.43.0.1
        "AB048",
        [RKE2_API, VPC1, pod(), bridge("b", cidrBlock="10.43.200.0/24")],
        [RKE2_API, VPC1, pod(), bridge("b", cidrBlock="10.44.200.0/24")],
        "ApiBridge/b",
        "spec.cidrBlock",
    ),
    # --- networks annotation and NADs -------------------------------------------------------------------
    Case("AB030", [*SEED, pod(annotations={NETWORKS: "a/b/c"})], [*SEED, seed_pod()], POD, NETWORKS_FIELD),
    Case(
        "AB030",
        [*SEED, pod(annotations={NETWORKS: '{"name": "x"}'})],
        [*SEED, seed_pod()],
        POD,
        NETWORKS_FIELD,
        id="json-object",
    ),
    Case("AB031", [*SEED, seed_pod(**{NETWORKS: "api-ovn-nad"})], [*SEED, seed_pod()], POD, NETWORKS_FIELD),
    Case(  # the seed's NAD left out, but its Subnet names the provider: evidence it should exist
        "AB031",
        [api_subnet(), VPC1, seed_pod()],
        [*SEED, seed_pod()],
        POD,
        NETWORKS_FIELD,
        id="subnet-evidence",
    ),
    Case(  # closed world (Namespaces listed live): a pod in a namespace the cluster lacks is refused
        "AB046",
        [VPC1, pod()],
        [VPC1, NS1, pod()],
        POD,
        "metadata.namespace",
        listed=frozenset({"Namespace"}),
    ),
    Case(  # open world: a macvlan NAD the input does not contain is unknown, not missing
        "AB044",
        [VPC1, pod(annotations={NETWORKS: "default/macvlan-conf"})],
        [
            VPC1,
            nad("macvlan-conf", "default", config='{"cniVersion": "0.3.1", "type": "macvlan"}'),
            pod(annotations={NETWORKS: "default/macvlan-conf"}),
        ],
        POD,
        NETWORKS_FIELD,
    ),
    Case(
        "AB032",
        [nad(config="{not json"), api_subnet()],
        [nad(), api_subnet()],
        "NetworkAttachmentDefinition/kube-system/api-ovn-nad",
        "spec.config",
    ),
    Case(
        "AB033",
        [nad(config='{"cniVersion": "0.3.1", "type": "macvlan"}'), api_subnet()],
        [nad(), api_subnet()],
        "NetworkAttachmentDefinition/kube-system/api-ovn-nad",
        "spec.config",
    ),
    Case(
        "AB034",
        [nad(provider="api-ovn-nad.default.ovn"), api_subnet()],
        [nad(), api_subnet()],
        "NetworkAttachmentDefinition/kube-system/api-ovn-nad",
        "spec.config",
    ),
    Case(
        "AB035",
        [nad(provider=None), api_subnet()],
        [nad(), api_subnet()],
        "NetworkAttachmentDefinition/kube-system/api-ovn-nad",
        "spec.config",
    ),
    Case("AB036", [nad()], [nad(), api_subnet()], "NetworkAttachmentDefinition/kube-system/api-ovn-nad", "spec.config"),
    Case(  # kube-ovn-cni loadNetConf: "server_socket is required in cni.conf" (every pod fails)
        "AB045",
        [nad(server_socket=""), api_subnet()],
        [nad(), api_subnet()],
        "NetworkAttachmentDefinition/kube-system/api-ovn-nad",
        "spec.config",
    ),
    Case(  # an IPAM-only NAD: the CNI reads server_socket from "ipam", not the top level
        "AB045",
        [
            nad(
                config='{"cniVersion":"0.3.1","type":"macvlan","server_socket":"/run/openvswitch/kube-ovn-daemon.sock",'
                '"ipam":{"type":"kube-ovn","provider":"api-ovn-nad.kube-system"}}'
            ),
            api_subnet(provider="api-ovn-nad.kube-system"),
        ],
        [
            nad(
                config='{"cniVersion":"0.3.1","type":"macvlan","ipam":{"type":"kube-ovn",'
                '"server_socket":"/run/openvswitch/kube-ovn-daemon.sock","provider":"api-ovn-nad.kube-system"}}'
            ),
            api_subnet(provider="api-ovn-nad.kube-system"),
        ],
        "NetworkAttachmentDefinition/kube-system/api-ovn-nad",
        "spec.config",
        id="ipam-only",
    ),
    Case(
        "AB037",
        [nad(), api_subnet(), api_subnet("second", "100.100.101.0/24")],
        [nad(), api_subnet()],
        "Subnet/second",
        "spec.provider",
    ),
    Case(
        "AB038",
        [*SEED, seed_pod()],
        [
            nad(ns="default"),
            api_subnet(provider="api-ovn-nad.default.ovn"),
            VPC1,
            pod(
                annotations={
                    NETWORKS: "default/api-ovn-nad",
                    "api-ovn-nad.default.ovn.kubernetes.io/routes": SEED_ROUTES,
                }
            ),
        ],
        POD,
        NETWORKS_FIELD,
    ),
    Case(
        "AB039",
        [*SEED, seed_pod(**{LS_KEY: "nope"})],
        [*SEED, seed_pod(**{LS_KEY: "vpc-apiserver-subnet"})],
        POD,
        f'metadata.annotations["{LS_KEY}"]',
    ),
    Case(
        "AB039",
        [*SEED, pod(annotations={"ovn.kubernetes.io/logical_switch": "nope"})],
        [*SEED, pod(annotations={"ovn.kubernetes.io/logical_switch": "vpc1-net"})],
        POD,
        'metadata.annotations["ovn.kubernetes.io/logical_switch"]',
        id="primary",
    ),
    Case(
        "AB040",
        [*SEED, seed_pod(**{LS_KEY: "ovn-default"})],
        [*SEED, seed_pod(**{LS_KEY: "vpc-apiserver-subnet"})],
        POD,
        f'metadata.annotations["{LS_KEY}"]',
    ),
    Case("AB041", [api_subnet()], [nad(), api_subnet()], "Subnet/vpc-apiserver-subnet", "spec.provider"),
    Case(
        "AB042",
        [*SEED, nad("other"), seed_pod(**{NETWORKS: "kube-system/other@net2,kube-system/api-ovn-nad"})],
        [*SEED, nad("other"), seed_pod(**{NETWORKS: "kube-system/other@net2,kube-system/api-ovn-nad@net1"})],
        POD,
        NETWORKS_FIELD,
    ),
    Case(  # stacked attachments: the seed's hand-written one, and a bridge selecting the pod
        "AB116",
        [*SEED, seed_pod(), bridge("b")],
        [*SEED, pod(), bridge("b")],
        POD,
        NETWORKS_FIELD,
    ),
    Case(  # the seed's annotations on the Deployment's own metadata (issue #10, first list)
        "AB043",
        [*SEED, deployment(own_annotations=SEED_ANNOTATIONS)],
        [*SEED, deployment(template_annotations=SEED_ANNOTATIONS)],
        "Deployment/ns1/web",
        "metadata.annotations",
    ),
    Case(  # mis-indented: annotations beside the template's metadata instead of inside it
        "AB043",
        [*SEED, deployment(misplaced_annotations=SEED_ANNOTATIONS)],
        [*SEED, deployment(template_annotations=SEED_ANNOTATIONS)],
        "Deployment/ns1/web",
        "spec.template.annotations",
        id="mis-indented",
    ),
    # --- planner problems and ApiBridge intent ------------------------------------------------------------
    Case(
        "AB101",
        [service("default", "kubernetes"), VPC1, pod(), bridge("b")],
        [VPC1, pod(), bridge("b")],
        "ApiBridge/b",
        "spec.destinations.apiserver",
    ),
    Case(
        "AB102",
        [VPC1, pod(), bridge("b", destinations={"dns": True})],
        [
            VPC1,
            pod(),
            service("kube-system", "kube-dns", "10.96.0.10", port=53),
            bridge("b", destinations={"dns": True}),
        ],
        "ApiBridge/b",
        "spec.destinations.dns",
    ),
    Case(  # which Service was taken as the cluster DNS (kubespray's coredns, found by its label)
        "AB105",
        [
            VPC1,
            pod(),
            labelled(service("kube-system", "coredns", "10.233.0.3", port=53), {"k8s-app": "kube-dns"}),
            bridge("b", destinations={"dns": True}),
        ],
        [VPC1, pod(), bridge("b")],
        "ApiBridge/b",
        "spec.destinations.dns",
    ),
    Case(  # CoreDNS not ready: its EndpointSlice lists no ready endpoint, so nothing answers the ClusterIP
        "AB117",
        [VPC1, pod(), DNS, endpointslice("kube-system", "kube-dns", "10.16.0.5", ready=False), DNS_BRIDGE],
        [VPC1, pod(), DNS, endpointslice("kube-system", "kube-dns", "10.16.0.5"), DNS_BRIDGE],
        "Service/kube-system/kube-dns",
        "spec.selector",
    ),
    Case(  # the same from a live cluster whose EndpointSlices were listed: none is missing, not unknown
        "AB117",
        [VPC1, pod(), DNS, API_SLICE, DNS_BRIDGE],
        [VPC1, pod(), DNS, API_SLICE, endpointslice("kube-system", "kube-dns", "10.16.0.5"), DNS_BRIDGE],
        "Service/kube-system/kube-dns",
        "spec.selector",
        id="listed",
        listed=frozenset({"EndpointSlice"}),
    ),
    Case(  # the API server's EndpointSlice lists no ready endpoint: nothing answers default/kubernetes
        "AB117",
        [API, VPC1, pod(), endpointslice("default", "kubernetes", "172.18.0.2", ready=False, port=6443), bridge("b")],
        [API, VPC1, pod(), endpointslice("default", "kubernetes", "172.18.0.2", port=6443), bridge("b")],
        "Service/default/kubernetes",
        "spec.selector",
        id="api",
    ),
    Case(  # files without the DNS Service's EndpointSlices: unknown, so a warning
        "AB118",
        [VPC1, pod(), DNS, DNS_BRIDGE],
        [VPC1, pod(), DNS, endpointslice("kube-system", "kube-dns", "10.16.0.5"), DNS_BRIDGE],
        "Service/kube-system/kube-dns",
        "spec.selector",
    ),
    Case(  # a live bridge Subnet with pods on it, and the bridge's cidrBlock edited (kube-ovn denies the move)
        "AB119",
        [VPC1, pod(), bridge("b", cidrBlock="100.100.9.0/24"), LIVE_BRIDGE_SUBNET],
        [VPC1, pod(), bridge("b", cidrBlock="100.100.7.0/24"), LIVE_BRIDGE_SUBNET],
        "ApiBridge/b",
        "spec.cidrBlock",
    ),
    Case(
        "AB103",
        [VPC1, pod(), bridge("b")],
        [VPC1, pod(), bridge("b")],
        "ApiBridge/b",
        "spec.cidrBlock",
        config=Settings(pool_v4=ipaddress.ip_network("10.0.1.0/24")),
    ),
    Case(
        "AB104",
        [DUAL_API, VPC1, pod(), bridge("b", cidrBlock="100.100.5.0/24")],
        [DUAL_API, VPC1, pod(), bridge("b", cidrBlock="100.100.5.0/24,fd00:100:5::/120")],
        "ApiBridge/b",
        "spec.cidrBlock",
    ),
    Case(
        "AB110",
        [VPC1, pod(), bridge("a"), bridge("b")],
        [
            VPC1,
            pod(labels={"x": "1"}),
            pod("other", labels={"x": "2"}),
            bridge("a", podSelector={"matchLabels": {"x": "1"}}),
            bridge("b", podSelector={"matchLabels": {"x": "2"}}),
        ],
        "ApiBridge/b",
        "spec.podSelector",
    ),
    Case("AB111", [pod(), bridge("b", "nope")], [VPC1, pod(), bridge("b")], "ApiBridge/b", "spec.vpc"),
    Case("AB112", [pod(), bridge("b", "ovn-cluster")], [VPC1, pod(), bridge("b")], "ApiBridge/b", "spec.vpc"),
    Case("AB113", [VPC1, bridge("b")], [VPC1, pod(), bridge("b")], "ApiBridge/b", "spec.podSelector"),
    Case("AB114", [*SEED, seed_pod(), bridge("b")], [*SEED, pod(), bridge("b")], "ApiBridge/b", "spec.podSelector"),
    Case(
        "AB115",
        [VPC1, pod(), bridge("b")],
        [VPC1, pod(), bridge("b", nadNamespace="default")],
        "ApiBridge/b",
        "spec.nadNamespace",
    ),
    # --- routes ---------------------------------------------------------------------------------------------
    Case(
        "AB201",
        [*SEED, with_routes('{"dst":"10.96.0.1/32","gw":"100.100.100.1"}')],
        [*SEED, seed_pod()],
        POD,
        ROUTES_FIELD,
    ),
    Case(
        "AB201",
        [*SEED, with_routes('[{"dst":"10.96.0.1/32",}]')],
        [*SEED, seed_pod()],
        POD,
        ROUTES_FIELD,
        id="bad-json",
    ),
    Case(  # only whitespace is not JSON to json.Unmarshal: the sandbox fails (issue 11 item 11)
        "AB201",
        [*SEED, with_routes("  ")],
        [*SEED, seed_pod()],
        POD,
        ROUTES_FIELD,
        id="whitespace",
    ),
    Case(  # [null] is one zero Route: a default route through the attachment (issue 11 item 11)
        "AB205",
        [*SEED, with_routes("[null]")],
        [*SEED, seed_pod()],
        POD,
        ROUTES_FIELD + "[0].dst",
        id="null-element",
    ),
    Case("AB202", [*SEED, with_routes(seed_route("10.96.0.1"))], [*SEED, seed_pod()], POD, ROUTES_FIELD + "[0].dst"),
    Case(
        "AB203", [*SEED, with_routes(seed_route(gw="100.100.100.x"))], [*SEED, seed_pod()], POD, ROUTES_FIELD + "[0].gw"
    ),
    Case("AB204", [*SEED, with_routes(seed_route(gw=None))], [*SEED, seed_pod()], POD, ROUTES_FIELD + "[0].gw"),
    Case("AB205", [*SEED, with_routes(routes({"gw": GW}))], [*SEED, seed_pod()], POD, ROUTES_FIELD + "[0].dst"),
    Case(
        "AB205",
        [*SEED, with_routes(seed_route("0.0.0.0/0"))],
        [*SEED, seed_pod()],
        POD,
        ROUTES_FIELD + "[0].dst",
        id="zero-cidr",
    ),
    Case(
        "AB205",
        [*SEED, seed_pod(**{f"{SEED_PROVIDER}.kubernetes.io/default_route": "true"})],
        [*SEED, seed_pod(**{f"{SEED_PROVIDER}.kubernetes.io/default_route": "false"})],
        POD,
        f'metadata.annotations["{SEED_PROVIDER}.kubernetes.io/default_route"]',
        id="default-route-annotation",
    ),
    Case("AB206", [*SEED, with_routes(seed_route("10.96.0.0/12"))], [*SEED, seed_pod()], POD, ROUTES_FIELD + "[0].dst"),
    Case(
        "AB207",
        [
            *SEED,
            subnet("vpc1-b", "10.0.2.0/24", vpc="vpc1"),
            with_routes(routes({"dst": "10.96.0.1/32", "gw": GW}, {"dst": "10.0.0.0/16", "gw": GW})),
        ],
        [*SEED, subnet("vpc1-b", "10.0.2.0/24", vpc="vpc1"), seed_pod()],
        POD,
        ROUTES_FIELD + "[1].dst",
    ),
    Case(
        "AB208", [*SEED, with_routes(seed_route(gw="100.100.101.1"))], [*SEED, seed_pod()], POD, ROUTES_FIELD + "[0].gw"
    ),
    Case("AB209", [*SEED, with_routes(seed_route(gw="fd00::1"))], [*SEED, seed_pod()], POD, ROUTES_FIELD + "[0].gw"),
    Case(
        "AB210",
        [*SEED, seed_pod(**{"other.kube-system.ovn.kubernetes.io/routes": SEED_ROUTES})],
        [*SEED, seed_pod()],
        POD,
        'metadata.annotations["other.kube-system.ovn.kubernetes.io/routes"]',
    ),
    Case(
        "AB211", [*SEED, pod(annotations={NETWORKS: "kube-system/api-ovn-nad"})], [*SEED, seed_pod()], POD, ROUTES_FIELD
    ),
    Case(
        "AB212", [*SEED, with_routes(seed_route(gw="100.100.100.5"))], [*SEED, seed_pod()], POD, ROUTES_FIELD + "[0].gw"
    ),
    Case(
        "AB214",  # the API ClusterIP routed on eth0 of a custom VPC: intent without a path (check/intent.py)
        [*SEED, pod(annotations={"ovn.kubernetes.io/routes": routes({"dst": "10.96.0.1/32", "gw": "10.0.1.1"})})],
        [*SEED, seed_pod()],
        POD,
        'metadata.annotations["ovn.kubernetes.io/routes"]',
    ),
    Case(
        "AB213",
        [DUAL_API, nad(), api_subnet(cidr="100.100.100.0/24,fd00:100::/120"), VPC1, seed_pod()],
        [
            DUAL_API,
            nad(),
            api_subnet(cidr="100.100.100.0/24,fd00:100::/120"),
            VPC1,
            with_routes(routes({"dst": "10.96.0.1/32", "gw": GW}, {"dst": "fd00:10:96::1/128", "gw": "fd00:100::1"})),
        ],
        POD,
        ROUTES_FIELD,
    ),
    # --- security ---------------------------------------------------------------------------------------
    Case(
        "AB301",
        [*SEED, vpc("vpc2", "ns2", cidr="10.0.2.0/24"), seed_pod(), seed_pod("b", "ns2")],
        [*SEED, vpc("vpc2", "ns2", cidr="10.0.2.0/24"), seed_pod(), seed_pod("b")],
        "Subnet/vpc-apiserver-subnet",
        "spec.provider",
    ),
    Case("AB302", SEED, [nad(), api_subnet(acls=FENCE), VPC1], "Subnet/vpc-apiserver-subnet", "spec.acls"),
    Case(
        "AB303",
        [VPC1, pod(), bridge("b", isolation="open")],
        [VPC1, pod(), bridge("b", isolation="strict")],
        "ApiBridge/b",
        "spec.isolation",
    ),
    Case(
        "AB304",
        [
            VPC1,
            vpc("vpc2", "ns2", cidr="10.0.2.0/24"),
            bridge("b"),
            pod("x", "ns2", {NETWORKS: "kube-system/apibridge-b"}),
        ],
        [
            VPC1,
            vpc("vpc2", "ns2", cidr="10.0.2.0/24"),
            bridge("b"),
            pod("x", "ns1", {NETWORKS: "kube-system/apibridge-b"}),
        ],
        "Pod/ns2/x",
        NETWORKS_FIELD,
    ),
    Case(
        "AB305",
        [VPC1, bridge("b"), pod("x", "ns1", {NETWORKS: "kube-system/apibridge-b", "apibridge.dev/inject": "false"})],
        [VPC1, bridge("b"), pod("x", "ns1", {NETWORKS: "kube-system/apibridge-b"})],
        "Pod/ns1/x",
        'metadata.annotations["apibridge-b.kube-system.ovn.kubernetes.io/port_security"]',
    ),
    # --- policies on attachment ports ----------------------------------------------------------------
    Case(
        "AB310",
        [VPC1, node(), bridge("b"), pod(), netpol("deny", **DENY_EGRESS)],
        [
            VPC1,
            node(),
            bridge("b"),
            pod(),
            netpol("deny", annotations={"ovn.kubernetes.io/network_policy_for": "ovn"}, **DENY_EGRESS),
        ],
        "NetworkPolicy/ns1/deny",
        "spec.egress",
    ),
    Case(
        "AB311",
        [
            nad(),
            api_subnet(acls=[{"direction": "to-lport", "priority": 2000, "match": "ip", "action": "drop"}]),
            VPC1,
            seed_pod(),
            netpol("open", **ALLOW_ALL_INGRESS),
        ],
        [VPC1, bridge("b"), pod(), netpol("open", **ALLOW_ALL_INGRESS)],
        "NetworkPolicy/ns1/open",
        "spec.ingress[0]",
    ),
    Case(
        "AB312",
        [
            VPC1,
            bridge("b"),
            pod(),
            anp("a", subject={"namespaces": {}}, ingress=[{"action": "Allow", "from": [{"namespaces": {}}]}]),
        ],
        [
            VPC1,
            bridge("b"),
            pod(),
            anp("a", subject={"namespaces": {}}, ingress=[{"action": "Pass", "from": [{"namespaces": {}}]}]),
        ],
        "AdminNetworkPolicy/a",
        "spec.ingress[0]",
    ),
    Case(
        "AB313",
        [
            VPC1,
            node(),
            bridge("b"),
            pod(),
            anp("a", subject={"namespaces": {}}, egress=[{"action": "Deny", "to": [{"networks": ["172.18.0.2/32"]}]}]),
        ],
        [
            VPC1,
            node(),
            bridge("b"),
            pod(),
            anp("a", subject={"namespaces": {}}, egress=[{"action": "Allow", "to": [{"networks": ["172.18.0.2/32"]}]}]),
        ],
        "AdminNetworkPolicy/a",
        "spec.egress[0]",
    ),
]


def _id(case: Case) -> str:
    return f"{case.code}-{case.id}" if case.id else case.code


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_triggers(case: Case) -> None:
    found = by_code(run(*case.trigger, config=case.config, listed=case.listed), case.code)
    assert found, f"{case.code} not reported"
    if case.obj is not None:
        assert any(f.obj == case.obj for f in found), [f.obj for f in found]
    if case.field is not None:
        assert any(f.obj == (case.obj or f.obj) and f.field.startswith(case.field) for f in found), [
            (f.obj, f.field) for f in found
        ]
    for f in found:
        assert f.severity == CODES[case.code].severity
        assert f.message and f.hint, f


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_does_not_trigger(case: Case) -> None:
    assert case.code not in codes(run(*case.clean, listed=case.listed))


def test_every_code_has_a_case() -> None:
    tested = {case.code for case in CASES}
    assert sorted(set(CODES) - tested) == [], "codes without a triggering test"
    assert sorted(tested - set(CODES)) == [], "cases for codes that are not registered"


def test_every_emitted_code_is_registered_with_its_severity() -> None:
    for case in CASES:
        for f in run(*case.trigger, config=case.config, listed=case.listed):
            assert f.code in CODES, f
            assert f.severity == CODES[f.code].severity, f


def test_ab035_says_eth0_is_detached() -> None:
    """kube-ovn v1.16.2 CleanDuplicatePort: a kube-ovn NAD without provider takes eth0's port (issue 11 item 7)."""
    found = [f for f in run(nad(provider=None), api_subnet()) if f.code == "AB035"]
    assert found and "eth0 detached" in found[0].message and "CleanDuplicatePort" in found[0].message


def test_ab211_hints_the_routes_key_kube_ovn_cni_reads_for_a_nad_without_provider() -> None:
    """kube-ovn-cni sends provider ``ovn`` for a kube-ovn NAD without one (cmd/cni/cni.go loadNetConf) and reads
    that provider's annotations: the hint must name ``ovn.kubernetes.io/routes``, not ``<nad>.<ns>.ovn...``."""
    found = by_code(
        run(
            nad(provider=None), api_subnet(), vpc("vpc1", "ns1"), pod(annotations={NETWORKS: "kube-system/api-ovn-nad"})
        ),
        "AB211",
    )
    assert len(found) == 1
    assert found[0].field == 'metadata.annotations["ovn.kubernetes.io/routes"]', found[0].field
    assert found[0].hint.startswith("add ovn.kubernetes.io/routes: "), found[0].hint
    assert SEED_ROUTES_KEY not in found[0].hint
