"""Stress driver of ``worker_pool``: producers submit, a reader reads, then drain or cancel.

Events are those of :mod:`harness.models.pool` (``submit``, ``accepted``, ``job_start``,
``job_end``, ``result``, ``results_end``, ``close``, ``cancel``, ``leave``, ``undelivered``,
``exit``, ``metrics``), so :mod:`harness.checkers.pool` judges them unchanged.
"""

from __future__ import annotations

from typing import Any, ClassVar

import trio

from harness.events import as_scalar
from harness.models.pool import JobFailed
from harness.rules import Pattern
from harness.stress.drivers.base import COMMON, Driver
from harness.stress.runner import Context, StepFailed

_OUTCOME = {"ok": "completed", "error": "failed", "timeout": "timed_out", "cancelled": "cancelled"}


class PoolDriver(Driver):
    """Open- or closed-loop producers against one pool; drain at the end, or cancel midway."""

    pattern: ClassVar[Pattern] = Pattern.POOL
    honours: ClassVar[frozenset[str]] = COMMON | {"failure_rate", "cancel_at"}

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.pool: Any = None
        self.submitted_at: dict[int, float] = {}
        self.durations: dict[int, float] = {}
        self.queued: set[int] = set()
        self.started: set[int] = set()
        self.running = 0
        self.cancelled = False
        self.entered = trio.Event()
        self.entered_ok = False
        self.leave_now = trio.Event()
        self.host_done = trio.Event()
        self.reader_done = trio.Event()

    def workers(self) -> int | None:
        """The pool's worker count."""
        return int(self.ctx.params["workers"])

    # -- the harness side of the pool ----------------------------------------------------
    async def handler(self, payload: tuple[int, float, bool]) -> int:
        """Run one job: record its start, sleep its duration, then return or raise."""
        job_id, duration, raises = payload
        metrics = self.ctx.metrics
        self.record("job_start", job_id, duration=duration, raises=raises)
        now = trio.current_time()
        self.queued.discard(job_id)
        self.started.add(job_id)
        submitted = self.submitted_at.get(job_id)
        if submitted is not None:
            metrics.latency("queue_wait", now - submitted)
        self.running += 1
        metrics.set_busy(now, self.running)
        try:
            await trio.sleep(duration)
        except BaseException:
            self.record("job_end", job_id, outcome="cancelled")
            self._stop_running()
            raise
        self.record("job_end", job_id, outcome="error" if raises else "ok")
        metrics.latency("service", trio.current_time() - now)
        self._stop_running()
        if raises:
            raise JobFailed(job_id)
        return job_id

    def _stop_running(self) -> None:
        self.running -= 1
        self.ctx.metrics.set_busy(trio.current_time(), self.running)

    async def host(self) -> None:
        """Hold the pool's block open until told to leave; then report ``undelivered``."""
        try:
            await self._host()
        finally:
            self.entered.set()
            self.host_done.set()

    async def _host(self) -> None:
        record = self.record
        try:
            async with self.pool:
                self.entered_ok = True
                record("entered")
                self.entered.set()
                await self.leave_now.wait()
                record("leave", mode="cancel" if self.cancelled else "drain")
        except Exception as exc:
            record("crash", "async with pool", error=repr(exc)[:200])
            return
        try:
            undelivered = list(self.pool.undelivered)
        except Exception as exc:
            record("crash", "pool.undelivered", error=repr(exc)[:200])
            return
        for entry in undelivered:
            ident = as_scalar(getattr(entry, "id", entry))
            status = as_scalar(getattr(entry, "status", None))
            record("undelivered", ident, status=status)
            self._finished(ident, str(status))
        record("exit")

    async def reader(self) -> None:
        """Read ``results`` until they end, recording each outcome."""
        try:
            await self._read()
        finally:
            self.reader_done.set()

    async def _read(self) -> None:
        record = self.record
        try:
            results = self.pool.results
        except Exception as exc:
            record("crash", "pool.results", error=repr(exc)[:200])
            return
        while True:
            try:
                result = await results.receive()
            except trio.EndOfChannel:
                record("results_end", how="EndOfChannel")
                return
            except (trio.ClosedResourceError, trio.BrokenResourceError) as exc:
                record("results_end", how=type(exc).__name__)
                return
            except Exception as exc:
                record("crash", "results.receive()", error=repr(exc)[:200])
                return
            ident = as_scalar(getattr(result, "id", result))
            status = as_scalar(getattr(result, "status", None))
            record("result", ident, status=status)
            self._finished(ident, str(status))

    def _finished(self, ident: Any, status: str) -> None:
        now = trio.current_time()
        submitted = self.submitted_at.pop(ident, None)
        if submitted is not None:
            self.ctx.metrics.latency("end_to_end", now - submitted)
        self.durations.pop(ident, None)
        self.queued.discard(ident)
        self.started.discard(ident)
        self.ctx.metrics.completed(now, _OUTCOME.get(status, "unknown_status"))

    # -- the load ------------------------------------------------------------------------
    async def producer(self, number: int) -> None:
        """Submit jobs at the scenario's pace until the run is long enough."""
        ctx = self.ctx
        pace = ctx.pacer(number)
        closed_errors = ctx.implementation.closed_errors
        while True:
            await pace()
            job_id = ctx.next_job()
            if job_id is None:
                return
            duration = ctx.duration()
            raises = ctx.chance(ctx.load.failure_rate)
            now = trio.current_time()
            self.record("submit", job_id, duration=duration, raises=raises, blocking=True)
            ctx.metrics.offered(now)
            self.submitted_at[job_id] = now
            self.durations[job_id] = duration

            async def submit(
                job_id: int = job_id, payload: Any = (job_id, duration, raises)
            ) -> bool:
                try:
                    await self.pool.submit(job_id, payload)
                except closed_errors:
                    return False
                return True

            try:
                accepted = await ctx.call(f"submit({job_id})", submit)
            except trio.Cancelled:
                self.record("submit_cancelled", job_id)
                self._refused(job_id)
                raise
            if not accepted:
                self.record("submit_closed", job_id)
                self._refused(job_id)
                return
            self.record("accepted", job_id)
            if job_id in self.submitted_at and job_id not in self.started:
                self.queued.add(job_id)

    def _refused(self, job_id: int) -> None:
        self.submitted_at.pop(job_id, None)
        self.durations.pop(job_id, None)
        self.ctx.metrics.count("rejected")

    def cancel(self) -> None:
        """Stop the pool now: no job starts afterwards."""
        if self.cancelled:
            return
        self.ctx.call_sync("cancel()", self.pool.cancel)
        self.cancelled = True
        self.record("cancel")

    async def canceller(self, producers: trio.CancelScope) -> None:
        """At the scenario's cancel point: cancel the pool and the producers' blocked submits."""
        await self.ctx.cancel_event.wait()
        self.cancel()
        producers.cancel()

    async def run(self, nursery: trio.Nursery) -> None:
        """Build, enter, load, then drain (close) or cancel, and wait for the block to exit."""
        ctx = self.ctx
        params = ctx.params
        factory = ctx.implementation.factories["worker_pool"]
        self.pool = ctx.call_sync(
            "worker_pool()",
            factory,
            handler=self.handler,
            workers=params["workers"],
            jobs_buffer=params["jobs_buffer"],
            results_buffer=params["results_buffer"],
            job_timeout=params["job_timeout"],
        )
        nursery.start_soon(self.host, name="pool-host")
        if not await self.wait_for(self.entered, "pool.__aenter__") or not self.entered_ok:
            raise StepFailed("enter")
        nursery.start_soon(self.reader, name="pool-reader")
        async with trio.open_nursery() as load:
            load.start_soon(self.canceller, load.cancel_scope, name="pool-canceller")
            async with trio.open_nursery() as producers:
                for number in range(ctx.load.producers):
                    producers.start_soon(self.producer, number, name=f"producer-{number}")
            load.cancel_scope.cancel()
        if ctx.cancel_event.is_set():
            self.cancel()
        if not self.cancelled:
            ctx.call_sync("close()", self.pool.close)
            self.record("close")
        self.leave_now.set()
        # A drain may take as long as every job still in the pool run back to back.
        allowance = 0.0 if self.cancelled else sum(self.durations.values())
        if await self.wait_for(self.host_done, "pool block exit", allowance):
            await self.wait_for(self.reader_done, "results end")

    def observe(self, counters: bool) -> None:
        """Queue length (accepted, not started) and, now and then, the pool's counters."""
        self.ctx.metrics.queue_length(trio.current_time(), len(self.queued))
        if counters and self.pool is not None and self.ctx.implementation.has("metrics"):
            counted = self.ctx.call_sync(
                "counters()", self.ctx.implementation.read_counters, self.pool
            )
            if counted is not None:
                self.record("metrics", None, **{k: int(v) for k, v in counted.items()})
