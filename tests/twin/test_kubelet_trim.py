"""The node agent compacts the OVSDB servers once its passes settle, not inside each pass: in ``lab up --kube``
every watch event is a pass, and a compaction in each delayed a burst's batches by 0.07-0.3 s (the pods'
Running waited for it)."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from apibridge.twin.control.kubelet import TRIM_EVERY, TRIM_IDLE, Agent


def agent(**state: Any) -> tuple[Any, list[float]]:
    trims: list[float] = []
    now = time.monotonic()
    fake = SimpleNamespace(
        untrimmed=True,
        last_pass=now,
        last_trim=now,
        lab=SimpleNamespace(daemons=SimpleNamespace(trim=lambda: trims.append(time.monotonic()))),
    )
    for key, value in state.items():
        setattr(fake, key, value)
    return fake, trims


def test_no_compaction_right_after_a_pass() -> None:
    fake, trims = agent()
    Agent._trim_when_due(fake)
    assert trims == [] and fake.untrimmed


def test_one_compaction_once_the_passes_settle() -> None:
    fake, trims = agent(last_pass=time.monotonic() - TRIM_IDLE)
    Agent._trim_when_due(fake)
    Agent._trim_when_due(fake)
    assert len(trims) == 1 and not fake.untrimmed


def test_passes_that_never_settle_still_compact_now_and_then() -> None:
    fake, trims = agent(last_trim=time.monotonic() - TRIM_EVERY)
    Agent._trim_when_due(fake)
    assert len(trims) == 1


def test_nothing_to_compact_without_a_pass() -> None:
    fake, trims = agent(untrimmed=False, last_pass=time.monotonic() - TRIM_EVERY, last_trim=0.0)
    Agent._trim_when_due(fake)
    assert trims == []
