"""``apibridge doctor`` (no pod: the install checks) on the real kube-apiserver, with the real operator and webhook
processes as the chart's ServiceAccounts: a healthy install passes, and each broken install the issue names —
the webhook unreachable from the API server, an expired certificate, a bridge without its Subnet — fails with
the fix in plain words. For the last one the fix is then followed and the install passes again.

The MutatingWebhookConfiguration is the chart's with ``clientConfig.url`` instead of ``service`` (why: see
tests/kube/webhook.py); the API server's own dry-run through it is what proves reachability.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from opkit import OperatorProcess, bridge, operator_logs_on_failure, wait_condition

from apibridge.base.certs import CertificateAuthority, write_bundle
from apibridge.base.kubeclient import Client
from apibridge.cli.operator_cmds import doctor_command
from apibridge.kubeovn import rules
from apibridge.operator import kube
from kube.cluster import KubeCluster
from kube.incluster import account_kubeconfig
from kube.webhook import WebhookProcess
from polling import eventually

pytestmark = [pytest.mark.kube, pytest.mark.slow]

LABELS = {"app.kubernetes.io/name": "ingress-nginx"}
MWC = kube.Kind(
    "admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", False
)


@dataclass
class Tls:
    ca_pem: bytes
    cert: Path
    key: Path


def valid_tls(directory: Path) -> Tls:
    ca = CertificateAuthority.create("doctor-webhook-ca")
    bundle = write_bundle(directory, ca, ca.issue(["127.0.0.1"]))
    return Tls(ca.cert_pem(), bundle.cert, bundle.key)


def expired_tls(directory: Path) -> Tls:
    """A CA and a serving certificate for 127.0.0.1 that were valid from ten days ago until yesterday."""
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(days=10), now - dt.timedelta(days=1)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return Tls(ca.public_bytes(serialization.Encoding.PEM), cert_path, key_path)


@dataclass
class Install:
    cluster: KubeCluster
    client: Client
    kubeconfig: Path
    webhook: WebhookProcess
    operators: list[OperatorProcess]
    workdir: Path

    def operator(self) -> OperatorProcess:
        config = account_kubeconfig(self.cluster, "apibridge-controller", self.workdir / "operator.kubeconfig")
        proc = OperatorProcess(config, self.workdir, identity=f"op-{len(self.operators)}").start()
        self.operators.append(proc)
        return proc


@pytest.fixture
def start_install(cluster: KubeCluster, client: Client, kubeconfig: Path, tmp_path: Path) -> Iterator[Any]:
    """``await start_install(tls)``: webhook (serving ``tls``) and operator running, the chart's webhook
    configuration pointing at the webhook, bridge tenant-a Ready. Everything started is killed afterwards."""
    made: list[Install] = []

    async def start(tls: Tls) -> Install:
        install = Install(
            cluster,
            client,
            kubeconfig,
            WebhookProcess(cluster, tmp_path, tls.ca_pem, tls.cert, tls.key).start(),
            [],
            tmp_path,
        )
        made.append(install)
        install.operator()
        await client.create(MWC, install.webhook.configuration())
        await client.create(kube.APIBRIDGE, bridge("tenant-a", podSelector={"matchLabels": LABELS}))
        await wait_condition(client, "tenant-a", "Ready", "True", timeout=60)
        return install

    yield start
    for install in made:
        install.webhook.kill()
        for proc in install.operators:
            proc.kill()


async def doctor(kubeconfig: Path, *args: str) -> Result:
    """``apibridge doctor --kubeconfig …`` in a thread: the command runs its own event loop."""
    return await asyncio.to_thread(
        CliRunner().invoke, doctor_command, ["--kubeconfig", str(kubeconfig), *args], catch_exceptions=False
    )


async def doctor_until(kubeconfig: Path, exit_code: int, timeout: float = 40.0) -> Result:
    """doctor, again until it exits ``exit_code`` (the webhook's and operator's watches take a moment)."""
    last: list[Result] = []

    async def probe() -> Result | None:
        result = await doctor(kubeconfig)
        last[:] = [result]
        return result if result.exit_code == exit_code else None

    try:
        return await eventually(probe, timeout=timeout, interval=0.5, what=f"doctor exiting {exit_code}")
    except AssertionError:
        print(last[0].output if last else "no doctor run")
        raise


async def test_a_healthy_install_passes_every_check(start_install: Any, tmp_path: Path) -> None:
    install: Install = await start_install(valid_tls(tmp_path / "tls"))
    with operator_logs_on_failure(*install.operators):
        result = await doctor_until(install.kubeconfig, 0)
    out = result.output
    assert "Status check results are √" in out, out
    assert "the API server reaches the webhook" in out
    assert "operator op-0 leads" in out
    assert "ApiBridge tenant-a: NAD kube-system/apibridge-tenant-a and Subnet apibridge-tenant-a present, Ready" in out
    assert "serving certificate at https://127.0.0.1:" in out


async def test_a_webhook_the_api_server_cannot_reach_fails_with_the_fix(start_install: Any, tmp_path: Path) -> None:
    install: Install = await start_install(valid_tls(tmp_path / "tls"))
    await doctor_until(install.kubeconfig, 0)
    install.webhook.kill()
    result = await doctor(install.kubeconfig)
    assert result.exit_code == 1, result.output
    out = result.output
    assert "× the API server did not get the attachment for a dry-run pod in ingress-nginx" in out, out
    assert "webhook is unreachable from the API server" in out
    assert "see: check the Service's endpoints" in out  # the fix
    assert "could not read the serving certificate" in out  # a warning: this host cannot reach it either


async def test_an_expired_certificate_fails_with_the_fix(start_install: Any, tmp_path: Path) -> None:
    install: Install = await start_install(expired_tls(tmp_path / "tls"))
    result = await doctor(install.kubeconfig)
    assert result.exit_code == 1, result.output
    out = result.output
    assert "caBundle (CN=expired-ca) expired on" in out, out
    assert "× serving certificate at https://127.0.0.1:" in out and "expired on" in out
    assert "see: renew the webhook certificate" in out
    # and the API server indeed cannot use the webhook: the dry-run pod comes back without the attachment
    assert "× the API server did not get the attachment" in out


async def test_a_bridge_without_its_subnet_fails_and_the_fix_restores_it(start_install: Any, tmp_path: Path) -> None:
    install: Install = await start_install(valid_tls(tmp_path / "tls"))
    await doctor_until(install.kubeconfig, 0)
    for proc in install.operators:
        proc.kill()  # a crashed operator: nothing recreates what is deleted
    subnet = rules.bridge_object_name("tenant-a")
    assert await install.client.delete(kube.SUBNET, subnet)
    result = await doctor_until(install.kubeconfig, 1)
    out = result.output
    assert f"× ApiBridge tenant-a lacks its Subnet {subnet}: its pods get no API access" in out, out
    assert "see: the operator recreates them when it runs and leads" in out
    # the operator's check says why: the Lease of the killed operator is no longer renewed
    await asyncio.sleep(4)  # its lease duration is 3 s
    result = await doctor(install.kubeconfig)
    assert "× the Lease apibridge-system/apibridge-operator of op-0 expired" in result.output, result.output
    # the fix: run the operator
    install.operator()
    with operator_logs_on_failure(*install.operators):
        await doctor_until(install.kubeconfig, 0, timeout=60)
    assert await install.client.get(kube.SUBNET, subnet) is not None
