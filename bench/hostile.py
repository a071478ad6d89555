"""Benchmark: the hardening review's attacks, run against the webhook and the CLI (not a test).

What it answers: does the webhook stay bounded in memory and keep answering ordinary reviews while
tenants attack it, and does the CLI refuse hostile files quickly and cheaply? Every figure is measured in
this run, against a webhook this script starts on 127.0.0.1 (all traffic stays on loopback; every loop is
bounded by a fixed count or a deadline):

* ``namespaces_20k``: 20,000 reviews, each from another namespace (all selected by one bridge), each pod
  with ~10 KB of labels and annotations and a networks annotation of its own — what per-namespace and
  per-shape memos used to keep;
* ``objects_1mb``: 500 reviews of 1 MB pods (4 clients at a time);
* ``half_headers_2k``: 2,000 TLS connections that each send half a request header and hold it;
* ``legit_p99_ms_under_attack``: ordinary reviews, one at a time, while four clients send 3 MB reviews;
* ``cli_max_s`` / ``cli_max_mib``: ``apibridge check`` on a YAML alias bomb, ``/dev/zero``, a FIFO nobody
  writes and deeply nested YAML — wall time and peak RSS (VmHWM) of the process, each run killed at 10 s or
  1 GiB (a run that hits a limit counts as that limit);
* ``ordinary_50mb_s``: ``apibridge check`` on a 50 MB file of ordinary manifests (ConfigMaps, as before) —
  not hostile, so not refused: the figure is its real wall time (killed only at 120 s), with its CPU time
  (``ordinary_50mb_cpu_s``), peak RSS and ``ordinary_50mb_within_10s`` (the target: checked in seconds);
* ``realistic_50mb_s``: the same on a realistic 50 MB export (``realistic_file``: Deployments, StatefulSets,
  Pods, Services and ConfigMaps as ``kubectl get -o yaml`` prints them, with managedFields and status), with
  ``realistic_50mb_cpu_s``, ``realistic_50mb_mib`` and ``realistic_50mb_within_5s`` (the target: a few seconds,
  ideally <= 5; a new user's export of this kind took 16.8 s).

``rss_growth_mib`` is the webhook's peak RSS during an attack minus its RSS just before it (after a warm-up
of ordinary reviews), sampled every 20 ms from ``/proc/<pid>/status``.

Run: ``.venv/bin/python bench/hostile.py`` (about two minutes; ``--quick`` divides the counts by ten;
``--cli-only`` runs only the CLI part).
Targets: each RSS growth <= 32 MiB; legit p99 <= 50 ms; every CLI input refused within 2 s and 256 MiB.
The last output line is JSON: ``{"rss_growth_mib": {"namespaces_20k": x, "objects_1mb": y,
"half_headers_2k": z}, "legit_p99_ms_under_attack": w, "cli_max_s": s, "cli_max_mib": m, "ordinary_50mb_s": o,
"ordinary_50mb_cpu_s": c, "ordinary_50mb_mib": r, "ordinary_50mb_within_10s": b, "realistic_50mb_s": e,
"realistic_50mb_cpu_s": f, "realistic_50mb_mib": g, "realistic_50mb_within_5s": h}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import yaml
from aiohttp import ClientSession, ClientTimeout, TCPConnector

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from apibridge.admission.server import MUTATE_PATH, ServerConfig, WebhookServer  # noqa: E402
from apibridge.admission.snapshot import StaticSource  # noqa: E402
from apibridge.admission.tls import ReloadingContext  # noqa: E402
from apibridge.base.certs import CertificateAuthority, write_bundle  # noqa: E402
from apibridge.model.cluster import load_cluster  # noqa: E402

CLI_LIMIT_S = 10.0
CLI_LIMIT_MIB = 1024.0
ORDINARY_LIMIT_S = 120.0  # the 50 MB ordinary file: measured, not refused
NAMESPACES = 20_000


# ---- the cluster and the reviews -----------------------------------------------------------------------------
def cluster_documents(namespaces: int) -> list[dict[str, Any]]:
    names = [f"ns-{i}" for i in range(namespaces)]
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]},
        },
        {"apiVersion": "kubeovn.io/v1", "kind": "Vpc", "metadata": {"name": "attack"}, "spec": {"namespaces": names}},
        {
            "apiVersion": "kubeovn.io/v1",
            "kind": "Subnet",
            "metadata": {"name": "attack-subnet"},
            "spec": {"vpc": "attack", "cidrBlock": "10.200.0.0/16", "namespaces": names},
        },
        {
            "apiVersion": "apibridge.dev/v1alpha1",
            "kind": "ApiBridge",
            "metadata": {"name": "attack"},
            "spec": {"vpc": "attack", "namespaceSelector": {"matchLabels": {"tenant": "attack"}}},
        },
    ]
    docs += [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": {"tenant": "attack"}}}
        for n in names
    ]
    return docs


def review(namespace: str, labels: dict[str, str], annotations: dict[str, str], spec_extra: str = "") -> bytes:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "app-", "namespace": namespace, "labels": labels, "annotations": annotations},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1", "args": [spec_extra]}]},
    }
    body = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": obj,
            "oldObject": None,
            "dryRun": False,
        },
    }
    return json.dumps(body).encode()


def ordinary(i: int) -> bytes:
    return review(f"ns-{i % 50}", {"app": "web", "pod-template-hash": "abc123"}, {})


def ten_kb(i: int) -> bytes:
    labels = {f"label-{k}": f"value-{i}-{k}"[:63] for k in range(40)}
    annotations = {f"example.com/note-{k}": f"{i}-{k}-" + "x" * 200 for k in range(40)}
    annotations["k8s.v1.cni.cncf.io/networks"] = f"macvlan-{i}"
    return review(f"ns-{i % NAMESPACES}", labels, annotations)


def big(size: int, i: int) -> bytes:
    return review(f"ns-{i % 50}", {"app": "web"}, {}, spec_extra="y" * size)


# ---- the webhook (its own process) -----------------------------------------------------------------------------
async def _serve(work: Path) -> None:
    source = StaticSource(load_cluster([str(work / "cluster.yaml")]))
    server = WebhookServer(
        source, ReloadingContext(work / "tls.crt", work / "tls.key"), ServerConfig(host="127.0.0.1", port=0)
    )
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    (work / "port.tmp").write_text(str(server.port))
    (work / "port.tmp").replace(work / "port")
    await stop.wait()
    await server.stop()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakRss:
    """The peak RSS of ``pid`` while the ``with`` block runs, sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib(self.pid))


# ---- attacks (the load side) -----------------------------------------------------------------------------------
async def _send_all(url: str, ctx: ssl.SSLContext, bodies: Any, count: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    headers = {"Content-Type": "application/json"}
    next_index = 0
    timeout = ClientTimeout(total=30)
    async with ClientSession(connector=TCPConnector(limit=concurrency, ssl=ctx), timeout=timeout) as session:

        async def worker() -> None:
            nonlocal next_index
            while next_index < count:
                i = next_index
                next_index += 1
                start = time.perf_counter()
                async with session.post(url, data=bodies(i), headers=headers) as resp:
                    await resp.read()
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def _half_headers(port: int, ctx: ssl.SSLContext, count: int, hold: float) -> int:
    """Open ``count`` TLS connections that each send half a request header, hold them, then close them."""
    writers = []
    for _ in range(count):
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=ctx), timeout=5)
        except (OSError, TimeoutError, ssl.SSLError):
            continue
        writer.write(b"POST /mutate-pods HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
        writers.append(writer)
    await asyncio.sleep(hold)
    for writer in writers:
        writer.close()
    return len(writers)


async def _legit_under_big(url: str, ctx: ssl.SSLContext, count: int, big_size: int) -> list[float]:
    stop = asyncio.Event()
    payload = big(big_size, 0)
    headers = {"Content-Type": "application/json"}

    async def attacker() -> None:
        async with ClientSession(connector=TCPConnector(limit=1, ssl=ctx), timeout=ClientTimeout(total=30)) as s:
            while not stop.is_set():
                async with s.post(url, data=payload, headers=headers) as resp:
                    await resp.read()

    attackers = [asyncio.create_task(attacker()) for _ in range(4)]
    await asyncio.sleep(0.5)
    try:
        return await _send_all(url, ctx, ordinary, count, 1)
    finally:
        stop.set()
        await asyncio.gather(*attackers, return_exceptions=True)


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


# ---- the CLI on hostile files ----------------------------------------------------------------------------------
def hostile_files(work: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 10):
        prev = chr(ord("a") + level - 1)
        name = chr(ord("a") + level)
        bomb.append(f"{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]")
    (work / "bomb.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n  " + "\n  ".join(bomb) + "\n"
    )
    files["alias bomb"] = str(work / "bomb.yaml")
    files["/dev/zero"] = "/dev/zero"
    fifo = work / "pipe.yaml"
    os.mkfifo(fifo)
    files["FIFO"] = str(fifo)
    depth = 20_000
    (work / "deep.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata: " + "[" * depth + "]" * depth + "\n"
    )
    files["deep nesting"] = str(work / "deep.yaml")
    return files


def ordinary_file(work: Path) -> str:
    """50 MB of ordinary manifests: not hostile, only large."""
    doc = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%d, namespace: default}\ndata: {k: v}\n"
    with (work / "big.yaml").open("w") as out:
        i = 0
        while out.tell() < 50 * 1024 * 1024:
            out.write("".join(doc % (i + k) for k in range(1000)))
            i += 1000
    return str(work / "big.yaml")


# ---- a realistic export: what `kubectl get deploy,sts,svc,cm,pods -A -o yaml` prints -----------------------------
# Templates at their own indentation (keys sorted, sequences not indented, as kubectl prints them); ``_block``
# puts one at the column it goes to. ``{{}}`` is a literal ``{}``.
_TS = "2026-11-20T09:14:07Z"
_POD_SPEC = """\
containers:
- env:
  - name: LOG_LEVEL
    value: info
  - name: POD_NAME
    valueFrom:
      fieldRef:
        apiVersion: v1
        fieldPath: metadata.name
  image: registry.example/{app}:1.4.2
  imagePullPolicy: IfNotPresent
  livenessProbe:
    failureThreshold: 3
    httpGet:
      path: /healthz
      port: 8080
      scheme: HTTP
    periodSeconds: 10
    successThreshold: 1
    timeoutSeconds: 1
  name: app
  ports:
  - containerPort: 8080
    name: http
    protocol: TCP
  resources:
    limits:
      cpu: 500m
      memory: 256Mi
    requests:
      cpu: 100m
      memory: 128Mi
  terminationMessagePath: /dev/termination-log
  terminationMessagePolicy: File
  volumeMounts:
  - mountPath: /etc/config
    name: config
    readOnly: true
dnsPolicy: ClusterFirst
{node}restartPolicy: Always
schedulerName: default-scheduler
securityContext: {{}}
terminationGracePeriodSeconds: 30
volumes:
- configMap:
    defaultMode: 420
    name: {app}-config
  name: config
"""
_POD_SPEC_FIELDS = """\
f:spec:
  f:containers:
    k:{{"name":"app"}}:
      .: {{}}
      f:env:
        .: {{}}
        k:{{"name":"LOG_LEVEL"}}:
          .: {{}}
          f:name: {{}}
          f:value: {{}}
        k:{{"name":"POD_NAME"}}:
          .: {{}}
          f:name: {{}}
          f:valueFrom:
            .: {{}}
            f:fieldRef: {{}}
      f:image: {{}}
      f:imagePullPolicy: {{}}
      f:livenessProbe:
        .: {{}}
        f:failureThreshold: {{}}
        f:httpGet:
          .: {{}}
          f:path: {{}}
          f:port: {{}}
          f:scheme: {{}}
      f:name: {{}}
      f:ports:
        .: {{}}
        k:{{"containerPort":8080,"protocol":"TCP"}}:
          .: {{}}
          f:containerPort: {{}}
          f:name: {{}}
          f:protocol: {{}}
      f:resources:
        .: {{}}
        f:limits:
          .: {{}}
          f:cpu: {{}}
          f:memory: {{}}
        f:requests:
          .: {{}}
          f:cpu: {{}}
          f:memory: {{}}
      f:volumeMounts:
        .: {{}}
        k:{{"mountPath":"/etc/config"}}:
          .: {{}}
          f:mountPath: {{}}
          f:name: {{}}
          f:readOnly: {{}}
  f:dnsPolicy: {{}}
  f:restartPolicy: {{}}
  f:schedulerName: {{}}
  f:securityContext: {{}}
  f:terminationGracePeriodSeconds: {{}}
  f:volumes:
    .: {{}}
    k:{{"name":"config"}}:
      .: {{}}
      f:configMap:
        .: {{}}
        f:defaultMode: {{}}
        f:name: {{}}
      f:name: {{}}
"""
_WORKLOAD = """\
- apiVersion: apps/v1
  kind: {kind}
  metadata:
    annotations:
{revision}      kubectl.kubernetes.io/last-applied-configuration: |
        {applied}
    creationTimestamp: "{ts}"
    generation: 3
    labels:
      app: {app}
      team: team-{team}
    managedFields:
    - apiVersion: apps/v1
      fieldsType: FieldsV1
      fieldsV1:
        f:metadata:
          f:annotations:
            .: {{}}
            f:kubectl.kubernetes.io/last-applied-configuration: {{}}
          f:labels:
            .: {{}}
            f:app: {{}}
            f:team: {{}}
        f:spec:
          f:replicas: {{}}
          f:selector: {{}}
          f:template:
            f:metadata:
              f:labels:
                .: {{}}
                f:app: {{}}
{template_fields}      manager: kubectl-client-side-apply
      operation: Update
      time: "{ts}"
    - apiVersion: apps/v1
      fieldsType: FieldsV1
      fieldsV1:
        f:status:
          f:availableReplicas: {{}}
          f:conditions:
            .: {{}}
            k:{{"type":"Available"}}:
              .: {{}}
              f:lastTransitionTime: {{}}
              f:message: {{}}
              f:reason: {{}}
              f:status: {{}}
              f:type: {{}}
          f:observedGeneration: {{}}
          f:readyReplicas: {{}}
          f:replicas: {{}}
      manager: kube-controller-manager
      operation: Update
      subresource: status
      time: "{ts}"
    name: {app}
    namespace: {ns}
    resourceVersion: "{version}"
    uid: 6f1c2a4e-{uid:04d}-4c1e-9f0a-2b7d3c4e5f60
  spec:
    progressDeadlineSeconds: 600
    replicas: 2
    revisionHistoryLimit: 10
    selector:
      matchLabels:
        app: {app}
{strategy}    template:
      metadata:
        creationTimestamp: null
        labels:
          app: {app}
      spec:
{pod_spec}  status:
    availableReplicas: 2
    conditions:
    - lastTransitionTime: "{ts}"
      lastUpdateTime: "{ts}"
      message: Deployment has minimum availability.
      reason: MinimumReplicasAvailable
      status: "True"
      type: Available
    - lastTransitionTime: "{ts}"
      lastUpdateTime: "{ts}"
      message: ReplicaSet "{app}-7d9f8c6b5d" has successfully progressed.
      reason: NewReplicaSetAvailable
      status: "True"
      type: Progressing
    observedGeneration: 3
    readyReplicas: 2
    replicas: 2
    updatedReplicas: 2
"""
_POD = """\
- apiVersion: v1
  kind: Pod
  metadata:
    annotations:
      ovn.kubernetes.io/allocated: "true"
      ovn.kubernetes.io/cidr: 10.16.0.0/16
      ovn.kubernetes.io/gateway: 10.16.0.1
      ovn.kubernetes.io/ip_address: {ip}
      ovn.kubernetes.io/logical_router: ovn-cluster
      ovn.kubernetes.io/logical_switch: ovn-default
      ovn.kubernetes.io/mac_address: 00:00:00:3A:{mac}
      ovn.kubernetes.io/pod_nic_type: veth-pair
      ovn.kubernetes.io/routed: "true"
    creationTimestamp: "{ts}"
    generateName: {app}-7d9f8c6b5d-
    labels:
      app: {app}
      pod-template-hash: 7d9f8c6b5d
    managedFields:
    - apiVersion: v1
      fieldsType: FieldsV1
      fieldsV1:
        f:metadata:
          f:generateName: {{}}
          f:labels:
            .: {{}}
            f:app: {{}}
            f:pod-template-hash: {{}}
          f:ownerReferences:
            .: {{}}
            k:{{"uid":"6f1c2a4e-0000-4c1e-9f0a-2b7d3c4e5f60"}}: {{}}
{spec_fields}      manager: kube-controller-manager
      operation: Update
      time: "{ts}"
    - apiVersion: v1
      fieldsType: FieldsV1
      fieldsV1:
        f:metadata:
          f:annotations:
            .: {{}}
            f:ovn.kubernetes.io/allocated: {{}}
            f:ovn.kubernetes.io/cidr: {{}}
            f:ovn.kubernetes.io/gateway: {{}}
            f:ovn.kubernetes.io/ip_address: {{}}
            f:ovn.kubernetes.io/logical_router: {{}}
            f:ovn.kubernetes.io/logical_switch: {{}}
            f:ovn.kubernetes.io/mac_address: {{}}
            f:ovn.kubernetes.io/pod_nic_type: {{}}
            f:ovn.kubernetes.io/routed: {{}}
      manager: kube-ovn-controller
      operation: Update
      time: "{ts}"
    - apiVersion: v1
      fieldsType: FieldsV1
      fieldsV1:
        f:status:
          f:conditions:
            k:{{"type":"Ready"}}:
              .: {{}}
              f:lastProbeTime: {{}}
              f:lastTransitionTime: {{}}
              f:status: {{}}
              f:type: {{}}
          f:containerStatuses: {{}}
          f:hostIP: {{}}
          f:phase: {{}}
          f:podIP: {{}}
          f:podIPs:
            .: {{}}
            k:{{"ip":"{ip}"}}:
              .: {{}}
              f:ip: {{}}
          f:startTime: {{}}
      manager: kubelet
      operation: Update
      subresource: status
      time: "{ts}"
    name: {name}
    namespace: {ns}
    ownerReferences:
    - apiVersion: apps/v1
      blockOwnerDeletion: true
      controller: true
      kind: ReplicaSet
      name: {app}-7d9f8c6b5d
      uid: 6f1c2a4e-0000-4c1e-9f0a-2b7d3c4e5f60
    resourceVersion: "{version}"
    uid: 9a8b7c6d-{uid:04d}-4d5e-8e9f-0a1b2c3d4e5f
  spec:
{pod_spec}    tolerations:
    - effect: NoExecute
      key: node.kubernetes.io/not-ready
      operator: Exists
      tolerationSeconds: 300
    - effect: NoExecute
      key: node.kubernetes.io/unreachable
      operator: Exists
      tolerationSeconds: 300
  status:
    conditions:
{conditions}    containerStatuses:
    - containerID: containerd://{digest}
      image: registry.example/{app}:1.4.2
      imageID: registry.example/{app}@sha256:{digest}
      lastState: {{}}
      name: app
      ready: true
      restartCount: 0
      started: true
      state:
        running:
          startedAt: "{ts}"
    hostIP: 172.18.0.{node}
    phase: Running
    podIP: {ip}
    podIPs:
    - ip: {ip}
    qosClass: Burstable
    startTime: "{ts}"
"""
_POD_CONDITION = """\
    - lastProbeTime: null
      lastTransitionTime: "{ts}"
      status: "True"
      type: {type}
"""
_SERVICE = """\
- apiVersion: v1
  kind: Service
  metadata:
    creationTimestamp: "{ts}"
    labels:
      app: {app}
    managedFields:
    - apiVersion: v1
      fieldsType: FieldsV1
      fieldsV1:
        f:metadata:
          f:labels:
            .: {{}}
            f:app: {{}}
        f:spec:
          f:internalTrafficPolicy: {{}}
          f:ports:
            .: {{}}
            k:{{"port":80,"protocol":"TCP"}}:
              .: {{}}
              f:name: {{}}
              f:port: {{}}
              f:protocol: {{}}
              f:targetPort: {{}}
          f:selector: {{}}
          f:sessionAffinity: {{}}
          f:type: {{}}
      manager: kubectl-client-side-apply
      operation: Update
      time: "{ts}"
    name: {app}
    namespace: {ns}
    resourceVersion: "{version}"
    uid: 1a2b3c4d-{uid:04d}-4e5f-8a9b-0c1d2e3f4a5b
  spec:
    clusterIP: {ip}
    clusterIPs:
    - {ip}
    internalTrafficPolicy: Cluster
    ipFamilies:
    - IPv4
    ipFamilyPolicy: SingleStack
    ports:
    - name: http
      port: 80
      protocol: TCP
      targetPort: 8080
    selector:
      app: {app}
    sessionAffinity: None
    type: ClusterIP
  status:
    loadBalancer: {{}}
"""
_CONFIGMAP = """\
- apiVersion: v1
  data:
    LOG_LEVEL: info
    app.properties: |
{properties}  kind: ConfigMap
  metadata:
    creationTimestamp: "{ts}"
    name: {app}-config
    namespace: {ns}
    resourceVersion: "{version}"
    uid: 2b3c4d5e-{uid:04d}-4f6a-8b9c-0d1e2f3a4b5c
"""
_API_SERVICE = """\
- apiVersion: v1
  kind: Service
  metadata:
    name: kubernetes
    namespace: default
  spec:
    clusterIP: 10.96.0.1
    clusterIPs:
    - 10.96.0.1
    ports:
    - name: https
      port: 443
      protocol: TCP
      targetPort: 6443
"""


def _block(text: str, column: int) -> str:
    return "".join(" " * column + line if line.strip() else line for line in text.splitlines(keepends=True))


def _app(n: int) -> str:
    """The objects of app ``n``: a Deployment (every fifth a StatefulSet), its two Pods, a Service, a ConfigMap."""
    app, ns, uid = f"app-{n}", f"team-{n % 40}", n % 10_000
    kind = "StatefulSet" if n % 5 == 4 else "Deployment"
    applied = json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": {"annotations": {}, "name": app, "namespace": ns},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": app}},
                "template": {
                    "metadata": {"labels": {"app": app}},
                    "spec": {"containers": [{"image": f"registry.example/{app}:1.4.2", "name": "app"}]},
                },
            },
        },
        separators=(",", ":"),
    )
    strategy = (
        f"    serviceName: {app}\n"
        if kind == "StatefulSet"
        else "    strategy:\n      rollingUpdate:\n        maxSurge: 25%\n        maxUnavailable: 25%\n"
        "      type: RollingUpdate\n"
    )
    out = _WORKLOAD.format(
        kind=kind,
        app=app,
        ns=ns,
        uid=uid,
        ts=_TS,
        team=n % 17,
        version=1000 + n,
        applied=applied,
        revision="" if kind == "StatefulSet" else '      deployment.kubernetes.io/revision: "3"\n',
        strategy=strategy,
        template_fields=_block(_POD_SPEC_FIELDS.format(), 12),
        pod_spec=_block(_POD_SPEC.format(app=app, node=""), 8),
    )
    for r in range(2):
        k = n * 2 + r
        out += _POD.format(
            app=app,
            ns=ns,
            uid=uid,
            ts=_TS,
            name=f"{app}-7d9f8c6b5d-{r:05d}",
            ip=f"10.16.{k // 250 % 250}.{k % 250 + 2}",
            mac=f"{n % 256:02X}:{r:02X}",
            version=2000 + k,
            node=n % 3 + 2,
            digest="ab12cd34" * 8,
            spec_fields=_block(_POD_SPEC_FIELDS.format(), 8),
            pod_spec=_block(_POD_SPEC.format(app=app, node=f"nodeName: node-{n % 3}\n"), 4),
            conditions="".join(
                _POD_CONDITION.format(ts=_TS, type=t)
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ),
        )
    out += _SERVICE.format(
        app=app, ns=ns, uid=uid, ts=_TS, version=3000 + n, ip=f"10.96.{n // 250 % 250}.{n % 250 + 2}"
    )
    properties = "".join(f"      key{k}={n * 31 + k}\n" for k in range(20))
    out += _CONFIGMAP.format(app=app, ns=ns, uid=uid, ts=_TS, version=4000 + n, properties=properties)
    return out


def realistic_file(work: Path, size: int = 50 * 2**20) -> tuple[str, dict[str, int]]:
    """About ``size`` bytes of a realistic export, one ``kind: List`` as kubectl prints it: per app a Deployment
    (every fifth a StatefulSet) with last-applied-configuration, managedFields of two managers and status; two
    Pods with Kube-OVN's annotations, managedFields of three managers and status; a Service; a ConfigMap. The
    API Service comes first (``check`` refuses to guess its ClusterIP). Returns the path and the kinds' counts."""
    counts = {"Deployment": 0, "StatefulSet": 0, "Pod": 0, "Service": 1, "ConfigMap": 0}
    path = work / "realistic.yaml"
    with path.open("w") as out:
        out.write("apiVersion: v1\nitems:\n" + _API_SERVICE)
        n = 0
        while out.tell() < size:
            out.write(_app(n))
            counts["StatefulSet" if n % 5 == 4 else "Deployment"] += 1
            counts["Pod"] += 2
            counts["Service"] += 1
            counts["ConfigMap"] += 1
            n += 1
        out.write('kind: List\nmetadata:\n  resourceVersion: ""\n')
    return str(path), counts


def _hwm_mib(pid: int) -> float | None:
    """The process's peak RSS so far (VmHWM of its own memory map, so nothing inherited from this process)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_cli(path: str, limit_s: float = CLI_LIMIT_S) -> tuple[float, float, int | None, float]:
    """Wall time (s), peak RSS (MiB), exit code (None: killed at a limit) and CPU time (user + system, s) of
    ``apibridge check PATH``.

    The process is killed after ``limit_s`` or once its RSS passes ``CLI_LIMIT_MIB`` (this machine is
    shared: an unbounded reader must not take it down); either counts as that limit in the figures.
    """
    exe = Path(sys.executable).parent / "apibridge"
    started = time.monotonic()
    proc = subprocess.Popen([str(exe), "check", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    code: int | None = None
    cpu = 0.0
    while True:
        hwm = _hwm_mib(proc.pid)
        if hwm is not None:
            peak = max(peak, hwm)
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            code = os.waitstatus_to_exitcode(status)
            cpu = usage.ru_utime + usage.ru_stime
            break
        if time.monotonic() - started > limit_s or peak > CLI_LIMIT_MIB:
            proc.kill()
            _, _, usage = os.wait4(proc.pid, 0)
            cpu = usage.ru_utime + usage.ru_stime
            break
        time.sleep(0.005)
    proc.returncode = code if code is not None else -9  # reaped here: keep Popen from waiting again
    seconds = time.monotonic() - started
    return min(seconds, limit_s), min(peak, CLI_LIMIT_MIB) if code is None else peak, code, cpu


def cli_figures(work: Path) -> dict[str, Any]:
    """The CLI part: hostile inputs (refused within 2 s, killed at 10 s) and the 50 MB ordinary file."""
    cli: dict[str, tuple[float, float, int | None, float]] = {}
    for name, path in hostile_files(work).items():
        cli[name] = run_cli(path)
        seconds, mib, code, _ = cli[name]
        print(
            f"apibridge check on {name:>13}: {seconds:5.2f} s, {mib:6.1f} MiB, "
            f"exit {code if code is not None else 'killed'}"
        )
    seconds, mib, code, cpu = run_cli(ordinary_file(work), ORDINARY_LIMIT_S)
    print(
        f"apibridge check on 50 MB of ordinary manifests: {seconds:5.2f} s wall, {cpu:5.2f} s CPU, {mib:6.1f} MiB, "
        f"exit {code if code is not None else 'killed'}; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    path, counts = realistic_file(work)
    size = Path(path).stat().st_size / 2**20
    r_seconds, r_mib, r_code, r_cpu = run_cli(path, ORDINARY_LIMIT_S)
    print(
        f"apibridge check on a realistic {size:.0f} MB export ({', '.join(f'{n} {k}s' for k, n in counts.items())}; "
        f"managedFields, status): {r_seconds:5.2f} s wall, {r_cpu:5.2f} s CPU, {r_mib:6.1f} MiB, "
        f"exit {r_code if r_code is not None else 'killed'}; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    return {
        "realistic_50mb_s": round(r_seconds, 2),
        "realistic_50mb_cpu_s": round(r_cpu, 2),
        "realistic_50mb_mib": round(r_mib, 1),
        "realistic_50mb_within_5s": r_code == 0 and r_seconds <= 5.0,
        "cli_max_s": round(max(s for s, _, _, _ in cli.values()), 2),
        "cli_max_mib": round(max(m for _, m, _, _ in cli.values()), 1),
        "ordinary_50mb_s": round(seconds, 2),
        "ordinary_50mb_cpu_s": round(cpu, 2),
        "ordinary_50mb_mib": round(mib, 1),
        "ordinary_50mb_within_10s": code == 0 and seconds <= 10.0,
    }


# ---- orchestration ---------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a tenth of every count")
    parser.add_argument("--cli-only", action="store_true", help="only the CLI part (no webhook)")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve))
        return
    if args.cli_only:
        with tempfile.TemporaryDirectory(prefix="apibridge-hostile-") as tmp:
            print(json.dumps(cli_figures(Path(tmp))))
        return
    scale = 10 if args.quick else 1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4096)), hard))

    with tempfile.TemporaryDirectory(prefix="apibridge-hostile-") as tmp:
        work = Path(tmp)
        (work / "cluster.yaml").write_text(yaml.safe_dump_all(cluster_documents(NAMESPACES)))
        ca = CertificateAuthority.create("hostile-bench-ca")
        write_bundle(work, ca, ca.issue(["127.0.0.1"]))
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(work)])
        try:
            deadline = time.monotonic() + 120
            while not (work / "port").exists():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the webhook did not start")
                time.sleep(0.1)
            port = int((work / "port").read_text())
            url = f"https://127.0.0.1:{port}{MUTATE_PATH}"
            ctx = ssl.create_default_context(cafile=str(work / "ca.crt"))
            print(f"webhook pid {server.pid} on 127.0.0.1:{port}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")

            def attack(name: str, coro: Any) -> tuple[float, Any]:
                asyncio.run(_send_all(url, ctx, ordinary, 500, 4))  # warm-up: ordinary reviews
                before = rss_mib(server.pid)
                with PeakRss(server.pid) as peak:
                    result = asyncio.run(coro)
                growth = peak.peak - before
                print(f"{name:>18}: RSS {before:.1f} -> peak {peak.peak:.1f} MiB (+{growth:.1f})")
                return growth, result

            growth: dict[str, float] = {}
            growth["namespaces_20k"], _ = attack("namespaces_20k", _send_all(url, ctx, ten_kb, NAMESPACES // scale, 16))
            growth["objects_1mb"], _ = attack(
                "objects_1mb", _send_all(url, ctx, lambda i: big(1024 * 1024, i), 500 // scale, 4)
            )
            growth["half_headers_2k"], held = attack("half_headers_2k", _half_headers(port, ctx, 2000 // scale, 3.0))
            print(f"{'':>18}  ({held} connections opened and held 3 s)")
            legit = asyncio.run(_legit_under_big(url, ctx, 1000 // scale, 3 * 1024 * 1024 - 8 * 1024))
            legit_p99 = p99(legit)
            print(
                f"legit reviews under four 3 MB clients: p50 {sorted(legit)[len(legit) // 2] * 1000:.1f} ms, "
                f"p99 {legit_p99:.1f} ms ({len(legit)} reviews)"
            )
            print(f"webhook RSS at the end: {rss_mib(server.pid):.1f} MiB")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)

        figures = cli_figures(work)

    summary = {
        "rss_growth_mib": {k: round(v, 1) for k, v in growth.items()},
        "legit_p99_ms_under_attack": round(legit_p99, 1),
        **figures,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
