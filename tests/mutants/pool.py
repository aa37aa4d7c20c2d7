"""Broken worker pools: results closing, exactly-once, concurrency, leaks, cancel, timeout, drain.

Most mutants start from :class:`_PlainPool`, the reference pool with its worker loop written
out plainly (no inlined fast path), and change one hook.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import trio

from reference.instrumentation import JOBS_COMPLETED
from reference.pool import Result, WorkerPool
from tests.mutants._base import mutant, reference_with


def _with_pool(
    cls: type[WorkerPool[Any, Any]],
    *,
    extra_workers: int = 0,
    extra_jobs_buffer: int = 0,
    honour_timeout: bool = True,
    timeout_scale: float = 1.0,
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
            jobs_buffer=jobs_buffer + extra_jobs_buffer,
            results_buffer=results_buffer,
            job_timeout=(
                job_timeout * timeout_scale if job_timeout is not None and honour_timeout else None
            ),
        )

    return reference_with(worker_pool=make)


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


@mutant("POOL-RESULTS-CLOSED-ONCE")
def results_never_closed() -> Any:
    """Forgets to close the original results sender: results never end after the drain."""
    return _with_pool(ResultsNeverClosed)


@mutant("POOL-RESULTS-CLOSED-ONCE")
def first_worker_closes_results() -> Any:
    """Workers share one results sender and each closes it: results end while others run."""
    return _with_pool(FirstWorkerClosesResults)


@mutant("POOL-RESULTS-CLOSED-ONCE")
def receiver_closes_results() -> Any:
    """``close()`` also closes ``results`` from the receiver side while jobs still run."""
    return _with_pool(ReceiverClosesResults)


# -- POOL-EXACTLY-ONCE --------------------------------------------------------------------


class DropsFailedJobs(_PlainPool):
    """A worker that 'logs and continues' on a handler error: the job has no outcome."""

    async def _run(self, job_id: Hashable, payload: Any) -> Result[Any] | None:
        result = await self._run_job(job_id, payload)
        return None if result.status == "error" else result


@mutant("POOL-EXACTLY-ONCE")
def drops_failed_jobs() -> Any:
    """A worker that logs and continues on a handler error: the failed job has no outcome."""
    return _with_pool(DropsFailedJobs)


# -- POOL-CONCURRENCY ---------------------------------------------------------------------


@mutant("POOL-CONCURRENCY")
def one_extra_worker() -> Any:
    """``range(workers + 1)``: one job too many runs at once."""
    return _with_pool(_PlainPool, extra_workers=1)


class SerializedWorkers(_PlainPool):
    """A pool-wide lock around the handler: N workers, but one job at a time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = trio.Lock()

    async def _run(self, job_id: Hashable, payload: Any) -> Result[Any] | None:
        async with self._lock:
            return await self._run_job(job_id, payload)


@mutant("POOL-CONCURRENCY")
def serialized_workers() -> Any:
    """A pool-wide lock around the handler: N workers, but one job at a time."""
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


@mutant("POOL-NO-LEAK")
def keeps_starting_after_cancel() -> Any:
    """A worker that ignores cancellation: it swallows its job's cancel and starts the next one."""
    return _with_pool(KeepsStartingAfterCancel)


@mutant("POOL-NO-LEAK")
def system_task_supervisor() -> Any:
    """A helper task spawned outside the pool's nursery: the supervisor outlives the block."""
    return _with_pool(SystemTaskSupervisor)


# -- POOL-CANCEL-PROMPT -------------------------------------------------------------------


class CancelWaitsForRunningJobs(_PlainPool):
    """``cancel()`` refuses and discards queued jobs but lets running jobs finish on their own."""

    def cancel(self) -> None:
        self._drain_cancelled()


@mutant("POOL-CANCEL-PROMPT")
def cancel_waits_for_running_jobs() -> Any:
    """``cancel()`` discards queued jobs but lets running jobs finish on their own."""
    return _with_pool(CancelWaitsForRunningJobs)


# -- POOL-TIMEOUT -------------------------------------------------------------------------


@mutant("POOL-TIMEOUT")
def timeout_not_enforced() -> Any:
    """Declares ``job_timeout`` but never passes it to the pool."""
    return _with_pool(_PlainPool, honour_timeout=False)


# -- POOL-DRAIN ---------------------------------------------------------------------------


class CloseDiscardsQueue(_PlainPool):
    """``close()`` "drains the channel" by throwing the queued jobs away (as cancelled)."""

    def close(self) -> None:
        self._drain_cancelled()


@mutant("POOL-DRAIN")
def close_discards_queue() -> Any:
    """``close()`` drains the jobs channel by throwing the queued jobs away."""
    return _with_pool(CloseDiscardsQueue)


# -- METRICS-CONSISTENT -------------------------------------------------------------------


class CountsErrorsAsCompleted(_PlainPool):
    """Counts ``jobs_completed`` for every finished job, failed ones included."""

    async def _run(self, job_id: Hashable, payload: Any) -> Result[Any] | None:
        result = await self._run_job(job_id, payload)
        if result.status == "error":
            self.metrics.incr(JOBS_COMPLETED)
        return result


@mutant("METRICS-CONSISTENT")
def counts_errors_as_completed() -> Any:
    """Counts ``jobs_completed`` for failed jobs too."""
    return _with_pool(CountsErrorsAsCompleted)


# -- more ways to break the same rules ------------------------------------------------------


class RequeuesFailedJobs(_PlainPool):
    async def _run(self, job_id: Hashable, payload: Any) -> Result[Any] | None:
        result = await self._run_job(job_id, payload)
        if result.status == "error":
            # "Transient, probably": run it once more, at-least-once style.
            result = await self._run_job(job_id, payload)
        return result


@mutant("POOL-EXACTLY-ONCE")
def reruns_failed_jobs() -> Any:
    """A worker that quietly runs a failed job a second time before reporting it."""
    return _with_pool(RequeuesFailedJobs)


class ShieldedJobs(_PlainPool):
    async def _run(self, job_id: Hashable, payload: Any) -> Result[Any] | None:
        with trio.CancelScope(shield=True):  # "never leave a job half done"
            result = await self._run_job(job_id, payload)
        return result  # noqa: RET504 - after the scope, as mypy cannot tell it never swallows


@mutant("POOL-CANCEL-PROMPT")
def shielded_jobs() -> Any:
    """Each job runs in a shielded scope, so ``cancel()`` waits for running jobs to end."""
    return _with_pool(ShieldedJobs)


@mutant("POOL-TIMEOUT")
def timeout_in_milliseconds() -> Any:
    """The adapter hands the timeout over in milliseconds to a pool that expects seconds."""
    return _with_pool(_PlainPool, timeout_scale=1000.0)


class StopsAtClose(_PlainPool):
    async def _next_job(self) -> tuple[Hashable, Any] | None:
        if self._jobs.closed:  # "closed means stop"
            return None
        return await super()._next_job()


@mutant("POOL-DRAIN")
def stops_at_close() -> Any:
    """Workers stop taking jobs as soon as the input is closed, leaving queued jobs unrun."""
    return _with_pool(StopsAtClose)


class _TimeoutAsError(WorkerPool[Any, Any]):
    async def _run_job(self, job_id: Hashable, payload: Any) -> Result[Any]:
        result = await super()._run_job(job_id, payload)
        if result.status == "timeout":
            return Result(job_id, "error", error=TimeoutError("job timed out"))
        return result


@mutant("POOL-TIMEOUT")
def timeout_reported_as_error() -> Any:
    """Stops a job at its timeout but reports it as an ordinary error, not timed out."""
    return _with_pool(_TimeoutAsError)


# -- POOL-BACKPRESSURE --------------------------------------------------------------------


@mutant("POOL-BACKPRESSURE")
def off_by_one_jobs_buffer() -> Any:
    """The jobs buffer is made with ``jobs_buffer + 1`` slots: one job too many is accepted."""
    return _with_pool(_PlainPool, extra_jobs_buffer=1)


class NeverRefuses(_PlainPool):
    def submit_nowait(self, id: Hashable, payload: Any) -> None:
        try:
            super().submit_nowait(id, payload)
        except trio.WouldBlock:
            # "Never drop work": a full buffer takes the job anyway, so nothing pushes back.
            self._jobs._buffer.append((id, payload))
            self._jobs._count_put()


@mutant("POOL-BACKPRESSURE")
def submit_nowait_never_refuses() -> Any:
    """``submit_nowait`` appends to a full jobs buffer instead of refusing: no backpressure."""
    return _with_pool(NeverRefuses)


class RefusesOneEarly(_PlainPool):
    def submit_nowait(self, id: Hashable, payload: Any) -> None:
        jobs = self._jobs
        if not jobs.closed and len(jobs) >= (jobs.capacity or 0) - 1:  # ">= capacity - 1"
            raise trio.WouldBlock
        super().submit_nowait(id, payload)


@mutant("POOL-BACKPRESSURE")
def submit_nowait_refuses_early() -> Any:
    """``submit_nowait`` says full one slot early, while the jobs buffer still has room."""
    return _with_pool(RefusesOneEarly)


class WaitsForEmptyBuffer(_PlainPool):
    async def submit(self, id: Hashable, payload: Any) -> None:
        jobs = self._jobs
        if not len(jobs) or jobs.closed:
            await super().submit(id, payload)
            return
        # "Wait until the workers have caught up": parks behind any queued job, room or not,
        # and is let in only by the next job a worker takes.
        task = trio.lowlevel.current_task()
        jobs._putters[task] = (id, payload)

        def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
            del jobs._putters[task]
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)


@mutant("POOL-BACKPRESSURE")
def submit_waits_for_empty_buffer() -> Any:
    """A blocking ``submit`` waits whenever a job is queued, although the buffer has room."""
    return _with_pool(WaitsForEmptyBuffer)
