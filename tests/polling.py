"""``eventually``: the one way tests wait for something another process or task makes true.

Operator, webhook and watch tests all wait for state that converges (a lease taken, a snapshot
served, a condition set). One helper, so timeouts and failure messages read the same everywhere.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None] | T | None],
    *,
    timeout: float = 20.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Call ``probe`` (plain or async) until it returns something truthy, and return that; an
    ``AssertionError`` inside it counts as "not yet". Fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = probe()
            if inspect.isawaitable(last):
                last = await last
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        await asyncio.sleep(interval)
