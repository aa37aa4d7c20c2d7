"""Stress driver of ``batcher``: producers put items, one consumer reads batches, then close.

Events are those of :mod:`harness.checkers.batch` (``put_begin``, ``put_ok``, ``flush``,
``batches_end``, ``close``, ``metrics``). Puts are serialised by a lock, so the order of
``put_begin`` events is the put order, as the checker assumes.
"""

from __future__ import annotations

import contextlib
from collections import deque
from typing import Any, ClassVar

import trio

from harness.rules import Pattern
from harness.stress.runner import Context, StepFailed
from harness.stress.workloads.base import COMMON, Driver


class BatchDriver(Driver):
    """Producers into one batcher; batches out to one consumer."""

    pattern: ClassVar[Pattern] = Pattern.BATCH
    honours: ClassVar[frozenset[str]] = COMMON - {"duration"}

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.batcher: Any = None
        self.putting = trio.Lock()
        self.put_at: deque[float] = deque()
        self.entered = trio.Event()
        self.entered_ok = False
        self.release = trio.Event()
        self.host_done = trio.Event()
        self.reader_done = trio.Event()

    async def host(self) -> None:
        """Hold the batcher's block open until released."""
        stage = "__aenter__"
        try:
            async with self.batcher:
                self.entered_ok = True
                self.entered.set()
                await self.release.wait()
                stage = "__aexit__"
        except Exception as exc:
            self.record("crash", f"batcher.{stage}", error=repr(exc)[:200])
        finally:
            self.entered.set()
            self.host_done.set()

    async def consumer(self) -> None:
        """Read batches until they end."""
        ctx = self.ctx
        end_errors = getattr(ctx.implementation, "end_errors", (trio.EndOfChannel,))
        try:
            while True:
                try:
                    batch = await self.batcher.batches.receive()
                except end_errors:
                    self.record("batches_end")
                    return
                items = list(batch)
                self.record("flush", None, items=items, size=len(items))
                now = trio.current_time()
                for _ in items:
                    if self.put_at:
                        ctx.metrics.latency("queue_wait", now - self.put_at.popleft())
                    ctx.metrics.completed(now)
                ctx.metrics.count("batches")
        except Exception as exc:
            self.record("crash", "batches.receive()", error=repr(exc)[:200])
        finally:
            self.reader_done.set()

    async def producer(self, number: int) -> None:
        """Put items at the scenario's pace."""
        ctx = self.ctx
        pace = ctx.pacer(number)
        while True:
            await pace()
            async with self.putting:
                item = ctx.next_job()
                if item is None:
                    return
                ctx.metrics.offered(trio.current_time())
                self.record("put_begin", item)
                await ctx.call(f"put({item})", self.batcher.put, item)
                self.record("put_ok", item)
                self.put_at.append(trio.current_time())

    async def run(self, nursery: trio.Nursery) -> None:
        """Build and enter the batcher, put everything, close, wait for the end."""
        ctx = self.ctx
        params = ctx.params
        self.batcher = ctx.call_sync(
            "batcher()",
            ctx.implementation.factories["batcher"],
            max_size=params["max_size"],
            max_age=params["max_age"],
        )
        nursery.start_soon(self.host, name="batch-host")
        if not await self.wait_for(self.entered, "async with batcher (enter)") or not (
            self.entered_ok
        ):
            raise StepFailed("enter")
        nursery.start_soon(self.consumer, name="batch-consumer")
        async with trio.open_nursery() as producers:
            for number in range(ctx.load.producers):
                producers.start_soon(self._guard, number, name=f"producer-{number}")
        self.record("close")
        ctx.call_sync("close()", self.batcher.close)
        if await self.wait_for(self.reader_done, "batches end after close"):
            self.release.set()
            await self.wait_for(self.host_done, "async with batcher (exit)")

    async def _guard(self, number: int) -> None:
        with contextlib.suppress(StepFailed):  # already recorded
            await self.producer(number)

    def observe(self, counters: bool) -> None:
        """Items waiting for a batch, and the batcher's counters now and then."""
        self.ctx.metrics.queue_length(trio.current_time(), len(self.put_at))
        if counters and self.batcher is not None and self.ctx.implementation.has("metrics"):
            counted = self.ctx.call_sync(
                "counters()", self.ctx.implementation.read_counters, self.batcher
            )
            if counted is not None:
                self.record("metrics", None, counters=dict(counted))
