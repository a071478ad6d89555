"""``python -m apibridge.emulator``: standalone serving, kubeconfig output, seeding from YAML, clean exit."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
import yaml

from .support import WIDGET_CRD, widget


async def test_standalone_server_seeds_objects_and_writes_a_kubeconfig(tmp_path: Path) -> None:
    manifests = tmp_path / "seed.yaml"
    manifests.write_text(
        yaml.safe_dump_all(
            [WIDGET_CRD, {**widget("seeded", size=4), "metadata": {"name": "seeded", "namespace": "default"}}]
        )
    )
    kubeconfig = tmp_path / "out" / "kubeconfig"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "apibridge.emulator",
        "--port",
        "0",
        "--kubeconfig-out",
        str(kubeconfig),
        "--load",
        str(manifests),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert first.startswith("apibridge emulator serving at http://127.0.0.1:"), first
        url = first.split()[-1]
        await asyncio.wait_for(proc.stdout.readline(), 5)  # "kubeconfig written to …"
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == url
        assert config["current-context"] == config["contexts"][0]["name"]
        async with aiohttp.ClientSession(url) as session:
            async with session.get("/healthz") as resp:
                assert resp.status == 200
            async with session.get("/apis/example.com/v1/namespaces/default/widgets/seeded") as resp:
                body = await resp.json()
                assert resp.status == 200 and body["spec"] == {"size": 4, "color": "red"}
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 10)
    assert code == 0


async def test_bad_seed_files_fail_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: nothing.example/v1\nkind: Nothing\nmetadata: {name: x}\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "apibridge.emulator",
        "--load",
        str(bad),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert err.decode().strip().startswith("--load: no resource serves nothing.example/v1 Nothing")
    assert "Traceback" not in err.decode()
