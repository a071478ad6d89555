"""Benchmark: pod start in ``lab up --kube``, from ``kubectl create`` to the first byte from the API server
through the twin (not a test).

What it answers: how long does a pod take, through the whole real loop — kubectl, the API server, the
webhook (the pods are in ``ingress-nginx``, which bridge ``tenant-a`` selects), the scheduler, the node
agent realizing the pod in the twin, OVN — until a TLS connection from inside the pod to the ``kubernetes``
ClusterIP gets its first byte back from the real kube-apiserver?

* **one by one** — ``--pods`` pods, each created (one ``kubectl create``) after the previous one answered.
* **burst** — ``--pods`` pods created at once (one ``kubectl create`` of a List), all timed from that moment.
* **baseline** (same run) — ``kubectl create`` alone: how long the create call itself takes (process start,
  admission with the webhook, storage), the floor under every figure above.

Each pod is probed from its own network namespace every 10 ms once its status says Running (the container
would run; nothing in a pod sends before its CNI ADD returned): connect to
10.96.0.1:443, TLS (the lab's CA), ``GET /version``, first byte. Run as root from the repository:
``.venv/bin/python bench/podstart.py`` (about two minutes). The last output line is JSON:
``{"one_by_one": {"p50_s", "p99_s"}, "burst": {"p50_s", "p99_s"}, "baseline_create": {"p50_s", "p99_s"}}``.
Targets: p99 <= 1 s one by one, <= 3 s in the burst.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from apibridge.twin.control.kubeapi import Informer, KubeApi, Resource
from apibridge.twin.pods import netns as ns
from apibridge.twin.pods.nsock import socket_in
from apibridge.twin.state import locate

REPO = Path(__file__).resolve().parents[1]
APIBRIDGE = REPO / ".venv" / "bin" / "apibridge"
KUBECTL = REPO / ".tools" / "bin" / "kubectl"
NAMESPACE = "ingress-nginx"
LABELS = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50_s": round(statistics.median(values), 3), "p99_s": round(pct(values, 0.99), 3)}


def pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": dict(LABELS)},
        "spec": {
            "serviceAccountName": "ingress-nginx",
            "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}],
        },
    }


def first_byte(netns: str, ctx: ssl.SSLContext) -> bool:
    """One attempt from inside ``netns``: TLS to the kubernetes ClusterIP, GET /version, first byte."""
    try:
        sock = socket_in(netns, socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return False
    sock.settimeout(0.1)  # a SYN into a namespace not wired yet is lost: try again soon rather than wait
    try:
        sock.connect(("10.96.0.1", 443))
        sock.settimeout(5.0)
        with ctx.wrap_socket(sock, server_hostname="kubernetes.default.svc") as tls:
            tls.sendall(b"GET /version HTTP/1.1\r\nHost: kubernetes.default.svc\r\nConnection: close\r\n\r\n")
            return bool(tls.recv(1))
    except OSError:
        return False
    finally:
        sock.close()


class Started:
    """Pods whose containers have started (status Running, as the node reports it), from a watch."""

    def __init__(self, api: KubeApi) -> None:
        self.running: set[str] = set()
        self.bound: dict[str, float] = {}  # pod -> when the watch first saw it bound to a node (the scheduler)
        self.seen_running: dict[str, float] = {}  # pod -> when the watch first saw it Running (the node's report)
        self.cond = threading.Condition()
        self.informer = Informer(api, Resource("v1", "pods", True), self._changed)
        self.informer.start()
        self.informer.synced.wait(30)

    def _changed(self) -> None:
        items = self.informer.items()
        names = {p["metadata"]["name"] for p in items if (p.get("status") or {}).get("phase") == "Running"}
        at = time.monotonic()
        for p in items:
            if (p.get("spec") or {}).get("nodeName"):
                self.bound.setdefault(p["metadata"]["name"], at)
        for name in names:
            self.seen_running.setdefault(name, at)
        with self.cond:
            self.running = names
            self.cond.notify_all()

    def wait(self, name: str, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: name in self.running, timeout)


def wait_answer(started: Started, name: str, netns: str, ctx: ssl.SSLContext, timeout: float = 60.0) -> float:
    """Monotonic time of the first answer from inside ``netns`` once the pod's container would run (its
    status says Running: probing earlier would be traffic no container of a real pod can send), inf if none
    within ``timeout``."""
    deadline = time.monotonic() + timeout
    if not started.wait(name, timeout):
        return float("inf")
    while time.monotonic() < deadline:
        if ns.netns_exists(netns) and first_byte(netns, ctx):
            return time.monotonic()
        time.sleep(0.01)
    return float("inf")


def create(kubeconfig: str, pods: list[dict[str, Any]]) -> None:
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": pods})
    subprocess.run(
        [str(KUBECTL), f"--kubeconfig={kubeconfig}", "create", "-f", "-", "-o", "name"],
        input=body, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--logs", type=Path, help="copy the lab's process logs (kube-agent.log: the node agent) here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root", file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="abps-", dir="/tmp"))
    name = f"bps{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "APIBRIDGE_LAB_DIR": str(base)}
    env.pop("KUBECONFIG", None)
    place = locate(name, base)
    try:
        t0 = time.monotonic()
        up = subprocess.run(
            [str(APIBRIDGE), "lab", "up", "--kube", "--name", name, str(REPO / "examples" / "apibridge")],
            env=env, check=False, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if up.returncode != 0:
            print(f"lab up --kube failed ({up.returncode}):\n{up.stderr}{up.stdout}", file=sys.stderr)
            return 1
        print(f"lab up --kube: {time.monotonic() - t0:.1f} s", file=sys.stderr)
        kubeconfig = str(place.kube_dir / "admin.kubeconfig")
        ctx = ssl.create_default_context(cafile=str(place.ca_file))
        token = (place.kube_dir / "pki" / "admin.token").read_text().strip()
        settings = json.loads((place.kube_dir / "settings.json").read_text())
        api = KubeApi(f"https://{settings['link_ip']}:{settings['port']}", place.ca_file, token)
        started = Started(api)

        baseline: list[float] = []
        one: list[float] = []
        for i in range(args.pods):
            podname = f"one-{i}"
            start = time.monotonic()
            create(kubeconfig, [pod(podname)])
            baseline.append(time.monotonic() - start)
            one.append(wait_answer(started, podname, place.pod_netns(NAMESPACE, podname), ctx) - start)
        print(f"one by one: {summary(one)} (kubectl create alone {summary(baseline)})", file=sys.stderr)

        burst_names = [f"burst-{i}" for i in range(args.pods)]
        done: dict[str, float] = {}

        def watch(podname: str, start: float) -> None:
            done[podname] = wait_answer(started, podname, place.pod_netns(NAMESPACE, podname), ctx) - start

        start = time.monotonic()
        print(f"burst starts at {time.strftime('%H:%M:%S')}.{int(time.time() * 1000) % 1000:03d}", file=sys.stderr)
        threads = [threading.Thread(target=watch, args=(n, start)) for n in burst_names]
        for t in threads:
            t.start()
        create(kubeconfig, [pod(n) for n in burst_names])
        created = time.monotonic() - start
        for t in threads:
            t.join()
        burst = [done[n] for n in burst_names]
        print(f"burst: {summary(burst)}", file=sys.stderr)
        # where the burst's time goes: created (kubectl, admission with the webhook, storage), bound (scheduler),
        # Running (the node agent: realize in the twin, report), first byte (OVN, TLS, the API server)
        bound = [started.bound.get(n, float("inf")) - start for n in burst_names]
        running = [started.seen_running.get(n, float("inf")) - start for n in burst_names]
        print(
            f"burst timeline: all created {created:.3f}s; bound {summary(bound)}; Running {summary(running)}",
            file=sys.stderr,
        )
        missing = sum(1 for v in [*one, *burst] if v == float("inf"))
        result = {
            "one_by_one": summary(one),
            "burst": summary(burst),
            "baseline_create": summary(baseline),
            "burst_phases": {"created_s": round(created, 3), "bound": summary(bound), "running": summary(running)},
            "pods": args.pods,
            "no_answer": missing,
            "targets_met": pct(one, 0.99) <= 1.0 and pct(burst, 0.99) <= 3.0,
        }
        print(json.dumps(result))
        return 0
    finally:
        if args.logs:
            args.logs.mkdir(parents=True, exist_ok=True)
            for log in place.run_dir.glob("kube-*.log"):
                shutil.copy(log, args.logs / log.name)
        subprocess.run([str(APIBRIDGE), "lab", "down", "--name", name], env=env, capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
