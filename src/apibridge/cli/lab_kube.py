"""``apibridge lab up --kube`` and ``apibridge lab kubeconfig``: the twin behind a real control plane.

The order of ``up --kube`` on a fresh lab, and why:

1. The lab's Nodes and the ``default/kubernetes`` Service with its endpoints (taken from the FILEs as
   settings, never applied: they are the control plane's own) build the twin's nodes first — the
   control-plane node's namespace must exist before kube-apiserver can listen in it.
2. The control plane starts there (:mod:`apibridge.twin.control.cluster`): etcd, kube-apiserver with
   ``--advertise-address`` = that node's InternalIP and the ``kubernetes`` ClusterIP as the first address
   of its service range, kube-controller-manager, kube-scheduler.
3. Kube-OVN's and Multus' CRDs (from their Go modules, fetched by the tools script), then the node agent
   (:mod:`apibridge.twin.control.kubelet`), which registers the Nodes and realizes pods from now on.
4. The chart, installed by the real Helm with ``hostProcess.enabled``: no Deployments, a webhook
   Service whose EndpointSlice holds the host end of the node's link; the operator and the webhook run
   as host processes with the chart's ServiceAccount tokens.
5. Everything else of the FILEs through the API server: CRDs and Namespaces first, then the rest
   (``kubectl apply --server-side``), plus the default VPC and its ``join``/``ovn-default`` Subnets that
   kube-ovn-controller creates at start (unless the FILEs hold them). Then ``up`` waits until the pods
   bound to the lab's nodes run.

On a running kube lab, ``up --kube FILE...`` applies the FILEs through the API server (the agent does
the rest); without FILEs it restarts whatever process of the lab died.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apibridge.base.certs import write_bundle
from apibridge.base.errors import InputError, Location
from apibridge.base.kubeclient import KubeConfig
from apibridge.kubeovn import rules
from apibridge.model.cluster import Cluster
from apibridge.model.load import load_documents
from apibridge.operator.diagnose.install import ClientApi, InstallReport, peer_certificate, run_checks
from apibridge.twin.control import cluster as cp
from apibridge.twin.control.kubeapi import Resource
from apibridge.twin.control.kubelet import nodes_file
from apibridge.twin.kubeovn import controller as kovn_controller
from apibridge.twin.kubeovn import engine
from apibridge.twin.kubeovn import rbac as kovn_rbac
from apibridge.twin.kubeovn import schema as kovn_schema
from apibridge.twin.lab import Lab
from apibridge.twin.state import locate

Progress = Callable[[str], None]
RELEASE = "apibridge"
CHART_NAMESPACE = "apibridge-system"
WAIT_PODS = 120.0
WORKLOADS = {"Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicationController"}
DEFAULT_NODE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {
        "name": "kind-control-plane",
        "labels": {"kubernetes.io/hostname": "kind-control-plane", "node-role.kubernetes.io/control-plane": ""},
    },
    "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.2"}]},
}


@dataclass
class KubeUpReport:
    name: str
    url: str
    kubeconfig: Path
    started: list[str] = field(default_factory=list)
    applied: int = 0
    pods_running: int = 0
    pods_pending: list[str] = field(default_factory=list)
    seconds: float = 0.0


CHECKOUT = Path(__file__).resolve().parents[3]  # the repository, when apibridge runs from a checkout
BUNDLE = Path(__file__).resolve().parents[1] / "_bundle"  # the same files inside a wheel (see setup.py)


def bundled(rel: str) -> Path | None:
    """``rel`` (``deploy/chart``, ``scripts/tools.sh``) of the checkout apibridge runs from, else of its wheel."""
    for root in (CHECKOUT, BUNDLE):
        if (root / rel).exists() and (root / "tools").is_dir():
            return root / rel
    return None


def chart_dir() -> Path:
    here = bundled("deploy/chart")
    if here is not None and (here / "Chart.yaml").is_file():
        return here
    raise InputError(
        "the Helm chart (deploy/chart) is neither next to this installation nor in it",
        Location(field="--kube"),
        hint="reinstall apibridge from its wheel or a checkout (pip install -e .)",
    )


def tools_script() -> Path:
    """scripts/tools.sh of the checkout apibridge runs from, else the copy in its wheel (with tools/)."""
    script = bundled("scripts/tools.sh")
    if script is not None:
        return script
    raise InputError(
        "the pinned Go modules of the tools (tools/*/go.mod) are neither next to this installation nor in it",
        Location(field="tools"),
        hint="reinstall apibridge from its wheel, or git clone the repository and run its scripts/tools.sh "
        "(needs Go >= 1.26), then export APIBRIDGE_TOOLS_BIN=<clone>/.tools/bin",
    )


def tools_env(script: Path) -> dict[str, str]:
    """The environment ``lab tools`` runs the script with: a wheel's copy links the tools into the per-user
    directory ``lab up --kube`` looks in (``cp.user_tools_bin``), not into the (maybe read-only) installation."""
    env = dict(os.environ)
    if script.is_relative_to(BUNDLE):
        if not env.get("APIBRIDGE_TOOLS_BIN", "").strip():  # empty is unset, as the script reads it
            env["APIBRIDGE_TOOLS_BIN"] = str(cp.user_tools_bin())
        env["APIBRIDGE_TOOLS_COMMAND"] = "apibridge lab tools"
    return env


def _is_api_setting(body: dict[str, Any]) -> bool:
    """The default/kubernetes Service and its Endpoints/EndpointSlices: the control plane's own."""
    meta = body.get("metadata") or {}
    kind = body.get("kind")
    if meta.get("namespace", "default") != "default":
        return False
    if kind in ("Service", "Endpoints") and meta.get("name") == "kubernetes":
        return True
    return kind == "EndpointSlice" and (meta.get("labels") or {}).get(rules.SERVICE_NAME_LABEL) == "kubernetes"


def _api_settings(kp: cp.KubePlace, settings: cp.KubeSettings, docs: Sequence[dict[str, Any]]) -> None:
    """The control plane's own ``default/kubernetes`` Service and EndpointSlices as the input has them.

    kube-apiserver creates the Service single-stack in its primary family (the kubernetes Service controller,
    pkg/controlplane/controller/kubernetesservice, Kubernetes v1.36, which later reconciles only its ports and
    type) and its endpoint reconciler writes one EndpointSlice, for ``--advertise-address``. A dual-stack input
    asks for both families: left at the API server's view, the node agent's twin lost the IPv6 half of the
    Service and of the join switch on its first pass. So the Service is upgraded to the input's ClusterIPs (an
    upgrade to dual-stack is what a user may do too) and the input's EndpointSlices of the other family are
    applied next to the reconciler's (the API server listens on every family of its node: ``--bind-address``
    0.0.0.0). Runs before the node agent starts, so its first pass sees the lab as it was built."""
    api = kp.api()
    services = Resource("v1", "services", True)
    deadline = time.monotonic() + cp.START_TIMEOUT
    have = api.get(services, "kubernetes", "default")
    while have is None and time.monotonic() < deadline:
        time.sleep(0.1)
        have = api.get(services, "kubernetes", "default")
    if have is None:
        raise RuntimeError(f"kube-apiserver did not create the default/kubernetes Service in {cp.START_TIMEOUT:g}s")
    want = next((d for d in docs if d.get("kind") == "Service"), None)
    spec = (want or {}).get("spec") or {}
    want_ips = [str(ip) for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip]
    have_ips = [str(ip) for ip in (have.get("spec") or {}).get("clusterIPs") or []]
    if len(want_ips) > len(have_ips) and want_ips[: len(have_ips)] == have_ips:
        families = ["IPv6" if ":" in ip else "IPv4" for ip in want_ips]
        policy = spec.get("ipFamilyPolicy") if spec.get("ipFamilyPolicy") != "SingleStack" else None
        patch = {
            "spec": {"ipFamilyPolicy": policy or "RequireDualStack", "ipFamilies": families, "clusterIPs": want_ips}
        }
        api.merge_patch(services, "kubernetes", patch, "default")
    own = "IPv6" if ":" in settings.advertise else "IPv4"  # the endpoint reconciler's slice
    extra = []
    for d in docs:
        if d.get("kind") == "EndpointSlice" and d.get("addressType") not in (None, own):
            body = _apply_body(d)
            if body["metadata"].get("name") == "kubernetes":  # the reconciler's name
                body["metadata"]["name"] = f"kubernetes-{str(d.get('addressType')).lower()}"
            extra.append(body)
    _apply(kp, extra)


def _apply_body(body: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in body.items() if k != "status"}
    meta = {
        k: v for k, v in (out.get("metadata") or {}).items() if k not in ("resourceVersion", "uid", "creationTimestamp")
    }
    return {**out, "metadata": meta}


def kubectl(kp: cp.KubePlace, *args: str, input: str | None = None, timeout: float = 120) -> str:
    argv = [str(cp.find_tool("kubectl")), f"--kubeconfig={kp.kubeconfig}", *args]
    done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise InputError(
            f"kubectl {' '.join(args[:3])} failed: {(done.stderr or done.stdout).strip()[:2000]}",
            Location(field="FILE"),
        )
    return done.stdout


def _apply(kp: cp.KubePlace, bodies: Sequence[dict[str, Any]]) -> None:
    if bodies:
        kubectl(kp, "apply", "--server-side", "--force-conflicts", "--field-manager=apibridge-lab", "-f", "-",
                input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(bodies)}))  # fmt: skip


def _namespace_subnets(cluster: Cluster, bodies: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Namespaces as kube-ovn-controller leaves them: annotated with their subnet
    (``ovn.kubernetes.io/logical_switch``, handleAddNamespace in pkg/controller/namespace.go, kube-ovn v1.16),
    from the lab's model. The chart's tenancy policy reads that annotation to tell a namespace's VPC, so without
    it every injected pod of a custom VPC is refused. ``cluster`` is the model of the FILEs (the API server
    does not hold their Vpcs and Subnets yet when the Namespaces go in)."""
    out = []
    for body in bodies:
        if body.get("kind") != "Namespace":
            out.append(body)
            continue
        meta = dict(body.get("metadata") or {})
        subnets = cluster.namespace_subnets(str(meta.get("name")))
        if subnets:
            annotations = dict(meta.get("annotations") or {})
            names = ",".join(s.meta.name for s in subnets)
            annotations.setdefault(rules.PRIMARY_LOGICAL_SWITCH_ANNOTATION, names)
            meta["annotations"] = annotations
        out.append({**body, "metadata": meta})
    return out


def _default_kubeovn(lab: Lab, have: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """The default VPC and its subnets as kube-ovn-controller creates them at start (from the lab's model)."""
    desired = lab.last or lab.desired()
    out: list[dict[str, Any]] = []
    if ("Vpc", rules.DEFAULT_VPC) not in have:
        out.append(
            {"apiVersion": rules.KUBEOVN_API, "kind": "Vpc", "metadata": {"name": rules.DEFAULT_VPC}, "spec": {}}
        )
    for name in (rules.JOIN_SUBNET, rules.DEFAULT_SUBNET):
        subnet = desired.cluster.subnets.get(name)
        if subnet is None or ("Subnet", name) in have:
            continue
        versions = {c.version for c in subnet.cidrs}
        spec: dict[str, Any] = {
            "vpc": rules.DEFAULT_VPC,
            "protocol": "Dual" if len(versions) > 1 else ("IPv6" if 6 in versions else "IPv4"),
            "cidrBlock": ",".join(str(c) for c in subnet.cidrs),
            "gateway": ",".join(str(g) for g in subnet.gateways),
            "excludeIps": [str(g) for g in subnet.gateways],
            "provider": rules.OVN_PROVIDER,
            "gatewayType": rules.DEFAULT_GATEWAY_TYPE,
        }
        if name == rules.DEFAULT_SUBNET:
            spec.update({"default": True, "natOutgoing": True})
        out.append({"apiVersion": rules.KUBEOVN_API, "kind": "Subnet", "metadata": {"name": name}, "spec": spec})
    return out


def _spawn_host_processes(kp: cp.KubePlace, settings: cp.KubeSettings, started: list[str]) -> None:
    exe = str(Path(sys.executable).with_name("apibridge"))
    base = [exe] if Path(exe).exists() else [sys.executable, "-c", "from apibridge.cli.main import main; main()"]
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    if not cp.alive(kp, "agent"):
        cp.spawn(kp, "agent", [sys.executable, "-m", "apibridge.twin.control.kubelet", "--state", f"{kp.lab.root}/"])
        started.append("agent")
    if not cp.alive(kp, "operator") and (kp.root / "operator.kubeconfig").exists():
        cp.spawn(kp, "operator", [
            *base, "operator", f"--namespace={CHART_NAMESPACE}", "--metrics-port=0", "--health-port=0",
            f"--kubeconfig={kp.root / 'operator.kubeconfig'}",
            f"--identity={kp.root}/operator", "--restart-settle=1",
        ], env={**env, "KUBECONFIG": str(kp.root / "operator.kubeconfig")})  # fmt: skip
        started.append("operator")
    if not cp.alive(kp, "webhook") and (kp.root / "webhook.kubeconfig").exists():
        tls = kp.root / "webhook-tls"
        cp.spawn(kp, "webhook", [
            *base, "webhook", "--watch", f"--kubeconfig={kp.root / 'webhook.kubeconfig'}",
            f"--host={settings.host_ip}", f"--port={cp.WEBHOOK_PORT}",
            f"--tls-cert-file={tls / 'tls.crt'}", f"--tls-private-key-file={tls / 'tls.key'}",
        ], env=env)  # fmt: skip
        started.append("webhook")


def _wait_webhook(kp: cp.KubePlace, settings: cp.KubeSettings, timeout: float = 60) -> None:
    ctx = ssl.create_default_context(cafile=str(kp.lab.ca_file))
    ctx.check_hostname = False
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if cp.exited(kp, "webhook"):
            raise RuntimeError(f"the webhook exited; log: {kp.log('webhook')}")
        try:
            url = f"https://{settings.host_ip}:{cp.WEBHOOK_PORT}/readyz"
            with urllib.request.urlopen(url, context=ctx, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise RuntimeError(f"the webhook did not become ready within {timeout:g}s ({last}); log: {kp.log('webhook')}")


def _install_chart(lab: Lab, kp: cp.KubePlace, settings: cp.KubeSettings) -> None:
    ca = lab._ca()
    svc = f"{RELEASE}-webhook.{CHART_NAMESPACE}.svc"
    paths = write_bundle(
        kp.root / "webhook-tls", ca, ca.issue([svc, f"{RELEASE}-webhook.{CHART_NAMESPACE}", settings.host_ip])
    )
    helm = cp.find_tool("helm4", "helm3", "helm")
    argv = [
        str(helm), "upgrade", "--install", RELEASE, str(chart_dir()), "--namespace", CHART_NAMESPACE,
        "--create-namespace", f"--kubeconfig={kp.kubeconfig}",
        "--set", "hostProcess.enabled=true", "--set", f"hostProcess.webhookAddress={settings.host_ip}",
        "--set", f"webhook.port={cp.WEBHOOK_PORT}",
        "--set-file", f"webhook.tls.cert={paths.cert}", "--set-file", f"webhook.tls.key={paths.key}",
        "--set-file", f"webhook.tls.caBundle={kp.lab.ca_file}",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"helm install failed: {(done.stderr or done.stdout).strip()[:2000]}")
    for account in ("controller", "webhook"):
        token = _account_token(kp, CHART_NAMESPACE, f"{RELEASE}-{account}")
        name = "operator" if account == "controller" else "webhook"
        cp.write_kubeconfig(kp.root / f"{name}.kubeconfig", settings.url, kp.lab.ca_file, token, name, CHART_NAMESPACE)


def _account_token(kp: cp.KubePlace, namespace: str, account: str) -> str:
    """A 30-day token of ServiceAccount ``namespace/account`` from the TokenRequest API."""
    out = kp.api().request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 30 * 86400}},
    )
    return str(out["status"]["token"])


def _wait_bridges(kp: cp.KubePlace, names: Sequence[str], timeout: float = 30.0) -> None:
    """Until each ApiBridge says Ready (its NAD and Subnet exist), then one watch round-trip for the webhook."""
    api = kp.api()
    deadline = time.monotonic() + timeout
    for name in names:
        while time.monotonic() < deadline:
            obj = api.request("GET", f"/apis/{rules.APIBRIDGE_API}/apibridges/{name}")
            conditions = (obj.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
                break
            if any(c.get("type") == "Validated" and c.get("status") == "False" for c in conditions):
                break  # an invalid bridge never becomes ready: its condition says why
            time.sleep(0.1)
    time.sleep(0.5)


def _wait_pods(kp: cp.KubePlace, settings: cp.KubeSettings, timeout: float, report: KubeUpReport) -> None:
    """Until every workload has its replicas and every pod on a lab node runs (or ``timeout``)."""
    api = kp.api()
    deadline = time.monotonic() + timeout
    while True:
        pending: list[str] = []
        for plural in ("deployments", "statefulsets", "replicasets"):
            for obj in api.request("GET", f"/apis/apps/v1/{plural}")["items"]:
                want = (obj.get("spec") or {}).get("replicas", 1)
                ready = (obj.get("status") or {}).get("readyReplicas", 0)
                if want and ready < want:
                    pending.append(f"{plural[:-1]}/{obj['metadata']['namespace']}/{obj['metadata']['name']}")
        running = 0
        for pod in api.request("GET", "/api/v1/pods")["items"]:
            phase = (pod.get("status") or {}).get("phase")
            if phase == "Running":
                running += 1
            elif phase == "Pending":
                pending.append(f"pod/{pod['metadata']['namespace']}/{pod['metadata']['name']}")
        report.pods_running, report.pods_pending = running, pending
        if not pending or time.monotonic() > deadline:
            return
        time.sleep(0.2)


def up(
    name: str, files: Sequence[str], progress: Progress, *, wait: float = WAIT_PODS, engine_name: str | None = None
) -> KubeUpReport:
    """``engine_name``: ``model`` or ``kube-ovn`` (:mod:`apibridge.twin.kubeovn.engine`); None: the lab's own
    (``model`` for a new lab). A running lab keeps the engine it was built with."""
    t0 = time.monotonic()
    lab = Lab(locate(name))
    kp = cp.KubePlace(lab.place)
    with lab:
        fresh = not kp.settings_file.exists()
        if not fresh and engine_name is not None and engine_name != lab.engine.engine:
            raise InputError(
                f"lab {name!r} runs the {lab.engine.engine} engine; the engine is chosen when a lab is built",
                Location(field="--engine"),
                hint=f"apibridge lab down --name {name}, then lab up --kube --engine {engine_name} FILE...",
            )
        kube_ovn = (engine_name == engine.KUBE_OVN) if fresh else lab.engine.kube_ovn
        for tool in (*cp.PROCESSES, "kubectl", *([kovn_controller.PROCESS] if kube_ovn else [])):
            cp.find_tool(tool)
        cp.find_tool("helm4", "helm3", "helm")
        crds = cp.crds_dir()
        docs = load_documents(files) if files else []
        if fresh and not docs:
            raise InputError(
                f"lab {name!r} is not up", Location(field="FILE"), hint=f"apibridge lab up --kube --name {name} FILE..."
            )
        report = KubeUpReport(name, "", kp.kubeconfig)
        if fresh:
            if lab.exists():
                progress("removing the plain lab of that name")
                lab.down()
            nodes = [d.body for d in docs if d.body.get("kind") == "Node"] or [DEFAULT_NODE]
            settings_docs = [d.body for d in docs if _is_api_setting(d.body)]
            kp.root.mkdir(parents=True)
            if kube_ovn:  # before the daemons create NB and SB: with Kube-OVN's schemas
                engine.write(lab.place, engine.EngineConfig(engine.KUBE_OVN))
                kovn_schema.write(crds, engine.schema_dir(lab.place))
                lab.close()
                lab = Lab(lab.place)
            nodes_file(kp).write_text(json.dumps(nodes, indent=1))
            boot = kp.root / "bootstrap.json"
            boot.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [*nodes, *settings_docs]}))
            progress("building the twin's nodes")
            lab.up([str(boot)])
            desired = lab.last
            assert desired is not None
            topo = desired.topology
            cpn = next((n for n in topo.nodes if n.apiserver_port), topo.nodes[0])
            advertise = str((cpn.internal_ips or cpn.nic.ips)[0])
            host_ifname, host_ip, link_ip = cp.pick_link(name)
            settings = cp.KubeSettings(
                cpn.name,
                lab.place.node_netns(cpn.name),
                advertise,
                cpn.apiserver_port or rules.DEFAULT_APISERVER_PORT,
                cp.service_cidrs(topo.api_cluster_ips or ()),
                host_ip,
                link_ip,
                host_ifname,
                [n.name for n in topo.nodes],
            )
            kp.write_settings(settings)
            cp.add_link(settings)
            cp.write_pki(kp, lab._ca(), settings, [str(ip) for ip in topo.api_cluster_ips])
        settings = kp.settings()
        report.url = settings.url
        cp.add_link(settings)
        progress("starting etcd and kube-apiserver")
        before = {p: cp.alive(kp, p) for p in cp.PROCESSES}
        cp.start_control_plane(kp, settings)
        report.started += [p for p, was in before.items() if not was]
        boot = json.loads((kp.root / "bootstrap.json").read_text())["items"]
        _api_settings(kp, settings, [b for b in boot if _is_api_setting(b)])
        if fresh:
            progress("installing Kube-OVN's and Multus' CRDs")
            for crd in sorted(crds.glob("*.yaml")):
                kubectl(kp, "apply", "--server-side", "--force-conflicts", "-f", str(crd))
            kubectl(kp, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        if kube_ovn:
            desired = lab.last or lab.desired()
            ctl = kovn_controller.settings_for(desired.cluster, settings.service_cidrs, settings.node)
            if fresh:  # the default Vpc as a restart finds it (kovn_controller.default_vpc says why)
                vpc, status = kovn_controller.default_vpc()
                _apply(kp, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}},
                            *kovn_rbac.objects(crds), vpc])  # fmt: skip
                kovn_controller.token_file(kp).write_text(_account_token(kp, "kube-system", kovn_rbac.ACCOUNT))
                kubectl(kp, "patch", "vpc", kovn_controller.CLUSTER_ROUTER, "--subresource=status", "--type=merge",
                        "-p", json.dumps(status))  # fmt: skip
            if kovn_controller.start(kp, settings, lab.daemons.paths, ctl):
                progress("starting kube-ovn-controller")
                report.started.append(kovn_controller.PROCESS)
        _spawn_host_processes(kp, settings, report.started)
        if fresh:
            progress("installing the chart with Helm")
            _install_chart(lab, kp, settings)
            _spawn_host_processes(kp, settings, report.started)
        progress("waiting for the webhook")
        _wait_webhook(kp, settings)
        if docs:
            progress("applying the manifests through the API server")
            rest = [_apply_body(d.body) for d in docs if d.body.get("kind") != "Node" and not _is_api_setting(d.body)]
            first = [b for b in rest if b.get("kind") in ("CustomResourceDefinition", "Namespace")]
            later = [b for b in rest if b not in first]
            have = {(str(b.get("kind")), str((b.get("metadata") or {}).get("name"))) for b in rest}
            # kube-ovn: the controller annotates the Namespaces itself (handleAddNamespace)
            _apply(kp, first if kube_ovn else _namespace_subnets(Cluster.from_documents(docs), first))
            if any(b.get("kind") == "CustomResourceDefinition" for b in first):
                kubectl(kp, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
            config = [b for b in later if b.get("kind") not in WORKLOADS]
            # kube-ovn: the controller creates the default VPC and its subnets from its flags
            _apply(kp, [*(_default_kubeovn(lab, have) if fresh and not kube_ovn else []), *config])
            if any(b.get("kind") == "ApiBridge" for b in config):
                # a pod created before its bridge's NAD and Subnet exist is admitted without the attachment (as in
                # a cluster); the lab's own input should not race its bridges
                progress("waiting for the bridges")
                _wait_bridges(kp, [str(b["metadata"]["name"]) for b in config if b.get("kind") == "ApiBridge"])
            _apply(kp, [b for b in later if b.get("kind") in WORKLOADS])
            report.applied = len(rest)
        progress("waiting for the pods")
        _wait_pods(kp, settings, wait, report)
    lab.close()
    report.seconds = time.monotonic() - t0
    return report


def doctor(name: str) -> InstallReport:
    """``apibridge doctor``'s install checks, on the lab's API server through the lab's kubeconfig."""
    kp = cp.KubePlace(locate(name))
    kp.settings()  # the error naming the command, when the lab has no control plane
    with ClientApi(KubeConfig(kubeconfig=str(kp.kubeconfig))) as api:
        return run_checks(api, dial=peer_certificate)


def kubeconfig_path(name: str) -> Path:
    kp = cp.KubePlace(locate(name))
    kp.settings()  # the error naming the command, when the lab has no control plane
    return kp.kubeconfig
