"""Silence counts only when the datapath was shown to answer in time (``probe._silent_waves``).

A blocked probe's verdict is the absence of an answer, so it is only as good as the datapath's
promptness at that moment: a leak delayed past the wait passes for blocked. Each wave of silent probes
goes with sentinels — handshakes known to be answered — and its timeouts count only if every sentinel
was answered within a share of the wait. The datapath here is a stand-in whose promptness the test sets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from apibridge.twin.pods import probe

WAIT = 0.9


def _run(
    monkeypatch: pytest.MonkeyPatch, silent: int, sentinel_seconds: Sequence[float | None], first: int = 64
) -> tuple[dict[int, probe.ProbeResult], list[tuple[int, float]]]:
    """Run ``silent`` probes that all time out; the n-th wave's sentinels take ``sentinel_seconds[n]`` (the
    last value repeats). Returns the final outcomes and (wave size, wait) per wave."""
    probes = [probe.Probe("ns", f"10.0.0.{i % 250}", 80) for i in range(silent)]
    waves: list[tuple[int, float]] = []
    state = {"in_wave": 0, "sentinels": 0}

    async def attempt(p: probe.Probe, seconds: float) -> probe.ProbeResult:
        state["in_wave"] += 1
        return probe.ProbeResult("blocked", f"timeout: no answer within {seconds:g}s (dropped)", seconds, "timeout")

    async def handshake(p: probe.Probe, wait: float) -> float | None:
        t = sentinel_seconds[min(len(waves), len(sentinel_seconds) - 1)]
        state["sentinels"] += 1
        if state["sentinels"] % probe.SENTINELS == 0:  # the wave's last one: every silent probe has gone
            waves.append((state["in_wave"], wait))
            state["in_wave"] = 0
        return t if t is None or t <= wait else None

    monkeypatch.setattr(probe, "_handshake", handshake)
    out: dict[int, probe.ProbeResult] = {}
    sentinels = [probe.Probe("ns", "10.0.1.1", 8080, expect_answer=True)] if sentinel_seconds else []
    asyncio.run(probe._silent_waves(probes, list(range(silent)), sentinels, attempt, WAIT, first, out.__setitem__))
    return out, waves


def test_a_wave_whose_sentinels_were_slow_is_sent_again_smaller_and_with_a_longer_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slow, quick = WAIT * 0.6, WAIT * 0.1  # 0.6 of the wait: answered, but with too little room to spare
    out, waves = _run(monkeypatch, 200, [slow, quick], first=128)
    assert waves[0] == (128, WAIT)
    assert waves[1][0] == 64 and waves[1][1] > WAIT  # the same probes again: half as many, waiting longer
    assert sum(n for n, _ in waves) == 200 + 128  # the unproven wave's probes went twice, the others once
    assert len(out) == 200 and all(o.cause == "timeout" and probe.UNPROVEN not in o.detail for o in out.values())


def test_proven_waves_grow(monkeypatch: pytest.MonkeyPatch) -> None:
    _, waves = _run(monkeypatch, 3000, [0.01], first=64)
    assert [n for n, _ in waves] == [64, 128, 256, 512, 1024, 1016]
    assert {w for _, w in waves} == {WAIT}


def test_silence_that_cannot_be_proven_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    out, waves = _run(monkeypatch, 40, [None], first=16)
    assert waves[-1][1] == pytest.approx(WAIT * probe.WAIT_GROWTH)  # it tried the longest wait first
    assert len(out) == 40 and all(probe.UNPROVEN in o.detail for o in out.values())
    out, _ = _run(monkeypatch, 40, [], first=16)  # no path known to answer: nothing to prove it with
    assert all(probe.UNPROVEN in o.detail for o in out.values())


def test_silent_https_probes_are_not_queued_behind_the_servers_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    # The gate of HTTPS_PER_SERVER spares the API server's TLS work; a probe that should go unanswered
    # must not wait its turn for it, or 32 of them cost 8 waits (measured: 10 s of a 1,000-pod verify).
    inside = {"now": 0, "most": 0}

    async def connect(p: probe.Probe, kind: int, timeout: float) -> tuple[None, probe.ProbeResult]:
        inside["now"] += 1
        inside["most"] = max(inside["most"], inside["now"])
        await asyncio.sleep(0.05)
        inside["now"] -= 1
        return None, probe.ProbeResult("blocked", "timeout", timeout, "timeout")

    monkeypatch.setattr(probe, "_connect", connect)
    probes = [probe.Probe(f"ns{i}", "10.96.0.1", 443, "https") for i in range(16)]
    out = asyncio.run(probe.run_async(probes, parallel_silent=64))
    assert inside["most"] == 16 and all(o.cause == "timeout" for o in out)


def test_a_busy_machine_gets_a_bounded_verify_that_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    # sentinels always answered, never quickly enough: each probe goes at most 1 + RESENDS times
    out, waves = _run(monkeypatch, 100, [WAIT * probe.WAIT_GROWTH * 0.9], first=64)
    assert sum(n for n, _ in waves) <= 100 * (1 + probe.RESENDS)
    assert len(out) == 100 and all(probe.UNPROVEN in o.detail for o in out.values())


def test_a_wave_too_large_for_the_datapath_does_not_use_up_its_probes_resends(monkeypatch: pytest.MonkeyPatch) -> None:
    # waves of 1,024, 512 and 256 fail (their own flood), then the datapath keeps up: every silence proven
    out, waves = _run(monkeypatch, 1024, [None, None, None, 0.01], first=1024)
    assert [n for n, _ in waves][:4] == [1024, 512, 256, 128]
    assert len(out) == 1024 and not any(probe.UNPROVEN in o.detail for o in out.values())
