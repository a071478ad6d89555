"""The real control plane of a ``lab up --kube`` lab: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler in the control-plane node's network namespace.

Why there: the twin's pods reach the API server the way pods of a cluster do — the ``kubernetes``
Service VIP, DNATed by OVN's load balancer to ``<node InternalIP>:6443`` — so the real kube-apiserver
must listen on that node's address inside that node's namespace. Its endpoint reconciler then writes the
``default/kubernetes`` EndpointSlice itself (``--advertise-address`` = the node's InternalIP), which the
twin reads back like any other object. etcd, the controller-manager and the scheduler sit in the same
namespace on its loopback (as kubeadm's static pods with host networking do), so nothing of a lab
listens on the machine's own addresses.

Host processes (``kubectl``, Helm, the operator, the webhook, the node agent) reach the API server over
the node's *link*: a veth pair between the root namespace and the node namespace with a /30 from
198.18.0.0/15 (RFC 2544, never routed on the Internet), picked per lab so that two labs never share one.
The API server reaches the webhook the same way, in the other direction: the webhook listens on the
root end of the link, and the chart's webhook Service has an EndpointSlice with that address (the API
server refuses loopback and link-local addresses in EndpointSlices, and, with
``--enable-aggregator-routing``, dials a Service-referenced webhook at its endpoint rather than its
ClusterIP, which only kube-proxy would make reachable).

Certificates come from :mod:`apibridge.base.certs`: the serving certificate is issued by the lab's own
CA (``pki/ca.crt``), the one ``lab verify`` checks ``https://<ClusterIP>/version`` against. Identities are
static bearer tokens (``--token-auth-file``): the lab's admin, the controller-manager and the scheduler,
and the node agent; the operator and the webhook get ServiceAccount tokens from the TokenRequest API, so
the chart's RBAC is what they have.

Every process is started with a pidfile in the lab's ``run/`` directory and a command line naming the
lab's state directory, so ``lab down`` stops it like the lab's other servers, and never anything else.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from apibridge.base.certs import CertificateAuthority
from apibridge.base.errors import InputError, Location
from apibridge.twin.control.apiserver import apiserver_hosts
from apibridge.twin.control.kubeapi import KubeApi, KubeApiError
from apibridge.twin.health import Fault
from apibridge.twin.kubeovn import engine
from apibridge.twin.pods import netns as ns
from apibridge.twin.proc import cmdline, owned_by, read_pidfile, run, stop_pidfile, write_pidfile
from apibridge.twin.state import LabPlace

LINK_POOL = ipaddress.ip_network("198.18.0.0/15")
LINK_IFNAME = "kube0"  # the node's end of the host link
WEBHOOK_PORT = 8443
PROCESSES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
HOST_PROCESSES = ("agent", "operator", "webhook")  # node agent, and the chart's parts as host processes
TOOLS_HINT = (
    "build the real components once per machine with `apibridge lab tools` (needs Go >= 1.26 and the Go "
    "module proxy; in a checkout: scripts/tools.sh), or put them on PATH"
)
ADMIN = "admin"
AGENT = "agent"
START_TIMEOUT = 90.0


# --- the Go tools ------------------------------------------------------------------------------------------
def user_tools_bin() -> Path:
    """Where ``apibridge lab tools`` links the tools for a pip-installed apibridge (no checkout): ``bin`` of the
    per-machine cache the tools script builds into."""
    cache = os.environ.get("APIBRIDGE_TOOLS_CACHE", "").strip()
    base = Path(os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache") / "apibridge" / "tools"
    return (Path(cache) if cache else base) / "bin"


def tool_dirs() -> list[Path]:
    """Where the Go tools are looked for before PATH: $APIBRIDGE_TOOLS_BIN alone when set, else ``.tools/bin``
    of this checkout (an editable install) and of the working directory, then ``user_tools_bin()``."""
    env = os.environ.get("APIBRIDGE_TOOLS_BIN", "").strip()
    if env:
        return [Path(env)]
    return [Path(__file__).resolve().parents[4] / ".tools" / "bin", Path.cwd() / ".tools" / "bin", user_tools_bin()]


def find_tool(name: str, *alternatives: str) -> Path:
    """The path of a Go tool (``kube-apiserver``, ``etcd``, ``helm4``…), or an error saying how to build it."""
    for candidate in (name, *alternatives):
        for d in tool_dirs():
            if (d / candidate).is_file() and os.access(d / candidate, os.X_OK):
                return d / candidate
        found = shutil.which(candidate)
        if found:
            return Path(found)
    raise InputError(
        f"{name} is missing (looked in {', '.join(str(d) for d in tool_dirs())} and PATH)",
        Location(field="--kube"),
        hint=TOOLS_HINT,
    )


def crds_dir() -> Path:
    """``.tools/crds`` (Kube-OVN's and Multus' CRDs from their Go modules, fetched by the tools script)."""
    for d in tool_dirs():
        crds = d.parent / "crds"
        if crds.is_dir() and any(crds.glob("*.yaml")):
            return crds
    raise InputError("Kube-OVN's and Multus' CRDs (.tools/crds) are missing", Location(field="--kube"), hint=TOOLS_HINT)


# --- settings ------------------------------------------------------------------------------------------------
@dataclass
class KubeSettings:
    """What a kube lab was built with (``kube/settings.json``): read by every later command."""

    node: str  # the control-plane node whose namespace runs the control plane
    netns: str
    advertise: str  # the node's InternalIP: the kubernetes Service's endpoint
    port: int  # kube-apiserver's secure port (the EndpointSlice's port)
    service_cidrs: list[str]
    host_ip: str  # root end of the link: where the webhook listens
    link_ip: str  # node end of the link: where host processes reach the API server
    host_ifname: str
    nodes: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://{self.link_ip}:{self.port}"


class KubePlace:
    """The files of a kube lab under ``<lab>/kube``."""

    def __init__(self, place: LabPlace) -> None:
        self.lab = place
        self.root = place.kube_dir

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.json"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"

    def token(self, who: str) -> str:
        return (self.pki / f"{who}.token").read_text().strip()

    def pidfile(self, process: str) -> Path:
        return self.lab.run_dir / f"kube-{process}.pid"

    def log(self, process: str) -> Path:
        return self.lab.run_dir / f"kube-{process}.log"

    def settings(self) -> KubeSettings:
        try:
            return KubeSettings(**json.loads(self.settings_file.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(
                f"lab {self.lab.name!r} has no control plane ({self.settings_file}: {exc})",
                Location(field="--name"),
                hint=f"apibridge lab up --kube --name {self.lab.name} FILE...",
            ) from None

    def write_settings(self, settings: KubeSettings) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.settings_file.write_text(json.dumps(asdict(settings), indent=1))

    def api(self, who: str = ADMIN) -> KubeApi:
        return KubeApi(self.settings().url, self.lab.ca_file, self.token(who))


def service_cidrs(cluster_ips: Sequence[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> list[str]:
    """The ``--service-cluster-ip-range`` that makes each ``kubernetes`` ClusterIP the range's first
    address, as kube-apiserver allocates it: the widest aligned network up to /12 (IPv4) or /108 (IPv6)."""
    out = []
    for ip in cluster_ips:
        base = int(ip) - 1
        bits = ip.max_prefixlen
        widest = 12 if ip.version == 4 else 108
        prefix = next(p for p in range(widest, bits + 1) if base % (1 << (bits - p)) == 0)
        prefix = min(prefix, bits - 2)
        out.append(str(ipaddress.ip_network(f"{ip - 1}/{prefix}", strict=False)))
    return out


def pick_link(name: str) -> tuple[str, str, str]:
    """(host ifname, host IP, node IP): a /30 of 198.18.0.0/15 no route of this machine uses yet."""
    taken = run(["ip", "-4", "route", "show", "table", "all"], check=False).stdout
    start = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % (LINK_POOL.num_addresses // 4)
    for i in range(LINK_POOL.num_addresses // 4):
        block = ipaddress.ip_network(
            (int(LINK_POOL.network_address) + 4 * ((start + i) % (LINK_POOL.num_addresses // 4)), 30)
        )
        if str(block.network_address) not in taken:
            host, node = list(block.hosts())
            return f"abk-{hashlib.sha256(name.encode()).hexdigest()[:10]}", str(host), str(node)
    raise InputError("no free /30 left in 198.18.0.0/15 for the lab's host link", Location(field="--name"))


def add_link(settings: KubeSettings) -> None:
    """The veth pair between the machine and the control-plane node (idempotent)."""
    if ns.netns_exists(settings.netns) and LINK_IFNAME in _ifnames(settings.netns):
        return
    run(["ip", "link", "del", settings.host_ifname], check=False)
    run(
        [
            "ip",
            "link",
            "add",
            settings.host_ifname,
            "type",
            "veth",
            "peer",
            "name",
            LINK_IFNAME,
            "netns",
            settings.netns,
        ]
    )
    run(["ip", "addr", "add", f"{settings.host_ip}/30", "dev", settings.host_ifname])
    run(["ip", "link", "set", settings.host_ifname, "up"])
    run(["ip", "-n", settings.netns, "addr", "add", f"{settings.link_ip}/30", "dev", LINK_IFNAME])
    run(["ip", "-n", settings.netns, "link", "set", LINK_IFNAME, "up"])


def _ifnames(netns: str) -> list[str]:
    out = run(["ip", "-n", netns, "-o", "link", "show"], check=False).stdout
    return [line.split(":", 2)[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


# --- certificates and identities --------------------------------------------------------------------------------
def write_pki(kp: KubePlace, ca: CertificateAuthority, settings: KubeSettings, cluster_ips: Sequence[str]) -> None:
    """Serving certificate (lab CA), ServiceAccount signing key, static tokens, kubeconfigs."""
    pki = kp.pki
    pki.mkdir(parents=True, exist_ok=True, mode=0o700)
    hosts = apiserver_hosts(list(cluster_ips), [settings.advertise, settings.link_ip])
    serving = ca.issue(hosts, common_name="kube-apiserver")
    (pki / "apiserver.crt").write_bytes(serving.cert_pem())
    _write_secret(pki / "apiserver.key", serving.key_pem())
    sa = ec.generate_private_key(ec.SECP256R1())
    _write_secret(
        pki / "sa.key",
        sa.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    (pki / "sa.pub").write_bytes(
        sa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    lines = []
    for who, user, groups in (
        (ADMIN, "kubernetes-admin", "system:masters"),
        ("controller-manager", "system:kube-controller-manager", "system:masters"),
        ("scheduler", "system:kube-scheduler", "system:masters"),
        (AGENT, "apibridge-twin-kubelet", "system:masters"),
    ):
        token = secrets.token_hex(24)
        _write_secret(pki / f"{who}.token", token.encode())
        lines.append(f'{token},{user},{user},"{groups}"')
    _write_secret(pki / "tokens.csv", ("\n".join(lines) + "\n").encode())
    write_kubeconfig(kp.kubeconfig, settings.url, kp.lab.ca_file, kp.token(ADMIN), f"apibridge-lab-{kp.lab.name}")
    local = f"https://127.0.0.1:{settings.port}"
    for who in ("controller-manager", "scheduler"):
        write_kubeconfig(kp.root / f"{who}.kubeconfig", local, kp.lab.ca_file, kp.token(who), "lab")


def write_kubeconfig(path: Path, server: str, ca_file: Path, token: str, name: str, namespace: str = "default") -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_secret(path, json.dumps(config, indent=1).encode())
    return path


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


# --- processes -------------------------------------------------------------------------------------------------------
def spawn(
    kp: KubePlace, process: str, argv: Sequence[str], *, netns: str | None = None, env: dict[str, str] | None = None
) -> int:
    """Start ``argv`` (in ``netns``) in its own session with its log and pidfile in the lab's run dir."""
    kp.lab.run_dir.mkdir(parents=True, exist_ok=True)
    full = ns.exec_argv(netns, list(argv)) if netns else list(argv)
    with kp.log(process).open("ab") as log:
        proc = subprocess.Popen(
            full, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
    write_pidfile(kp.pidfile(process), proc.pid)
    # until the child has exec'd, its command line is ours and does not name the lab: wait for that, so
    # that ``alive`` (which checks the name) never calls a just-started process dead and starts a second
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and proc.poll() is None and not owned_by(proc.pid, kp.lab.marker):
        time.sleep(0.005)
    return proc.pid


def alive(kp: KubePlace, process: str) -> bool:
    pid = read_pidfile(kp.pidfile(process))
    return pid is not None and owned_by(pid, kp.lab.marker)


def exited(kp: KubePlace, process: str) -> bool:
    """The process we started is gone (a just-forked child that has not exec'd yet counts as running)."""
    pid = read_pidfile(kp.pidfile(process))
    return pid is None or cmdline(pid) is None


def stop(kp: KubePlace, process: str) -> bool:
    return stop_pidfile(kp.pidfile(process), kp.lab.marker)


def _tail(kp: KubePlace, process: str, chars: int = 1500) -> str:
    try:
        return kp.log(process).read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def start_control_plane(kp: KubePlace, settings: KubeSettings, progress: object = None) -> None:
    """etcd, kube-apiserver (ready), kube-controller-manager, kube-scheduler — each unless already running."""
    tools = {name: find_tool(name) for name in PROCESSES}
    pki, root, netns = kp.pki, kp.root, settings.netns
    if not alive(kp, "etcd"):
        spawn(kp, "etcd", [
            str(tools["etcd"]), "--name", "lab", "--data-dir", str(root / "etcd"),
            "--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
            "--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
            "--initial-cluster", "lab=http://127.0.0.1:2380", "--unsafe-no-fsync", "--log-level", "warn",
            "--listen-metrics-urls", "",
        ], netns=netns)  # fmt: skip
    if not alive(kp, "kube-apiserver"):
        spawn(kp, "kube-apiserver", [
            str(tools["kube-apiserver"]),
            "--etcd-servers=http://127.0.0.1:2379",
            "--bind-address=0.0.0.0",
            f"--secure-port={settings.port}",
            f"--advertise-address={settings.advertise}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={kp.lab.ca_file}",
            f"--token-auth-file={pki / 'tokens.csv'}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={','.join(settings.service_cidrs)}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction,MutatingAdmissionWebhook,ValidatingAdmissionPolicy,ValidatingAdmissionWebhook",
            # a Service-referenced webhook is dialled at its endpoint: no kube-proxy makes ClusterIPs reachable here
            "--enable-aggregator-routing=true",
            f"--cert-dir={pki}",
            "--profiling=false",
            "--v=1",
        ], netns=netns)  # fmt: skip
    wait_ready(kp, settings)
    if not alive(kp, "kube-controller-manager"):
        spawn(kp, "kube-controller-manager", [
            str(tools["kube-controller-manager"]),
            f"--kubeconfig={root / 'controller-manager.kubeconfig'}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={kp.lab.ca_file}",
            "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0",
            "--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10", "--kube-api-qps=200",
            "--kube-api-burst=400", "--v=1",
        ], netns=netns)  # fmt: skip
    if not alive(kp, "kube-scheduler"):
        spawn(kp, "kube-scheduler", [
            str(tools["kube-scheduler"]),
            f"--kubeconfig={root / 'scheduler.kubeconfig'}",
            f"--authentication-kubeconfig={root / 'scheduler.kubeconfig'}",
            f"--authorization-kubeconfig={root / 'scheduler.kubeconfig'}",
            "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0", "--v=1",
            # client-go's 50 qps / burst 100 would queue a burst's bindings and events behind each other
            "--kube-api-qps=200", "--kube-api-burst=400",
        ], netns=netns)  # fmt: skip


def wait_ready(kp: KubePlace, settings: KubeSettings, timeout: float = START_TIMEOUT) -> None:
    """Until ``/readyz`` says ok over the host link; an error with the log's tail if the server died."""
    api = KubeApi(settings.url, kp.lab.ca_file, kp.token(ADMIN), timeout=5)
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        for process in ("etcd", "kube-apiserver"):
            if exited(kp, process):
                raise RuntimeError(f"{process} exited; its log ends:\n{_tail(kp, process)}")
        try:
            if api.request("GET", "/readyz") == "ok":
                return
        except KubeApiError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise RuntimeError(
        f"kube-apiserver not ready within {timeout:g}s ({last}); its log ends:\n{_tail(kp, 'kube-apiserver')}"
    )


def faults(kp: KubePlace, processes: Sequence[str], recover: str) -> list[Fault]:
    """Each named process of the lab that is not running, with its log."""
    return [
        Fault(process, f"is not running; log: {kp.log(process)}", recover)
        for process in processes
        if not alive(kp, process)
    ]


def lab_faults(place: LabPlace) -> list[Fault]:
    """A kube lab's dead processes, each with the command that restarts it (empty for a plain lab)."""
    if not place.kube_dir.is_dir():
        return []
    kp = KubePlace(place)
    extra = ["kube-ovn-controller"] if engine.read(place).kube_ovn else []
    return faults(kp, [*PROCESSES, *extra, *HOST_PROCESSES], f"apibridge lab up --kube --name {place.name}")
