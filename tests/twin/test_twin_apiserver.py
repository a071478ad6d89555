"""End to end on real OVN: a custom-VPC pod reaches ``https://10.96.0.1`` only through its attachment.

The topology is the one Kube-OVN builds (research kubeovn.md §3-4), by hand through nb.py and
netns.py: router ``ovn-cluster`` with ``join`` and the attachment subnet, the cluster TCP load
balancer ``10.96.0.1:443 -> <node InternalIP>:6443`` on the attachment switch, the 30000 node
reroute policy and the ``0.0.0.0/0`` static route; a custom VPC ``vpc1``; a node namespace with
``ovn0`` on join running the stand-in apiserver; pods with ``eth0`` in vpc1 and ``net1`` on the
attachment, one with the ``10.96.0.1/32 via <gw> dev net1`` route and one without.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from twinlab import Lab

from apibridge.base.certs import BundlePaths, CertificateAuthority, write_bundle
from apibridge.kubeovn import rules
from apibridge.twin.control.apiserver import apiserver_hosts, start_apiserver
from apibridge.twin.ovn.nb import Batch
from apibridge.twin.pods.netns import KernelNic, Route, exec_argv

pytestmark = pytest.mark.ovn

V = rules.VENDOR
ATTACH = rules.SEED_SUBNET  # vpc-apiserver-subnet, 100.100.100.0/24
ATTACH_GW = "100.100.100.1"
NODE, NODE_IP, NODE_JOIN_IP = "node1", "172.18.0.2", "100.64.0.2"
JOIN_GW = "100.64.0.1"
VIP = rules.DEFAULT_API_CLUSTER_IP
LB = rules.load_balancer_for(rules.DEFAULT_VPC, "tcp")
PROVIDER = rules.nad_provider(rules.SEED_NAD_NAME, rules.SEED_NAD_NAMESPACE)


@dataclass
class Topo:
    lab: Lab
    pki: BundlePaths
    with_route: str  # netns of the pod that has the 10.96.0.1/32 route
    without_route: str
    apiserver_log: Path


def _pod_nics(name: str, index: int, api_route: bool) -> list[KernelNic]:
    eth0 = KernelNic(
        "eth0", rules.lsp_name(name, "ns1"), f"0a:00:00:01:01:{index:02x}", (f"10.0.1.{index}/24",),
        gateways=("10.0.1.1",), pod_name=name, pod_namespace="ns1",
    )  # fmt: skip
    routes = (Route(f"{VIP}/32", ATTACH_GW),) if api_route else ()
    net1 = KernelNic(
        "net1", rules.lsp_name(name, "ns1", PROVIDER), f"0a:00:00:ac:00:{index:02x}", (f"100.100.100.{index}/24",),
        routes=routes, pod_name=name, pod_namespace="ns1",
    )  # fmt: skip
    return [eth0, net1]


def _queue_pod_ports(b: Batch, name: str, index: int) -> None:
    b.lsp_add("vpc1-net1", rules.lsp_name(name, "ns1"), addresses=[f"0a:00:00:01:01:{index:02x} 10.0.1.{index}"],
              external_ids={"ls": "vpc1-net1", "pod": f"ns1/{name}", **V})  # fmt: skip
    b.lsp_add(ATTACH, rules.lsp_name(name, "ns1", PROVIDER),
              addresses=[f"0a:00:00:ac:00:{index:02x} 100.100.100.{index}"],
              external_ids={"ls": ATTACH, "pod": f"ns1/{name}", **V})  # fmt: skip


@pytest.fixture(scope="module")
def topo(lab: Lab) -> Topo:
    t0 = time.monotonic()
    with lab.nb.batch() as b:
        b.nb_global_set_options(use_ct_inv_match="false")
        b.lr_add(rules.DEFAULT_VPC, options=rules.ROUTER_OPTIONS, external_ids=V)
        b.lr_add("vpc1", options=rules.ROUTER_OPTIONS, external_ids=V)
        for ls in (rules.JOIN_SUBNET, ATTACH, "vpc1-net1"):
            b.ls_add(ls, external_ids=V)
        b.lb_add(LB, {f"{VIP}:443": [f"{NODE_IP}:6443"]}, options={"prefer_local_backend": "false"}, external_ids=V)
        b.connect_switch_to_router(rules.JOIN_SUBNET, rules.DEFAULT_VPC, "0a:00:00:64:00:01", [f"{JOIN_GW}/16"])
        b.connect_switch_to_router(ATTACH, rules.DEFAULT_VPC, "0a:00:00:ac:00:01", [f"{ATTACH_GW}/24"])
        b.connect_switch_to_router("vpc1-net1", "vpc1", "0a:00:00:01:01:01", ["10.0.1.1/24"])
        b.ls_lb_add(ATTACH, LB)
        b.lr_route_add(rules.DEFAULT_VPC, "0.0.0.0/0", JOIN_GW, external_ids=V)
        for cidr in (rules.JOIN_CIDR, rules.SEED_CIDR):
            b.lr_policy_add(rules.DEFAULT_VPC, rules.SUBNET_ROUTER_POLICY_PRIORITY, f"ip4.dst == {cidr}", "allow",
                            external_ids=V)  # fmt: skip
        b.lr_policy_add(rules.DEFAULT_VPC, rules.NODE_ROUTER_POLICY_PRIORITY, f"ip4.dst == {NODE_IP}", "reroute",
                        nexthops=[NODE_JOIN_IP], external_ids={"node": NODE, **V})  # fmt: skip
        b.lr_route_add("vpc1", "10.0.1.0/24", "10.0.1.1", policy="src-ip", external_ids=V)
        b.lr_policy_add("vpc1", rules.SUBNET_ROUTER_POLICY_PRIORITY, "ip4.dst == 10.0.1.0/24", "allow", external_ids=V)
        b.lsp_add(rules.JOIN_SUBNET, rules.node_port(NODE), addresses=[f"0a:00:00:64:00:02 {NODE_JOIN_IP}"],
                  external_ids={"ls": rules.JOIN_SUBNET, **V})  # fmt: skip
        _queue_pod_ports(b, "pod1", 2)
        _queue_pod_ports(b, "pod2", 3)

    ca = CertificateAuthority.create("twin-cluster-ca")
    pki = write_bundle(lab.state / "pki", ca, ca.issue(apiserver_hosts([VIP], [NODE_IP])))

    node = lab.ns.create(NODE)
    pod1, pod2 = lab.ns.create("pod1"), lab.ns.create("pod2")
    ovn0 = KernelNic(
        "ovn0",
        rules.node_port(NODE),
        "0a:00:00:64:00:02",
        (f"{NODE_JOIN_IP}/16",),
        routes=(Route(rules.SEED_CIDR, JOIN_GW),),
    )  # kube-ovn-cni's host route per default-VPC subnet
    items = [(node, ovn0)] + [(pod1, n) for n in _pod_nics("pod1", 2, True)]
    items += [(pod2, n) for n in _pod_nics("pod2", 3, False)]
    plugged = lab.ns.plug_many(items)
    lab.host_ifnames.update(p.host_ifname for p in plugged)
    lab.ns.add_host_addresses(node, [NODE_IP])
    lab.ns.wait_installed([p.host_ifname for p in plugged], timeout=30)
    lab.nb.wait_hv(timeout=30)
    server = start_apiserver(node, bind=NODE_IP, cert=pki.cert, key=pki.key, run_dir=lab.state / "run", node=NODE)
    lab.servers.append(server)
    print(f"\ntopology + 3 namespaces + apiserver up in {time.monotonic() - t0:.2f} s")
    return Topo(lab, pki, pod1, pod2, server.log)


def _curl(netns: str, url: str, *extra: str, timeout: float = 3) -> subprocess.CompletedProcess[str]:
    argv = ["curl", "-sS", "-m", str(timeout), "-w", "\n%{http_code}", *extra, url]
    return subprocess.run(exec_argv(netns, argv), capture_output=True, text=True)


def test_pod_with_route_gets_version_over_verified_https(topo: Topo) -> None:
    got = _curl(topo.with_route, f"https://{VIP}/version", "--cacert", str(topo.pki.ca_cert))
    assert got.returncode == 0, got.stderr
    body, code = got.stdout.rsplit("\n", 1)
    assert code == "200"
    assert '"gitVersion": "v1.31.0"' in body
    # the same through the DNS name a pod uses (SAN kubernetes.default.svc), still verified
    named = _curl(topo.with_route, "https://kubernetes.default.svc/readyz", "--cacert", str(topo.pki.ca_cert),
                  "--resolve", f"kubernetes.default.svc:443:{VIP}")  # fmt: skip
    assert named.returncode == 0, named.stderr
    assert named.stdout == "ok\n200"


def _kubeconfig(topo: Topo) -> Path:
    """What a pod's in-cluster config amounts to: the ClusterIP and the cluster CA (token not checked)."""
    path = topo.lab.state / "kubeconfig"
    path.write_text(textwrap.dedent(f"""\
        apiVersion: v1
        kind: Config
        clusters: [{{name: twin, cluster: {{server: "https://{VIP}", certificate-authority: "{topo.pki.ca_cert}"}}}}]
        users: [{{name: pod, user: {{token: not-checked}}}}]
        contexts: [{{name: twin, context: {{cluster: twin, user: pod, namespace: default}}}}]
        current-context: twin
        """))  # fmt: skip
    return path


def test_python_ssl_and_kr8s_client_succeed(topo: Topo) -> None:
    kubeconfig = _kubeconfig(topo)
    script = textwrap.dedent(f"""\
        import json, socket, ssl, kr8s
        ctx = ssl.create_default_context(cafile="{topo.pki.ca_cert}")
        with socket.create_connection(("{VIP}", 443), timeout=3) as raw:
            with ctx.wrap_socket(raw, server_hostname="{VIP}") as tls:
                tls.sendall(b"GET /healthz HTTP/1.1\\r\\nHost: {VIP}\\r\\nConnection: close\\r\\n\\r\\n")
                print(tls.recv(4096).split(b"\\r\\n")[0].decode())
        print(kr8s.api(kubeconfig="{kubeconfig}").version()["gitVersion"])
        """)
    got = subprocess.run(exec_argv(topo.with_route, [sys.executable, "-c", script]), capture_output=True, text=True,
                         timeout=30)  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert got.stdout.splitlines() == ["HTTP/1.1 200 OK", "v1.31.0"]


def test_the_official_kubernetes_client_succeeds(topo: Topo) -> None:
    """What in-cluster config gives an operator: the ClusterIP, the cluster CA, full TLS verification."""
    kubeconfig = _kubeconfig(topo)
    script = textwrap.dedent(f"""\
        from kubernetes import client, config
        config.load_kube_config("{kubeconfig}")
        print(client.VersionApi().get_code().git_version)
        """)
    got = subprocess.run(exec_argv(topo.with_route, [sys.executable, "-c", script]), capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "v1.31.0"


def test_pod_without_route_cannot_reach_the_api(topo: Topo) -> None:
    got = _curl(topo.without_route, f"https://{VIP}/version", "--cacert", str(topo.pki.ca_cert), timeout=1.5)
    assert got.returncode == 28, (got.returncode, got.stdout, got.stderr)  # timeout: vpc1 has no path
    route = subprocess.run(exec_argv(topo.without_route, ["ip", "route", "get", VIP]), capture_output=True, text=True)
    assert "dev eth0" in route.stdout


def test_apiserver_sees_the_attachment_ip_and_denies_other_paths(topo: Topo) -> None:
    got = _curl(topo.with_route, f"https://{VIP}/api/v1/namespaces", "--cacert", str(topo.pki.ca_cert))
    body, code = got.stdout.rsplit("\n", 1)
    assert code == "403"
    assert '"reason": "Forbidden"' in body and "system:anonymous" in body
    log = topo.apiserver_log.read_text()
    assert "client=100.100.100.2:" in log  # no SNAT on Kube-OVN's path
    assert "client=100.100.100.3:" not in log


def test_time_to_add_a_pod(topo: Topo) -> None:
    """netns + veths + LSPs + ovn-installed + hv sync for one more pod, then its first HTTPS success."""
    lab = topo.lab
    t0 = time.monotonic()
    with lab.nb.batch() as b:
        _queue_pod_ports(b, "pod3", 4)
    netns = lab.ns.create("pod3")
    plugged = lab.ns.plug_many([(netns, n) for n in _pod_nics("pod3", 4, True)])
    lab.host_ifnames.update(p.host_ifname for p in plugged)
    lab.ns.wait_installed([p.host_ifname for p in plugged], timeout=30)
    lab.nb.wait_hv(timeout=30)
    ready = time.monotonic() - t0
    while True:
        got = _curl(netns, f"https://{VIP}/healthz", "--cacert", str(topo.pki.ca_cert), timeout=1)
        if got.returncode == 0 or time.monotonic() - t0 > 10:
            break
    first = time.monotonic() - t0
    print(f"\nadd pod (2 NICs): ready {ready * 1000:.0f} ms, first HTTPS 200 at {first * 1000:.0f} ms")
    assert got.returncode == 0, got.stderr
    assert ready < 5


def test_zz_teardown_leaves_nothing(topo: Topo) -> None:
    lab = topo.lab
    assert lab.leftovers() != []  # sanity: the check can see the running lab
    lab.close()
    assert lab.leftovers() == []
