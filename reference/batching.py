"""Batching (guide §9: "batch jobs/results when possible to amortize overhead").

Two tools:

* :class:`Batcher` groups a stream of items into lists, flushing a batch when it reaches
  ``max_size`` items or ``max_age`` seconds after its first item, whichever comes first (the
  usual size-or-time policy in front of a database or a network call);
* :class:`BatchedWorkerPool` is :class:`~reference.pool.WorkerPool` with the per-job costs
  amortised: one checkpoint, one results send and one counter update per batch of jobs.

Why batching pays in trio: every ``await`` on a channel is a checkpoint, and a checkpoint is a
trip through the scheduler that costs far more than a trivial job. Taking every ready job at
once turns N scheduler trips into one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Hashable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Generic, TypeVar

import trio

from reference.instrumentation import JOBS_COMPLETED, JOBS_FAILED, Metrics, Utilization
from reference.pool import Result, _PoolBase
from reference.queues import QueueClosed

__all__ = ["BatchedWorkerPool", "Batcher"]

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")

#: Counter names the batcher reports (``reference.instrumentation`` has none for batches).
BATCHES = "batches"
BATCHED_ITEMS = "batched_items"


class Batcher(Generic[T]):
    """Group items into batches of at most ``max_size``, none older than ``max_age``.

    Use as ``async with Batcher(100, 0.05) as b:``; :meth:`put` items, read lists from
    :attr:`batches`. A batch's age starts when its first item is accepted. :meth:`close`
    (or leaving the block) flushes the partial batch and ends :attr:`batches`.

    ``put`` is a rendezvous with the batching task, so while that task waits to hand a batch
    downstream (``buffer`` batches are already waiting unread) producers wait too:
    backpressure reaches them instead of an ever-growing batch.
    """

    def __init__(
        self,
        max_size: int,
        max_age: float,
        *,
        buffer: int = 16,
        metrics: Metrics | None = None,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be >= 1")
        if max_age <= 0:
            raise ValueError("max_age must be > 0")
        self.max_size = max_size
        """The size at which a batch is flushed at once."""
        self.max_age = max_age
        """Seconds after its first item at which a batch is flushed."""
        self.metrics: Metrics = metrics if metrics is not None else Metrics()
        """Where the batcher counts ``batches`` and ``batched_items``."""
        # Capacity 0: an item is accepted exactly when the batching task takes it, so the
        # batch's age is measured from acceptance.
        self._items_send, self._items = trio.open_memory_channel[T](0)
        self._batches_send, self.batches = trio.open_memory_channel[list[T]](buffer)
        self._nursery_cm: AbstractAsyncContextManager[trio.Nursery] | None = None

    batches: trio.MemoryReceiveChannel[list[T]]
    """The flushed batches, in order; ends after :meth:`close` flushed the last one."""

    async def __aenter__(self) -> Batcher[T]:
        self._nursery_cm = trio.open_nursery()
        nursery = await self._nursery_cm.__aenter__()
        nursery.start_soon(self._run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        self.close()
        assert self._nursery_cm is not None
        return await self._nursery_cm.__aexit__(exc_type, exc, tb)

    async def put(self, item: T) -> None:
        """Add ``item`` to the current batch; raise :class:`QueueClosed` after :meth:`close`.

        If cancelled, the item was not added.
        """
        try:
            await self._items_send.send(item)
        except trio.ClosedResourceError:
            raise QueueClosed("batcher is closed") from None

    def close(self) -> None:
        """Accept no more items; the partial batch is flushed and ``batches`` ends."""
        self._items_send.close()

    async def _run(self) -> None:
        items = self._items
        with self._batches_send:  # closing it ends ``batches``, exactly once
            while True:
                try:
                    batch = [await items.receive()]
                except trio.EndOfChannel:
                    return
                with trio.move_on_at(trio.current_time() + self.max_age):
                    while len(batch) < self.max_size:
                        try:
                            batch.append(await items.receive())
                        except trio.EndOfChannel:
                            break  # flush the remainder; the next receive ends the loop
                self.metrics.incr(BATCHES)
                self.metrics.incr(BATCHED_ITEMS, len(batch))
                await self._batches_send.send(batch)


class BatchedWorkerPool(_PoolBase[P, R, list[Result[R]]]):
    """The performance variant of :class:`WorkerPool` (guide §9 "batch jobs/results").

    Same constructor, lifecycle and accounting, plus ``batch`` (k): at each checkpoint a
    worker takes every ready job, up to k, runs them back to back and sends their results as
    one list, so :attr:`results` yields ``list[Result]``. Pair it with :meth:`submit_many`.
    """

    results: trio.MemoryReceiveChannel[list[Result[R]]]
    """Lists of results, one list per batch; ends once, after every worker exited."""

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
        batch: int = 64,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be >= 1")
        super().__init__(
            handler,
            workers=workers,
            jobs_buffer=jobs_buffer,
            results_buffer=results_buffer,
            job_timeout=job_timeout,
            deadline=deadline,
            metrics=metrics,
        )
        self._batch = batch

    async def __aenter__(self) -> BatchedWorkerPool[P, R]:
        await super().__aenter__()
        return self

    async def _worker(self, results: trio.MemorySendChannel[list[Result[R]]]) -> None:
        jobs = self._jobs
        k = self._batch
        utilization = self._utilization
        assert utilization is not None
        with results:
            while True:
                try:
                    batch = [await jobs.get()]
                except trio.EndOfChannel:
                    return
                # Whatever else is ready rides along, up to k (the queue may close meanwhile).
                with contextlib.suppress(trio.EndOfChannel):
                    batch += jobs.get_batch_nowait(k - 1)
                out = await self._run_batch(batch, utilization)
                try:
                    await results.send(out)
                except BaseException:
                    self.undelivered.extend(out)
                    raise

    async def _run_batch(
        self, batch: list[tuple[Hashable, P]], utilization: Utilization
    ) -> list[Result[R]]:
        # Runs jobs back to back. Before each one, a non-yielding cancellation check: the
        # previous handler may have suspended and let a cancel in. Counters are added once
        # per batch to keep the per-job cost low.
        handler = self._handler
        timeout = self._job_timeout
        check = trio.lowlevel.checkpoint_if_cancelled
        out: list[Result[R]] = []
        append = out.append
        ok = failed = 0
        utilization.begin()
        try:
            for job_id, payload in batch:
                await check()
                if timeout is not None:
                    append(await self._run_job(job_id, payload))
                    continue
                try:
                    value = await handler(payload)
                except Exception as exc:
                    failed += 1
                    append(Result(job_id, "error", error=exc))
                else:
                    ok += 1
                    append(Result(job_id, "ok", value))
        except BaseException:
            # This job and the rest did not finish; the finished ones will not be sent.
            self._cancel_from(batch, len(out))
            self.undelivered.extend(out)
            raise
        finally:
            utilization.end()
            if ok:
                self.metrics.incr(JOBS_COMPLETED, ok)
            if failed:
                self.metrics.incr(JOBS_FAILED, failed)
        return out

    def _cancel_from(self, batch: list[tuple[Hashable, P]], start: int) -> None:
        # Jobs from ``start`` on did not finish (or never started): they are cancelled.
        for job_id, _ in batch[start:]:
            self._record_cancelled(job_id)
