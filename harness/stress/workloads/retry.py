"""Stress driver of ``retrier``: concurrent calls whose attempts fail at a given rate.

Events are those of :mod:`harness.checkers.retry` (``call_begin``, ``attempt_begin``,
``attempt_ok``, ``attempt_fail`` with the declared delay bounds, ``attempt_cancelled``,
``cancel``, ``call_end``, ``metrics``). Every failure is retryable, so a call that keeps
failing must be tried exactly ``max_attempts`` times; at the scenario's cancel point every
open call is cancelled by its caller.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from typing import Any, ClassVar

import trio

from harness.rules import Pattern
from harness.stress.runner import Context, StepFailed
from harness.stress.workloads.base import COMMON, Driver


class ScriptedError(Exception):
    """An attempt's failure; ``name`` is unique per attempt."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name
        self.retryable = True


def _retryable(exc: Exception) -> bool:
    return bool(getattr(exc, "retryable", False))


class RetryDriver(Driver):
    """Producers make calls through one retrier."""

    pattern: ClassVar[Pattern] = Pattern.RETRY
    honours: ClassVar[frozenset[str]] = COMMON | {"failure_rate", "cancel_at"}

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.retrier: Any = None
        self.scopes: dict[int, trio.CancelScope] = {}

    async def call(self, number: int) -> None:
        """One call through the retrier, recorded as the retry model records it."""
        ctx = self.ctx
        record = self.record
        errors: list[ScriptedError] = []
        attempts = itertools.count(1)

        async def fn() -> str:
            attempt = next(attempts)
            record("attempt_begin", number, attempt=attempt)
            if attempt > 1:
                ctx.metrics.count("retries")
            try:
                await trio.sleep(ctx.duration())
            except trio.Cancelled:
                record("attempt_cancelled", number, attempt=attempt)
                raise
            if not ctx.chance(ctx.load.failure_rate):
                value = f"c{number}a{attempt}"
                record("attempt_ok", number, attempt=attempt, value=value)
                return value
            error = ScriptedError(f"c{number}a{attempt}!")
            errors.append(error)
            low, high = ctx.call_sync("bounds()", self.retrier.bounds, attempt)
            record(
                "attempt_fail",
                number,
                attempt=attempt,
                retryable=True,
                error=error.name,
                low=float(low),
                high=float(high),
            )
            raise error

        async def run() -> tuple[str, Any]:
            try:
                value = await self.retrier.call(fn)
            except ScriptedError as exc:
                named = [e.name for e in errors if e is exc]
                return "error", named[0] if named else "foreign"
            return "ok", value

        scope = self.scopes[number] = trio.CancelScope()
        started = trio.current_time()
        record("call_begin", number, cancel_at=None)
        outcome: tuple[str, Any] | None = None
        try:
            with scope:
                outcome = await ctx.call(f"call #{number}", run)
        except trio.Cancelled:
            if trio.current_effective_deadline() == -math.inf:
                raise
            record("crash", f"call #{number}", error="stray trio.Cancelled")
            raise StepFailed("call") from None
        finally:
            self.scopes.pop(number, None)
        now = trio.current_time()
        if outcome is None:
            record("call_end", number, outcome="cancelled", value=None, error=None)
            ctx.metrics.completed(now, "cancelled")
        elif outcome[0] == "ok":
            value = outcome[1] if isinstance(outcome[1], str) else repr(outcome[1])
            record("call_end", number, outcome="ok", value=value, error=None)
            ctx.metrics.completed(now)
            ctx.metrics.latency("end_to_end", now - started)
        else:
            record("call_end", number, outcome="error", value=None, error=outcome[1])
            ctx.metrics.completed(now, "errors")
        counters = ctx.call_sync("counters()", ctx.implementation.read_counters, self.retrier)
        if counters is not None:
            record("metrics", None, counters=dict(counters))

    async def producer(self, number: int) -> None:
        """Make calls at the scenario's pace."""
        ctx = self.ctx
        pace = ctx.pacer(number)
        while True:
            await pace()
            job = ctx.next_job()
            if job is None:
                return
            ctx.metrics.offered(trio.current_time())
            await self.call(job)

    async def canceller(self) -> None:
        """At the cancel point, every caller cancels its open call."""
        await self.ctx.cancel_event.wait()
        for number, scope in sorted(self.scopes.items()):
            self.record("cancel", number)
            scope.cancel()

    async def run(self, nursery: trio.Nursery) -> None:
        """Build the retrier and run the producers."""
        ctx = self.ctx
        params = ctx.params
        self.retrier = ctx.call_sync(
            "retrier()",
            ctx.implementation.factories["retrier"],
            max_attempts=params["max_attempts"],
            base=params["base"],
            factor=params["factor"],
            cap=params["cap"],
            jitter=params["jitter"],
            seed=params["seed"],
            retryable=_retryable,
        )
        async with trio.open_nursery() as load:
            load.start_soon(self.canceller, name="retry-canceller")
            async with trio.open_nursery() as producers:
                for number in range(ctx.load.producers):
                    producers.start_soon(self._guard, number, name=f"producer-{number}")
            load.cancel_scope.cancel()

    async def _guard(self, number: int) -> None:
        with contextlib.suppress(StepFailed):  # already recorded
            await self.producer(number)
