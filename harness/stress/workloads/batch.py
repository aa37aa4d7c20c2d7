"""Stress workload of ``batcher``: producers put items, the batches are read, then close.

The :class:`~harness.drivers.batch.BatchDriver` holds the block open, reads the batches and
records every event; this workload paces the producers and folds the events into the metrics:
items offered (``put_begin``), each item's wait from its ``put_ok`` to the ``flush`` that
carried it (queue wait), completions and batches, and the items accepted and not flushed yet
at every settled instant (queue length). Puts are serialised by a lock, so the order of
``put_begin`` events is the put order, as the checker assumes.
"""

from __future__ import annotations

from collections import deque
from typing import ClassVar

import anyio

from harness.drivers.batch import BatchDriver
from harness.events import Event
from harness.rules import Pattern
from harness.stress.workloads.base import COMMON, Context, Workload


class BatchWorkload(Workload):
    """Producers into one batcher; batches out to one reader."""

    pattern: ClassVar[Pattern] = Pattern.BATCH
    honours: ClassVar[frozenset[str]] = COMMON - {"duration"}
    driver: BatchDriver

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.putting = anyio.Lock()
        #: When each accepted, unflushed item was accepted, in put order.
        self.accepted_at: deque[float] = deque()

    # -- the load ------------------------------------------------------------------------
    async def producer(self, number: int) -> None:
        """Put items at the scenario's pace until the run is long enough."""
        ctx = self.ctx
        pace = ctx.pacer(number)
        while True:
            await pace()
            async with self.putting:
                item = ctx.next_job()
                if item is None:
                    return
                await self.driver.put(item)

    async def run(self) -> None:
        """Build and enter the batcher, put everything, close, wait for the end."""
        driver = self.driver
        await driver.setup()
        await self.produce()
        await driver.close()
        await driver.finish()

    # -- what it measures ------------------------------------------------------------------
    def measure(self, event: Event) -> None:
        """Offers, queue wait, completions, batches and the backlog, from the batch events."""
        kind = event.kind
        metrics = self.metrics
        if kind == "put_begin":
            metrics.offered(event.t)
        elif kind == "put_ok":
            self.accepted_at.append(event.t)
        elif kind == "flush":
            for _ in range(int(event.get("size", 0))):
                if self.accepted_at:
                    metrics.latency("queue_wait", event.t - self.accepted_at.popleft())
                metrics.completed(event.t)
            metrics.count("batches")
        elif kind == "idle":
            metrics.queue_length(event.t, len(self.accepted_at))
