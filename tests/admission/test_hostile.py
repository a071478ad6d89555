"""The webhook under hostile clients: bounded connections, time, bodies, parsing, memory and answers.

Each case is one finding of the hardening review, written as the attack (on loopback, against a server this
test starts): half a request header held open, more connections than the cap, a body over the cap or one
that trickles, a 7.5 MB networks annotation, reviews in many namespaces with large metadata, and an answer
that named another tenant's bridge.
"""

from __future__ import annotations

import base64
import gc
import json
import socket
import ssl
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from apibridge.admission import mutate as mutate_module
from apibridge.admission import snapshot as snapshot_module
from apibridge.admission.guard import Limits
from apibridge.admission.lru import BoundedLRU
from apibridge.admission.mutate import admit
from apibridge.admission.server import MUTATE_PATH
from apibridge.admission.snapshot import MEMO_BYTES, Snapshot, StaticSource
from apibridge.admission.tls import ReloadingContext
from apibridge.base.certs import BundlePaths
from apibridge.kubeovn import rules
from apibridge.model.cluster import Cluster
from apibridge.model.load import Document

from .support import INGRESS, Client, RunningServer, make_cluster, pod, review

FAST = Limits(header_timeout=0.5, body_timeout=0.5, handshake_timeout=1.0, max_connections=8, idle_timeout=2.0)


@pytest.fixture
def tight(bundle: BundlePaths) -> Iterator[RunningServer]:
    running = RunningServer(StaticSource(make_cluster()), ReloadingContext(bundle.cert, bundle.key), limits=FAST)
    yield running
    running.close()


def _tls(port: int, ca: Path) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=str(ca))
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def _closed_within(sock: ssl.SSLSocket, seconds: float) -> bool:
    """Whether the server closes ``sock`` within ``seconds`` (EOF or reset)."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, ssl.SSLError):
        return True
    except TimeoutError:
        return False


def test_half_a_header_is_closed_after_the_header_timeout(tight: RunningServer, bundle: BundlePaths) -> None:
    sock = _tls(tight.port, bundle.ca_cert)
    try:
        sock.sendall(b"POST /mutate-pods HTTP/1.1\r\nHost: x\r\nContent-Ty")  # slow loris: never finishes
        started = time.monotonic()
        assert _closed_within(sock, 5.0)
        assert time.monotonic() - started < 2.0  # header_timeout 0.5 s, not aiohttp's default hour
    finally:
        sock.close()
    assert tight.server.sites[0].guard.timed_out >= 1


def test_an_idle_kept_alive_connection_is_closed_after_the_idle_timeout(
    tight: RunningServer, bundle: BundlePaths
) -> None:
    sock = _tls(tight.port, bundle.ca_cert)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # HTTP/1.1: kept alive after the answer
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert _closed_within(sock, 3 * FAST.idle_timeout), "an idle connection was held open"
        assert time.monotonic() - started >= FAST.idle_timeout / 2  # idle, not refused
    finally:
        sock.close()


def test_connections_over_the_cap_are_closed_at_once(tight: RunningServer, bundle: BundlePaths) -> None:
    held = [_tls(tight.port, bundle.ca_cert) for _ in range(FAST.max_connections)]
    try:
        for sock in held:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.recv(1024)
        extra = _tls(tight.port, bundle.ca_cert)
        assert _closed_within(extra, 2.0)
        extra.close()
    finally:
        for sock in held:
            sock.close()
    assert tight.server.sites[0].guard.refused >= 1
    # once they are gone, a client gets answers again
    client = Client(tight.port, bundle.ca_cert)
    deadline = time.monotonic() + 5
    while True:
        try:
            assert client.request("GET", "/healthz")[0] == 200
            break
        except (OSError, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    client.close()


def test_half_headers_that_never_close_free_their_slots_at_the_header_timeout(
    tight: RunningServer, bundle: BundlePaths
) -> None:
    """A new-user trial held every slot of the cap with 300 TLS connections that sent half a header and
    never read or closed: the header timeout started a TLS shutdown that waited asyncio's ~30 s for the
    peer's close_notify, and new reviews were refused for 35.8 s."""
    held = [_tls(tight.port, bundle.ca_cert) for _ in range(FAST.max_connections)]
    try:
        for sock in held:
            sock.sendall(b"POST /mutate-pods HTTP/1.1\r\nHost: x\r\n")  # never finished, never read
        time.sleep(3 * FAST.header_timeout)
        client = Client(tight.port, bundle.ca_cert)
        try:
            assert client.request("GET", "/healthz")[0] == 200
        finally:
            client.close()
    finally:
        for sock in held:
            sock.close()


def test_a_body_over_the_cap_gets_413_without_being_read(tight: RunningServer, bundle: BundlePaths) -> None:
    sock = _tls(tight.port, bundle.ca_cert)
    try:
        head = (
            f"POST {MUTATE_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {FAST.max_body + 1}\r\n\r\n"
        )
        sock.sendall(head.encode())
        sock.settimeout(5)
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 413"), answer
    finally:
        sock.close()


def test_a_trickling_body_gets_408(tight: RunningServer, bundle: BundlePaths) -> None:
    sock = _tls(tight.port, bundle.ca_cert)
    try:
        head = (
            f"POST {MUTATE_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
        sock.sendall(head.encode() + b'{"apiVersion"')
        sock.settimeout(5)
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer
    finally:
        sock.close()


def test_a_huge_networks_annotation_costs_milliseconds_and_names_the_bound(snapshot: Snapshot) -> None:
    value = ",".join(f"kube-system/nad-{i}" for i in range(500_000))  # 7.5 MB, 500,000 entries
    obj = pod(labels=INGRESS, annotations={rules.NETWORKS_ANNOTATION: value})
    started = time.perf_counter()
    outcome = admit(snapshot, review(obj))
    assert time.perf_counter() - started < 0.2
    assert outcome.result == "invalid"
    assert outcome.review is not None
    assert str(rules.ANNOTATIONS_MAX_BYTES) in outcome.review["response"]["warnings"][0]


def test_too_many_annotations_are_not_read(snapshot: Snapshot) -> None:
    obj = pod(labels=INGRESS, annotations={f"a{i}": "x" for i in range(100_000)})
    started = time.perf_counter()
    outcome = admit(snapshot, review(obj))
    assert time.perf_counter() - started < 0.1
    assert outcome.result == "invalid"


def test_answers_name_no_other_tenant() -> None:
    """A pod in tenant-b's namespace that pins tenant-a's subnet got tenant-a's bridge, NAD and gateway."""
    snap = Snapshot.build(make_cluster())
    obj = pod("tenant-b", labels=INGRESS, annotations={rules.PRIMARY_LOGICAL_SWITCH_ANNOTATION: "tenant-a-subnet"})
    outcome = admit(snap, review(obj, namespace="tenant-b"))
    assert outcome.review is not None
    text = json.dumps(outcome.review)
    patch = outcome.review["response"].get("patch")
    text += base64.b64decode(patch).decode() if patch else ""
    assert "tenant-a" not in text
    assert outcome.result == "not_selected"


def test_the_mutation_memo_is_bounded_in_bytes_over_many_namespaces() -> None:
    snap = Snapshot.build(make_cluster())
    filler = {f"note-{i}": "x" * 100 for i in range(90)}  # ~10 KB of metadata per pod
    for i in range(2_000):
        networks = f"ingress-nginx/macvlan-{i}"  # a distinct shape per pod
        obj = pod(labels=INGRESS, annotations={**filler, rules.NETWORKS_ANNOTATION: networks})
        admit(snap, review(obj))
    assert snap._changes.bytes <= MEMO_BYTES
    big = pod(labels=INGRESS, annotations={rules.NETWORKS_ANNOTATION: ",".join(f"n{i}" for i in range(60)) * 50})
    admit(snap, review(big))
    assert snap._changes.bytes <= MEMO_BYTES


def test_bounded_lru_evicts_by_entries_and_bytes() -> None:
    lru: BoundedLRU[str, str] = BoundedLRU(max_entries=3, max_bytes=100, max_entry_bytes=60)
    for key in "abcd":
        lru.put(key, key, 10)
    assert len(lru) == 3 and lru.get("a") is None
    lru.put("big", "x", 61)  # over the per-entry bound: not stored
    assert lru.get("big") is None
    lru.put("e", "e", 60)
    lru.put("f", "f", 50)  # 110 > 100: the oldest go
    assert lru.bytes <= 100 and lru.get("f") == "f"


def _attack_cluster(namespaces: int) -> Cluster:
    """One bridge that selects ``namespaces`` namespaces (the review's attack: each review from another)."""
    names = [f"ns-{i}" for i in range(namespaces)]
    bodies: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]},
        },
        {"apiVersion": rules.KUBEOVN_API, "kind": "Vpc", "metadata": {"name": "attack"}, "spec": {"namespaces": names}},
        {
            "apiVersion": rules.KUBEOVN_API,
            "kind": "Subnet",
            "metadata": {"name": "attack-subnet"},
            "spec": {"vpc": "attack", "cidrBlock": "10.200.0.0/16", "namespaces": names},
        },
        {
            "apiVersion": rules.APIBRIDGE_API,
            "kind": "ApiBridge",
            "metadata": {"name": "attack"},
            "spec": {"vpc": "attack", "namespaceSelector": {"matchLabels": {"tenant": "attack"}}},
        },
        *(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": {"tenant": "attack"}}}
            for n in names
        ),
    ]
    return Cluster.from_documents([Document(b, "attack", i) for i, b in enumerate(bodies)])


def test_memory_stays_bounded_over_thousands_of_namespaces_and_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The review's 20,000-namespace attack, scaled down and measured as the Python heap: every review from
    another namespace, ~10 KB of metadata and a ~5 KB networks annotation of its own (what the per-namespace
    and per-shape memos and the patch memo keyed on). Each memo's bound is lowered to 1 MiB so that a
    thousand reviews show it: what stays is the three bounds (their byte estimates must be the heap's), not
    ~20 KB per review."""
    mib = 1024 * 1024
    monkeypatch.setattr(snapshot_module, "MEMO_BYTES", mib)
    monkeypatch.setattr(mutate_module, "_PATCHES", BoundedLRU(mutate_module.PATCH_CACHE_ENTRIES, mib))
    count = 1_000
    snap = Snapshot.build(_attack_cluster(count))
    filler = {f"example.com/note-{k}": "x" * 200 for k in range(40)}

    def one(i: int) -> None:
        networks = ",".join(f"attack-{i}-{k}-{'n' * 100}" for k in range(48))  # ~5 KB, 48 entries
        obj = pod(f"ns-{i}", labels={"app": "web"}, annotations={**filler, rules.NETWORKS_ANNOTATION: networks})
        outcome = admit(snap, review(obj, namespace=f"ns-{i}"))
        assert outcome.result == "mutated", outcome

    grown = _heap_growth(one, count)
    assert grown <= 4 * mib, f"{grown / mib:.1f} MiB kept after {count} reviews"


def test_held_connections_cost_kilobytes_each(bundle: BundlePaths) -> None:
    """2,000 connections that sent half a header held 606 MiB: asyncio gives every TLS connection a 256 KiB
    read buffer. Here 200 such connections (under the cap, before the header timeout) are measured as the
    Python heap of this process — server and clients both — and must cost well under 256 KiB each."""
    held_count = 200
    limits = Limits(header_timeout=60.0, max_connections=held_count + 8)
    running = RunningServer(StaticSource(make_cluster()), ReloadingContext(bundle.cert, bundle.key), limits=limits)
    held: list[ssl.SSLSocket] = []
    try:
        warm = _tls(running.port, bundle.ca_cert)  # the first connection's one-off allocations
        warm.sendall(b"POST /mutate-pods HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.2)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(held_count):
            sock = _tls(running.port, bundle.ca_cert)
            sock.sendall(b"POST /mutate-pods HTTP/1.1\r\nHost: x\r\nContent-Ty")
            held.append(sock)
        time.sleep(0.5)  # every connection accepted and its first bytes read
        per_connection = (tracemalloc.get_traced_memory()[0] - before) / held_count
        tracemalloc.stop()
        warm.close()
    finally:
        tracemalloc.stop()
        for sock in held:
            sock.close()
        running.close()
    assert per_connection <= 64 * 1024, f"{per_connection / 1024:.0f} KiB per held connection"


def _heap_growth(one: Callable[[int], None], count: int) -> int:
    """Bytes the Python heap keeps after ``one(1)`` … ``one(count - 1)``, measured after a warm-up ``one(0)``
    (its one-off allocations: memos created, code paths first taken) and a collection on both sides."""
    one(0)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1, count):
            one(i)
        gc.collect()
        return int(tracemalloc.get_traced_memory()[0] - before)
    finally:
        tracemalloc.stop()


def _deep_size(value: Any) -> int:
    """Characters of strings in ``value`` (keys and values of dicts, items of tuples, lists and sets)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_deep_size(k) + _deep_size(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return sum(_deep_size(v) for v in value)
    return 0


def test_one_megabyte_objects_are_not_kept() -> None:
    """The review's ``objects_1mb`` attack (500 reviews of 1 MB pods: +457 MiB), scaled down and bounded by
    bytes, not time: 100 reviews of 1 MB pods, each from another namespace and mutated. What the webhook keeps
    afterwards is its memos' entries, each a few fields of a review (a namespace, a VPC, annotation values,
    an encoded patch) — no entry holds the object, and the heap grows by far less than one object."""
    count = 100
    snap = Snapshot.build(_attack_cluster(count))
    mib = 1024 * 1024

    def one(i: int) -> None:
        obj = pod(f"ns-{i}", labels={"app": "web"})
        obj["spec"]["extra"] = f"{i}-" + "y" * mib  # 1 MB that no decision needs
        outcome = admit(snap, review(obj, namespace=f"ns-{i}"))
        assert outcome.result == "mutated", outcome

    grown = _heap_growth(one, count)
    assert grown <= mib // 2, f"{grown / mib:.1f} MiB kept after {count} reviews of 1 MB objects"
    memos: dict[str, BoundedLRU[Any, Any]] = {
        "tenancy": snap._tenancy,
        "changes": snap._changes,
        "patches": mutate_module._PATCHES,
    }
    for name, memo in memos.items():
        for key, (value, _) in memo._items.items():
            assert _deep_size(key) + _deep_size(value) < 4096, f"{name} memo keeps {_deep_size(value)} characters"
