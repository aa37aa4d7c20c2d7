"""Stress workload of ``worker_pool``: producers submit, then the pool drains or is cancelled.

The :class:`~harness.drivers.pool.PoolDriver` runs the handler, reads the results and records
every event; this workload offers the jobs and folds those events into the metrics: queue wait
(``submit`` to ``job_start``), service (``job_start`` to ``job_end``), end to end (``submit``
to ``result``), busy workers, and the jobs accepted but not started.
"""

from __future__ import annotations

from typing import Any, ClassVar

from harness.events import Event
from harness.rules import Pattern
from harness.stress.workloads.base import COMMON, Context, Workload

_OUTCOME = {"ok": "completed", "error": "failed", "timeout": "timed_out", "cancelled": "cancelled"}


class PoolWorkload(Workload):
    """Open- or closed-loop producers against one pool; drain at the end, or cancel midway."""

    pattern: ClassVar[Pattern] = Pattern.POOL
    honours: ClassVar[frozenset[str]] = COMMON | {"failure_rate", "cancel_at"}

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.submitted_at: dict[Any, float] = {}
        self.started_at: dict[Any, float] = {}
        self.queued: set[Any] = set()
        self.running = 0

    def workers(self) -> int | None:
        """The pool's worker count."""
        return int(self.ctx.params["workers"])

    # -- the load ------------------------------------------------------------------------
    async def offer(self, job: int, producer: int) -> bool:
        """Submit the job; a producer stops once the pool refuses it."""
        ctx = self.ctx
        outcome: str = await self.driver.submit(
            job, ctx.duration(), ctx.chance(ctx.load.failure_rate)
        )
        return outcome == "accepted"

    async def cancel(self) -> None:
        """Cancel the pool once."""
        # A pool without cancel() drains instead: the scenario's cancel point becomes a close.
        if not self.driver.cancelled and self.driver.has(self.driver.pool, "cancel"):
            await self.driver.cancel()

    async def run(self) -> None:
        """Build, enter, load, then drain (close) or cancel, and wait for the block to exit."""
        driver = self.driver
        await driver.setup()
        # At the cancel point the pool is cancelled and the producers' blocked submits too.
        await self.produce(self.cancel, stop_producers=True)
        if self.ctx.cancel_event.is_set():
            await self.cancel()
        if not driver.cancelled:
            await driver.close()
        driver.leave()
        await driver.wait_exit()

    # -- what it measures ------------------------------------------------------------------
    def measure(self, event: Event) -> None:
        """Latencies, outcomes, busy workers and the backlog, from the pool's events."""
        kind = event.kind
        metrics = self.metrics
        if kind == "submit":
            metrics.offered(event.t)
            self.submitted_at[event.id] = event.t
        elif kind == "accepted":
            if event.id not in self.started_at:
                self.queued.add(event.id)
        elif kind in ("submit_closed", "submit_cancelled", "submit_full"):
            self.submitted_at.pop(event.id, None)
            metrics.count("rejected")
        elif kind == "job_start":
            self.queued.discard(event.id)
            self.started_at[event.id] = event.t
            submitted = self.submitted_at.get(event.id)
            if submitted is not None:
                metrics.latency("queue_wait", event.t - submitted)
            self.running += 1
            metrics.set_busy(event.t, self.running)
        elif kind == "job_end":
            started = self.started_at.pop(event.id, None)
            if started is not None and event.get("outcome") != "cancelled":
                metrics.latency("service", event.t - started)
            self.running -= 1
            metrics.set_busy(event.t, self.running)
        elif kind in ("result", "undelivered"):
            submitted = self.submitted_at.pop(event.id, None)
            if submitted is not None:
                metrics.latency("end_to_end", event.t - submitted)
            self.queued.discard(event.id)
            metrics.completed(event.t, _OUTCOME.get(str(event.get("status")), "unknown_status"))
        elif kind == "idle":
            metrics.queue_length(event.t, len(self.queued))
