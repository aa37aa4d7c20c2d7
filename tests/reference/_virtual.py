"""Run a coroutine function on trio's virtual clock, so tests never sleep for real."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio
import trio.testing

T = TypeVar("T")


def run_virtual(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``fn(*args)`` under ``MockClock(autojump_threshold=0)``: idle time jumps instantly."""
    return trio.run(fn, *args, clock=trio.testing.MockClock(autojump_threshold=0))
