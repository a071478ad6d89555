"""``apibridge lab diff``: the model against the real kube-ovn-controller over the examples and a corpus.

The corpus: the seed as written (plus an un-annotated pod), ApiBridges strict and open, dual stack,
NetworkPolicies (with namespaceSelectors), a multi-port Service and a Subnet with ``enableLb: false``.
Three control planes, no more: the seed and the dual-stack example each need their own lab (``lab diff
FILE...`` builds it, compares, tears it down — the command as a user runs it), and every other scenario is
applied, one after the other, to one shared lab (``lab diff --name LAB --keep FILE...``), compared after
each step. Any difference not in ``known_differences.json`` fails the test; every entry of that reviewed
list must explain at least one difference of the corpus (the test that shows it).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apibridge.twin.kubeovn import diff

from .conftest import assert_clean, data, example
from .test_kube_lab import KubeLab, apibridge

pytestmark = pytest.mark.ovn

SEPARATE = {"seed as written": [example("seed"), data("plain-pod.yaml")]}
DUAL_STACK = [example("dualstack"), data("netpol-dualstack.yaml")]
SHARED = {  # applied in this order to one lab
    "ApiBridges (strict)": [example("apibridge")],
    "open ApiBridge, multi-port Service, enableLb false, namespaceSelectors": [data("diff-corpus.yaml")],
    "NetworkPolicies on attachments": [data("netpol.yaml")],
}


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="abd-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _judge(name: str, done: Any, seen: dict[str, list[str]]) -> dict[str, Any]:
    assert done.stdout, f"{name}: rc {done.returncode}: {done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    unexplained = [d for d in result["differences"] if d["known"] is None]
    assert not unexplained and done.returncode == 0, f"{name}: " + json.dumps(unexplained, indent=1)
    assert result["unexplained"] == 0 and result["same"] > 20, result
    for d in result["differences"]:
        seen.setdefault(d["known"], []).append(f"{name}: {d['table']} {d['key']}")
    return result


def test_lab_diff_over_the_examples_and_the_corpus_finds_only_known_differences(base: Path) -> None:
    seen: dict[str, list[str]] = {}
    timings: dict[str, float] = {}
    for name, files in SEPARATE.items():
        t0 = time.monotonic()
        done = apibridge(base, "lab", "diff", *files, "-o", "json", timeout=500)
        timings[name] = round(time.monotonic() - t0, 1)
        _judge(name, done, seen)
        assert "torn down" in done.stderr, done.stderr
        assert not [p for p in base.iterdir() if p.is_dir()], "lab diff FILE... left its lab behind"
    shared = KubeLab(base, f"td{uuid.uuid4().hex[:6]}")
    try:
        for name, files in SHARED.items():
            t0 = time.monotonic()
            done = shared.run("diff", "--keep", *files, "-o", "json", timeout=500)
            timings[name] = round(time.monotonic() - t0, 1)
            _judge(name, done, seen)
    finally:
        down = shared.run("down")
        assert down.returncode == 0, down.stderr
        assert_clean(shared.lab)
    print("lab diff corpus seconds:", json.dumps(timings), "total", round(sum(timings.values()), 1))
    for entry in diff.load_known():
        reason = f"{entry['reason']} ({entry['source']})"
        assert reason in seen, f"known difference never seen in the corpus: {entry['table']} {entry['key']}"


def test_lab_diff_without_files_or_of_an_absent_lab_says_so(base: Path) -> None:
    done = apibridge(base, "lab", "diff", timeout=60)
    assert done.returncode == 2 and "nothing to compare" in done.stderr, done.stderr
    absent = apibridge(base, "lab", "diff", "--name", f"tn{uuid.uuid4().hex[:6]}", timeout=60)
    assert absent.returncode == 3 and "is not up" in absent.stderr, absent.stderr


def test_lab_diff_on_dual_stack_finds_only_known_differences(base: Path) -> None:
    seen: dict[str, list[str]] = {}
    _judge("dual stack", apibridge(base, "lab", "diff", *DUAL_STACK, "-o", "json", timeout=500), seen)
