#!/usr/bin/env python3
"""Build apibridge's container image without a Docker engine, and write the Dockerfile users build it with.

Both come from one list of steps (:func:`steps` over ``recipe.yaml``), so they cannot drift apart:

* ``build.py build [--out DIR]`` — a Debian rootfs by ``debootstrap --variant=minbase`` with the recipe's
  packages (cached per machine under ``~/.cache/apibridge/image``, keyed by suite and packages: a cold
  debootstrap takes minutes, a warm build seconds), the wheel of this checkout installed into a venv inside
  it (``chroot``, offline: the wheels of its dependencies are fetched on the host), the non-root user, then
  packed by Debian's ``umoci`` as an OCI
  image layout ``DIR/oci`` tagged ``<version>`` with the recipe's user and entrypoint. Push it with
  ``skopeo copy oci:DIR/oci:<version> docker://<registry>/apibridge:<version>``. Needs root.
* ``build.py dockerfile`` — prints the Dockerfile (``deploy/image/Dockerfile`` is its output).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RECIPE = HERE / "recipe.yaml"
CACHE = Path(os.environ.get("APIBRIDGE_IMAGE_CACHE", Path.home() / ".cache" / "apibridge" / "image"))
WHEEL_DIR = "/tmp/wheels"


@dataclass(frozen=True)
class Step:
    kind: str  # base | copy-wheels | run | user | env | entrypoint
    args: tuple[str, ...]


def recipe() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(RECIPE.read_text())
    return data


def version() -> str:
    for line in (REPO / "pyproject.toml").read_text().splitlines():
        if line.startswith("version = "):
            return line.split("=", 1)[1].strip().strip('"')
    raise SystemExit("no version in pyproject.toml")


def steps(r: dict[str, Any]) -> list[Step]:
    """The image, step by step; both builds interpret exactly these."""
    venv, user = r["venv"], str(r["user"])
    return [
        Step("base", (r["base"], r["suite"], *r["packages"])),
        Step("copy-wheels", (WHEEL_DIR,)),
        Step(
            "run",
            (
                f"python3 -m venv {venv} && {venv}/bin/pip install --no-cache-dir --no-index --find-links {WHEEL_DIR}"
                f" apibridge && rm -rf {WHEEL_DIR}",
            ),
        ),
        Step(
            "run",
            (f"groupadd -g {user} apibridge && useradd -u {user} -g {user} -M -d / -s /usr/sbin/nologin apibridge",),
        ),
        Step("env", (f"PATH={venv}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)),
        Step("user", (f"{user}:{user}",)),
        Step("entrypoint", tuple(r["entrypoint"])),
    ]


def dockerfile(r: dict[str, Any]) -> str:
    out = ["# Generated from deploy/image/recipe.yaml by deploy/image/build.py dockerfile; do not edit.",
           "# Build: pip wheel -w dist . && docker build -f deploy/image/Dockerfile -t "
           f"{r['name']}:<version> ."]  # fmt: skip
    for step in steps(r):
        if step.kind == "base":
            base, _suite, *packages = step.args
            out.append(f"FROM {base}")
            out.append(
                "RUN apt-get update && apt-get install -y --no-install-recommends "
                + " ".join(packages)
                + " && rm -rf /var/lib/apt/lists/*"
            )
        elif step.kind == "copy-wheels":
            out.append(f"COPY dist/*.whl {step.args[0]}/")
        elif step.kind == "run":
            out.append(f"RUN {step.args[0]}")
        elif step.kind == "env":
            out.append(f"ENV {step.args[0]}")
        elif step.kind == "user":
            out.append(f"USER {step.args[0]}")
        elif step.kind == "entrypoint":
            out.append(f"ENTRYPOINT {json.dumps(list(step.args))}")
    return "\n".join(out) + "\n"


def sh(*argv: str, **kwargs: Any) -> None:
    print("+ " + " ".join(argv), file=sys.stderr)
    subprocess.run(list(argv), check=True, **kwargs)


def base_rootfs(suite: str, packages: list[str]) -> Path:
    """A debootstrapped rootfs tarball, cached per machine."""
    key = hashlib.sha256(json.dumps([suite, sorted(packages)]).encode()).hexdigest()[:12]
    tarball = CACHE / f"debootstrap-{suite}-{key}.tar"
    if tarball.exists():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        root = Path(tmp) / "rootfs"
        sh("debootstrap", "--variant=minbase", f"--include={','.join(packages)}", suite, str(root),
           "http://deb.debian.org/debian")  # fmt: skip
        shutil.rmtree(root / "var" / "cache" / "apt" / "archives", ignore_errors=True)
        (root / "var" / "cache" / "apt" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        sh("tar", "-C", str(root), "-cf", str(tarball) + ".tmp", ".")
        os.replace(str(tarball) + ".tmp", tarball)
    return tarball


def build(out: Path) -> Path:
    """The OCI layout ``out/oci`` tagged with the package version; returns it."""
    r = recipe()
    tag = version()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="image-", dir=out))
    try:
        root = work / "rootfs"
        root.mkdir()
        config: dict[str, Any] = {}
        for step in steps(r):
            if step.kind == "base":
                _base, suite, *packages = step.args
                sh("tar", "-C", str(root), "-xf", str(base_rootfs(suite, packages)))
            elif step.kind == "copy-wheels":
                target = root / step.args[0].lstrip("/")
                target.mkdir(parents=True, exist_ok=True)
                # apibridge and its dependencies as wheels, fetched here: the image installs them offline
                sh(sys.executable, "-m", "pip", "wheel", "-q", "-w", str(target), str(REPO))
            elif step.kind == "run":
                sh("chroot", str(root), "/bin/sh", "-c", step.args[0], env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
            elif step.kind == "env":
                config.setdefault("env", []).append(step.args[0])
            elif step.kind == "user":
                config["user"] = step.args[0]
            elif step.kind == "entrypoint":
                config["entrypoint"] = list(step.args)
        layout = out / "oci"
        shutil.rmtree(layout, ignore_errors=True)
        image = f"{layout}:{tag}"
        sh("umoci", "init", "--layout", str(layout))
        sh("umoci", "new", "--image", image)
        bundle = work / "bundle"
        sh("umoci", "unpack", "--image", image, str(bundle))
        shutil.rmtree(bundle / "rootfs")
        os.rename(root, bundle / "rootfs")
        sh("umoci", "repack", "--image", image, str(bundle))
        args = ["umoci", "config", "--image", image, f"--config.user={config['user']}", "--config.workingdir=/"]
        args += [f"--config.env={e}" for e in config.get("env", [])]
        args += [f"--config.entrypoint={e}" for e in config["entrypoint"]]
        args += [f"--config.label=org.opencontainers.image.version={tag}",
                 f"--config.label=org.opencontainers.image.title={r['name']}"]  # fmt: skip
        sh(*args)
        sh("umoci", "gc", "--layout", str(layout))
        return layout
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the OCI layout (root, debootstrap, umoci)")
    b.add_argument("--out", type=Path, default=REPO / "build" / "image")
    sub.add_parser("dockerfile", help="print the Dockerfile")
    args = parser.parse_args()
    if args.command == "dockerfile":
        sys.stdout.write(dockerfile(recipe()))
        return 0
    layout = build(args.out)
    print(f"{layout}:{version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
