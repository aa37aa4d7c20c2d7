"""Stress workload of ``reorderer``: workers finish out of order, the stage restores the order.

The :class:`~harness.drivers.ordering.OrderingDriver` runs the in-order consumer and performs
each put; this workload chooses them. Each producer is a worker: it takes the next sequence
number, works a drawn duration (so completions come out of order) and puts the result into
the stage. The lowest open sequence number is always inside the window, so the stage can
always make progress.

The metrics are folded from the events: a job is offered when its worker took it (its work
time before its ``put_begin``, which is its service time); its queue wait runs from
``put_begin`` to its ``emit``, which completes it (a put refused after close leaves it
unfinished); the queue length is the number of items accepted and not yet emitted at each
``idle``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from harness.drivers.ordering import OrderingDriver
from harness.events import Event
from harness.rules import Pattern
from harness.stress.workloads.base import Context, Workload


class OrderingWorkload(Workload):
    """Out-of-order workers feeding one reorder stage and its in-order consumer."""

    pattern: ClassVar[Pattern] = Pattern.ORDERING
    driver: OrderingDriver

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        #: How long each seq's worker worked on it before handing it in.
        self.worked: dict[Any, float] = {}
        #: When each seq handed in and not yet emitted was put.
        self.put_at: dict[Any, float] = {}
        self.buffered = 0

    async def offer(self, job: int, producer: int) -> bool:
        """Work on sequence number ``job - 1``, then hand it to the stage."""
        seq = job - 1
        self.worked[seq] = service = self.ctx.duration()
        await self.ctx.host.sleep(service)
        return bool(await self.driver.put(seq))

    async def run(self) -> None:
        """Build the stage, run the workers, close, and wait for the consumer to see the end."""
        await self.driver.setup()
        await self.produce()
        await self.driver.close()
        await self.driver.wait_end()

    # -- what it measures ------------------------------------------------------------------
    def measure(self, event: Event) -> None:
        """Offers, service and queue-wait times, completions and the items held back."""
        t, metrics = event.t, self.metrics
        match event.kind:
            case "put_begin":
                service = self.worked.pop(event.id, 0.0)
                metrics.offered(t - service)
                metrics.latency("service", service)
                self.put_at[event.id] = t
            case "put_ok":
                self.buffered += 1
            case "put_closed":
                self.put_at.pop(event.id, None)
            case "emit":
                self.buffered -= 1
                put_at = self.put_at.pop(event.id, None)
                if put_at is not None:
                    metrics.latency("queue_wait", t - put_at)
                metrics.completed(t)
            case "idle":
                metrics.queue_length(t, max(self.buffered, 0))
