"""The TLS helpers produce certificates that real clients accept for exactly the hosts asked for."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from apibridge.base.certs import CertificateAuthority, load_bundle, split_hosts, write_bundle
from apibridge.base.errors import InputError

HOSTS = ["kubernetes", "kubernetes.default.svc", "10.96.0.1", "172.18.0.2", "fd00:10:96::1", "10.96.0.1"]


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("apibridge-test-ca")


def test_split_hosts_separates_ips_from_names() -> None:
    names, ips = split_hosts([*HOSTS, "Kubernetes.Default.SVC."])
    assert names == ["kubernetes", "kubernetes.default.svc"]
    assert ips == [
        ipaddress.ip_address("10.96.0.1"),
        ipaddress.ip_address("172.18.0.2"),
        ipaddress.ip_address("fd00:10:96::1"),
    ]


@pytest.mark.parametrize("bad", ["", "a b", "-x.example", "x..y", "a" * 64 + ".com", "10.96.0.1/32"])
def test_split_hosts_rejects_garbage(bad: str) -> None:
    with pytest.raises(InputError, match="neither an IP address nor a DNS name"):
        split_hosts([bad])


def test_issue_puts_ips_and_names_in_their_san_types(ca: CertificateAuthority) -> None:
    cert = ca.issue(HOSTS)
    assert cert.dns_names == ["kubernetes", "kubernetes.default.svc"]
    assert [str(ip) for ip in cert.ip_addresses] == ["10.96.0.1", "172.18.0.2", "fd00:10:96::1"]
    assert cert.certificate.issuer == ca.certificate.subject
    cert.certificate.verify_directly_issued_by(ca.certificate)


def test_issue_needs_a_host(ca: CertificateAuthority) -> None:
    with pytest.raises(InputError, match="at least one"):
        ca.issue([])


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        (x509.DNSName("kubernetes.default.svc"), True),
        (x509.IPAddress(ipaddress.ip_address("10.96.0.1")), True),
        (x509.IPAddress(ipaddress.ip_address("fd00:10:96::1")), True),
        (x509.DNSName("evil.example"), False),
        (x509.IPAddress(ipaddress.ip_address("10.96.0.2")), False),
    ],
)
def test_chain_verifies_with_webpki_policy(ca: CertificateAuthority, host: x509.GeneralName, ok: bool) -> None:
    cert = ca.issue(HOSTS)
    verifier = PolicyBuilder().store(Store([ca.certificate])).build_server_verifier(host)
    if ok:
        chain = verifier.verify(cert.certificate, [])
        assert chain[-1] == ca.certificate
    else:
        with pytest.raises(VerificationError):
            verifier.verify(cert.certificate, [])


def test_other_ca_does_not_verify(ca: CertificateAuthority) -> None:
    other = CertificateAuthority.create("someone-else")
    cert = other.issue(["kubernetes"])
    verifier = PolicyBuilder().store(Store([ca.certificate])).build_server_verifier(x509.DNSName("kubernetes"))
    with pytest.raises(VerificationError):
        verifier.verify(cert.certificate, [])


def _handshake(bundle_dir: Path, server_hostname: str) -> str:
    """A real TLS handshake over a socketpair: OpenSSL server with tls.crt/tls.key, client trusting ca.crt."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(bundle_dir / "tls.crt", bundle_dir / "tls.key")
    client_ctx = ssl.create_default_context(cafile=str(bundle_dir / "ca.crt"))
    a, b = socket.socketpair()
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            with server_ctx.wrap_socket(b, server_side=True) as s:
                s.sendall(b"hi")
        except (ssl.SSLError, OSError) as exc:
            errors.append(exc)

    t = threading.Thread(target=serve)
    t.start()
    try:
        with client_ctx.wrap_socket(a, server_hostname=server_hostname) as c:
            return c.recv(2).decode()
    finally:
        t.join(5)


def test_bundle_roundtrip_and_real_handshake(ca: CertificateAuthority, tmp_path: Path) -> None:
    cert = ca.issue(HOSTS)
    paths = write_bundle(tmp_path / "tls", ca, cert)
    assert {p.name for p in (paths.ca_cert, paths.cert, paths.key)} == {"ca.crt", "tls.crt", "tls.key"}
    assert stat.S_IMODE(paths.key.stat().st_mode) == 0o600
    loaded = load_bundle(tmp_path / "tls")
    assert loaded.ca_certificate == ca.certificate
    assert loaded.serving.certificate == cert.certificate
    assert loaded.serving.ip_addresses == cert.ip_addresses
    assert _handshake(tmp_path / "tls", "10.96.0.1") == "hi"
    assert _handshake(tmp_path / "tls", "kubernetes.default.svc") == "hi"
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(tmp_path / "tls", "10.96.0.10")


def test_load_bundle_rejects_foreign_key(ca: CertificateAuthority, tmp_path: Path) -> None:
    write_bundle(tmp_path, ca, ca.issue(["a.example"]))
    other = ca.issue(["b.example"])
    (tmp_path / "tls.key").write_bytes(other.key_pem())
    with pytest.raises(InputError, match="does not belong"):
        load_bundle(tmp_path)


def test_load_bundle_missing_file_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_bundle(tmp_path)


def test_ca_write_load_issue_again(ca: CertificateAuthority, tmp_path: Path) -> None:
    cert_path, key_path = ca.write(tmp_path)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    again = CertificateAuthority.load(tmp_path)
    assert again.certificate == ca.certificate
    leaf = again.issue(["webhook.apibridge-system.svc"])
    leaf.certificate.verify_directly_issued_by(ca.certificate)
    assert cert_path.read_bytes() == ca.cert_pem()
