"""A busy prober must not turn an answer it read late into "blocked".

With thousands of probes the prober's own loop can be late by more than a timeout. The answer is
then already in the kernel (the handshake completed, a RST set ``SO_ERROR``, a datagram waits in the
buffer): the verdict must come from there. Here the loop is blocked on purpose for three timeouts
right after the probes started, towards a listener and a closed port on loopback inside a namespace
this test made; a SYN that no one answers still times out.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Iterator

import pytest

from apibridge.twin.pods import probe
from apibridge.twin.pods.netns import delete_netns, ensure_netns
from apibridge.twin.pods.nsock import socket_in

pytestmark = pytest.mark.ovn
TIMEOUT = 0.3


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    name = f"abp-{uuid.uuid4().hex[:8]}-"
    ensure_netns(name)
    try:
        yield name
    finally:
        delete_netns(name)


def _late(probes: list[probe.Probe]) -> list[probe.ProbeResult]:
    async def main() -> list[probe.ProbeResult]:
        async def hog() -> None:
            # one turn of the loop: the probes have started (their timeout runs), and then the loop
            # is busy elsewhere past it — what creating thousands of sockets in namespaces does
            await asyncio.sleep(0)
            time.sleep(3 * TIMEOUT)

        out, _ = await asyncio.gather(probe.run_async(probes, timeout=TIMEOUT, parallel_silent=8), hog())
        return out

    return asyncio.run(main())


def test_answers_that_arrived_while_the_loop_was_busy_count(netns: str) -> None:
    listener = socket_in(netns, socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # the kernel completes handshakes without accept()
    closed = socket_in(netns, socket.AF_INET, socket.SOCK_STREAM)
    closed.bind(("127.0.0.1", 0))  # bound, not listening: a SYN gets a RST
    try:
        tcp_port, closed_port = (s.getsockname()[1] for s in (listener, closed))
        outcomes = _late(
            [
                probe.Probe(netns, "127.0.0.1", tcp_port),
                probe.Probe(netns, "127.0.0.1", closed_port),
            ]
        )
        assert [(o.verdict, o.cause) for o in outcomes] == [("reach", "connected"), ("reach", "refused")], outcomes
    finally:
        for s in (listener, closed):
            s.close()


def test_silence_is_still_a_timeout(netns: str) -> None:
    # a listener whose accept queue is full drops further SYNs silently: nothing answers
    full = socket_in(netns, socket.AF_INET, socket.SOCK_STREAM)
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    port = full.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):  # fill the accept queue: later SYNs are dropped, silently
            s = socket_in(netns, socket.AF_INET, socket.SOCK_STREAM)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        time.sleep(0.1)
        (outcome,) = _late([probe.Probe(netns, "127.0.0.1", port)])
        assert (outcome.verdict, outcome.cause) == ("blocked", "timeout"), outcome
    finally:
        for s in (full, *fillers):
            s.close()
