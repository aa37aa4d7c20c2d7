"""Cancellation, timeouts and draining (guide §4), on the worker pool.

The guide's Go program gives two workers a ``context.WithTimeout`` of 200 ms and two tasks:
A sleeps 100 ms and prints, B sleeps 300 ms and is cut short. In trio the context becomes a
cancel scope: :class:`~reference.pool.WorkerPool` runs its workers inside one, and its
``deadline`` is the ``WithTimeout``. Cancellation then reaches every ``await`` in the handlers
by itself, so tasks need no ``select { case <-ctx.Done(): }``.

"Drain or close channels to avoid leaks" becomes two rules the pool follows and the helpers
here rely on:

* the pool's ``results`` end exactly once, after every worker exited, also on cancel, so a
  consumer that reads to the end (:func:`drain`) never hangs and never misses a result;
* whatever was accepted but not delivered is listed in ``pool.undelivered``, so
  :func:`statuses` can account for every job.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import TypeVar

import trio

from reference.pool import PoolClosed, Result, Status, WorkerPool

__all__ = ["drain", "run_with_deadline", "statuses"]

T = TypeVar("T")

Task = Callable[[], Awaitable[object]]


async def drain(results: trio.abc.ReceiveChannel[T]) -> list[T]:
    """Read ``results`` until it ends and return everything read, in order.

    Reading to the end is what keeps workers from blocking forever on a full results buffer
    (the guide's leak); with a pool it also waits until every worker has exited.
    """
    return [item async for item in results]


def statuses(
    ids: Iterable[Hashable], *outcomes: Iterable[Result[object]]
) -> dict[Hashable, Status]:
    """Map each id in ``ids`` to its status; ids with no result count as ``cancelled``.

    Pass the results received and ``pool.undelivered``: together they hold each accepted job
    exactly once. An id that was never accepted (refused after the deadline) has no result.
    """
    table: dict[Hashable, Status] = dict.fromkeys(ids, "cancelled")
    for results in outcomes:
        for result in results:
            table[result.id] = result.status
    return table


async def _call(task: Task) -> object:
    return await task()


async def run_with_deadline(
    tasks: Sequence[tuple[Hashable, Task]], *, workers: int, timeout: float
) -> dict[Hashable, Status]:
    """Run ``tasks`` on ``workers`` workers until done or ``timeout`` seconds pass (§4).

    Returns each task id's status: ``ok`` or ``error`` if it finished in time, ``cancelled``
    if the deadline cut it short or it never started. Returns once every worker has exited.
    """
    size = max(1, len(tasks))
    pool: WorkerPool[Task, object] = WorkerPool(
        _call, workers=workers, jobs_buffer=size, results_buffer=size, deadline=timeout
    )
    async with pool:
        for task_id, task in tasks:
            try:
                pool.submit_nowait(task_id, task)  # the buffer holds them all: never blocks
            except PoolClosed:
                break
        pool.close()
        received = await drain(pool.results)
    return statuses((task_id for task_id, _ in tasks), received, pool.undelivered)
