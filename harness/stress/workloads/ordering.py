"""Stress driver of ``reorderer``: workers finish out of order, the stage restores the order.

Events are those of :mod:`harness.checkers.ordering` (``put_begin``, ``put_ok``,
``put_closed``, ``get_begin``, ``emit``, ``get_end``, ``close``). Each producer is a worker:
it takes the next sequence number, works a drawn duration (so completions come out of order)
and puts the result into the stage; one consumer takes items in order. The lowest open
sequence number is always inside the window, so the stage can always make progress.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import trio

from harness.rules import Pattern
from harness.stress.runner import Context, StepFailed
from harness.stress.workloads.base import Driver


def _item(seq: int) -> str:
    return f"item-{seq}"


class OrderingDriver(Driver):
    """Out-of-order workers feeding one reorder stage and one in-order consumer."""

    pattern: ClassVar[Pattern] = Pattern.ORDERING

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.stage: Any = None
        self.put_at: dict[int, float] = {}
        self.reader_done = trio.Event()
        self.buffered = 0

    async def consumer(self) -> None:
        """Take items in order until the stream ends."""
        try:
            await self._consume()
        finally:
            self.reader_done.set()

    async def _consume(self) -> None:
        ctx = self.ctx
        end_errors = getattr(ctx.implementation, "end_errors", (trio.EndOfChannel,))
        closed_errors = ctx.implementation.closed_errors
        while True:
            self.record("get_begin")
            try:
                got = await self.stage.get()
            except end_errors:
                self.record("get_end", how="end")
                return
            except closed_errors:
                self.record("get_end", how="closed")
                return
            except Exception as exc:
                self.record("crash", "get()", error=repr(exc)[:200])
                return
            try:
                seq, item = got
            except (TypeError, ValueError):
                self.record("crash", "get()", error=f"returned {got!r}, not (seq, item)")
                return
            self.record("emit", seq, item=item)
            now = trio.current_time()
            self.buffered -= 1
            put_at = self.put_at.pop(seq, None)
            if put_at is not None:
                ctx.metrics.latency("queue_wait", now - put_at)
            ctx.metrics.completed(now)

    async def worker(self, number: int) -> None:
        """Take a sequence number, work on it, hand it to the stage."""
        ctx = self.ctx
        pace = ctx.pacer(number)
        closed_errors = ctx.implementation.closed_errors
        while True:
            await pace()
            job = ctx.next_job()
            if job is None:
                return
            seq = job - 1
            ctx.metrics.offered(trio.current_time())
            service = ctx.duration()
            await trio.sleep(service)
            ctx.metrics.latency("service", service)
            self.record("put_begin", seq, item=_item(seq))
            self.put_at[seq] = trio.current_time()

            async def put(seq: int = seq) -> bool:
                try:
                    await self.stage.put(seq, _item(seq))
                except closed_errors:
                    return False
                return True

            if not await ctx.call(f"put({seq})", put):
                self.record("put_closed", seq)
                return
            self.record("put_ok", seq)
            self.buffered += 1

    async def run(self, nursery: trio.Nursery) -> None:
        """Build the stage, run the workers, close, and wait for the consumer to see the end."""
        ctx = self.ctx
        window = ctx.params["window"]
        self.stage = ctx.call_sync(
            f"reorderer(window={window})", ctx.implementation.factories["reorderer"], window=window
        )
        nursery.start_soon(self.consumer, name="ordering-consumer")
        async with trio.open_nursery() as workers:
            for number in range(ctx.load.producers):
                workers.start_soon(self._guard, number, name=f"worker-{number}")
        self.record("close")
        ctx.call_sync("close()", self.stage.close)
        await self.wait_for(self.reader_done, "get() after close")

    async def _guard(self, number: int) -> None:
        with contextlib.suppress(StepFailed):  # already recorded
            await self.worker(number)

    def observe(self, counters: bool) -> None:
        """Items accepted by the stage and not yet handed out."""
        self.ctx.metrics.queue_length(trio.current_time(), max(self.buffered, 0))
