"""Benchmark: pod creation through the real kube-apiserver, with and without the apibridge webhook (not a test).

What it answers: what does the webhook add to the latency of creating a pod, as a user sees it? The
baseline is the same API server, same pods, same client, in the same run, without the
MutatingWebhookConfiguration; so the difference is the API server's webhook call (TLS, AdmissionReview
encoding, the CEL matchCondition, the patch) plus the webhook's own work.

Setup, all on this machine (loopback only):
* etcd + kube-apiserver + kube-controller-manager from ``scripts/tools.sh`` (``tests/kube/cluster.py``);
* the example tenants (``examples/apibridge``), each bridge's NAD and Subnet as the operator would create
  them, the chart's RBAC;
* ``apibridge webhook --watch`` as its own process, as the chart's webhook ServiceAccount (TokenRequest
  token), registered by the chart's MutatingWebhookConfiguration (Helm 4) with ``clientConfig.url``;
* pods in ``ingress-nginx`` that bridge ``tenant-a`` selects (every one is mutated when the webhook is on;
  the bench checks it), created with POST by an aiohttp client with keep-alive at concurrency 1 and 16;
  latency from send to the stored pod in the response. Pods stay Pending (no scheduler), and are deleted
  between phases. Phases alternate (without, with, without, with, …) so drift hits both alike.

Run: ``.venv/bin/python bench/admission.py`` (a minute or two). Options: ``--pods``, ``--warmup``,
``--rounds``. The last output line is JSON:
``{"with": {"1": {"p50_ms": x, "p99_ms": y}, "16": {...}}, "without": {...}}``.
Target: the webhook adds at most 30 % to p99 at concurrency 16.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, TCPConnector

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from admission.oncluster import tenants  # noqa: E402
from apibridge.base.certs import CertificateAuthority, write_bundle  # noqa: E402
from apibridge.kubeovn import rules  # noqa: E402
from apibridge.model.cluster import Cluster  # noqa: E402
from apibridge.model.load import Document  # noqa: E402
from apibridge.plan.planner import plan  # noqa: E402
from kube.cluster import ADMIN_TOKEN, KubeCluster, free_port, running  # noqa: E402
from kube.incluster import apply_all, install_chart_rbac  # noqa: E402
from kube.webhook import WebhookProcess  # noqa: E402

NAMESPACE = "ingress-nginx"
LABELS = {"app.kubernetes.io/name": "ingress-nginx"}
LEVELS = (1, 16)
MWC = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"


def pod_body(i: int, tag: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"bench-{tag}-{i}", "namespace": NAMESPACE, "labels": LABELS},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
    }


async def create_pods(session: ClientSession, count: int, concurrency: int, tag: str) -> tuple[list[float], int]:
    """Create ``count`` pods with ``concurrency`` workers; latencies (s) and how many came back mutated."""
    latencies: list[float] = []
    mutated = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        nonlocal mutated
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            body = json.dumps(pod_body(i, tag))
            start = time.perf_counter()
            async with session.post(
                f"/api/v1/namespaces/{NAMESPACE}/pods", data=body, headers={"Content-Type": "application/json"}
            ) as resp:
                text = await resp.read()
            latencies.append(time.perf_counter() - start)
            if resp.status != 201:
                raise SystemExit(f"pod create failed: {resp.status} {text[:300]!r}")
            annotations = json.loads(text)["metadata"].get("annotations") or {}
            mutated += rules.NETWORKS_ANNOTATION in annotations

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, mutated


async def delete_pods(session: ClientSession) -> None:
    async with session.delete(
        f"/api/v1/namespaces/{NAMESPACE}/pods",
        json={"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0},
    ) as resp:
        await resp.read()
    while True:  # unscheduled pods go at once; wait until the list is empty
        async with session.get(f"/api/v1/namespaces/{NAMESPACE}/pods?limit=1") as resp:
            if not (await resp.json())["items"]:
                return
        await asyncio.sleep(0.1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(
    kube: KubeCluster, webhook: WebhookProcess, args: argparse.Namespace
) -> dict[str, dict[str, list[float]]]:
    ssl_ctx = ssl.create_default_context(cafile=str(kube.ca_file))
    samples: dict[str, dict[str, list[float]]] = {"with": {}, "without": {}}
    async with ClientSession(
        kube.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, connector=TCPConnector(ssl=ssl_ctx, limit=64)
    ) as session:
        # the webhook is ready once a pod comes back mutated
        async with session.post(MWC, json=webhook.configuration()) as resp:
            assert resp.status == 201, await resp.text()
        deadline = time.monotonic() + 60
        while True:
            _, mutated = await create_pods(session, 1, 1, f"ready{int(time.monotonic() * 1000)}")
            if mutated:
                break
            if time.monotonic() > deadline:
                raise SystemExit("the webhook never mutated a pod; see its log")
            await asyncio.sleep(0.3)
        async with session.delete(f"{MWC}/apibridge") as resp:
            await resp.read()
        await delete_pods(session)
        mwc = webhook.configuration()
        for rnd in range(args.rounds):
            for mode in ("without", "with"):
                if mode == "with":
                    async with session.post(MWC, json=mwc) as resp:
                        assert resp.status == 201, await resp.text()
                    await asyncio.sleep(1.5)  # the API server's webhook configuration informer catches up
                for level in LEVELS:
                    tag = f"{mode}-{level}-{rnd}"
                    await create_pods(session, args.warmup, level, tag + "-warm")
                    lat, mutated = await create_pods(session, args.pods, level, tag)
                    want = args.pods if mode == "with" else 0
                    if mutated != want:
                        raise SystemExit(f"{mode} at {level}: {mutated} of {args.pods} pods mutated, expected {want}")
                    samples[mode].setdefault(str(level), []).extend(lat)
                    await delete_pods(session)
                    print(
                        f"round {rnd + 1} {mode:7} c={level:2}: p50 {statistics.median(lat) * 1000:6.2f} ms"
                        f"  p99 {percentile(lat, 0.99) * 1000:6.2f} ms",
                        file=sys.stderr,
                    )
                if mode == "with":
                    async with session.delete(f"{MWC}/apibridge") as resp:
                        await resp.read()
                    await asyncio.sleep(1.5)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=400, help="measured pods per phase and level")
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2, help="without/with alternations")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="apibridge-bench-admission-") as tmp:
        workdir = Path(tmp)
        started = time.monotonic()
        with running(workdir / "kube") as kube:
            print(f"control plane ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
            install_chart_rbac(kube)
            objects = tenants()
            apply_all(kube, objects)
            cluster = Cluster.from_documents([Document(o, "examples", i) for i, o in enumerate(objects)])
            for bp in plan(cluster).bridges.values():  # what the operator would create
                apply_all(kube, [bp.nad, bp.subnet])
            ca = CertificateAuthority.create("bench-webhook-ca")
            bundle = write_bundle(workdir / "tls", ca, ca.issue(["127.0.0.1"]))
            extra = ("--metrics-port", str(free_port()), "--log-level", "warning")  # /metrics off the measured port
            webhook = WebhookProcess(kube, workdir, ca.cert_pem(), bundle.cert, bundle.key, *extra).start()
            try:
                samples = asyncio.run(measure(kube, webhook, args))
            finally:
                webhook.stop()
    result: dict[str, dict[str, dict[str, float]]] = {}
    for mode, levels in samples.items():
        result[mode] = {
            level: {"p50_ms": round(statistics.median(v) * 1000, 2), "p99_ms": round(percentile(v, 0.99) * 1000, 2)}
            for level, v in levels.items()
        }
    print(f"{'':8} {'c':>3} {'p50 ms':>8} {'p99 ms':>8}")
    for mode in ("without", "with"):
        for level in map(str, LEVELS):
            r = result[mode][level]
            print(f"{mode:8} {level:>3} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f}")
    added = result["with"]["16"]["p99_ms"] / result["without"]["16"]["p99_ms"] - 1
    print(f"webhook adds {added * 100:.0f} % to p99 at concurrency 16 (target: at most 30 %)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
