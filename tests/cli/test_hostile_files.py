"""Hostile files (issue #13, item 4): each is refused with exit 2, quickly, in bounded memory, and names the file
and the limit. Run as real processes so that time and peak memory are the program's own (``os.wait4``).

The bound asserted is CPU time (user + system) < 2 s and peak RSS < 256 MiB; wall time is only bounded loosely
(the build machine is shared), except for the FIFO, whose failure mode *is* wall time: it used to hang.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from apibridge.base.errors import InputError
from apibridge.model.load import Limits, load_documents, parse_text

from .clusters import KUBESPRAY_API
from .support import BIN, REPO

CPU_LIMIT_S = 2.0
RSS_LIMIT_MIB = 256

ALIAS_BOMB = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: lol}
data:
  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
  i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    cpu_s: float
    wall_s: float
    rss_mib: float


# The measured process is started by a small wrapper: a child forked from pytest itself inherits pytest's
# resident-set high-water mark (Linux keeps ru_maxrss across fork and exec), which would be measured instead.
_WRAPPER = """
import json, os, subprocess, sys, threading
proc = subprocess.Popen(sys.argv[3:])
timer = threading.Timer(float(sys.argv[2]), proc.kill)  # the wrapper ends what it started
timer.daemon = True
timer.start()
_, status, usage = os.wait4(proc.pid, 0)
timer.cancel()
with open(sys.argv[1], "w") as out:
    json.dump({"code": os.waitstatus_to_exitcode(status), "cpu": usage.ru_utime + usage.ru_stime,
               "rss": usage.ru_maxrss / 1024}, out)
"""


def run(*args: str, stdin: int | None = subprocess.DEVNULL, timeout: float = 30) -> Run:
    """Run the installed ``apibridge``, with its own CPU time and peak RSS."""
    env = {k: v for k, v in os.environ.items() if k not in ("APIBRIDGE_DEBUG", "FORCE_COLOR")}
    with tempfile.TemporaryDirectory() as tmp:
        usage_file = os.path.join(tmp, "usage.json")
        start = time.monotonic()
        try:
            proc = subprocess.run(
                [sys.executable, "-c", _WRAPPER, usage_file, str(timeout), str(BIN / "apibridge"), *args],
                cwd=REPO,
                stdin=stdin,
                capture_output=True,
                env=env,
                timeout=timeout + 10,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"apibridge {' '.join(args)} still running after {timeout} s")
        wall = time.monotonic() - start
        with open(usage_file) as handle:
            usage = json.load(handle)
        if wall > timeout:
            pytest.fail(f"apibridge {' '.join(args)} still running after {timeout} s")
    return Run(usage["code"], proc.stdout.decode(), proc.stderr.decode(), usage["cpu"], wall, usage["rss"])


def assert_refused(result: Run, *needles: str) -> None:
    assert result.code == 2, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in result.stderr, f"{needle!r} not in {result.stderr!r}"
    assert result.cpu_s < CPU_LIMIT_S, f"{result.cpu_s:.2f} s of CPU"
    assert result.rss_mib < RSS_LIMIT_MIB, f"{result.rss_mib:.0f} MiB peak"
    assert result.wall_s < 30


def test_an_alias_bomb_is_refused_naming_the_limit(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(ALIAS_BOMB)
    assert_refused(run("inject", "-f", str(bomb), "-o", "json"), str(bomb), "aliases expand to more than")
    assert_refused(run("check", str(bomb)), str(bomb), "100,000 nodes")


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: &a {x: *a}\n")
    assert_refused(run("check", str(path)), str(path), "recursive")


def test_dev_zero_is_not_read(tmp_path: Path) -> None:
    assert_refused(run("check", "/dev/zero"), "/dev/zero", "a device", "only regular files")


def test_a_fifo_is_refused_instead_of_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    result = run("check", str(fifo), timeout=10)
    assert_refused(result, str(fifo), "a FIFO")
    # the same FIFO inside a directory
    assert_refused(run("check", str(tmp_path), timeout=10), str(fifo), "a FIFO")


def test_stdin_is_read_when_named_dash(tmp_path: Path) -> None:
    path = tmp_path / "api.yaml"
    path.write_text(KUBESPRAY_API)
    with path.open("rb") as handle:
        result = run("check", "-", "-o", "json", stdin=handle.fileno())
    assert result.code == 0, result.stderr


def test_a_file_over_the_size_limit_is_refused_and_the_flag_raises_it(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:  # sparse: 100 MiB without writing them
        handle.truncate(100 * 2**20)
    assert_refused(run("check", str(big)), str(big), "64Mi limit", "--max-file-size")
    small = tmp_path / "api.yaml"
    small.write_text(KUBESPRAY_API + "# padding\n" * 20_000)
    assert_refused(run("check", "--max-file-size", "100Ki", str(small)), str(small), "100Ki limit")
    assert run("check", "--max-file-size", "1Mi", str(small)).code == 0


def test_stdin_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "api.yaml"
    path.write_text(KUBESPRAY_API + "# padding\n" * 20_000)
    with path.open("rb") as handle:
        assert_refused(run("check", "--max-file-size", "10Ki", "-", stdin=handle.fileno()), "-", "10Ki limit")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a: " + "[" * 150 + "]" * 150 + "\n", id="yaml-flow"),
        pytest.param(
            "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 150)) + "  " * 150 + "x: 1\n", id="yaml-block"
        ),
        pytest.param("a: " + "[" * 50_000 + "]" * 50_000 + "\n", id="yaml-beyond-libyaml"),
        pytest.param('{"a": ' + "[" * 150 + "]" * 150 + "}", id="json"),
        pytest.param('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", id="json-very-deep"),
    ],
)
def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    assert_refused(run("check", str(path)), str(path), "nested deeper than")


def test_nesting_within_the_limit_is_read() -> None:
    """A CRD's openAPIV3Schema nests ~40 levels: well inside the limit, in both syntaxes."""
    deep = "[" * 60 + "]" * 60
    yaml_doc = parse_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x}}\ndata: {deep}\n", "x.yaml")
    json_doc = parse_text(f'{{"apiVersion": "v1", "kind": "ConfigMap", "data": {deep}}}', "x.json")
    assert yaml_doc[0].body["data"] == json_doc[0].body["data"]


def test_aliases_and_merge_keys_within_the_limit_are_expanded() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: x, labels: {a: b}}\n"
        "data:\n  base: &base {k: v, z: '1'}\n  merged:\n    <<: *base\n    z: '2'\n  copy: *m\n"
    )
    (doc,) = parse_text(text, "x.yaml")
    assert doc.body["data"]["merged"] == {"k": "v", "z": "2"}
    assert doc.body["data"]["copy"] == {"name": "x", "labels": {"a": "b"}}


def test_the_alias_limit_counts_nodes_per_file() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  a: &a [1, 2, 3]\n" + "".join(
        f"  b{i}: *a\n" for i in range(10)
    )
    assert parse_text(text, "x.yaml", Limits(max_alias_nodes=40))
    with pytest.raises(InputError, match=r"x.yaml \(document 1\): .*more than 30 nodes"):
        parse_text(text, "x.yaml", Limits(max_alias_nodes=30))


def test_timestamps_stay_strings_as_kubectl_keeps_them() -> None:
    (doc,) = parse_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  creationTimestamp: 2024-05-01T10:00:00Z\n", "x")
    assert doc.body["metadata"]["creationTimestamp"] == "2024-05-01T10:00:00Z"


def test_an_unreadable_directory_entry_is_an_error_not_no_findings(tmp_path: Path) -> None:
    (tmp_path / "api.yaml").write_text(KUBESPRAY_API)
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")  # a dangling link: stat fails as root too
    assert_refused(run("check", str(tmp_path)), "gone.yaml")


def test_an_unreadable_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "api.yaml"
    path.write_text(KUBESPRAY_API)

    def refuse(*args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(os, "open", refuse)  # root reads everything; refuse the way a non-root user is refused
    with pytest.raises(InputError, match=r"api.yaml: cannot read: Permission denied"):
        load_documents([str(tmp_path)])


def test_an_unreadable_subdirectory_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "api.yaml").write_text(KUBESPRAY_API)
    real_scandir = os.scandir

    def scandir(path: object = ".") -> object:
        if str(path).endswith("sub"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(InputError, match=r"sub: cannot read directory entry: Permission denied"):
        load_documents([str(tmp_path)])
