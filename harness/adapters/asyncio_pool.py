"""asyncio-pool's ``AioPool`` as poolcheck's worker pool (backend ``asyncio``).

    poolcheck check --impl harness.adapters.asyncio_pool:implementation

PyPI distribution ``asyncio-pool`` (import name ``asyncio_pool``). Its users write::

    async with AioPool(size=workers) as pool:      # leaving the block joins the pool
        future = await pool.spawn(handler(payload))  # waits for a free slot
        future = pool.spawn_n(handler(payload))      # never waits
        await pool.cancel()                          # cancels every waiting and running job

and read each job's outcome from the future ``spawn`` returns. The adapter maps the contract
onto exactly those calls:

* ``submit(job_id, payload)`` is ``await pool.spawn(handler(payload))``;
* ``submit_nowait(job_id, payload)`` is ``pool.spawn_n(handler(payload))``;
* ``cancel()`` is ``await pool.cancel()`` (a coroutine, as the contract allows);
* ``async with`` is the pool's own ``async with`` (entering does nothing, leaving joins).

What the contract asks for and ``AioPool`` does not have is supplied as the least plumbing a
user would write around its public API, and nothing more:

* ``results``: each future's done-callback puts one result (``ok`` with the handler's value,
  ``error`` with its exception, ``cancelled`` when the future holds ``CancelledError``) on an
  unbounded ``asyncio.Queue``, read as an async iterator; it ends once ``pool.join()``
  returns after ``close()`` or ``cancel()``. ``undelivered`` therefore stays empty: every
  future, cancelled ones included, reports through ``results``.
* ``close()``: ``AioPool`` has no closed state (its users simply stop spawning), so after
  ``close()`` the adapter refuses submits with :class:`PoolClosed`, and ends ``results`` once
  the pool has joined.

Semantics ``AioPool`` documents that differ from the guide's pool:

* it has no jobs buffer: ``spawn`` waits until fewer than ``size`` jobs run ("no more and no
  less than size spawned coroutines are active"), and ``spawn_n`` queues without bound, so
  ``jobs_buffer`` is ignored and ``submit_nowait`` never refuses (declared as a deviation
  from POOL-BACKPRESSURE);
* results are futures, so ``results_buffer`` is ignored (the stream is unbounded);
* it has no per-job timeout: capability ``job_timeout`` is not declared.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from asyncio_pool import AioPool  # type: ignore[import-untyped,import-not-found,unused-ignore]

#: The end of the results stream.
_END: Any = object()


class PoolClosed(Exception):
    """Submitted to the adapter after ``close()`` or ``cancel()``."""


@dataclass
class Result:
    """One job's outcome: ``status`` is ok, error or cancelled."""

    id: Hashable
    status: str
    value: Any = None
    error: BaseException | None = None


def _result(job_id: Hashable, future: asyncio.Future[Any]) -> Result:
    """What a user reads from the future ``AioPool`` returned for a job."""
    if future.cancelled():
        return Result(job_id, "cancelled")
    error = future.exception()
    if isinstance(error, asyncio.CancelledError):
        # AioPool stores the CancelledError of a job it cancelled on the job's future.
        return Result(job_id, "cancelled", error=error)
    if error is not None:
        return Result(job_id, "error", error=error)
    return Result(job_id, "ok", future.result())


class _Results:
    """The results stream: an async iterator over the results queue, ending at ``_END``."""

    def __init__(self, queue: asyncio.Queue[Any]) -> None:
        self._queue = queue

    def __aiter__(self) -> AsyncIterator[Result]:
        return self

    async def __anext__(self) -> Result:
        result = await self._queue.get()
        if result is _END:
            self._queue.put_nowait(_END)  # every later read ends too
            raise StopAsyncIteration
        assert isinstance(result, Result)
        return result


class AioPoolAdapter:
    """An ``AioPool`` of ``workers`` slots running the harness's ``handler``."""

    def __init__(
        self,
        *,
        handler: Callable[[Any], Awaitable[Any]],
        workers: int,
        jobs_buffer: int,
        results_buffer: int,
        job_timeout: float | None = None,
    ) -> None:
        if job_timeout is not None:
            raise ValueError("asyncio-pool has no per-job timeout")
        self.handler = handler
        self.pool = AioPool(size=workers)
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self.results = _Results(self._queue)
        self.undelivered: list[Result] = []
        self._closed = False
        self._ender: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AioPoolAdapter:
        await self.pool.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self.close()
        await self.pool.__aexit__(exc_type, exc, tb)  # AioPool's own exit: join
        assert self._ender is not None
        # Shielded: a caller cancelled while the pool exits must not take the task that ends
        # ``results`` down with it (the adapter's own plumbing, not the library's).
        await asyncio.shield(self._ender)
        return False

    def _deliver(self, job_id: Hashable, future: asyncio.Future[Any]) -> None:
        future.add_done_callback(lambda done: self._queue.put_nowait(_result(job_id, done)))

    async def submit(self, job_id: Hashable, payload: Any) -> None:
        """``await pool.spawn(handler(payload))``: waits while ``workers`` jobs run."""
        if self._closed:
            raise PoolClosed("the pool was closed")
        future = await self.pool.spawn(self.handler(payload))
        self._deliver(job_id, future)

    def submit_nowait(self, job_id: Hashable, payload: Any) -> None:
        """``pool.spawn_n(handler(payload))``: queued at once, started when a slot frees."""
        if self._closed:
            raise PoolClosed("the pool was closed")
        self._deliver(job_id, self.pool.spawn_n(self.handler(payload)))

    def close(self) -> None:
        """No more jobs: ``results`` ends once ``pool.join()`` returns."""
        self._closed = True
        if self._ender is None:
            self._ender = asyncio.get_running_loop().create_task(self._end_when_joined())

    async def cancel(self) -> None:
        """``await pool.cancel()``: cancel every waiting and running job, then end ``results``."""
        self.close()
        await self.pool.cancel()

    async def _end_when_joined(self) -> None:
        await self.pool.join()
        self._queue.put_nowait(_END)


def implementation() -> dict[str, Any]:
    """The declaration of ``asyncio_pool.AioPool`` for poolcheck."""
    return {
        "name": "asyncio-pool",
        "backend": "asyncio",
        "capabilities": [],
        "factories": {"worker_pool": AioPoolAdapter},
        "closed_errors": (PoolClosed,),
        "deviations": {
            "POOL-BACKPRESSURE": "AioPool has no jobs buffer: spawn_n queues without bound "
            "and never refuses (documented), so jobs_buffer has no counterpart",
        },
    }
