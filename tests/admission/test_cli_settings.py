"""operator, webhook and doctor: one way to reach the API server and one set of planner settings, as the CLI's."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from apibridge.cli.main import cli


@pytest.mark.parametrize("command", ["operator", "webhook", "doctor"])
def test_every_in_cluster_command_takes_kubeconfig_context_and_the_settings(command: str) -> None:
    text = CliRunner().invoke(cli, [command, "--help"]).output
    for flag in ("--kubeconfig", "--context", "--pool", "--pool-v6", "--service-cidr"):
        assert flag in text, (command, flag)
    assert "--api-server" not in text and "--api-token-file" not in text


def test_webhook_kubeconfig_goes_with_watch(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    result = CliRunner().invoke(
        cli,
        [
            *("webhook", "--snapshot", "examples/apibridge", "--kubeconfig", str(kubeconfig)),
            *("--tls-cert-file", str(kubeconfig), "--tls-private-key-file", str(kubeconfig)),
        ],
    )
    assert result.exit_code == 2 and "--kubeconfig and --context go with --watch" in result.output


def test_a_pool_smaller_than_a_block_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["doctor", "x/y", "--pool", "100.100.0.0/25"])
    assert result.exit_code == 2 and "smaller than one /24 block" in result.output


def test_doctor_reaches_the_context_it_is_given(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "mine", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "",
            }
        )
    )
    result = CliRunner().invoke(cli, ["doctor", "ns/pod", "--kubeconfig", str(kubeconfig), "--context", "mine"])
    assert result.exit_code == 2
    assert "cannot connect to the Kubernetes API" in result.output
