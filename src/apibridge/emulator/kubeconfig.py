"""Kubeconfig files pointing at a running emulator.

Every client we test finds a cluster the same way a user's tools do — ``KUBECONFIG`` — so the emulator hands
out a real kubeconfig rather than client-specific settings: kopf's built-in ``login_with_kubeconfig`` reads
``server``, ``certificate-authority-data`` and ``token``; kr8s and ``kubectl`` read the same fields.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

DEFAULT_NAME = "apibridge-emulator"


def kubeconfig_dict(
    server: str,
    *,
    token: str | None = None,
    ca_pem: str | None = None,
    insecure: bool = False,
    namespace: str = "default",
    name: str = DEFAULT_NAME,
) -> dict[str, Any]:
    cluster: dict[str, Any] = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem.encode()).decode()
    elif insecure and server.startswith("https://"):
        cluster["insecure-skip-tls-verify"] = True
    user: dict[str, Any] = {"token": token} if token else {}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}],
        "current-context": name,
    }


def write_kubeconfig(path: str | Path, server: str, **kwargs: Any) -> Path:
    """Write a kubeconfig for ``server`` (see ``kubeconfig_dict`` for the options); mode 0600 like kubectl's."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(kubeconfig_dict(server, **kwargs), sort_keys=False))
    target.chmod(0o600)
    return target
