"""Serving TLS from files that change under us, without a restart.

cert-manager renews the webhook certificate by updating its Secret; the kubelet swaps the mounted
files in place (an atomic ``..data`` symlink flip), and a webhook that read them once at start keeps
serving the old certificate until it expires. So the files are polled (mtime, size and inode of
both, following symlinks) and, when they change, loaded into a *fresh* ``SSLContext``.

The fresh context is never half-built: loading into the live context would be unsafe, because
OpenSSL drops the installed private key when a new certificate does not match it — a rotation caught
between the two file writes would leave the server unable to handshake. Instead the listening
socket keeps one base context whose ``sni_callback`` points each new handshake at the current
context (OpenSSL calls it for every ClientHello, with or without SNI). Connections already open keep
the certificate they negotiated; new ones see the new one. A pair that fails to load (a write in
progress, a key that does not match yet) is retried at the next poll while the old one stays.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from pathlib import Path

from apibridge.base.errors import InputError, Location

log = logging.getLogger(__name__)

Signature = tuple[tuple[int, int, int], tuple[int, int, int]]


def _server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


def _stat(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size, st.st_ino


class ReloadingContext:
    """A server ``SSLContext`` whose certificate follows ``cert_file``/``key_file``.

    Pass ``.context`` to the server; run ``watch()`` as a task (or call ``check()``) to pick up changes.
    """

    def __init__(self, cert_file: Path, key_file: Path, *, interval: float = 5.0) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.interval = interval
        self.reloads = 0
        self.failures = 0
        try:
            self._signature = self._signature_now()
            self._current = _server_context(cert_file, key_file)
            self.context = _server_context(cert_file, key_file)
        except (OSError, ssl.SSLError) as exc:
            raise InputError(
                f"cannot load the serving certificate: {exc}",
                Location(source=str(cert_file)),
                hint="--tls-cert-file and --tls-private-key-file must be a matching PEM pair",
            ) from None
        self.context.sni_callback = self._select

    def _signature_now(self) -> Signature:
        return _stat(self.cert_file), _stat(self.key_file)

    def _select(self, sslobj: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext) -> None:
        sslobj.context = self._current
        return None

    def check(self) -> bool:
        """Reload if the files changed and now load cleanly; ``True`` when a new certificate is in use."""
        try:
            signature = self._signature_now()
        except OSError:
            return False  # mid-rotation: a file is briefly missing
        if signature == self._signature:
            return False
        try:
            fresh = _server_context(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            self.failures += 1
            log.warning("serving certificate changed but does not load yet (%s); keeping the previous one", exc)
            return False
        # If the files changed again while loading, the next poll sees a new signature and loads again.
        self._current = fresh
        self._signature = signature
        self.reloads += 1
        log.info("serving certificate reloaded from %s", self.cert_file)
        return True

    async def watch(self) -> None:
        """Poll forever (cancel to stop)."""
        while True:
            await asyncio.sleep(self.interval)
            self.check()
