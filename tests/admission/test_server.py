"""The webhook over real HTTPS: answers, health, metrics, garbage in (never a 5xx), certificate rotation."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings

from apibridge.admission.snapshot import Snapshot, StaticSource
from apibridge.admission.tls import ReloadingContext
from apibridge.base.certs import BundlePaths, CertificateAuthority, write_bundle
from apibridge.kubeovn import rules

from .support import (
    INGRESS,
    REVIEW_BODIES,
    Client,
    RunningServer,
    make_cluster,
    patch_of,
    pod,
    review,
)


def test_mutates_a_selected_pod_over_tls(client: Client) -> None:
    answer = client.review(review(pod(None, name=None, generate_name="web-", labels=INGRESS), uid="abc"))
    assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
    assert answer["response"]["uid"] == "abc" and answer["response"]["allowed"] is True
    ops = patch_of(answer)
    assert ops is not None and ops[0]["value"][rules.NETWORKS_ANNOTATION] == "kube-system/apibridge-tenant-a"


def test_not_selected_over_tls(client: Client) -> None:
    answer = client.review(review(pod("default", labels=INGRESS), namespace="default"))
    assert answer["response"]["allowed"] is True and patch_of(answer) is None


def test_health_and_readiness(server: RunningServer, client: Client, bundle: BundlePaths) -> None:
    assert client.request("GET", "/healthz")[0] == 200
    assert client.request("GET", "/readyz")[0] == 200
    assert client.request("GET", "/metrics")[0] == 404  # metrics live on the metrics port only
    assert server.server.metrics_port
    conn = http.client.HTTPConnection("127.0.0.1", server.server.metrics_port, timeout=5)
    for path in ("/healthz", "/readyz", "/metrics"):
        conn.request("GET", path)
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read()
    conn.request("POST", "/mutate-pods", body=b"{}")
    assert conn.getresponse().status in (404, 405)  # reviews are never served in plain text
    conn.close()


def test_not_ready_without_snapshot(bundle: BundlePaths) -> None:
    class Empty:
        current: Snapshot | None = None

        async def start(self) -> None: ...

        async def stop(self) -> None: ...

    running = RunningServer(Empty(), ReloadingContext(bundle.cert, bundle.key))
    try:
        c = Client(running.port, bundle.ca_cert)
        assert c.request("GET", "/readyz")[0] == 503
        answer = c.review(review(pod(labels=INGRESS)))
        assert answer["response"]["allowed"] is True and answer["response"]["warnings"]
        c.close()
    finally:
        running.close()


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.split(" ")[0] == name:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


def test_metrics_count_reviews_and_exclude_dry_runs_from_injections(server: RunningServer, client: Client) -> None:
    client.review(review(pod(labels=INGRESS)))
    client.review(review(pod(labels=INGRESS), dry_run=True))
    client.review(review(pod("default"), namespace="default"))
    assert client.post("garbage")[0] == 400
    assert server.server.metrics_port
    conn = http.client.HTTPConnection("127.0.0.1", server.server.metrics_port, timeout=5)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    assert _metric(text, 'apibridge_webhook_reviews_total{result="mutated"}') == 2
    assert _metric(text, 'apibridge_webhook_reviews_total{result="not_selected"}') == 1
    assert _metric(text, 'apibridge_webhook_reviews_total{result="rejected"}') == 1
    assert _metric(text, "apibridge_webhook_pods_injected_total") == 1
    assert _metric(text, "apibridge_webhook_review_duration_seconds_count") == 4
    assert _metric(text, "apibridge_webhook_snapshot_ready") == 1
    assert "tenant" not in text and "ingress" not in text  # no tenant names in metrics


# ---- garbage in ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 400),
        (b"not json", 400),
        (b"\xff\xfe\x00", 400),
        (b"[" * 100_000, 400),
        (b"{}", 400),
        (b"null", 400),
        (json.dumps(review(pod(), uid="u")).encode()[:-3], 400),
    ],
)
def test_garbage_bodies_get_4xx(client: Client, body: bytes, status: int) -> None:
    assert client.request("POST", "/mutate-pods", body)[0] == status


def test_wrong_methods_and_paths(client: Client) -> None:
    assert client.request("GET", "/mutate-pods")[0] == 405
    assert client.request("POST", "/mutate")[0] == 404


def test_oversized_body_is_413(client: Client) -> None:
    try:
        status, _ = client.request("POST", "/mutate-pods", b"x" * (9 * 1024 * 1024))
    except OSError:  # the server may close before the client has sent it all: also not a 5xx
        return
    assert status == 413


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=REVIEW_BODIES)
def test_fuzzed_reviews_never_get_a_5xx(client: Client, body: bytes) -> None:
    status, answer = client.request("POST", "/mutate-pods", body)
    assert status < 500
    if status == 200:
        review_out = json.loads(answer)
        assert review_out["response"]["allowed"] is True
        assert isinstance(review_out["response"]["uid"], str) and review_out["response"]["uid"]
        patch_of(review_out)
    else:
        assert status == 400


def test_a_bug_in_the_decision_is_answered_not_crashed(bundle: BundlePaths) -> None:
    class Broken(StaticSource):
        @property
        def current(self) -> Snapshot | None:
            raise RuntimeError("boom")

    running = RunningServer(Broken(make_cluster()), ReloadingContext(bundle.cert, bundle.key))
    try:
        c = Client(running.port, bundle.ca_cert)
        answer = c.review(review(pod(labels=INGRESS), uid="u-9"))
        assert answer["response"] == {
            "uid": "u-9",
            "allowed": True,
            "warnings": ["apibridge: internal error; pod admitted unchanged"],
        }
        assert c.request("GET", "/healthz")[0] == 200
        c.close()
    finally:
        running.close()


def test_a_bug_outside_the_decision_is_a_400_not_a_5xx(bundle: BundlePaths) -> None:
    running = RunningServer(StaticSource(make_cluster()), ReloadingContext(bundle.cert, bundle.key))

    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    try:
        running.server.metrics.record = broken  # type: ignore[method-assign]
        running.server.metrics.collect = broken  # type: ignore[method-assign]
        c = Client(running.port, bundle.ca_cert)
        assert c.request("POST", "/mutate-pods", json.dumps(review(pod(labels=INGRESS))).encode())[0] == 400
        assert c.request("GET", "/metrics")[0] == 400
        assert c.request("GET", "/healthz")[0] == 200
        c.close()
    finally:
        running.close()


# ---- certificate rotation ------------------------------------------------------------------------------
def _served_cert(port: int, ca_file: Path) -> x509.Certificate:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        ctx.wrap_socket(sock, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_rotated_certificate_is_served_to_new_connections(
    server: RunningServer, client: Client, bundle: BundlePaths, ca: CertificateAuthority
) -> None:
    first = _served_cert(server.port, bundle.ca_cert)
    client.review(review(pod(labels=INGRESS)))  # a keep-alive connection on the old certificate
    rotated = ca.issue(["127.0.0.1", "localhost"], common_name="rotated")
    write_bundle(bundle.cert.parent, ca, rotated)
    deadline = time.monotonic() + 5
    while _served_cert(server.port, bundle.ca_cert).serial_number == first.serial_number:
        assert time.monotonic() < deadline, "the new certificate was not picked up"
        time.sleep(0.05)
    assert _served_cert(server.port, bundle.ca_cert).serial_number == rotated.certificate.serial_number
    assert client.review(review(pod(labels=INGRESS)))["response"]["allowed"]  # old connection still works


def test_rotation_to_a_new_ca_and_half_written_pairs(
    server: RunningServer, bundle: BundlePaths, tmp_path: Path
) -> None:
    other = CertificateAuthority.create("rotated-ca")
    fresh = other.issue(["127.0.0.1", "localhost"])
    tls = server.server.tls
    assert tls is not None
    before = tls.reloads
    bundle.cert.write_bytes(fresh.cert_pem())  # the certificate lands first: it does not match the key yet
    assert not tls.check() and tls.failures >= 1
    assert _served_cert(server.port, bundle.ca_cert)  # still serving the old pair
    bundle.key.write_bytes(fresh.key_pem())
    (tmp_path / "ca.crt").write_bytes(other.cert_pem())
    deadline = time.monotonic() + 5
    while tls.reloads == before:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _served_cert(server.port, tmp_path / "ca.crt").serial_number == fresh.certificate.serial_number
    with pytest.raises(ssl.SSLCertVerificationError):
        _served_cert(server.port, bundle.ca_cert)
