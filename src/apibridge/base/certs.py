"""TLS material: a private CA and serving certificates for the names and IPs clients dial.

Three parts of apibridge serve HTTPS and all need the same thing — a certificate that a client
verifies against a CA it was handed, for exactly the hosts it connects to: the twin's stand-in
kube-apiserver (clients dial the ClusterIP ``10.96.0.1`` and ``kubernetes.default.svc``), the
admission webhook (the API server dials ``<svc>.<ns>.svc``) and the ``apibridge certs`` command.
IP addresses and DNS names go into different SAN types; getting that split wrong is the classic
reason ``curl --cacert`` fails while ``-k`` works, so it is done here once.

Keys are ECDSA P-256 (fast to generate, accepted by Go, OpenSSL and Python clients). Files use the
Kubernetes secret layout: ``ca.crt``, ``tls.crt``, ``tls.key`` (key mode 0600).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from apibridge.base.errors import InputError, Location

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CA_CERT_FILE = "ca.crt"
CA_KEY_FILE = "ca.key"
CERT_FILE = "tls.crt"
KEY_FILE = "tls.key"

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_CLOCK_SKEW = dt.timedelta(minutes=5)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """Signing only; a CA also signs certificates and CRLs (what cert-manager's CA issuer writes)."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def split_hosts(hosts: Sequence[str]) -> tuple[list[str], list[IPAddress]]:
    """Split ``hosts`` into DNS names and IP addresses (order kept, duplicates dropped).

    Raises :class:`InputError` for anything that is neither an IP address nor a valid DNS name
    (a leading ``*.`` wildcard label is allowed).
    """
    names: list[str] = []
    ips: list[IPAddress] = []
    for raw in hosts:
        host = raw.strip()
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            name = host.lower().rstrip(".")
            if not _valid_dns_name(name):
                raise InputError(f"{raw!r} is neither an IP address nor a DNS name", Location(field="hosts")) from None
            if name not in names:
                names.append(name)
        else:
            if ip not in ips:
                ips.append(ip)
    return names, ips


def _valid_dns_name(name: str) -> bool:
    if not name or len(name) > 253:
        return False
    labels = name.split(".")
    if labels[0] == "*":
        labels = labels[1:]
    return bool(labels) and all(_LABEL.match(label) for label in labels)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_key(pem: bytes, source: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InputError("expected an ECDSA private key", Location(source=source))
    return key


@dataclass(frozen=True)
class ServingCert:
    """A leaf certificate and its key, for one TLS server."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def dns_names(self) -> list[str]:
        return self._san().get_values_for_type(x509.DNSName)

    @property
    def ip_addresses(self) -> list[IPAddress]:
        return self._san().get_values_for_type(x509.IPAddress)  # type: ignore[return-value]

    def _san(self) -> x509.SubjectAlternativeName:
        return self.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value

    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return _key_pem(self.key)


@dataclass(frozen=True)
class CertificateAuthority:
    """A self-signed CA that issues serving certificates."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, common_name: str, *, valid_for: dt.timedelta = dt.timedelta(days=3650)) -> CertificateAuthority:
        """A new CA named ``common_name`` (path length 0: it signs leaves only)."""
        key = _new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = dt.datetime.now(dt.UTC)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _CLOCK_SKEW)
            .not_valid_after(now + valid_for)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                _key_usage(ca=True),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    def issue(
        self,
        hosts: Sequence[str],
        *,
        common_name: str | None = None,
        valid_for: dt.timedelta = dt.timedelta(days=365),
    ) -> ServingCert:
        """A serving certificate for ``hosts`` (DNS names and/or IP addresses, at least one)."""
        names, ips = split_hosts(hosts)
        if not names and not ips:
            raise InputError("a serving certificate needs at least one DNS name or IP address", Location(field="hosts"))
        cn = common_name or (names[0] if names else str(ips[0]))
        key = _new_key()
        now = dt.datetime.now(dt.UTC)
        san: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        san += [x509.IPAddress(ip) for ip in ips]
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn[:64])]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _CLOCK_SKEW)
            .not_valid_after(min(now + valid_for, self.certificate.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                _key_usage(ca=False),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return ServingCert(cert, key)

    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return _key_pem(self.key)

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write ``ca.crt`` and ``ca.key`` (0600) so the CA can issue again later."""
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / CA_CERT_FILE, directory / CA_KEY_FILE
        _write(cert_path, self.cert_pem(), 0o644)
        _write(key_path, self.key_pem(), 0o600)
        return cert_path, key_path

    @classmethod
    def load(cls, directory: Path) -> CertificateAuthority:
        """Read what :meth:`write` wrote."""
        cert_path, key_path = directory / CA_CERT_FILE, directory / CA_KEY_FILE
        cert = _load_cert(cert_path)
        return cls(cert, _load_key(_read(key_path), str(key_path)))


@dataclass(frozen=True)
class Bundle:
    """What a TLS server directory holds: the CA certificate clients trust, and the serving pair."""

    ca_certificate: x509.Certificate
    serving: ServingCert


@dataclass(frozen=True)
class BundlePaths:
    ca_cert: Path
    cert: Path
    key: Path


def write_bundle(directory: Path, ca: CertificateAuthority, cert: ServingCert) -> BundlePaths:
    """Write ``ca.crt``, ``tls.crt`` and ``tls.key`` (mode 0600) into ``directory`` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = BundlePaths(directory / CA_CERT_FILE, directory / CERT_FILE, directory / KEY_FILE)
    _write(paths.ca_cert, ca.cert_pem(), 0o644)
    _write(paths.cert, cert.cert_pem(), 0o644)
    _write(paths.key, cert.key_pem(), 0o600)
    return paths


def load_bundle(directory: Path) -> Bundle:
    """Read a directory written by :func:`write_bundle`; the key must match the certificate."""
    ca_cert = _load_cert(directory / CA_CERT_FILE)
    cert = _load_cert(directory / CERT_FILE)
    key_path = directory / KEY_FILE
    key = _load_key(_read(key_path), str(key_path))
    public = cert.public_key()
    mine = key.public_key().public_numbers()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.public_numbers() != mine:
        raise InputError("tls.key does not belong to tls.crt", Location(source=str(key_path)))
    return Bundle(ca_cert, ServingCert(cert, key))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", Location(source=str(path))) from exc


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(_read(path))
    except ValueError as exc:
        raise InputError(f"not a PEM certificate: {exc}", Location(source=str(path))) from exc


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write atomically with ``mode`` set before any byte lands (a key is never briefly world-readable)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
