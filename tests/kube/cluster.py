"""A real Kubernetes control plane for tests: etcd + kube-apiserver (+ kube-controller-manager) on loopback.

Built by ``scripts/tools.sh`` at the versions pinned in ``tools/*/go.mod``. What a test gets is what a
cluster has: RBAC authorization, service-account tokens signed by the API server (TokenRequest), the
default admission chain with MutatingAdmissionWebhook and ValidatingAdmissionPolicy, CRD validation,
pruning and defaulting, watches, server-side dry run. Nothing here listens anywhere but 127.0.0.1, and
``stop`` ends only the processes ``start`` started (by their ``Popen`` handles).

Why the controller-manager runs, with three controllers only: ``serviceaccount`` creates each
namespace's ``default`` ServiceAccount (the ServiceAccount admission plugin refuses pods without it),
``garbage-collector`` deletes a bridge's NAD and Subnet through their ownerReferences as a cluster does,
and ``namespace`` lets Helm's uninstall and the tests delete namespaces. There is no scheduler or kubelet:
pods stay Pending, which is all admission and the operator need.

Admin access is a static token in group ``system:masters`` (``--token-auth-file``); the components
under test never use it: they get ServiceAccount tokens through TokenRequest, so RBAC applies to them.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from apibridge.base.certs import CertificateAuthority

from .tools import REPO, crd_file, tool

ADMIN_TOKEN = "apibridge-tests-admin"
SERVICE_CIDR = "10.96.0.0/12"  # the kubernetes Service gets 10.96.0.1, as in kubeadm clusters
# The Endpoints of the kubernetes Service are not reconciled (--endpoint-reconciler-type=none): the API
# server would otherwise publish its advertise address, and it listens on loopback only, which an
# EndpointSlice may not hold. The tests add the slice a cluster would have, with a TEST-NET-1 address.
ADVERTISE_ADDRESS = "192.0.2.10"
CHART_CRD = REPO / "deploy" / "chart" / "files" / "apibridges.apibridge.dev.yaml"
THIRD_PARTY_CRDS = ("vpcs.kubeovn.io", "subnets.kubeovn.io", "network-attachment-definitions.k8s.cni.cncf.io")
START_TIMEOUT = 90.0


class KubeError(Exception):
    """An API call answered with an error status."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        super().__init__(f"HTTP {status}: {body.get('message') if isinstance(body, dict) else body}")


def free_port() -> int:
    """A port nobody listens on right now (the callers retry if another process takes it first)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def third_party_crds() -> list[dict[str, Any]]:
    """Kube-OVN's Vpc and Subnet CRDs and Multus' NAD CRD, as their modules ship them (see scripts/tools.sh)."""
    docs: list[dict[str, Any]] = []
    for prefix in ("kube-ovn-", "multus-nad-"):
        docs += [d for d in yaml.safe_load_all(crd_file(prefix).read_text()) if d]
    return [
        d for d in docs if d.get("kind") == "CustomResourceDefinition" and d["metadata"]["name"] in THIRD_PARTY_CRDS
    ]


def chart_crd() -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(CHART_CRD.read_text())
    return crd


@dataclass
class Daemon:
    """One process this module started, with its log."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self, timeout: float = 3.0) -> None:
        """SIGTERM, and SIGKILL after ``timeout`` s: the state is disposable, a graceful API server shutdown
        (draining watches) would only slow every session's end."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@dataclass
class KubeCluster:
    """A running control plane and the admin's ways into it."""

    workdir: Path
    url: str
    ca_file: Path
    kubeconfig: Path
    daemons: list[Daemon] = field(default_factory=list)

    # ---- raw API -------------------------------------------------------------------------------------------
    def _ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str = ADMIN_TOKEN,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Any:
        """One API call; returns the decoded body, raises ``KubeError`` for a status >= 400."""
        url = self.url + path
        if params:
            url += "?" + "&".join(f"{k}={urllib.request.quote(v)}" for k, v in params.items())
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        req = urllib.request.Request(
            url,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": content_type, "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, context=self._ssl(), timeout=timeout) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as exc:
            raw = exc.read().decode(errors="replace")
            try:
                decoded: Any = json.loads(raw)
            except ValueError:
                decoded = raw
            raise KubeError(exc.code, decoded) from None
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text  # /readyz, /healthz: plain text

    def apply(self, obj: Mapping[str, Any], *, token: str = ADMIN_TOKEN) -> dict[str, Any]:
        """Server-side apply (create or update), as ``kubectl apply --server-side --force-conflicts``."""
        path = object_path(obj)
        out: dict[str, Any] = self.request(
            "PATCH",
            path,
            obj,
            token=token,
            content_type="application/apply-patch+yaml",
            params={"fieldManager": "apibridge-tests", "force": "true"},
        )
        return out

    def create(self, obj: Mapping[str, Any], *, token: str = ADMIN_TOKEN) -> dict[str, Any]:
        out: dict[str, Any] = self.request("POST", object_path(obj, collection=True), obj, token=token)
        return out

    def get(self, api_version: str, kind_plural: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            out: dict[str, Any] = self.request("GET", resource_path(api_version, kind_plural, namespace) + f"/{name}")
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise
        return out

    def delete_all(self, api_version: str, plural: str, namespaces: Iterable[str | None] = (None,)) -> None:
        """Delete every object of a kind (in each of ``namespaces``), at once (no grace period)."""
        for ns in namespaces:
            with contextlib.suppress(KubeError):
                self.request(
                    "DELETE",
                    resource_path(api_version, plural, ns),
                    {
                        "kind": "DeleteOptions",
                        "apiVersion": "v1",
                        "gracePeriodSeconds": 0,
                        "propagationPolicy": "Background",
                    },
                )

    def wait(self, probe: Any, *, timeout: float = 30.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = probe()
            except KubeError as exc:
                last = exc
            else:
                if last:
                    return last
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")

    # ---- identities ----------------------------------------------------------------------------------------
    def service_account_token(self, namespace: str, name: str, seconds: int = 3600) -> str:
        """A bound token for ServiceAccount ``namespace/name`` from the TokenRequest API (as kubelet gets one)."""
        out = self.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": seconds}},
        )
        token: str = out["status"]["token"]
        return token

    def write_kubeconfig(self, path: Path, token: str, *, namespace: str = "default") -> Path:
        """A kubeconfig for this server that authenticates with ``token``."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": self.url, "certificate-authority": str(self.ca_file)}}],
            "users": [{"name": "test", "user": {"token": token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": namespace}}],
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def kubectl(
        self,
        *args: str,
        kubeconfig: Path | None = None,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(tool("kubectl")), "--kubeconfig", str(kubeconfig or self.kubeconfig), *args]
        result = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stderr}{result.stdout}")
        return result

    def stop(self) -> None:
        for daemon in reversed(self.daemons):
            daemon.stop()
        self.daemons.clear()


def resource_path(api_version: str, plural: str, namespace: str | None = None) -> str:
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return f"{root}/namespaces/{namespace}/{plural}" if namespace else f"{root}/{plural}"


PLURALS = {
    "Namespace": "namespaces",
    "Pod": "pods",
    "Service": "services",
    "ServiceAccount": "serviceaccounts",
    "Node": "nodes",
    "EndpointSlice": "endpointslices",
    "Endpoints": "endpoints",
    "Vpc": "vpcs",
    "Subnet": "subnets",
    "NetworkAttachmentDefinition": "network-attachment-definitions",
    "ApiBridge": "apibridges",
    "NetworkPolicy": "networkpolicies",
    "CustomResourceDefinition": "customresourcedefinitions",
    "MutatingWebhookConfiguration": "mutatingwebhookconfigurations",
    "Deployment": "deployments",
    "ReplicaSet": "replicasets",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
    "Secret": "secrets",
    "ConfigMap": "configmaps",
    "Lease": "leases",
    "Event": "events",
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "ValidatingAdmissionPolicy": "validatingadmissionpolicies",
    "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings",
}
CLUSTER_SCOPED = {
    "Namespace",
    "Node",
    "Vpc",
    "Subnet",
    "ApiBridge",
    "CustomResourceDefinition",
    "MutatingWebhookConfiguration",
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
}


def object_path(obj: Mapping[str, Any], *, collection: bool = False) -> str:
    kind = obj["kind"]
    ns = None if kind in CLUSTER_SCOPED else (obj["metadata"].get("namespace") or "default")
    base = resource_path(obj["apiVersion"], PLURALS[kind], ns)
    return base if collection else f"{base}/{obj['metadata']['name']}"


# ---- start-up -------------------------------------------------------------------------------------------------
def _die_with_parent() -> None:
    """In the child: SIGKILL when the test process dies (PR_SET_PDEATHSIG), so a pytest killed mid-run leaves no
    control plane behind; the fixture's own teardown still stops it gracefully."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _spawn(name: str, argv: list[str], workdir: Path) -> Daemon:
    log = workdir / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    return Daemon(name, proc, log)


def _wait_port(daemon: Daemon, port: int, timeout: float) -> bool:
    """True once ``port`` accepts connections; False if the daemon died (e.g. the port was taken)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.proc.poll() is not None:
            return False
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    raise AssertionError(f"{daemon.name} did not listen on 127.0.0.1:{port} within {timeout}s:\n{daemon.tail()}")


def _start_etcd(workdir: Path) -> tuple[Daemon, int]:
    for _ in range(5):  # a port picked free may be taken before etcd binds it: pick again
        client, peer = free_port(), free_port()
        daemon = _spawn(
            "etcd",
            [
                str(tool("etcd")),
                "--name",
                "test",
                "--data-dir",
                str(workdir / "etcd"),
                "--listen-client-urls",
                f"http://127.0.0.1:{client}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{client}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer}",
                "--initial-cluster",
                f"test=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",
                "--log-level",
                "warn",
                "--listen-metrics-urls",
                "",
            ],
            workdir,
        )
        if _wait_port(daemon, client, 30):
            return daemon, client
        daemon.stop()
    raise AssertionError(f"etcd did not start:\n{daemon.tail()}")


def _write_pki(workdir: Path) -> dict[str, Path]:
    pki = workdir / "pki"
    pki.mkdir(mode=0o700)
    ca = CertificateAuthority.create("apibridge-tests-kube-ca")
    serving = ca.issue(["127.0.0.1", "localhost", "kubernetes", "kubernetes.default.svc", "10.96.0.1"])
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    files = {
        "ca": pki / "ca.crt",
        "cert": pki / "apiserver.crt",
        "key": pki / "apiserver.key",
        "sa_key": pki / "sa.key",
        "sa_pub": pki / "sa.pub",
        "tokens": pki / "tokens.csv",
    }
    files["ca"].write_bytes(ca.cert_pem())
    files["cert"].write_bytes(serving.cert_pem())
    files["key"].write_bytes(serving.key_pem())
    files["sa_key"].write_bytes(
        sa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    files["sa_pub"].write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    files["tokens"].write_text(f'{ADMIN_TOKEN},admin,admin-uid,"system:masters"\n')
    return files


def _start_apiserver(workdir: Path, etcd_port: int, pki: dict[str, Path]) -> tuple[Daemon, int]:
    for _ in range(5):
        port = free_port()
        daemon = _spawn(
            "kube-apiserver",
            [
                str(tool("kube-apiserver")),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--advertise-address={ADVERTISE_ADDRESS}",
                "--endpoint-reconciler-type=none",
                f"--tls-cert-file={pki['cert']}",
                f"--tls-private-key-file={pki['key']}",
                f"--client-ca-file={pki['ca']}",
                f"--token-auth-file={pki['tokens']}",
                f"--service-account-key-file={pki['sa_pub']}",
                f"--service-account-signing-key-file={pki['sa_key']}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=RBAC",
                # the default chain already holds both; named so a change of defaults cannot drop them silently
                "--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionPolicy,ValidatingAdmissionWebhook",
                f"--cert-dir={workdir / 'pki'}",
                "--profiling=false",
                "--v=1",
            ],
            workdir,
        )
        if _wait_port(daemon, port, 60):
            return daemon, port
        daemon.stop()
    raise AssertionError(f"kube-apiserver did not start:\n{daemon.tail()}")


def _start_controller_manager(workdir: Path, cluster: KubeCluster) -> Daemon:
    kubeconfig = cluster.write_kubeconfig(workdir / "controller-manager.kubeconfig", ADMIN_TOKEN)
    return _spawn(
        "kube-controller-manager",
        [
            str(tool("kube-controller-manager")),
            f"--kubeconfig={kubeconfig}",
            "--controllers=serviceaccount-controller,garbage-collector-controller,namespace-controller",
            "--leader-elect=false",
            "--secure-port=0",
            "--concurrent-gc-syncs=5",
            "--v=1",
        ],
        workdir,
    )


def start(workdir: Path, *, controller_manager: bool = True, with_chart_crd: bool = True) -> KubeCluster:
    """etcd, kube-apiserver (ready), the CRDs the tests need (established); stop() ends them.

    ``with_chart_crd=False`` leaves the ApiBridge CRD out, for tests where Helm installs it."""
    workdir.mkdir(parents=True, exist_ok=True)
    # resolve every tool first: a missing one fails before anything starts
    for name in ("etcd", "kube-apiserver", "kubectl", *(("kube-controller-manager",) if controller_manager else ())):
        tool(name)
    pki = _write_pki(workdir)
    cluster = KubeCluster(workdir, "", pki["ca"], workdir / "admin.kubeconfig")
    try:
        etcd, etcd_port = _start_etcd(workdir)
        cluster.daemons.append(etcd)
        apiserver, port = _start_apiserver(workdir, etcd_port, pki)
        cluster.daemons.append(apiserver)
        cluster.url = f"https://127.0.0.1:{port}"
        cluster.write_kubeconfig(cluster.kubeconfig, ADMIN_TOKEN)

        def ready() -> bool:
            try:
                return cluster.request("GET", "/readyz", timeout=5) == "ok"
            except (OSError, KubeError):
                return False

        cluster.wait(ready, timeout=START_TIMEOUT, what=f"kube-apiserver /readyz\n{apiserver.tail()}")
        cluster.wait(lambda: cluster.get("v1", "namespaces", "default"), what="namespace default")
        cluster.wait(lambda: cluster.get("v1", "services", "kubernetes", "default"), what="Service kubernetes")
        if controller_manager:
            kcm = _start_controller_manager(workdir, cluster)
            cluster.daemons.append(kcm)

            def default_account() -> Any:
                if kcm.proc.poll() is not None:
                    raise AssertionError(f"kube-controller-manager exited:\n{kcm.tail()}")
                return cluster.get("v1", "serviceaccounts", "default", "default")

            cluster.wait(default_account, what="the default ServiceAccount (kube-controller-manager)")
        install_crds(cluster, [*third_party_crds(), *([chart_crd()] if with_chart_crd else [])])
        return cluster
    except BaseException:
        cluster.stop()
        raise


def install_crds(cluster: KubeCluster, crds: list[dict[str, Any]]) -> None:
    for crd in crds:
        cluster.apply(crd)
    for crd in crds:
        name = crd["metadata"]["name"]

        def established(name: str = name) -> bool:
            obj = cluster.get("apiextensions.k8s.io/v1", "customresourcedefinitions", name) or {}
            return any(
                c["type"] == "Established" and c["status"] == "True"
                for c in (obj.get("status") or {}).get("conditions") or []
            )

        cluster.wait(established, what=f"CRD {name} established")
        spec = crd["spec"]
        served = next(v["name"] for v in spec["versions"] if v.get("served", True))
        path = resource_path(f"{spec['group']}/{served}", spec["names"]["plural"])
        # Established comes before the resource's storage is ready (429 "storage is (re)initializing")
        cluster.wait(
            lambda path=path: cluster.request("GET", path, params={"limit": "1"}) is not None, what=f"{name} served"
        )


@contextlib.contextmanager
def running(workdir: Path, **kwargs: Any) -> Iterator[KubeCluster]:
    cluster = start(workdir, **kwargs)
    try:
        yield cluster
    finally:
        cluster.stop()


def environ_without_kube() -> dict[str, str]:
    """The environment for a process under test: no inherited cluster settings."""
    env = dict(os.environ)
    for key in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "POD_NAME", "POD_NAMESPACE"):
        env.pop(key, None)
    return env
