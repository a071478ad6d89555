"""Benchmark: the admission webhook against a bare aiohttp echo server, both over TLS (not a test).

What it answers: how much of a bare aiohttp server's throughput does the webhook keep, and what is its
tail latency, when the API server calls it at concurrency 1, 16 and 64? The echo server does the least
an HTTPS handler can do (return the body it got), so the ratio isolates the webhook's own cost:
decoding the review, the decision from the in-memory snapshot, the patch, metrics.

Setup, all on this machine:
* a realistic snapshot: 60 tenant VPCs, 3 namespaces each, a bridge per VPC (some with pod selectors,
  some with namespace selectors), plus the default VPC's namespaces; written to a temp file and served
  by ``apibridge webhook --snapshot``-equivalent code in its own process;
* request bodies: AdmissionReviews of ReplicaSet-made pods (~3 KB each, generateName, owner refs,
  projected token volume …) — 60 % in selected namespaces (mutated), 25 % not selected, 10 % already
  mutated (reinvocation), 5 % opted out;
* the echo server: same TLS, same port setup, ``return web.Response(body=await request.read())``;
* a SEPARATE load process per level: aiohttp client, keep-alive, TLS verified against the CA, a warm-up
  and then a fixed number of requests at the given concurrency; per-request latency from send to body.

Run: ``.venv/bin/python bench/webhook.py`` (about two minutes). Options: ``--requests``, ``--warmup``,
``--levels``, ``--rounds``. The last output line is JSON:
``{"reviews_per_s": {"1": x, "16": x, "64": x}, "echo_per_s": {...}, "p99_ms": {...}, "echo_p99_ms": {...},
"cpu_us_per_review": {...}, "echo_cpu_us": {...}}`` — the last two are the server's CPU time per request,
which a busy machine moves far less than throughput.
Target: at concurrency 16, at least 0.9x echo throughput and p99 <= 5 ms (issue 10, item 8).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from aiohttp import ClientSession, TCPConnector, web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from apibridge.admission.mutate import admit  # noqa: E402
from apibridge.admission.server import MUTATE_PATH, ServerConfig, WebhookServer  # noqa: E402
from apibridge.admission.snapshot import Snapshot, StaticSource  # noqa: E402
from apibridge.admission.tls import ReloadingContext  # noqa: E402
from apibridge.base.certs import CertificateAuthority, write_bundle  # noqa: E402
from apibridge.model.cluster import load_cluster  # noqa: E402

TENANTS = 60
NAMESPACES_PER_TENANT = 3


# ---- the cluster and the requests ------------------------------------------------------------------------
def cluster_documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": f"node-{i}",
                "labels": {**({"node-role.kubernetes.io/control-plane": ""} if i == 0 else {})},
            },
            "status": {"addresses": [{"type": "InternalIP", "address": f"172.18.0.{i + 2}"}]},
        }
        for i in range(5)
    ]
    docs.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system"},
            "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 53, "protocol": "UDP"}]},
        }
    )
    for name in ("default", "kube-system", "monitoring", "ingress"):
        docs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    for t in range(TENANTS):
        vpc = f"tenant-{t}"
        namespaces = [f"{vpc}-ns{j}" for j in range(NAMESPACES_PER_TENANT)]
        for j, ns in enumerate(namespaces):
            docs.append(
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": ns, "labels": {"tenant": vpc, "tier": "prod" if j else "dev"}},
                }
            )
        docs.append(
            {
                "apiVersion": "kubeovn.io/v1",
                "kind": "Vpc",
                "metadata": {"name": vpc},
                "spec": {"namespaces": namespaces},
            }
        )
        docs.append(
            {
                "apiVersion": "kubeovn.io/v1",
                "kind": "Subnet",
                "metadata": {"name": f"{vpc}-subnet"},
                "spec": {"vpc": vpc, "cidrBlock": f"10.{t // 200}.{t % 200}.0/24", "namespaces": namespaces},
            }
        )
        spec: dict[str, Any] = {"vpc": vpc, "destinations": {"dns": t % 3 == 0}}
        if t % 2:
            spec["podSelector"] = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["api", "web"]}]}
        else:
            spec["namespaceSelector"] = {"matchLabels": {"tier": "prod"}}
        docs.append(
            {"apiVersion": "apibridge.dev/v1alpha1", "kind": "ApiBridge", "metadata": {"name": vpc}, "spec": spec}
        )
    return docs


def pod(namespace: str, app: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    rs = f"{app}-7d9f8c6b5"
    md: dict[str, Any] = {
        "generateName": f"{rs}-",
        "namespace": namespace,
        "labels": {
            "app": app,
            "pod-template-hash": "7d9f8c6b5",
            "app.kubernetes.io/part-of": "shop",
            "app.kubernetes.io/version": "2.14.1",
        },
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": rs,
                "controller": True,
                "blockOwnerDeletion": True,
                "uid": "9b0b8c4e-2d5f-4f77-9c6a-0f6b1c1d2e3f",
            }
        ],
    }
    if annotations is not None:
        md["annotations"] = annotations
    container = {
        "name": app,
        "image": f"registry.example.com/shop/{app}:2.14.1",
        "imagePullPolicy": "IfNotPresent",
        "args": ["--listen=:8080", "--metrics=:9090", "--log-format=json"],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "GOMAXPROCS", "value": "2"},
            {"name": "SHOP_REGION", "value": "eu-west-1"},
        ],
        "ports": [
            {"name": "http", "containerPort": 8080, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
        ],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
        "volumeMounts": [
            {
                "name": "kube-api-access-x7k2p",
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                "readOnly": True,
            },
            {"name": "config", "mountPath": "/etc/shop"},
        ],
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": md,
        "spec": {
            "containers": [container],
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "schedulerName": "default-scheduler",
            "priority": 0,
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
            "tolerations": [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
            ],
            "volumes": [
                {"name": "config", "configMap": {"name": f"{app}-config", "defaultMode": 420}},
                {
                    "name": "kube-api-access-x7k2p",
                    "projected": {
                        "defaultMode": 420,
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                            {
                                "downwardAPI": {
                                    "items": [
                                        {
                                            "path": "namespace",
                                            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                        }
                                    ]
                                }
                            },
                        ],
                    },
                },
            ],
        },
    }


def review(obj: dict[str, Any], n: int) -> dict[str, Any]:
    gvk = {"group": "", "version": "v1", "kind": "Pod"}
    gvr = {"group": "", "version": "v1", "resource": "pods"}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": f"0000{n:08d}-1111-2222-3333-444455556666",
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "namespace": obj["metadata"]["namespace"],
            "operation": "CREATE",
            "userInfo": {
                "username": "system:serviceaccount:kube-system:replicaset-controller",
                "uid": "5f1c",
                "groups": ["system:serviceaccounts", "system:authenticated"],
            },
            "object": obj,
            "oldObject": None,
            "dryRun": False,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
        },
    }


def request_bodies(snapshot: Snapshot, count: int = 400) -> list[bytes]:
    """A fixed, shuffled mix of reviews; the decision of each is checked once here, not in the loop."""
    rng = random.Random(7)
    bodies: list[bytes] = []
    expected = {"mutated": 0, "not_selected": 0, "unchanged": 0, "opted_out": 0}
    for n in range(count):
        t = rng.randrange(TENANTS)
        roll = rng.random()
        selected_ns = f"tenant-{t}-ns{1 + rng.randrange(NAMESPACES_PER_TENANT - 1)}"
        app = "api" if t % 2 else "worker"
        if roll < 0.60:
            obj = pod(selected_ns, app, {"prometheus.io/scrape": "true"} if n % 2 else None)
        elif roll < 0.85:
            obj = pod(rng.choice(["default", "monitoring", "ingress"]), "web")
        elif roll < 0.95:
            first = admit(snapshot, review(pod(selected_ns, app), n))
            assert first.review is not None and first.result == "mutated"
            import base64

            import jsonpatch

            ops = json.loads(base64.b64decode(first.review["response"]["patch"]))
            obj = jsonpatch.apply_patch(pod(selected_ns, app), ops)
        else:
            obj = pod(selected_ns, app, {"apibridge.dev/inject": "false"})
        body = review(obj, n)
        outcome = admit(snapshot, body)
        expected[outcome.result] += 1
        bodies.append(json.dumps(body).encode())
    assert expected["mutated"] > count // 2 and all(expected.values()), expected
    return bodies


# ---- servers (each in its own process) ---------------------------------------------------------------------
async def _serve_webhook(snapshot_file: Path, cert: Path, key: Path, port_file: Path) -> None:
    source = StaticSource(load_cluster([str(snapshot_file)]))
    server = WebhookServer(source, ReloadingContext(cert, key), ServerConfig(host="127.0.0.1", port=0))
    await server.start()
    await _announce_and_wait(server.port, port_file)
    await server.stop()


async def _echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read(), content_type="application/json")


async def _serve_echo(cert: Path, key: Path, port_file: Path) -> None:
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_post(MUTATE_PATH, _echo)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx, backlog=1024).start()
    await _announce_and_wait(int(runner.addresses[0][1]), port_file)
    await runner.cleanup()


async def _announce_and_wait(port: int, port_file: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(port))
    tmp.replace(port_file)
    await stop.wait()


# ---- load (its own process) --------------------------------------------------------------------------------
async def _load(url: str, ca: Path, bodies: list[bytes], concurrency: int, warmup: int, total: int) -> dict[str, float]:
    ctx = ssl.create_default_context(cafile=str(ca))
    latencies: list[float] = []
    sent = 0
    headers = {"Content-Type": "application/json"}
    async with ClientSession(connector=TCPConnector(limit=concurrency, ssl=ctx, force_close=False)) as session:

        async def worker(quota: int, record: bool) -> None:
            nonlocal sent
            for _ in range(quota):
                body = bodies[sent % len(bodies)]
                sent += 1
                start = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"HTTP {resp.status}")
                if record:
                    latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(worker(warmup // concurrency + 1, False) for _ in range(concurrency)))
        began, cpu_began = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(total // concurrency, True) for _ in range(concurrency)))
        elapsed, client_cpu = time.perf_counter() - began, time.process_time() - cpu_began
    latencies.sort()
    return {
        "requests": float(sent),
        "rps": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
        # the load process's own CPU per request: on 2 cores the client competes with the server it measures
        "client_cpu_us": client_cpu / len(latencies) * 1e6,
    }


# ---- orchestration -----------------------------------------------------------------------------------------
def _run_self(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)


def _start_server(kind: str, work: Path, extra: list[str]) -> tuple[subprocess.Popen[str], int]:
    port_file = work / f"{kind}.port"
    port_file.unlink(missing_ok=True)
    proc = _run_self("--serve", kind, "--work", str(work), *extra)
    deadline = time.monotonic() + 60
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{kind} server did not start")
        time.sleep(0.05)
    return proc, int(port_file.read_text())


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (``/proc/<pid>/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(port: int, work: Path, concurrency: int, args: argparse.Namespace, pid: int) -> dict[str, float]:
    cpu_before = _cpu_seconds(pid)
    proc = _run_self(
        "--load",
        f"https://127.0.0.1:{port}{MUTATE_PATH}",
        "--work",
        str(work),
        "--concurrency",
        str(concurrency),
        "--requests",
        str(args.requests),
        "--warmup",
        str(args.warmup),
        "--loop",
        args.loop,
    )
    out, _ = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"load process failed at concurrency {concurrency}")
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    # CPU the server spent per request: what the webhook costs beyond the echo, robust to a busy machine
    # (throughput on a shared 2-core box moves with everyone else's load; CPU per request barely does)
    result["cpu_us"] = (_cpu_seconds(pid) - cpu_before) / result.pop("requests") * 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per level")
    parser.add_argument("--warmup", type=int, default=300, help="requests before measuring, per level")
    parser.add_argument("--levels", default="1,16,64", help="concurrency levels")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; each figure is their median")
    parser.add_argument(
        "--loop",
        choices=["asyncio", "uvloop"],
        default="asyncio",
        help="event loop of the servers and the client alike (uvloop: measured only; pip install uvloop)",
    )
    parser.add_argument("--serve", choices=["webhook", "echo"], help=argparse.SUPPRESS)
    parser.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.loop == "uvloop":
        import uvloop  # not a dependency of apibridge: a what-if for the event loop's share of the latency

        uvloop.install()
    if args.serve:
        w = args.work
        if args.serve == "webhook":
            asyncio.run(_serve_webhook(w / "cluster.yaml", w / "tls.crt", w / "tls.key", w / "webhook.port"))
        else:
            asyncio.run(_serve_echo(w / "tls.crt", w / "tls.key", w / "echo.port"))
        return
    if args.load:
        bodies = json.loads((args.work / "bodies.json").read_text())
        result = asyncio.run(
            _load(
                args.load,
                args.work / "ca.crt",
                [b.encode() for b in bodies],
                args.concurrency,
                args.warmup,
                args.requests,
            )
        )
        print(json.dumps(result))
        return

    levels = [int(x) for x in args.levels.split(",")]
    with tempfile.TemporaryDirectory(prefix="apibridge-bench-") as tmp:
        work = Path(tmp)
        docs = cluster_documents()
        (work / "cluster.yaml").write_text(yaml.safe_dump_all(docs))
        snapshot = Snapshot.build(load_cluster([str(work / "cluster.yaml")]))
        bodies = request_bodies(snapshot)
        (work / "bodies.json").write_text(json.dumps([b.decode() for b in bodies]))
        ca = CertificateAuthority.create("bench-ca")
        write_bundle(work, ca, ca.issue(["127.0.0.1"]))
        mean = sum(len(b) for b in bodies) / len(bodies)
        print(
            f"cluster: {TENANTS} VPCs, {len(snapshot.cluster.namespaces)} namespaces, "
            f"{len(snapshot.plan.bridges)} bridges; review bodies: {len(bodies)} distinct, mean {mean:.0f} bytes"
        )
        print(
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {args.requests} requests per level "
            f"after {args.warmup} warm-up, median of {args.rounds} alternating rounds; event loop {args.loop}"
        )
        # Both servers run for the whole benchmark and the load alternates between them, level by level and
        # round by round; each cell is the median over rounds. On a shared 2-core machine, background load
        # drifts: alternating makes it hit both servers alike instead of skewing the ratio.
        procs = {kind: _start_server(kind, work, ["--loop", args.loop]) for kind in ("webhook", "echo")}
        runs: dict[str, dict[int, list[dict[str, float]]]] = {k: {c: [] for c in levels} for k in procs}
        try:
            for _ in range(args.rounds):
                for c in levels:
                    for kind, (proc, port) in procs.items():
                        runs[kind][c].append(_measure(port, work, c, args, proc.pid))
        finally:
            for proc, _ in procs.values():
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
        results = {
            kind: {c: {key: statistics.median(r[key] for r in cells[c]) for key in cells[c][0]} for c in levels}
            for kind, cells in runs.items()
        }
        print(
            f"{'concurrency':>11} {'webhook/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'echo/s':>9} {'p99 ms':>7} "
            f"{'ratio':>6} {'cpu us/req':>10} {'echo cpu':>9} {'client cpu':>10} {'c/rps ms':>8}"
        )
        for c in levels:
            w, e = results["webhook"][c], results["echo"][c]
            print(
                f"{c:>11} {w['rps']:>10.0f} {w['p50_ms']:>7.2f} {w['p99_ms']:>7.2f} {e['rps']:>9.0f} "
                f"{e['p99_ms']:>7.2f} {w['rps'] / e['rps']:>6.2f} {w['cpu_us']:>10.0f} {e['cpu_us']:>9.0f} "
                f"{w['client_cpu_us']:>10.0f} {c / w['rps'] * 1000:>8.2f}"
            )
        # Little's law: a closed loop of c clients waits c / throughput on average, so at concurrency 16 a
        # p99 of 5 ms needs well over 3,200 requests/s from the echo itself; 'client cpu' and 'echo cpu' say
        # what one request costs the two processes that share this machine's cores.
        summary = {
            "reviews_per_s": {str(c): round(results["webhook"][c]["rps"], 1) for c in levels},
            "echo_per_s": {str(c): round(results["echo"][c]["rps"], 1) for c in levels},
            "p99_ms": {str(c): round(results["webhook"][c]["p99_ms"], 2) for c in levels},
            "echo_p99_ms": {str(c): round(results["echo"][c]["p99_ms"], 2) for c in levels},
            "cpu_us_per_review": {str(c): round(results["webhook"][c]["cpu_us"], 1) for c in levels},
            "echo_cpu_us": {str(c): round(results["echo"][c]["cpu_us"], 1) for c in levels},
            "client_cpu_us": {str(c): round(results["webhook"][c]["client_cpu_us"], 1) for c in levels},
            "echo_client_cpu_us": {str(c): round(results["echo"][c]["client_cpu_us"], 1) for c in levels},
            "loop": args.loop,
        }
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
