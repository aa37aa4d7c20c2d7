"""Bugs that show only when two operations meet in one instant, with no settle between them.

Each is correct whenever the system settles between two calls, which is all a harness of single
operations ever lets happen: the woken waiter has run, the checkpoint has passed. A same-instant
batch (``harness/search/batches.py``) lets the next call in first. Most are the classic async
mistake of checking, yielding (a checkpoint that "lets others run"), then acting on the stale
check.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import trio

from reference.instrumentation import ADMISSIONS
from reference.pool import WorkerPool
from reference.queues import BoundedQueue
from reference.ratelimit import TokenBucket
from tests.mutants._base import mutant, reference_with
from tests.mutants.concurrency import _CountingLimiter, _without


class WokenWaiterCountsItself(_CountingLimiter):
    """A release wakes the first waiter, which counts its slot only once it runs."""

    def _hand_over(self) -> None:
        if self.line and self.held < self.limit:
            self.line.popleft().set()

    async def acquire(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        if self.held < self.limit and not self.line:
            self.held += 1
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        granted = trio.Event()
        self.line.append(granted)
        try:
            await granted.wait()
        except BaseException:
            if granted.is_set():
                self._hand_over()  # pass the wake-up on
            else:
                self.line.remove(granted)
            raise
        self.held += 1


class YieldsBeforePutting(BoundedQueue[Any]):
    """``put`` sees room, takes a scheduling turn, then appends without looking again."""

    async def put(self, item: Any) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        if not self._closed and not self._getters and len(self._buffer) < self._limit:
            await trio.lowlevel.checkpoint()
            self._buffer.append(item)
            self._count_put()
            return
        await super().put(item)


class YieldsBeforeQueueing(WorkerPool[Any, Any]):
    """``submit`` sees room in the jobs buffer, yields, then queues without looking again."""

    async def submit(self, id: Hashable, payload: Any) -> None:
        jobs = self._jobs
        await trio.lowlevel.checkpoint_if_cancelled()
        if not jobs.closed and not jobs._getters and len(jobs) < (jobs.capacity or 0):
            await trio.lowlevel.checkpoint()
            jobs._buffer.append((id, payload))
            jobs._count_put()
            return
        await super().submit(id, payload)


class YieldsBeforeTaking(TokenBucket):
    """``acquire`` sees the tokens, yields, then takes them without looking again."""

    async def acquire(self, weight: int = 1) -> None:
        self._check(weight)
        await trio.lowlevel.checkpoint_if_cancelled()
        now = trio.current_time()
        if not self._line and self._ready_at(weight, now) <= now:
            await trio.lowlevel.checkpoint()
            self._take(weight, now)
            self.metrics.incr(ADMISSIONS)
            return
        await self._acquire(weight)


@mutant("CONC-BOUND")
def woken_waiter_counts_itself() -> Any:
    """A released slot wakes a waiter that counts it only once it runs: a newcomer takes it too."""
    return _without(
        reference_with(
            only=True, concurrency_limiter=lambda *, limit: WokenWaiterCountsItself(limit)
        ),
        "strict_release",
    )


@mutant("QUEUE-BOUND")
def put_yields_before_appending() -> Any:
    """``put`` checks for room, checkpoints, then appends: two puts at once overfill the queue."""
    return reference_with(
        only=True, bounded_queue=lambda *, capacity: YieldsBeforePutting(capacity)
    )


@mutant("POOL-BACKPRESSURE")
def submit_yields_before_queueing() -> Any:
    """``submit`` checks the jobs buffer, checkpoints, then queues: two submits overfill it."""
    return reference_with(
        worker_pool=lambda *, handler, **sizes: YieldsBeforeQueueing(handler, **sizes)
    )


@mutant("RATE-BOUND")
def acquire_yields_before_taking() -> Any:
    """``acquire`` checks the tokens, checkpoints, then takes: two acquires spend one token."""
    return reference_with(
        only=True, token_bucket=lambda *, rate, burst: YieldsBeforeTaking(rate, burst)
    )
