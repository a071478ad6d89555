"""Issue 11: the twin builds from what an exported cluster says, as Kube-OVN would (no daemons here).

Item 15: given both Endpoints and EndpointSlices (``kubectl get ep,endpointslices -o yaml``), Kube-OVN's
load balancers come from the slices alone (kube-ovn v1.16.2 ``pkg/controller/endpoint_slice.go
handleUpdateEndpointSlice`` lists EndpointSlices by ``kubernetes.io/service-name``; Endpoints are never read).
"""

from __future__ import annotations

from apibridge.model.cluster import Cluster
from apibridge.model.load import parse_text
from apibridge.plan.planner import plan
from apibridge.twin.lab import LAB_NODE
from apibridge.twin.ovn.topology import Topology, build_topology, iter_nics

NODES = "".join(
    f"""---
apiVersion: v1
kind: Node
metadata: {{name: n{i}, labels: {{node-role.kubernetes.io/control-plane: ""}}}}
status: {{addresses: [{{type: InternalIP, address: 172.18.0.1{i}}}]}}
"""
    for i in (1, 2, 3)
)
API = """---
apiVersion: v1
kind: Service
metadata: {name: kubernetes, namespace: default}
spec: {clusterIP: 10.43.0.1, clusterIPs: [10.43.0.1], ports: [{name: https, port: 443, protocol: TCP}]}
"""
ENDPOINTS = """---
apiVersion: v1
kind: Endpoints
metadata: {name: kubernetes, namespace: default}
subsets:
- addresses: [{ip: 172.18.0.11}, {ip: 172.18.0.12}, {ip: 172.18.0.13}]
  ports: [{name: https, port: 6443, protocol: TCP}]
"""
SLICE = """---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: kubernetes, namespace: default, labels: {kubernetes.io/service-name: kubernetes}}
addressType: IPv4
endpoints:
- addresses: [172.18.0.11]
- addresses: [172.18.0.12]
- addresses: [172.18.0.13]
ports: [{name: https, port: 6443, protocol: TCP}]
"""


def topology(text: str) -> Topology:
    cluster = Cluster.from_documents(parse_text(text, "export.yaml"), assume_node=LAB_NODE)
    return build_topology(cluster, plan(cluster))


def backends(topo: Topology, vip: str) -> list[str]:
    found = [lb.vips[vip] for lb in topo.load_balancers if vip in lb.vips]
    assert len(found) == 1, found
    return found[0].split(",")


WANT = ["172.18.0.11:6443", "172.18.0.12:6443", "172.18.0.13:6443"]


def test_endpoints_and_slices_together_give_each_backend_once() -> None:
    assert backends(topology(NODES + API + ENDPOINTS + SLICE), "10.43.0.1:443") == WANT


def test_the_slice_wins_where_endpoints_disagree() -> None:
    stale = ENDPOINTS.replace("{ip: 172.18.0.13}", "{ip: 172.18.0.99}")
    assert backends(topology(NODES + API + stale + SLICE), "10.43.0.1:443") == WANT


def test_endpoints_alone_still_give_backends() -> None:
    """An export without slices: the EndpointSlice mirroring controller would mirror the Endpoints."""
    assert backends(topology(NODES + API + ENDPOINTS), "10.43.0.1:443") == WANT


# ---- item 14: addresses from the input -------------------------------------------------------------------------
# Kube-OVN's IPAM honours ``<provider>.kubernetes.io/ip_address`` and ``mac_address`` (v1.16.2
# pkg/controller/pod.go acquireAddress / acquireStaticAddress, pkg/ipam/subnet.go GetStaticAddress: an address
# outside the subnet is AddressOutOfRange, one another pod holds AddressConflict, an unparsable one fails) and
# ``ip_pool`` (a StatefulSet pod takes the entry of its ordinal); a node's join address is its
# ``ovn.kubernetes.io/ip_address`` once allocated (pkg/controller/node.go handleAddNode).
def pod_doc(name: str, annotations: dict[str, str] | None = None, pod_ips: list[str] | None = None) -> str:
    ann = "".join(f"\n    {k}: '{v}'" for k, v in (annotations or {}).items())
    status = (
        f"\nstatus: {{podIP: {pod_ips[0]}, podIPs: [{', '.join('{ip: ' + i + '}' for i in pod_ips)}]}}"
        if pod_ips
        else ""
    )
    return f"""---
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: default
  labels: {{app: {name}}}
  annotations: {{}}{ann}
spec: {{containers: [{{name: c, image: busybox}}]}}{status}
""".replace("annotations: {}\n    ", "annotations:\n    ")


def eth0(topo: Topology, name: str) -> list[str]:
    pod = topo.pod(f"default/{name}")
    assert pod is not None
    assert pod.failure is None, pod.failure
    nic = pod.nic("eth0")
    assert nic is not None
    return [str(ip) for ip in nic.ips]


def failure(topo: Topology, name: str) -> str:
    pod = topo.pod(f"default/{name}")
    assert pod is not None and pod.failure is not None
    return pod.failure


IP_KEY = "ovn.kubernetes.io/ip_address"
MAC_KEY = "ovn.kubernetes.io/mac_address"


def test_a_static_ip_address_annotation_is_the_pods_address() -> None:
    topo = topology(pod_doc("a", {IP_KEY: "10.16.0.50"}) + pod_doc("b"))
    assert eth0(topo, "a") == ["10.16.0.50"]
    assert eth0(topo, "b") != ["10.16.0.50"]


def test_a_static_address_another_pod_holds_fails_the_later_pod() -> None:
    topo = topology(pod_doc("a", {IP_KEY: "10.16.0.50"}) + pod_doc("b", {IP_KEY: "10.16.0.50"}))
    assert eth0(topo, "a") == ["10.16.0.50"]
    assert "AddressConflict" in failure(topo, "b")


def test_a_static_address_outside_the_subnet_or_unparsable_fails_the_pod() -> None:
    topo = topology(pod_doc("out", {IP_KEY: "10.17.0.5"}) + pod_doc("bad", {IP_KEY: "10.16.0.x"}))
    assert "AddressOutOfRange" in failure(topo, "out")
    assert "failed to parse IP" in failure(topo, "bad")


def test_a_static_mac_address_is_the_ports_mac_and_a_bad_one_fails() -> None:
    topo = topology(pod_doc("a", {MAC_KEY: "00:00:00:0a:0b:0c"}) + pod_doc("b", {MAC_KEY: "zz:00"}))
    pod = topo.pod("default/a")
    assert pod is not None and pod.nic("eth0") is not None
    assert pod.nic("eth0").mac == "00:00:00:0a:0b:0c"  # type: ignore[union-attr]
    assert "MAC" in failure(topo, "b") or "mac" in failure(topo, "b")


def test_an_exported_pod_ip_is_kept_when_it_fits_and_load_balancers_reach_it() -> None:
    """CoreDNS on the addresses its EndpointSlice names (a kubespray/RKE2 export): the VIP reaches a pod."""
    dns_svc = """---
apiVersion: v1
kind: Service
metadata: {name: coredns, namespace: default}
spec: {clusterIP: 10.96.0.10, clusterIPs: [10.96.0.10], ports: [{name: dns, port: 53, protocol: UDP}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: coredns-x, namespace: default, labels: {kubernetes.io/service-name: coredns}}
addressType: IPv4
endpoints: [{addresses: [10.16.0.7]}]
ports: [{name: dns, port: 53, protocol: UDP}]
"""
    # "aaa" sorts first and would take 10.16.0.2.. dynamically; "coredns" keeps its exported 10.16.0.7
    pods = "".join(pod_doc(f"aaa{i}") for i in range(8)) + pod_doc("coredns", pod_ips=["10.16.0.7"])
    topo = topology(pods + dns_svc)
    assert eth0(topo, "coredns") == ["10.16.0.7"]
    assert all(eth0(topo, f"aaa{i}") != ["10.16.0.7"] for i in range(8))
    assert backends(topo, "10.96.0.10:53") == ["10.16.0.7:53"]


def test_an_exported_pod_ip_that_does_not_fit_is_replaced_not_failed() -> None:
    topo = topology(pod_doc("moved", pod_ips=["192.0.2.7"]))
    assert eth0(topo, "moved")[0].startswith("10.16.")


def test_a_nodes_join_address_annotation_is_its_ovn0_address() -> None:
    node = """---
apiVersion: v1
kind: Node
metadata:
  name: n1
  labels: {node-role.kubernetes.io/control-plane: ""}
  annotations: {ovn.kubernetes.io/allocated: "true", ovn.kubernetes.io/ip_address: 100.64.0.9,
                ovn.kubernetes.io/mac_address: "00:00:00:aa:bb:cc"}
status: {addresses: [{type: InternalIP, address: 172.18.0.11}]}
"""
    topo = topology(node)
    n1 = topo.node("n1")
    assert n1 is not None
    assert [str(ip) for ip in n1.nic.ips] == ["100.64.0.9"]


def test_ip_pool_gives_a_statefulset_pod_the_entry_of_its_ordinal() -> None:
    sts = """---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata:
      labels: {app: db}
      annotations: {ovn.kubernetes.io/ip_pool: "10.16.0.101,10.16.0.102"}
    spec: {containers: [{name: c, image: busybox}]}
"""
    topo = topology(sts)
    assert eth0(topo, "db-0") == ["10.16.0.101"]
    assert eth0(topo, "db-1") == ["10.16.0.102"]


# ---- item 4: server_socket is required (kube-ovn v1.16.2 cmd/cni/cni.go loadNetConf) ------------------------------
def test_a_pod_attaching_a_nad_without_server_socket_fails() -> None:
    nad = """---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: att, namespace: default}
spec: {config: '{"cniVersion": "0.3.1", "type": "kube-ovn", "provider": "att.default.ovn"}'}
---
apiVersion: kubeovn.io/v1
kind: Subnet
metadata: {name: att}
spec: {cidrBlock: 100.100.9.0/24, provider: att.default.ovn}
"""
    topo = topology(nad + pod_doc("p", {"k8s.v1.cni.cncf.io/networks": "att"}))
    assert "server_socket is required" in failure(topo, "p")
    fixed = nad.replace(
        '"type": "kube-ovn",', '"type": "kube-ovn", "server_socket": "/run/openvswitch/kube-ovn-daemon.sock",'
    )
    assert topology(fixed + pod_doc("p", {"k8s.v1.cni.cncf.io/networks": "att"})).pod("default/p").failure is None  # type: ignore[union-attr]


# ---- item 3: routes in the NAD config come first (kube-ovn v1.16.2 pkg/daemon/handler.go handleAdd) ---------------
ROUTED_NAD = """---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: att, namespace: default}
spec:
  config: '{"cniVersion": "0.3.1", "type": "kube-ovn", "server_socket": "/run/openvswitch/kube-ovn-daemon.sock",
    "provider": "att.default.ovn", "routes": ROUTES}'
---
apiVersion: kubeovn.io/v1
kind: Subnet
metadata: {name: att}
spec: {cidrBlock: 100.100.9.0/24, provider: att.default.ovn}
"""


def net1_routes(topo: Topology, name: str) -> list[tuple[str, str]]:
    pod = topo.pod(f"default/{name}")
    assert pod is not None and pod.failure is None, pod.failure if pod else None
    nic = pod.nic("net1")
    assert nic is not None
    return [(r.dst, r.gw) for r in nic.routes]


def test_nad_config_routes_are_applied_before_the_annotation_routes() -> None:
    nad = ROUTED_NAD.replace("ROUTES", '[{"dst": "10.96.0.1/32", "gw": "100.100.9.1"}]')
    annotations = {
        "k8s.v1.cni.cncf.io/networks": "att",
        "att.default.ovn.kubernetes.io/routes": '[{"dst": "10.96.0.10/32", "gw": "100.100.9.1"}]',
    }
    topo = topology(nad + pod_doc("p", annotations))
    assert net1_routes(topo, "p") == [("10.96.0.1/32", "100.100.9.1"), ("10.96.0.10/32", "100.100.9.1")]
    alone = topology(nad + pod_doc("q", {"k8s.v1.cni.cncf.io/networks": "att"}))
    assert net1_routes(alone, "q") == [("10.96.0.1/32", "100.100.9.1")]


def test_nad_config_routes_of_the_wrong_shape_fail_the_pod() -> None:
    """loadNetConf unmarshals them into []request.Route: a wrong type fails every pod ("failed to load netconf")."""
    nad = ROUTED_NAD.replace("ROUTES", '[{"dst": 5}]')
    topo = topology(nad + pod_doc("p", {"k8s.v1.cni.cncf.io/networks": "att"}))
    assert "failed to load netconf" in failure(topo, "p")


# ---- item 11: a NAD attached twice: kube-ovn-cni reads the plain provider's routes for every interface -------------
def test_a_nad_attached_twice_reads_the_plain_provider_routes_on_each_interface() -> None:
    nad = ROUTED_NAD.replace(', "routes": ROUTES', "")
    annotations = {
        "k8s.v1.cni.cncf.io/networks": "att@net1,att@net2",
        "att.default.ovn.kubernetes.io/routes": '[{"dst": "10.96.0.1/32", "gw": "100.100.9.1"}]',
    }
    topo = topology(nad + pod_doc("p", annotations))
    pod = topo.pod("default/p")
    assert pod is not None and pod.failure is None, pod.failure if pod else None
    for ifname in ("net1", "net2"):
        nic = pod.nic(ifname)
        assert nic is not None and [(r.dst, r.gw) for r in nic.routes] == [("10.96.0.1/32", "100.100.9.1")]


# ---- item 8: a logical_switch naming a missing subnet, a CNI provider no subnet is bound to --------------------
SOCKET_NAD = ROUTED_NAD.replace(', "routes": ROUTES', "")


def test_a_logical_switch_naming_a_missing_subnet_fails_the_pod() -> None:
    """kube-ovn v1.16.2 pkg/controller/pod.go getPodAttachmentNet: subnetsLister.Get(name) not found -> error."""
    annotations = {"k8s.v1.cni.cncf.io/networks": "att", "att.default.ovn.kubernetes.io/logical_switch": "nope"}
    assert "nope" in failure(topology(SOCKET_NAD + pod_doc("p", annotations)), "p")


def test_a_cni_provider_no_subnet_is_bound_to_fails_the_pod() -> None:
    """kube-ovn v1.16.2 pkg/daemon/handler.go handleAdd/providerExists: a provider that is not of the OVN form
    and no Subnet carries is refused ("provider X not bind to any subnet")."""
    nad = SOCKET_NAD.replace('"provider": "att.default.ovn"', '"provider": "custom"')
    topo = topology(nad + pod_doc("p", {"k8s.v1.cni.cncf.io/networks": "att"}))
    assert "provider custom not bind to any subnet" in failure(topo, "p")


# ---- item 6: Vpc staticRoutes and policyRoutes (kube-ovn v1.16.2 pkg/controller/vpc.go handleAddOrUpdateVpc) ----
def test_vpc_static_and_policy_routes_are_programmed() -> None:
    vpcs = """---
apiVersion: kubeovn.io/v1
kind: Vpc
metadata: {name: t1}
spec:
  staticRoutes:
  - {cidr: 0.0.0.0/0, nextHopIP: 10.0.1.254, policy: policyDst}
  - {cidr: 10.0.1.0/24, nextHopIP: 10.0.1.253, policy: policySrc}
  policyRoutes:
  - {priority: 1000, match: ip4.src == 10.0.1.0/24, action: reroute, nextHopIP: 10.0.1.252}
  - {priority: 900, match: ip4.dst == 8.8.8.8, action: drop}
---
apiVersion: kubeovn.io/v1
kind: Subnet
metadata: {name: t1-net}
spec: {vpc: t1, cidrBlock: 10.0.1.0/24}
"""
    topo = topology(vpcs)
    routes_t1 = {(r.prefix, r.nexthop, r.policy) for r in topo.static_routes if r.router == "t1"}
    assert {("0.0.0.0/0", "10.0.1.254", "dst-ip"), ("10.0.1.0/24", "10.0.1.253", "src-ip")} <= routes_t1
    policies = {(p.priority, p.match, p.action, p.nexthop) for p in topo.policies if p.router == "t1"}
    assert (1000, "ip4.src == 10.0.1.0/24", "reroute", "10.0.1.252") in policies
    assert (900, "ip4.dst == 8.8.8.8", "drop", None) in policies


# ---- item 7: a kube-ovn NAD config without a provider (kube-ovn v1.16.2 CleanDuplicatePort) --------------------------
NO_PROVIDER_NAD = """---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: bare, namespace: default}
spec: {config: '{"cniVersion": "0.3.1", "type": "kube-ovn", "server_socket": "/run/openvswitch/kube-ovn-daemon.sock"}'}
---
apiVersion: kubeovn.io/v1
kind: Subnet
metadata: {name: bare}
spec: {cidrBlock: 100.100.7.0/24, provider: bare.default.ovn}
"""


def test_a_nad_without_provider_takes_eth0s_port_and_detaches_eth0() -> None:
    """kube-ovn-cni sends provider ``ovn`` for net1: it reads eth0's annotations (address, MAC, routes) and binds
    net1 to eth0's iface-id ``<pod>.<ns>``; ``ovs.CleanDuplicatePort`` removes that iface-id from eth0's port."""
    topo = topology(NO_PROVIDER_NAD + pod_doc("p", {"k8s.v1.cni.cncf.io/networks": "bare"}))
    pod = topo.pod("default/p")
    assert pod is not None and pod.failure is None, pod.failure if pod else None
    net1, eth0_nic = pod.nic("net1"), pod.nic("eth0")
    assert net1 is not None and eth0_nic is not None
    assert net1.lsp == "p.default" and net1.switch == "ovn-default"
    assert net1.addresses == eth0_nic.addresses and net1.mac == eth0_nic.mac
    assert not net1.default_route  # ifName net1: isDefaultRoute only for eth0 (handleAdd)
    assert eth0_nic.lsp != "p.default"
    detached = next(s for s in topo.switches if s.name == eth0_nic.switch)
    assert detached.router_port is None and not detached.load_balancers  # eth0's frames reach nothing
    others = [n for _, n in iter_nics(topo) if n.switch == detached.name]
    assert others == [eth0_nic]
    (note,) = [note for note in topo.notes if "CleanDuplicatePort" in note]
    # in the user's terms: what the pod can and cannot do, not how the twin stands in for it
    assert "empty switches" not in note
    assert "eth0 carries no traffic" in note and "net1 takes its place" in note
