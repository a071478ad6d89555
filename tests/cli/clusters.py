"""Manifests shaped like real clusters' (kubespray: API ClusterIP 10.233.0.1; RKE2: 10.43.0.1), in pieces.

The CLI tests (check, defaults, the CRD schema) build their inputs from these pieces with :func:`stream`, so
that one tenant, one seed and one API Service are spelled once; a test keeps locally only the document that
is its point (a misspelled bridge, a pod carrying the seed's attachment).
"""

from __future__ import annotations


def api_service(cluster_ip: str) -> str:
    """The ``kubernetes`` Service of a cluster whose API ClusterIP is ``cluster_ip``."""
    return f"""\
apiVersion: v1
kind: Service
metadata: {{name: kubernetes, namespace: default}}
spec:
  clusterIP: {cluster_ip}
  ports: [{{name: https, port: 443, protocol: TCP, targetPort: 6443}}]
"""


def stream(*documents: str) -> str:
    """One YAML stream of ``documents`` (each ending in a newline), in order."""
    return "---\n".join(documents)


KUBESPRAY_API = api_service("10.233.0.1")
RKE2_API = api_service("10.43.0.1")
TENANT_VPC = """\
apiVersion: kubeovn.io/v1
kind: Vpc
metadata: {name: alpha}
spec: {namespaces: [alpha]}
---
apiVersion: kubeovn.io/v1
kind: Subnet
metadata: {name: alpha-net}
spec: {vpc: alpha, protocol: IPv4, cidrBlock: 10.10.0.0/24, namespaces: [alpha]}
"""
BRIDGE = """\
apiVersion: apibridge.dev/v1alpha1
kind: ApiBridge
metadata: {name: alpha}
spec: {vpc: alpha}
"""
OPEN_BRIDGE = """\
apiVersion: apibridge.dev/v1alpha1
kind: ApiBridge
metadata: {name: alpha}
spec: {vpc: alpha, isolation: open}
"""
INGRESS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: ingress-nginx-controller, namespace: alpha}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: ingress-nginx}}
  template:
    metadata: {labels: {app.kubernetes.io/name: ingress-nginx}}
    spec: {containers: [{name: controller, image: registry.k8s.io/ingress-nginx/controller:v1.11.2}]}
"""
# the seed's hand-written API attachment: a NAD in kube-system and a default-VPC subnet of its provider
SEED_NAD = """\
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: api-ovn-nad, namespace: kube-system}
spec:
  config: '{"cniVersion": "0.3.0", "type": "kube-ovn", "server_socket": "/run/openvswitch/kube-ovn-daemon.sock",
            "provider": "api-ovn-nad.kube-system.ovn"}'
"""
SEED_SUBNET = """\
apiVersion: kubeovn.io/v1
kind: Subnet
metadata: {name: vpc-apiserver-subnet}
spec: {protocol: IPv4, cidrBlock: 100.100.100.0/24, provider: api-ovn-nad.kube-system.ovn}
"""
