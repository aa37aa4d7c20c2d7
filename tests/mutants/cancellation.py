"""Bugs that show only when a caller cancels a call the way real code cancels it.

The harness used to cancel through anyio's cancel scopes alone, which on asyncio deliver the
cancellation again and again until the call gives in, and only to a call that already waits.
Real code cancels once (``Task.cancel()``), before a call's first step, twice at once, and it
cancels the task that holds a pool's block. Each bug here passed that harness: a get that
shrugs off one cancellation, an acquire that swallows one pending at its entry, limiters that
take two cancellations at once for a stale timeout of their own, and pools whose exit swallows
the cancellation or leaves its workers running.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Any, Literal

import trio

from examples import asyncio_impl
from examples.asyncio_impl import BoundedQueue, TokenBucket, _wait_in_line
from reference.pool import WorkerPool
from tests.mutants._base import mutant, reference_with


def asyncio_example_with(**factories: Any) -> dict[str, Any]:
    """The asyncio example's declaration with ``factories`` replacing its own."""
    declaration = asyncio_impl.implementation()
    return {
        **declaration,
        "name": "mutant",
        "factories": {**declaration["factories"], **factories},
    }


def _took_two_at_once() -> bool:
    """Whether the current task was cancelled twice at once (``cancelling()`` of 2 or more)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() >= 2


# -- a get that shrugs off one cancellation (waiting) ---------------------------------------------
class ShrugsOffOneCancellation(BoundedQueue):
    async def get(self) -> Any:
        shrugged = False
        while not self._items and not self.closed:
            try:
                await _wait_in_line(self._getters, self._item_added)
            except asyncio.CancelledError:
                if shrugged:
                    raise
                shrugged = True  # "a spurious wake-up": wait on
        item = self.get_nowait()
        self._item_added()
        return item


@mutant("CANCEL-PROPAGATES", pattern="queue")
def get_shrugs_off_one_cancellation() -> Any:
    """An asyncio get takes its first cancellation for a spurious wake-up and waits on."""
    return asyncio_example_with(bounded_queue=ShrugsOffOneCancellation)


# -- an acquire that swallows a cancellation pending at its entry ----------------------------------
class YieldsFirst(TokenBucket):
    async def acquire(self, weight: int = 1) -> None:
        # Let the callers of this instant line up first; "nothing taken yet, nothing to undo".
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0)
        await super().acquire(weight)


@mutant("CANCEL-PROPAGATES", pattern="rate")
def acquire_swallows_a_pending_cancellation() -> Any:
    """An asyncio acquire yields first and swallows a cancellation already pending there."""
    return asyncio_example_with(token_bucket=YieldsFirst)


# -- limiters that take two cancellations at once for a stale timeout of their own -----------------
class WaitsOnForTokens(TokenBucket):
    async def acquire(self, weight: int = 1) -> None:
        try:
            await super().acquire(weight)
        except asyncio.CancelledError:
            if not _took_two_at_once():
                raise
            # "Two requests at once: one is a timeout of ours that fired late." Both dropped.
            task = asyncio.current_task()
            assert task is not None
            while task.cancelling():
                task.uncancel()
            await super().acquire(weight)


@mutant("CANCEL-PROPAGATES", "RATE-CANCEL-NO-LOSS")
def bucket_keeps_tokens_when_cancelled_twice() -> Any:
    """An asyncio acquire cancelled twice at once drops both and still takes its tokens."""
    return asyncio_example_with(token_bucket=WaitsOnForTokens)


class WaitsOnForASlot(asyncio.Semaphore):
    async def acquire(self) -> Literal[True]:
        try:
            return await super().acquire()
        except asyncio.CancelledError:
            if not _took_two_at_once():
                raise
            task = asyncio.current_task()
            assert task is not None
            while task.cancelling():
                task.uncancel()
            return await super().acquire()


@mutant("CANCEL-PROPAGATES", "CONC-CANCEL-NO-LEAK")
def semaphore_keeps_slot_when_cancelled_twice() -> Any:
    """An asyncio semaphore's acquire cancelled twice at once drops both and waits on."""
    return {
        "name": "mutant",
        "backend": "asyncio",
        "capabilities": ["fifo"],
        "factories": {"concurrency_limiter": lambda *, limit: WaitsOnForASlot(limit)},
    }


# -- pools whose exit mishandles the cancellation of the task that holds the block ----------------
class ExitSwallowsCancellation(WorkerPool[Any, Any]):
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        await super().__aexit__(exc_type, exc, tb)
        # "The pool has stopped its jobs: the cancellation was about them, and is handled."
        return isinstance(exc, trio.Cancelled)


@mutant("CANCEL-PROPAGATES", pattern="pool")
def pool_exit_swallows_cancellation() -> Any:
    """A trio pool whose block was cancelled stops its jobs, then swallows the cancellation."""
    return reference_with(
        worker_pool=lambda *, handler, workers, jobs_buffer, results_buffer, job_timeout: (
            ExitSwallowsCancellation(
                handler,
                workers=workers,
                jobs_buffer=jobs_buffer,
                results_buffer=results_buffer,
                job_timeout=job_timeout,
            )
        )
    )


class ExitLeavesWorkers(asyncio_impl.WorkerPool):
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None:
            self.close()
        else:
            self.cancel()
        assert self._supervisor is not None
        # Shielded "so the workers finish": a cancelled wait leaves them running, unwatched.
        await asyncio.shield(self._supervisor)
        return False


@mutant("POOL-NO-LEAK")
def pool_exit_leaves_workers_running() -> Any:
    """An asyncio pool's exit, cancelled while it drains, returns and leaves its workers running."""
    return asyncio_example_with(worker_pool=ExitLeavesWorkers)
