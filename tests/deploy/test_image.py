"""The container image: built here without a Docker engine (debootstrap + the wheel + umoci, deploy/image/build.py),
its entrypoint run from the unpacked rootfs as the image's own non-root user, and the Dockerfile for users made
from the same steps. The debootstrapped base is cached per machine (~/.cache/apibridge/image): the first build
on a machine takes minutes, later ones seconds."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .support import CHART, REPO

BUILD = REPO / "deploy" / "image" / "build.py"
_spec = importlib.util.spec_from_file_location("apibridge_image_build", BUILD)
assert _spec is not None and _spec.loader is not None
image = importlib.util.module_from_spec(_spec)  # deploy/image/build.py is a script, loaded for its steps
sys.modules[_spec.name] = image  # its dataclasses look their module up there
_spec.loader.exec_module(image)


def test_the_dockerfile_is_made_from_the_recipe() -> None:
    assert (BUILD.parent / "Dockerfile").read_text() == image.dockerfile(image.recipe()), (
        "deploy/image/Dockerfile is stale: deploy/image/build.py dockerfile > deploy/image/Dockerfile"
    )


def test_the_dockerfile_has_every_step_of_the_recipe() -> None:
    text = (BUILD.parent / "Dockerfile").read_text()
    recipe = image.recipe()
    assert f"FROM {recipe['base']}" in text
    assert all(p in text for p in recipe["packages"])
    assert f"USER {recipe['user']}:{recipe['user']}" in text
    assert f"ENTRYPOINT {json.dumps(recipe['entrypoint'])}" in text


def test_the_charts_default_image_is_the_one_built() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["image"]["repository"] == image.recipe()["name"]
    assert values["image"]["tag"] == image.version()


@pytest.mark.skipif(os.geteuid() != 0, reason="debootstrap, chroot and umoci need root")
def test_the_image_builds_and_its_entrypoint_runs_as_its_user(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BUILD), "build", "--out", str(tmp_path)], capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ref = done.stdout.strip().splitlines()[-1]
    assert ref == f"{tmp_path / 'oci'}:{image.version()}"
    bundle = tmp_path / "unpacked"
    subprocess.run(["umoci", "unpack", "--image", ref, str(bundle)], check=True, capture_output=True)
    config = json.loads((bundle / "config.json").read_text())  # the OCI runtime config umoci derives from the image
    assert config["process"]["user"]["uid"] == image.recipe()["user"]
    assert config["process"]["args"] == image.recipe()["entrypoint"]
    rootfs = bundle / "rootfs"
    user = image.recipe()["user"]
    run = subprocess.run(
        ["chroot", f"--userspec={user}:{user}", str(rootfs), *config["process"]["args"], "--version"],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"apibridge, version {image.version()}"
