"""Stress workload of the queues: producers put (or offer), consumers get and work, then close.

The :class:`~harness.drivers.queue.QueueDriver` performs every put and get and records its
events; this workload paces the producers, runs the consumers, and folds the events into the
metrics: items offered, queue wait (``put`` to ``get_ok``), the queue's own length at every
settled instant, and the items dropped (refused offers, and for drop-oldest the items accepted
but never taken). A consumer's work on an item is the harness's own: it sleeps a drawn
duration and records the service and end-to-end latencies and the completion itself.

A bounded or unbounded queue is put into with the blocking ``put``, a dropping queue with
``offer``. Each consumer holds one get open at a time, so the consumer's number names its
getter.
"""

from __future__ import annotations

from typing import Any, ClassVar

import anyio

from harness.checkers import Recent
from harness.drivers.host import guarded
from harness.drivers.queue import QueueDriver
from harness.events import Event
from harness.rules import Pattern
from harness.stress.workloads.base import COMMON, Context, Workload


class QueueWorkload(Workload):
    """Producers against consumers through one queue."""

    pattern: ClassVar[Pattern] = Pattern.QUEUE
    honours: ClassVar[frozenset[str]] = COMMON | {"consumers"}
    driver: QueueDriver

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        #: When each item's put began; forgets the oldest, as drop-oldest may never free some.
        self.put_at: Recent[Any, float] = Recent()
        self.accepted = 0
        self.taken = 0
        self.length = 0
        # Two woken getters could record their items in the other order than they took
        # them, which would read as a FIFO violation: one get is open at a time.
        self.taking = anyio.Lock()

    # -- the load ------------------------------------------------------------------------
    async def offer(self, job: int, producer: int) -> bool:
        """Put (or offer, to a dropping queue) the item; a producer stops once it is closed."""
        driver = self.driver
        kind = driver.offer(job) if driver.dropping else await driver.put(job)
        return kind != "put_closed"

    async def consumer(self, number: int) -> None:
        """Take items and work on each for a drawn duration, until the queue ends."""
        host = self.ctx.host
        metrics = self.metrics
        while True:
            async with self.taking:
                got = await self.driver.get(f"c{number}")
            if got.kind != "get_ok":
                return
            service = self.ctx.duration()
            await host.sleep(service)
            metrics.latency("service", service)
            put_at = self.put_at.pop(got.get("item"), None)
            if put_at is not None:
                metrics.latency("end_to_end", host.now() - put_at)
            metrics.completed(host.now())

    async def run(self) -> None:
        """Build the queue, run producers and consumers, close after the last put, drain."""
        driver = self.driver
        await driver.setup()
        async with anyio.create_task_group() as consumers:
            for number in range(self.ctx.load.consumers):
                consumers.start_soon(guarded(self.consumer), number, name=f"consumer-{number}")
            await self.produce()
            if driver.has(driver.queue, "close"):
                await driver.close()
            else:
                # Without close() no end can be told to the consumers: they take what is
                # left, then stop.
                while self.ctx.host.call_sync("len()", len, driver.queue):
                    await self.ctx.host.sleep(0.01)
                consumers.cancel_scope.cancel()
        if self.ctx.params.get("policy") == "oldest":
            # Drop-oldest evicts without a trace of its own: what went in and never came out.
            self.metrics.count("dropped", self.accepted - self.taken)

    # -- what it measures ------------------------------------------------------------------
    def measure(self, event: Event) -> None:
        """Offers, acceptances, drops, queue wait and the queue's length, from its events."""
        kind = event.kind
        if kind == "put":
            self.metrics.offered(event.t)
            self.put_at[event.id] = event.t
        elif kind == "put_ok":
            self.accepted += 1
        elif kind == "offer_refused":
            self.metrics.count("dropped")
        elif kind == "get_ok":
            self.taken += 1
            put_at = self.put_at.get(event.get("item"))
            if put_at is not None:
                self.metrics.latency("queue_wait", event.t - put_at)
        elif kind == "length":
            self.length = int(event.get("n", 0))
        elif kind == "idle":
            self.metrics.queue_length(event.t, self.length)
