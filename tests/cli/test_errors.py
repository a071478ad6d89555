"""Every class of bad input ends as one line naming where it is, and exit 2 — never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from apibridge.cli import check as check_module

from .support import REPO, Invoke, assert_one_line_error, run_installed

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"

# name -> (file content or None for a missing file, strings the error line must contain)
BAD_INPUTS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "missing-file": (None, ("no such file",)),
    "malformed-yaml": (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  labels: [a\n",
        ("(document 1)", "invalid YAML", "line 6"),
    ),
    "unknown-kind": (
        "apiVersion: kubeovn.io/v1\nkind: Subnett\nmetadata:\n  name: x\n",
        ("(document 1)", "field kind", "Subnett", "hint:"),
    ),
    "bad-cidr": (
        NAMESPACE + "---\napiVersion: kubeovn.io/v1\nkind: Subnet\nmetadata:\n  name: x\nspec:\n"
        "  cidrBlock: 10.0.0.0/33\n",
        ("(document 2)", "Subnet/x", "field spec.cidrBlock", "10.0.0.0/33"),
    ),
    "wrong-field-type": (
        "apiVersion: apibridge.dev/v1alpha1\nkind: ApiBridge\nmetadata:\n  name: x\nspec:\n  vpc: [a, b]\n",
        ("(document 1)", "ApiBridge/x", "field spec.vpc", "must be of type string"),
    ),
    "bad-label-value": (
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels:\n    enabled: true\n",
        ("(document 1)", "Namespace/a", 'field metadata.labels["enabled"]', "hint:"),
    ),
    "not-an-object": ("- just\n- a list\n", ("(document 1, item 1)", "expected a Kubernetes object")),
}


def _materialise(tmp_path: Path, name: str) -> tuple[str, tuple[str, ...]]:
    content, needles = BAD_INPUTS[name]
    path = tmp_path / f"{name}.yaml"
    if content is not None:
        path.write_text(content)
    return str(path), (str(path), *needles)


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
@pytest.mark.parametrize("command", ["check", "render", "inject"])
def test_bad_input_is_one_line_and_exit_2(invoke: Invoke, tmp_path: Path, name: str, command: str) -> None:
    path, needles = _materialise(tmp_path, name)
    args = ["inject", "-f", path] if command == "inject" else [command, path]
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert_one_line_error(result.stderr, *needles)


@pytest.mark.parametrize("name", ["malformed-yaml", "bad-cidr", "missing-file"])
def test_bad_input_in_a_real_process(tmp_path: Path, name: str) -> None:
    path, needles = _materialise(tmp_path, name)
    proc = run_installed("apibridge", "check", path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert_one_line_error(proc.stderr, *needles)


def test_bad_input_from_stdin_names_stdin(invoke: Invoke) -> None:
    content, _ = BAD_INPUTS["bad-cidr"]
    result = invoke("check", "-", input=content)
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "- (document 2)", "field spec.cidrBlock")


def test_bad_input_in_cluster_file_of_inject(invoke: Invoke, tmp_path: Path) -> None:
    path, needles = _materialise(tmp_path, "unknown-kind")
    result = invoke("inject", "-f", str(REPO / "examples/apibridge/workload.yaml"), "--cluster", path)
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, *needles)


def test_unexpected_failure_is_short_and_exit_2(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("planner exploded")

    monkeypatch.setattr(check_module, "plan", boom)
    result = invoke("check", "examples/apibridge/")
    assert result.exit_code == 2
    line = assert_one_line_error(result.stderr, "RuntimeError", "planner exploded", "APIBRIDGE_DEBUG=1")
    assert "internal error" in line


def test_debug_shows_the_traceback(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("planner exploded")

    monkeypatch.setattr(check_module, "plan", boom)
    result = invoke("check", "examples/apibridge/", env={"APIBRIDGE_DEBUG": "1"})
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert "planner exploded" in result.stderr


def test_usage_errors_exit_2(invoke: Invoke) -> None:
    assert invoke("check").exit_code == 2  # no FILE
    assert invoke("render", "examples/apibridge/", "-o", "text").exit_code == 2  # not a render format
    assert invoke("inject").exit_code == 2  # -f is required
    assert invoke("no-such-command").exit_code == 2
