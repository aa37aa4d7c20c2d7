"""Stress driver of the rate limiters: waiters queue on ``acquire``, a prober tries its luck.

Events are those of :mod:`harness.checkers.rate` (``created``, ``acquire``, ``admit``,
``refuse``, ``cancel``, ``acquire_cancelled``, ``acquire_failed``, ``metrics``). For a token or
leaky bucket, producer 0 probes with ``try_acquire`` and every other producer waits in line
with ``acquire``; a shedding gate is only ever asked ``try_admit``. Producers offer at the
scenario's pace, so an offered rate far above the limiter's keeps it saturated. At the
scenario's cancel point every waiting acquire is cancelled (RATE-CANCEL-NO-LOSS).
"""

from __future__ import annotations

from typing import Any, ClassVar

import trio

from harness.rules import Pattern
from harness.stress.workloads.base import COMMON, Driver
from harness.stress.runner import Context, StepFailed


class RateDriver(Driver):
    """Offers acquisitions to one limiter at the scenario's pace."""

    pattern: ClassVar[Pattern] = Pattern.RATE
    honours: ClassVar[frozenset[str]] = (COMMON - {"duration"}) | {"cancel_at"}

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.limiter: Any = None
        self.scopes: dict[int, trio.CancelScope] = {}

    async def producer(self, number: int) -> None:
        """Offer one acquisition per job, at the scenario's pace."""
        ctx = self.ctx
        pace = ctx.pacer(number)
        gate = ctx.params["factory"] == "shedding_gate"
        while True:
            await pace()
            job = ctx.next_job()
            if job is None:
                return
            ctx.metrics.offered(trio.current_time())
            if gate or number == 0:
                self._probe(job, "try_admit" if gate else "try_acquire")
            else:
                await self._acquire(job)

    def _probe(self, probe: int, via: str) -> None:
        fn = getattr(self.limiter, via)
        admitted = self.ctx.call_sync(f"{via}()", fn)
        self.record("admit" if admitted else "refuse", f"p{probe}", weight=1, via=via)
        if admitted:
            self.ctx.metrics.admitted(trio.current_time())
            self.ctx.metrics.completed(trio.current_time())
        else:
            self.ctx.metrics.count("rejected")

    async def _acquire(self, waiter: int) -> None:
        scope = trio.CancelScope()
        self.scopes[waiter] = scope
        asked = trio.current_time()
        with scope:
            self.record("acquire", waiter, weight=1)
            try:
                await self.ctx.call(f"acquire() #{waiter}", self.limiter.acquire)
            except StepFailed:
                self.record("acquire_failed", waiter)
                raise
            finally:
                self.scopes.pop(waiter, None)
            self.record("admit", waiter, weight=1, via="acquire")
            now = trio.current_time()
            self.ctx.metrics.admitted(now)
            self.ctx.metrics.latency("queue_wait", now - asked)
            self.ctx.metrics.completed(now)
            return
        self.record("acquire_cancelled", waiter)
        self.ctx.metrics.count("cancelled")

    async def canceller(self) -> None:
        """At the cancel point, cancel every waiting acquire."""
        await self.ctx.cancel_event.wait()
        self.cancel_waiters()

    def cancel_waiters(self) -> None:
        """Cancel each waiting acquire, recording the cancellation first."""
        for waiter, scope in sorted(self.scopes.items()):
            self.record("cancel", waiter)
            scope.cancel()

    async def run(self, nursery: trio.Nursery) -> None:
        """Build the limiter, run the producers, cancel whoever still waits at the end."""
        ctx = self.ctx
        params = ctx.params
        name = params["factory"]
        keys = ("interval",) if name == "leaky_bucket" else ("rate", "burst")
        self.limiter = ctx.call_sync(
            f"{name}()", ctx.implementation.factories[name], **{k: params[k] for k in keys}
        )
        self.record("created")
        async with trio.open_nursery() as load:
            load.start_soon(self.canceller, name="rate-canceller")
            async with trio.open_nursery() as producers:
                for number in range(ctx.load.producers):
                    producers.start_soon(self._guard, number, name=f"producer-{number}")
            load.cancel_scope.cancel()

    async def _guard(self, number: int) -> None:
        try:
            await self.producer(number)
        except StepFailed:
            return  # already recorded
        finally:
            if self.ctx.cancel_event.is_set():
                self.cancel_waiters()

    def observe(self, counters: bool) -> None:
        """Waiters in line, and the limiter's counters now and then."""
        self.ctx.metrics.queue_length(trio.current_time(), len(self.scopes))
        if counters and self.limiter is not None and self.ctx.implementation.has("metrics"):
            counted = self.ctx.call_sync(
                "counters()", self.ctx.implementation.read_counters, self.limiter
            )
            if counted is not None:
                self.record("metrics", None, counters=dict(counted))
