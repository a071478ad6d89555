"""``apibridge certs`` and ``apibridge webhook`` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner
from cryptography import x509

from apibridge.base.certs import CertificateAuthority, load_bundle
from apibridge.cli.incluster_cmds import certs_command, webhook_command

from .support import EXAMPLES, INGRESS, REPO, Client, patch_of, pod, review


def run(command: object, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(command, list(args), catch_exceptions=False)  # type: ignore[arg-type]
    return result.exit_code, result.stdout, result.stderr


def test_certs_writes_a_bundle_for_names_and_ips(tmp_path: Path) -> None:
    code, out, _ = run(
        certs_command,
        "--out",
        str(tmp_path / "c"),
        "--host",
        "apibridge-webhook.apibridge.svc",
        "--host",
        "10.96.7.7",
        "--days",
        "30",
    )
    assert code == 0 and "apibridge-webhook.apibridge.svc" in out and "10.96.7.7" in out
    bundle = load_bundle(tmp_path / "c")
    assert bundle.serving.dns_names == ["apibridge-webhook.apibridge.svc"]
    assert [str(ip) for ip in bundle.serving.ip_addresses] == ["10.96.7.7"]
    assert stat.S_IMODE((tmp_path / "c" / "tls.key").stat().st_mode) == 0o600
    assert not (tmp_path / "c" / "ca.key").exists()  # the CA key is not kept unless asked


def test_certs_can_reissue_from_a_kept_ca(tmp_path: Path) -> None:
    assert run(certs_command, "--out", str(tmp_path / "a"), "--host", "a.svc", "--keep-ca-key")[0] == 0
    assert (tmp_path / "a" / "ca.key").exists()
    assert run(certs_command, "--out", str(tmp_path / "b"), "--host", "a.svc", "--ca", str(tmp_path / "a"))[0] == 0
    first = x509.load_pem_x509_certificate((tmp_path / "a" / "ca.crt").read_bytes())
    second = x509.load_pem_x509_certificate((tmp_path / "b" / "ca.crt").read_bytes())
    assert first == second  # same caBundle: the webhook configuration need not change
    assert load_bundle(tmp_path / "b").serving.certificate.issuer == first.subject


def test_certs_bad_host_is_one_line_exit_2(tmp_path: Path) -> None:
    code, _, err = run(certs_command, "--out", str(tmp_path), "--host", "not a host")
    assert code == 2 and err.count("\n") == 1 and "neither an IP address nor a DNS name" in err


def test_webhook_needs_exactly_one_source(tmp_path: Path) -> None:
    ca = CertificateAuthority.create("t")
    leaf = ca.issue(["localhost"])
    (tmp_path / "tls.crt").write_bytes(leaf.cert_pem())
    (tmp_path / "tls.key").write_bytes(leaf.key_pem())
    tls = ["--tls-cert-file", str(tmp_path / "tls.crt"), "--tls-private-key-file", str(tmp_path / "tls.key")]
    assert run(webhook_command, *tls)[0] == 2
    assert run(webhook_command, *tls, "--watch", "--snapshot", str(EXAMPLES))[0] == 2
    code, _, err = run(webhook_command, *tls, "--snapshot", str(tmp_path / "tls.crt"))
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    other = ca.issue(["localhost"])
    (tmp_path / "other.key").write_bytes(other.key_pem())
    code, _, err = run(
        webhook_command,
        "--snapshot",
        str(EXAMPLES),
        "--tls-cert-file",
        str(tmp_path / "tls.crt"),
        "--tls-private-key-file",
        str(tmp_path / "other.key"),
    )
    assert code == 2 and "serving certificate" in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_webhook_process_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    assert run(certs_command, "--out", str(tmp_path), "--host", "127.0.0.1")[0] == 0
    port = _free_port()
    code = "import sys; from apibridge.cli.incluster_cmds import webhook_command; sys.exit(webhook_command())"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "--snapshot",
            str(EXAMPLES / "cluster.yaml"),
            "--snapshot",
            str(EXAMPLES / "bridges.yaml"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--tls-cert-file",
            str(tmp_path / "tls.crt"),
            "--tls-private-key-file",
            str(tmp_path / "tls.key"),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        client = None
        deadline = time.monotonic() + 30
        while client is None:
            try:
                client = Client(port, tmp_path / "ca.crt")
                assert client.request("GET", "/readyz")[0] == 200
            except OSError:
                client = None
                assert proc.poll() is None and time.monotonic() < deadline, "the webhook did not come up"
                time.sleep(0.1)
        answer = client.review(review(pod(labels=INGRESS)))
        ops = patch_of(answer)
        assert ops is not None and json.dumps(ops).count("apibridge-tenant-a") >= 3
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "webhook listening on 127.0.0.1" in err
