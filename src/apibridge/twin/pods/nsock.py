"""Sockets that live in another network namespace, created from this process.

A socket belongs to the network namespace its creating thread was in when ``socket()`` ran; it
keeps routing, binding and connecting *there* for its whole life, whatever the process does
afterwards. So one process can listen in a hundred pod namespaces, or probe from all of them at
once, by stepping into each namespace just long enough to create a socket — instead of forking
``ip netns exec python …`` per pod (~70 ms and ~15 MB each), which would dominate both ``lab up``
and ``lab verify``.

Python 3.11 has no ``os.setns``; this calls libc ``setns(2)``, which switches only the calling
thread, and always switches back before returning (also on errors).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

from apibridge.twin.pods.netns import NETNS_DIR

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def netns_path(netns: str) -> Path:
    return NETNS_DIR / netns


@contextlib.contextmanager
def entered(netns: str) -> Iterator[None]:
    """Run the block with this thread inside ``netns`` (a name under ``/run/netns``)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(netns_path(netns), os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield
            finally:
                _setns(own)
        finally:
            os.close(target)
    finally:
        os.close(own)


def socket_in(netns: str, family: int, kind: int) -> socket.socket:
    """A new non-blocking socket living in ``netns``."""
    with entered(netns):
        sock = socket.socket(family, kind)
    sock.setblocking(False)
    return sock


def family_of(ip: str) -> int:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def link_up(netns: str, ifname: str = "lo") -> None:
    """``ip -n <netns> link set <ifname> up`` without a process (SIOCSIFFLAGS on a socket in ``netns``)."""
    with socket_in(netns, socket.AF_INET, socket.SOCK_DGRAM) as sock:
        req = struct.pack("16sH", ifname.encode(), 0)
        flags = struct.unpack("16sH", fcntl.ioctl(sock, _SIOCGIFFLAGS, req)[:18])[1]
        if not flags & _IFF_UP:
            fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH", ifname.encode(), flags | _IFF_UP))


def sysctl(netns: str, settings: dict[str, str]) -> None:
    """Write ``net.*`` sysctls of ``netns`` (``/proc/sys/net`` shows the namespace of the thread that opens it)."""
    with entered(netns):
        for key, value in settings.items():
            with open("/proc/sys/" + key.replace(".", "/"), "w") as fh:
                fh.write(value)


def interfaces(netns: str) -> list[str]:
    """Interface names in ``netns`` (``ip -n <netns> link`` without a process)."""
    with entered(netns):
        return [name for _, name in socket.if_nameindex()]
