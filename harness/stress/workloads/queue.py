"""Stress driver of the queues: producers put (or offer), consumers get and work, then close.

Events are those of :mod:`harness.checkers.queue` (``put``, ``put_ok``, ``offer_refused``,
``put_closed``, ``put_cancelled``, ``get``, ``get_ok``, ``get_end``, ``close``, ``length``,
``metrics``). A bounded queue is put into with the blocking ``put``, a dropping queue with
``offer``, an unbounded one with ``put``; each consumer holds one get open at a time, so the
consumer's number names its getter.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import trio

from harness.checkers import Recent
from harness.rules import Pattern
from harness.stress.runner import Context, StepFailed
from harness.stress.workloads.base import COMMON, Driver


class QueueDriver(Driver):
    """Producers against consumers through one queue."""

    pattern: ClassVar[Pattern] = Pattern.QUEUE
    honours: ClassVar[frozenset[str]] = COMMON | {"consumers"}

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.queue: Any = None
        self.put_at: Recent[int, float] = Recent()
        self.accepted = 0
        self.taken = 0
        self.taking = trio.Lock()

    async def producer(self, number: int) -> None:
        """Put items at the scenario's pace until the run is long enough."""
        ctx = self.ctx
        pace = ctx.pacer(number)
        offer = ctx.params["factory"] == "dropping_queue"
        closed_errors = ctx.implementation.closed_errors
        while True:
            await pace()
            item = ctx.next_job()
            if item is None:
                return
            now = trio.current_time()
            ctx.metrics.offered(now)
            self.put_at[item] = now
            if offer:
                self.record("put", item, mode="offer")
                try:
                    accepted = ctx.call_sync(f"offer({item})", self.queue.offer, item)
                except closed_errors:
                    self.record("put_closed", item)
                    return
                self.record("put_ok" if accepted else "offer_refused", item)
                if not accepted:
                    ctx.metrics.count("dropped")
                    continue
            else:
                self.record("put", item, mode="blocking")

                async def put(item: int = item) -> bool:
                    try:
                        await self.queue.put(item)
                    except closed_errors:
                        return False
                    return True

                if not await ctx.call(f"put({item})", put):
                    self.record("put_closed", item)
                    return
                self.record("put_ok", item)
            self.accepted += 1

    async def consumer(self, number: int) -> None:
        """Take items and work on each for a drawn duration, until the queue ends."""
        ctx = self.ctx
        getter = f"c{number}"
        end_errors = getattr(ctx.implementation, "end_errors", (trio.EndOfChannel,))

        async def get() -> tuple[bool, Any]:
            try:
                return True, await self.queue.get()
            except end_errors:
                return False, None

        while True:
            # One get open at a time: two woken getters could record their items in the
            # other order than they took them, which would read as a FIFO violation.
            async with self.taking:
                self.record("get", getter, mode="blocking")
                got, item = await ctx.call(f"get() by {getter}", get)
                if not got:
                    self.record("get_end", getter)
                    return
                now = trio.current_time()
                self.record("get_ok", getter, item=item)
            self.taken += 1
            put_at = self.put_at.pop(item, None)
            if put_at is not None:
                ctx.metrics.latency("queue_wait", now - put_at)
            service = ctx.duration()
            await trio.sleep(service)
            ctx.metrics.latency("service", service)
            if put_at is not None:
                ctx.metrics.latency("end_to_end", trio.current_time() - put_at)
            ctx.metrics.completed(trio.current_time())

    async def run(self, nursery: trio.Nursery) -> None:
        """Build the queue, run producers and consumers, close after the last put, drain."""
        ctx = self.ctx
        params = ctx.params
        factory = ctx.implementation.factories[params["factory"]]
        kwargs = {k: params[k] for k in ("capacity", "policy") if params.get(k) is not None}
        self.queue = ctx.call_sync(f"{params['factory']}()", factory, **kwargs)
        async with trio.open_nursery() as consumers:
            for number in range(ctx.load.consumers):
                consumers.start_soon(self._guard, self.consumer, number, name=f"consumer-{number}")
            async with trio.open_nursery() as producers:
                for number in range(ctx.load.producers):
                    producers.start_soon(
                        self._guard, self.producer, number, name=f"producer-{number}"
                    )
            ctx.call_sync("close()", self.queue.close)
            self.record("close")
        if params.get("policy") == "oldest":
            ctx.metrics.count("dropped", self.accepted - self.taken)

    @staticmethod
    async def _guard(fn: Any, number: int) -> None:
        with contextlib.suppress(StepFailed):  # already recorded
            await fn(number)

    def observe(self, counters: bool) -> None:
        """The queue's own length at every settled instant; its counters now and then."""
        if self.queue is None:
            return
        n = self.ctx.call_sync("len()", len, self.queue)
        self.record("length", None, n=n)
        self.ctx.metrics.queue_length(trio.current_time(), n)
        if counters and self.ctx.implementation.has("metrics"):
            counted = self.ctx.call_sync(
                "counters()", self.ctx.implementation.read_counters, self.queue
            )
            if counted is not None:
                self.record("metrics", None, counters=dict(counted))
