"""Stress workload of the concurrency limiter: producers take a slot, work, and give it back.

The :class:`~harness.drivers.concurrency.ConcurrencyDriver` performs every operation and
records its events; this workload chooses them. Each producer, at the scenario's pace, runs
one job at a time as one holder task: acquire a slot, hold it for a drawn ``duration``,
release it. With more producers than ``limit`` they queue for slots. At the scenario's cancel
point every task is cancelled, waiting or holding, and the producers stop; then ``limit + 1``
fresh tasks take every slot again, which a slot leaked by a cancellation would prevent
(CONC-CANCEL-NO-LEAK). Capability ``fifo`` is added to the run's ``params`` from the
declaration, so CONC-FIFO is judged exactly when the implementation promises it.

The metrics are folded from the events: each ``acquire`` is an offer; a ``grant`` is an
admission (the queue wait runs from its ``acquire``); a ``released`` is a completion (the
service time runs from its ``grant``); a cancelled acquire or holder is counted as
cancelled; the busy slots and the line's length are tracked for utilization.
"""

from __future__ import annotations

from typing import Any, ClassVar

import anyio

from harness.drivers.concurrency import ConcurrencyDriver
from harness.drivers.host import guarded
from harness.events import Event
from harness.rules import Pattern
from harness.stress.workloads.base import COMMON, Context, Workload


class ConcurrencyWorkload(Workload):
    """Producers contending for one limiter's slots."""

    pattern: ClassVar[Pattern] = Pattern.CONCURRENCY
    honours: ClassVar[frozenset[str]] = COMMON | {"cancel_at"}
    driver: ConcurrencyDriver

    def __init__(self, context: Context) -> None:
        context.params["fifo"] = context.host.implementation.has("fifo")
        super().__init__(context)
        #: When each task in line asked, and when each holder was granted, by holder id.
        self.asked_at: dict[Any, float] = {}
        self.granted_at: dict[Any, float] = {}
        #: Holders cancelled while holding: their release ends a cancelled job.
        self.cut_short: set[Any] = set()

    # -- the load ------------------------------------------------------------------------
    async def offer(self, job: int, producer: int) -> bool:
        """One job: a slot held for a drawn duration, then released (in this task)."""
        await self.driver.hold(job, self.ctx.duration())
        return True

    async def run(self) -> None:
        """Build the limiter, run the producers (and the canceller) until the load is offered."""
        await self.driver.setup()
        await self.produce(self._cancel_everyone)
        if self.ctx.cancel_event.is_set():
            await self._all_slots_again()

    async def _all_slots_again(self) -> None:
        """After the cancellations, ``limit + 1`` fresh tasks: every slot must be there again.

        A slot a cancelled task kept leaves one of them waiting beside a slot the books show
        free (CONC-CANCEL-NO-LEAK); the last one waits for a release and is handed its slot.
        """
        limit = int(self.ctx.params["limit"])
        hold = guarded(self.driver.hold)
        async with anyio.create_task_group() as group:
            for number in range(limit + 1):
                # Negative numbers: the producers' jobs are numbered from 1.
                group.start_soon(hold, -1 - number, self.ctx.duration(), name=f"after-{number}")

    def _cancel_everyone(self) -> None:
        for ident in sorted(self.driver.holders):
            self.driver.cancel(ident)

    def workers(self) -> int | None:
        """The limit: how many slots can be busy at once (for utilization)."""
        return int(self.ctx.params["limit"])

    # -- what it measures ------------------------------------------------------------------
    def measure(self, event: Event) -> None:
        """Offers, grants, completions, cancellations, queue wait, service and busy slots."""
        t, metrics = event.t, self.metrics
        match event.kind:
            case "acquire":
                self.asked_at[event.id] = t
                metrics.offered(t)
            case "grant":
                metrics.latency("queue_wait", t - self.asked_at.pop(event.id, t))
                metrics.admitted(t)
                self.granted_at[event.id] = t
                metrics.set_busy(t, len(self.granted_at))
            case "release":
                if event.get("cancelled"):
                    self.cut_short.add(event.id)
            case "released" | "release_failed":
                granted = self.granted_at.pop(event.id, None)
                if event.id in self.cut_short:
                    self.cut_short.discard(event.id)
                    metrics.count("cancelled")
                elif granted is not None and event.kind == "released":
                    metrics.latency("service", t - granted)
                    metrics.completed(t)
                metrics.set_busy(t, len(self.granted_at))
            case "acquire_cancelled":
                self.asked_at.pop(event.id, None)
                metrics.count("cancelled")
            case "acquire_failed":
                self.asked_at.pop(event.id, None)
            case "idle":
                metrics.queue_length(t, len(self.asked_at))
