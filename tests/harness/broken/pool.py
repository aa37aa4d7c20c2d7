"""Deliberately broken worker pools, each with the realistic bug named in its docstring.

Each public function is a declaration factory, loaded through the plug-in path exactly as a
user's implementation would be: ``tests.harness.broken.pool:drops_failed_jobs``. Most mutants
start from :class:`_PlainPool`, the reference pool with its worker loop written out plainly
(no inlined fast path), and change one thing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import trio

from reference.instrumentation import JOBS_COMPLETED
from reference.plugin import implementation as reference_implementation
from reference.pool import Result, WorkerPool


def _with_pool(
    cls: type[WorkerPool[Any, Any]], *, extra_workers: int = 0, honour_timeout: bool = True
) -> Any:
    def make(
        *,
        handler: Callable[[Any], Awaitable[Any]],
        workers: int,
        jobs_buffer: int,
        results_buffer: int,
        job_timeout: float | None,
    ) -> WorkerPool[Any, Any]:
        return cls(
            handler,
            workers=workers + extra_workers,
            jobs_buffer=jobs_buffer,
            results_buffer=results_buffer,
            job_timeout=job_timeout if honour_timeout else None,
        )

    declaration = reference_implementation()
    return {
        "name": f"broken-pool-{cls.__name__}",
        "backend": "trio",
        "capabilities": declaration.capabilities,
        "factories": {**declaration.factories, "worker_pool": make},
        "closed_errors": declaration.closed_errors,
        "counters": declaration.counters,
    }


class _PlainPool(WorkerPool[Any, Any]):
    """The reference pool with a plain worker loop; each mutant overrides one hook."""

    async def _next_job(self) -> tuple[Hashable, Any] | None:
        await trio.lowlevel.checkpoint()
        try:
            return self._jobs.get_nowait()
        except trio.WouldBlock:
            pass
        except trio.EndOfChannel:
            return None
        try:
            job_id, payload = await self._jobs.get()
        except trio.EndOfChannel:
            return None
        if self._scope.cancel_called:
            self._record_cancelled(job_id)
            return None
        try:
            await trio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            self._record_cancelled(job_id)
            raise
        return job_id, payload

    async def _run(self, job_id: Hashable, payload: Any) -> Result[Any] | None:
        return await self._run_job(job_id, payload)

    def _drain_cancelled(self) -> None:
        # Close the jobs and account every queued job as cancelled (as the reference does).
        self._jobs.close()
        while True:
            try:
                job_id, _ = self._jobs.get_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            self._record_cancelled(job_id)

    async def _worker(self, results: trio.MemorySendChannel[Result[Any]]) -> None:
        with results:
            while True:
                job = await self._next_job()
                if job is None:
                    return
                try:
                    result = await self._run(*job)
                except BaseException:
                    self._record_cancelled(job[0])  # cancelled mid-job: it did not finish
                    raise
                if result is None:
                    continue
                try:
                    await results.send(result)
                except BaseException:
                    self.undelivered.append(result)
                    raise


# -- POOL-RESULTS-CLOSED-ONCE ------------------------------------------------------------


class ResultsNeverClosed(_PlainPool):
    """Forgets to close the original results sender: ``async for`` over results never ends."""

    async def _supervise(self) -> None:
        send = self._results_send
        try:
            with self._scope:
                async with trio.open_nursery() as workers:
                    for _ in range(self._workers):
                        workers.start_soon(self._worker, send.clone())
        finally:
            self._drain_cancelled()
            # send.close() forgotten: the guide's "forgetting to close results" (§7.2).


class FirstWorkerClosesResults(_PlainPool):
    """Workers share one sender and each closes it on exit: the first to exit ends results."""

    async def _supervise(self) -> None:
        send = self._results_send
        try:
            with self._scope:
                async with trio.open_nursery() as workers:
                    for _ in range(self._workers):
                        workers.start_soon(self._worker, send)  # no clone()
        finally:
            self._drain_cancelled()
            send.close()


class ReceiverClosesResults(_PlainPool):
    """``close()`` also closes ``results`` (the receiver side) while jobs are still running."""

    def close(self) -> None:
        super().close()
        self.results.close()


def results_never_closed() -> Any:
    """POOL-RESULTS-CLOSED-ONCE: results never end after the drain."""
    return _with_pool(ResultsNeverClosed)


def first_worker_closes_results() -> Any:
    """POOL-RESULTS-CLOSED-ONCE: results end while other workers still run jobs."""
    return _with_pool(FirstWorkerClosesResults)


def receiver_closes_results() -> Any:
    """POOL-RESULTS-CLOSED-ONCE: closed from the receiving side (guide §7.1)."""
    return _with_pool(ReceiverClosesResults)


# -- POOL-EXACTLY-ONCE --------------------------------------------------------------------


class DropsFailedJobs(_PlainPool):
    """A worker that 'logs and continues' on a handler error: the job has no outcome."""

    async def _run(self, job_id: Hashable, payload: Any) -> Result[Any] | None:
        result = await self._run_job(job_id, payload)
        return None if result.status == "error" else result


def drops_failed_jobs() -> Any:
    """POOL-EXACTLY-ONCE: failed jobs vanish."""
    return _with_pool(DropsFailedJobs)


# -- POOL-CONCURRENCY ---------------------------------------------------------------------


def one_extra_worker() -> Any:
    """POOL-CONCURRENCY: ``range(workers + 1)``: one job too many runs at once."""
    return _with_pool(_PlainPool, extra_workers=1)


class SerializedWorkers(_PlainPool):
    """A pool-wide lock around the handler: N workers, but one job at a time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = trio.Lock()

    async def _run(self, job_id: Hashable, payload: Any) -> Result[Any] | None:
        async with self._lock:
            return await self._run_job(job_id, payload)


def serialized_workers() -> Any:
    """POOL-CONCURRENCY: fewer than N jobs run while N are waiting."""
    return _with_pool(SerializedWorkers)


# -- POOL-NO-LEAK -------------------------------------------------------------------------


class KeepsStartingAfterCancel(_PlainPool):
    """Swallows the cancellation of its job and goes on with the next queued one."""

    async def _worker(self, results: trio.MemorySendChannel[Result[Any]]) -> None:
        with results:
            job = await self._next_job()
            while job is not None:
                try:
                    result = await self._run_job(*job)
                except trio.Cancelled as cancelled:
                    self._record_cancelled(job[0])
                    # "The job was cancelled, take the next one" without a checkpoint, so
                    # the cancellation never reaches the worker itself.
                    try:
                        job = self._jobs.get_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        raise cancelled from None
                    continue
                try:
                    await results.send(result)
                except BaseException:
                    self.undelivered.append(result)
                    raise
                job = await self._next_job()


class SystemTaskSupervisor(_PlainPool):
    """Starts its supervisor with ``spawn_system_task``: leaving the block does not wait."""

    async def _supervise(self) -> None:
        # Re-spawn the real supervisor outside the pool's nursery, and return at once.
        trio.lowlevel.spawn_system_task(super()._supervise, name="pool-supervisor")


def keeps_starting_after_cancel() -> Any:
    """POOL-NO-LEAK: queued jobs start after cancel()."""
    return _with_pool(KeepsStartingAfterCancel)


def system_task_supervisor() -> Any:
    """POOL-NO-LEAK: the pool's tasks outlive its block."""
    return _with_pool(SystemTaskSupervisor)


# -- POOL-CANCEL-PROMPT -------------------------------------------------------------------


class CancelWaitsForRunningJobs(_PlainPool):
    """``cancel()`` refuses and discards queued jobs but lets running jobs finish on their own."""

    def cancel(self) -> None:
        self._drain_cancelled()


def cancel_waits_for_running_jobs() -> Any:
    """POOL-CANCEL-PROMPT: cancel waits for running jobs."""
    return _with_pool(CancelWaitsForRunningJobs)


# -- POOL-TIMEOUT -------------------------------------------------------------------------


def timeout_not_enforced() -> Any:
    """POOL-TIMEOUT: declares ``job_timeout`` but never passes it to the pool."""
    return _with_pool(_PlainPool, honour_timeout=False)


# -- POOL-DRAIN ---------------------------------------------------------------------------


class CloseDiscardsQueue(_PlainPool):
    """``close()`` "drains the channel" by throwing the queued jobs away (as cancelled)."""

    def close(self) -> None:
        self._drain_cancelled()


def close_discards_queue() -> Any:
    """POOL-DRAIN: queued jobs do not run after close."""
    return _with_pool(CloseDiscardsQueue)


# -- METRICS-CONSISTENT -------------------------------------------------------------------


class CountsErrorsAsCompleted(_PlainPool):
    """Counts ``jobs_completed`` for every finished job, failed ones included."""

    async def _run(self, job_id: Hashable, payload: Any) -> Result[Any] | None:
        result = await self._run_job(job_id, payload)
        if result.status == "error":
            self.metrics.incr(JOBS_COMPLETED)
        return result


def counts_errors_as_completed() -> Any:
    """METRICS-CONSISTENT: ``jobs_completed`` drifts on errors."""
    return _with_pool(CountsErrorsAsCompleted)
