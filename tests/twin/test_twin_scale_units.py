"""Twin machinery that must hold at any size: bounded OVSDB transactions, short error messages."""

from __future__ import annotations

from typing import Any

import pytest

from apibridge.twin.pods import netns
from apibridge.twin.pods.netns import Bridge, Namespaces
from apibridge.twin.proc import CommandError, Completed, run


def test_a_huge_failed_command_gives_a_short_message_naming_step_and_count() -> None:
    argv = ["sh", "-c", "echo no such port >&2; exit 1", *(f"port-{i}" for i in range(1000))]
    with pytest.raises(CommandError) as info:
        run(argv, step="removing ports from br-int (1000 of 1000)")
    message = str(info.value)
    assert len(message) < 800, len(message)
    assert message.startswith("removing ports from br-int (1000 of 1000): command failed (exit 1)")
    assert "no such port" in message and "1003 arguments" in message
    assert "port-999" in info.value.full and "no such port" in info.value.full


def test_ovs_vsctl_work_goes_in_bounded_transactions_with_timeouts_that_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], float, str]] = []

    def fake_run(argv: list[str], *, timeout: float = 30.0, step: str = "", **_: Any) -> Completed:
        calls.append((argv, timeout, step))
        return Completed(tuple(argv), 0, "", "")

    monkeypatch.setattr(netns, "run", fake_run)
    space = Namespaces("ab-x.", Bridge("unix:/nonexistent/db.sock", "ab-x.ovs"))
    space.vsctl_chunked("adding ports", [["--", "add-port", "br-int", f"p{i}"] for i in range(1000)])
    assert len(calls) == 4
    for argv, timeout, _step in calls:
        assert argv.count("add-port") == netns.OVSDB_CHUNK
        vsctl_timeout = int(next(a for a in argv if a.startswith("--timeout=")).split("=")[1])
        assert vsctl_timeout >= netns.ovsdb_timeout(netns.OVSDB_CHUNK) and timeout > vsctl_timeout
    assert [c[2] for c in calls][-1] == "adding ports (1000 of 1000)"
    assert netns.ovsdb_timeout(250) > netns.ovsdb_timeout(10)


def test_a_timeout_is_retried_before_it_counts_and_told_from_a_refusal() -> None:
    import os
    import shutil
    import uuid

    from apibridge.twin.pods import probe
    from apibridge.twin.pods.netns import delete_netns

    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and ip")
    name = f"abu-{uuid.uuid4().hex[:6]}-"
    run(["ip", "netns", "add", name])
    try:
        lines = [
            "link set lo up",
            "link add va type veth peer name vb",
            "addr add 192.0.2.1/24 dev va",
            "link set va up",
            "link set vb up",
            # a permanent neighbour: the SYNs leave into a veth nobody reads. Without it the kernel's
            # ARP for 192.0.2.2 fails after ~3 s and a slow run saw EHOSTUNREACH ("unreachable")
            # instead of the silence this test is about.
            "neigh add 192.0.2.2 lladdr 02:00:00:00:00:02 dev va nud permanent",
        ]
        run(["ip", "-n", name, "-b", "-"], input="".join(f"{line}\n" for line in lines))
        probes = [
            probe.Probe(name, "192.0.2.2", 80, expect_answer=True),  # nobody answers: silence
            probe.Probe(name, "192.0.2.2", 81),  # the same, expected silent: not retried
            probe.Probe(name, "127.0.0.1", 9),  # nothing listens: refused
        ]
        silent, expected_silent, refused = probe.run(probes, timeout=0.2)
        assert (silent.verdict, silent.cause, silent.attempts) == ("blocked", "timeout", probe.RETRIES + 1)
        assert silent.detail.startswith("timeout")
        assert (expected_silent.cause, expected_silent.attempts) == ("timeout", 1)
        assert (refused.verdict, refused.cause) == ("reach", "refused")
    finally:
        delete_netns(name)
