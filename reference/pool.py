"""Worker pools (guide §3, §4): N workers read jobs, write results; cancellation and draining.

The guide's canonical Go pattern maps onto trio like this:

==========================================  ==================================================
Go                                          trio (this module)
==========================================  ==================================================
``jobs := make(chan Job, 8)``               a :class:`~reference.queues.BoundedQueue`
``results := make(chan Result, 8)``         ``trio.open_memory_channel(8)``
``go worker(...)`` + ``sync.WaitGroup``     a nursery: it returns only when every worker did
``go func(){ wg.Wait(); close(results) }``  each worker holds a *clone* of the results send
                                            channel; results end when the last clone and the
                                            supervisor's original (closed after the workers
                                            exit) are closed
``close(jobs)`` by the sender               :meth:`WorkerPool.close` (graceful drain)
``ctx, cancel := context.WithTimeout``      a cancel scope around the workers: ``cancel()``,
                                            ``deadline``
==========================================  ==================================================

Nothing is lost on cancellation (§4 "drain or close channels to avoid leaks"): every accepted
job reaches ``results`` or :attr:`WorkerPool.undelivered`, exactly once. The pool keeps the
original results sender open until the workers are gone *and* the queued jobs are drained into
``undelivered``, so whoever sees the results end also sees the final ``undelivered``.

Boundary values (``docs/patterns/pool.md``): ``job_timeout=0`` is Go's
``context.WithTimeout(ctx, 0)``, a deadline at the job's start: a job that waits at all times
out at once (one that finishes without a checkpoint is ``ok``); never "no timeout", which is
``None``. ``jobs_buffer`` must be at least 1 (the jobs buffer is a bounded queue).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from itertools import islice
from types import TracebackType
from typing import Generic, Literal, TypeVar

import trio

from reference.instrumentation import (
    JOBS_CANCELLED,
    JOBS_COMPLETED,
    JOBS_FAILED,
    JOBS_SUBMITTED,
    JOBS_TIMED_OUT,
    Metrics,
    Utilization,
)
from reference.queues import BoundedQueue, QueueClosed

__all__ = [
    "Job",
    "PoolClosed",
    "Result",
    "Status",
    "WorkerPool",
]

P = TypeVar("P")
R = TypeVar("R")
Out = TypeVar("Out")

Status = Literal["ok", "error", "timeout", "cancelled"]
"""How a job ended: returned, raised, ran past ``job_timeout``, or cut short by cancel."""


@dataclass(frozen=True, slots=True)
class Job(Generic[P]):
    """A unit of work: a caller-chosen ``id`` and the ``payload`` handed to the handler."""

    id: Hashable
    payload: P


@dataclass(frozen=True, slots=True)
class Result(Generic[R]):
    """The outcome of one job: ``value`` when ``ok``, ``error`` when ``error``."""

    id: Hashable
    status: Status
    value: R | None = None
    error: BaseException | None = None


class PoolClosed(QueueClosed):
    """Raised by a submit after :meth:`WorkerPool.close` or :meth:`WorkerPool.cancel`."""


class _JobQueue(BoundedQueue[tuple[Hashable, P]]):
    # The jobs buffer counts ``jobs_submitted`` at the instant a job is accepted (also when
    # a parked submitter is admitted), so the counter never lags the workers' counters.
    def __init__(self, capacity: int, metrics: Metrics) -> None:
        super().__init__(capacity)
        self._pool_metrics = metrics

    def _count_put(self, n: int = 1) -> None:
        self._puts += n
        self._pool_metrics.incr(JOBS_SUBMITTED, n)


class _PoolBase(Generic[P, R, Out]):
    """Everything the plain and batched pools share; subclasses supply ``_worker``."""

    def __init__(
        self,
        handler: Callable[[P], Awaitable[R]],
        *,
        workers: int,
        jobs_buffer: int = 64,
        results_buffer: int = 64,
        job_timeout: float | None = None,
        deadline: float | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        if results_buffer < 0:
            raise ValueError("results_buffer must be >= 0")
        self._handler = handler
        self._workers = workers
        self._job_timeout = job_timeout
        self._deadline = deadline
        self.metrics: Metrics = metrics if metrics is not None else Metrics()
        """Where the pool counts jobs and reports its gauges."""
        self._jobs: _JobQueue[P] = _JobQueue(jobs_buffer, self.metrics)
        self._results_send, self.results = trio.open_memory_channel[Out](results_buffer)
        self.undelivered: list[Result[R]] = []
        """Accepted jobs whose result did not reach ``results`` (complete once they end)."""
        # The workers' own scope: cancelling it stops them without cancelling the caller's
        # ``async with`` body, which may still be reading ``results``.
        self._scope = trio.CancelScope()
        self._utilization: Utilization | None = None
        self._nursery_cm: AbstractAsyncContextManager[trio.Nursery] | None = None
        self._entered = False

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> _PoolBase[P, R, Out]:
        if self._entered:
            raise RuntimeError("a pool can be entered only once")
        self._entered = True
        if self._deadline is not None:
            self._scope.deadline = trio.current_time() + self._deadline
        self._utilization = Utilization(self._workers)
        self.metrics.gauge("jobs_queued", self._jobs.__len__)
        self.metrics.gauge("workers_busy", lambda: self._busy())
        self.metrics.gauge("worker_utilization", lambda: self._ratio())
        self._nursery_cm = trio.open_nursery()
        nursery = await self._nursery_cm.__aenter__()
        nursery.start_soon(self._supervise)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._nursery_cm is not None
        if exc is None:
            self.close()  # the sender closes jobs: drain gracefully
            return await self._nursery_cm.__aexit__(None, None, None)
        # The body failed (or was cancelled): stop, still account for every job, and let the
        # body's own exception propagate unchanged rather than wrapped in a nursery's group
        # (the nursery only has to wait for our already cancelled supervisor).
        self.cancel()
        await self._nursery_cm.__aexit__(None, None, None)
        return False

    async def _supervise(self) -> None:
        send = self._results_send
        try:
            with self._scope:
                async with trio.open_nursery() as workers:
                    for _ in range(self._workers):
                        workers.start_soon(self._worker, send.clone())
        finally:
            # Every worker has exited, so nobody can take a job any more: whatever is still
            # buffered was accepted but never started.
            self._jobs.close()
            while True:
                try:
                    job_id, _ = self._jobs.get_nowait()
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
                self._record_cancelled(job_id)
            send.close()  # the last sender: results end here, exactly once

    # -- producer side -------------------------------------------------------------------

    async def submit(self, id: Hashable, payload: P) -> None:
        """Queue a job, waiting while the jobs buffer is full (backpressure).

        Raises :class:`PoolClosed` after :meth:`close`/:meth:`cancel` (also if that happens
        while waiting). If cancelled, the job was not accepted.
        """
        # BoundedQueue.put inlined: one coroutine frame less on the hot path.
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            try:
                self._jobs.put_nowait((id, payload))
            except trio.WouldBlock:
                await self._jobs.put((id, payload))
            else:
                await trio.lowlevel.cancel_shielded_checkpoint()
        except QueueClosed:
            raise PoolClosed("pool is closed") from None

    def submit_nowait(self, id: Hashable, payload: P) -> None:
        """Queue a job now; raise :class:`trio.WouldBlock` if the jobs buffer is full."""
        try:
            self._jobs.put_nowait((id, payload))
        except QueueClosed:
            raise PoolClosed("pool is closed") from None

    async def submit_many(self, jobs: Iterable[tuple[Hashable, P]]) -> None:
        """Queue ``(id, payload)`` pairs in order, a buffer-full at a time (guide §9).

        Waits (backpressure) only when the buffer is full. If interrupted (cancelled or
        :class:`PoolClosed`), a prefix of the pairs was accepted and the rest were not.
        """
        queue = self._jobs
        pending = iter(jobs)
        try:
            await trio.lowlevel.checkpoint_if_cancelled()
            while True:
                chunk = list(islice(pending, max(queue.free(), 1)))
                if not chunk:
                    break
                accepted = queue.put_batch_nowait(chunk)
                for job in chunk[accepted:]:
                    await queue.put(job)  # full: wait for space like submit()
            await trio.lowlevel.cancel_shielded_checkpoint()
        except QueueClosed:
            raise PoolClosed("pool is closed") from None

    def close(self) -> None:
        """Accept no more jobs; queued jobs still run, then ``results`` ends (idempotent)."""
        self._jobs.close()

    def cancel(self) -> None:
        """Stop now: refuse submits, cancel the workers; no job starts after this call.

        Queued and running jobs end up in :attr:`undelivered` with status ``cancelled``.
        """
        self._jobs.close()
        self._scope.cancel()

    @property
    def cancelled(self) -> bool:
        """Whether the pool was cancelled (by :meth:`cancel` or its ``deadline``)."""
        return self._scope.cancel_called

    # -- worker side ---------------------------------------------------------------------

    async def _worker(self, results: trio.MemorySendChannel[Out]) -> None:
        raise NotImplementedError

    async def _run_job(self, job_id: Hashable, payload: P) -> Result[R]:
        # Runs one job to a Result. Cancelled (or any other BaseException) propagates: the
        # job did not finish, and the caller records it as cancelled.
        try:
            if self._job_timeout is None:
                value = await self._handler(payload)
            else:
                with trio.move_on_after(self._job_timeout) as timer:
                    value = await self._handler(payload)
                if timer.cancelled_caught:
                    self.metrics.incr(JOBS_TIMED_OUT)
                    return Result(job_id, "timeout")
        except Exception as exc:
            self.metrics.incr(JOBS_FAILED)
            return Result(job_id, "error", error=exc)
        self.metrics.incr(JOBS_COMPLETED)
        return Result(job_id, "ok", value)

    def _record_cancelled(self, job_id: Hashable) -> None:
        self.undelivered.append(Result(job_id, "cancelled"))
        self.metrics.incr(JOBS_CANCELLED)

    # -- gauges --------------------------------------------------------------------------

    def _busy(self) -> float:
        return 0.0 if self._utilization is None else float(self._utilization.busy)

    def _ratio(self) -> float:
        return 0.0 if self._utilization is None else self._utilization.ratio()


class WorkerPool(_PoolBase[P, R, Result[R]]):
    """A fixed pool of ``workers`` tasks running ``handler`` over submitted jobs (§3, §4).

    Use as ``async with WorkerPool(handler, workers=3) as pool:``; submit with
    :meth:`submit`, read :attr:`results` (one :class:`Result` per job), and :meth:`close`
    when done submitting. Leaving the block closes jobs if still open and waits for every
    worker; :meth:`cancel` or ``deadline`` stops early, and :attr:`undelivered` then
    accounts for every accepted job whose result did not reach :attr:`results`.
    """

    results: trio.MemoryReceiveChannel[Result[R]]
    """One :class:`Result` per finished job; ends once, after every worker exited."""

    async def __aenter__(self) -> WorkerPool[P, R]:
        await super().__aenter__()
        return self

    async def _worker(self, results: trio.MemorySendChannel[Result[R]]) -> None:
        jobs = self._jobs
        handler = self._handler
        timeout = self._job_timeout
        metrics = self.metrics
        utilization = self._utilization
        assert utilization is not None
        with results:  # our clone; the last clone closed plus the original ends results
            while True:
                try:
                    job_id, payload = await jobs.get()
                except trio.EndOfChannel:
                    return
                # Other tasks ran while we took the job (the get yields), so a cancel may
                # already have happened: check without yielding, before the job starts.
                # This sees cancel(), an expired deadline and any enclosing cancellation.
                try:
                    await trio.lowlevel.checkpoint_if_cancelled()
                except BaseException:
                    self._record_cancelled(job_id)
                    raise
                result: Result[R]
                utilization.begin()
                try:
                    if timeout is None:
                        # _run_job inlined for the common case (no per-job timer).
                        try:
                            value = await handler(payload)
                        except Exception as exc:
                            metrics.incr(JOBS_FAILED)
                            result = Result(job_id, "error", error=exc)
                        else:
                            metrics.incr(JOBS_COMPLETED)
                            result = Result(job_id, "ok", value)
                    else:
                        result = await self._run_job(job_id, payload)
                except BaseException:
                    # Cancelled mid-job (or something fatal): the job did not finish.
                    self._record_cancelled(job_id)
                    raise
                finally:
                    utilization.end()
                try:
                    await results.send(result)
                except BaseException:
                    # Finished but not delivered (e.g. cancelled while the consumer lagged):
                    # it keeps its real outcome.
                    self.undelivered.append(result)
                    raise
