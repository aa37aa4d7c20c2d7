"""Stress workload of the rate limiters: waiters queue on ``acquire``, a prober tries its luck.

The :class:`~harness.drivers.rate.RateDriver` performs every operation and records its events;
this workload chooses them. For a token or leaky bucket, producer 0 probes with
``try_acquire`` and every other producer waits in line with ``acquire``; a shedding gate is
only ever asked ``try_admit``. Producers offer at the scenario's pace, so an offered rate far
above the limiter's keeps it saturated. At the scenario's cancel point every waiting acquire
is cancelled (RATE-CANCEL-NO-LOSS).

The metrics are folded from the events: each ``acquire`` and each probe is an offer; an
admission is admitted and completed (a waiter's queue wait runs from its ``acquire`` to its
``admit``); a probe refused is rejected; a waiter cancelled is cancelled; the queue length is
the number of waiters in line at each ``idle``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from harness.drivers.rate import RateDriver
from harness.events import Event
from harness.rules import Pattern
from harness.stress.workloads.base import COMMON, Context, Workload


class RateWorkload(Workload):
    """Offers acquisitions to one limiter at the scenario's pace."""

    pattern: ClassVar[Pattern] = Pattern.RATE
    honours: ClassVar[frozenset[str]] = (COMMON - {"duration"}) | {"cancel_at"}
    driver: RateDriver

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        #: When each waiter in line asked, by waiter id.
        self.asked_at: dict[Any, float] = {}

    # -- the load ------------------------------------------------------------------------
    async def offer(self, job: int, producer: int) -> bool:
        """One acquisition: a gate decides, producer 0 probes, the others wait in line."""
        driver = self.driver
        if driver.gate:
            await driver.try_admit(job)
        elif producer == 0 and driver.has(driver.limiter, "try_acquire"):
            await driver.try_acquire(job)
        else:
            await driver.acquire(job)
        return True

    async def run(self) -> None:
        """Build the limiter, run the producers (and the canceller) until the load is offered."""
        await self.driver.setup()
        await self.produce(self.driver.cancel_all)

    # -- what it measures ------------------------------------------------------------------
    def measure(self, event: Event) -> None:
        """Offers, admissions, rejections, cancellations, queue wait and the line's length."""
        t, metrics = event.t, self.metrics
        match event.kind:
            case "acquire":
                self.asked_at[event.id] = t
                metrics.offered(t)
            case "admit":
                if event.get("via") == "acquire":
                    metrics.latency("queue_wait", t - self.asked_at.pop(event.id, t))
                else:
                    metrics.offered(t)  # a probe is offered and decided at once
                metrics.admitted(t, int(event.get("weight", 1)))
                metrics.completed(t)
            case "refuse":
                metrics.offered(t)
                metrics.count("rejected")
            case "acquire_cancelled":
                self.asked_at.pop(event.id, None)
                metrics.count("cancelled")
            case "acquire_failed":
                self.asked_at.pop(event.id, None)
            case "idle":
                metrics.queue_length(t, len(self.asked_at))
