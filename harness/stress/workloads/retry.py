"""Stress workload of ``retrier``: concurrent calls whose attempts fail at a given rate.

Producers make calls through the :class:`~harness.drivers.retry.RetryDriver`, each with a
script drawn from the load: every attempt sleeps a drawn duration and fails, retryably, with
probability ``failure_rate``, so a call that keeps failing must be tried exactly
``max_attempts`` times. At the scenario's cancel point every open call is cancelled by its
caller. The metrics fold the driver's events: a call is offered at ``call_begin`` and completes
(completed, errors or cancelled) at ``call_end``; end to end is a successful call's duration,
and every attempt after a call's first counts as one of ``retries``.
"""

from __future__ import annotations

from typing import ClassVar

from harness.drivers.retry import RetryDriver, Step
from harness.events import Event, Scalar
from harness.rules import Pattern
from harness.stress.workloads.base import COMMON, Context, Workload

_OUTCOME = {"ok": "completed", "error": "errors", "cancelled": "cancelled"}


class RetryWorkload(Workload):
    """Producers make calls through one retrier; a canceller cancels them all midway."""

    pattern: ClassVar[Pattern] = Pattern.RETRY
    honours: ClassVar[frozenset[str]] = COMMON | {"failure_rate", "cancel_at"}
    driver: RetryDriver

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.began: dict[Scalar, float] = {}

    # -- the load ------------------------------------------------------------------------
    def script(self) -> list[Step]:
        """One call's attempts as the load makes them, and one more for a retrier that overruns."""
        ctx = self.ctx
        return [
            (ctx.duration(), "retry" if ctx.chance(ctx.load.failure_rate) else "ok")
            for _ in range(self.driver.max_attempts + 1)
        ]

    async def offer(self, job: int, producer: int) -> bool:
        """Make one call with a freshly drawn script."""
        await self.driver.call(job, self.script())
        return True

    async def run(self) -> None:
        """Build the retrier and run the producers, with the canceller beside them."""
        await self.driver.setup()
        await self.produce(self.driver.cancel_all)

    # -- what it measures ------------------------------------------------------------------
    def measure(self, event: Event) -> None:
        """Offers, call outcomes, end-to-end latency and retries, from the retrier's events."""
        kind = event.kind
        metrics = self.metrics
        if kind == "attempt_begin":
            if int(event.get("attempt", 1)) > 1:
                metrics.count("retries")
        elif kind == "call_begin":
            metrics.offered(event.t)
            self.began[event.id] = event.t
        elif kind == "call_end":
            began = self.began.pop(event.id, None)
            outcome = event.get("outcome")
            metrics.completed(event.t, _OUTCOME.get(str(outcome), "unknown_outcome"))
            if outcome == "ok" and began is not None:
                metrics.latency("end_to_end", event.t - began)
