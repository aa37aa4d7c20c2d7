"""An asyncio implementation of three patterns, declared for poolcheck (backend ``asyncio``).

It uses asyncio alone (no trio, no anyio) and is checked on looptime's virtual clock:

    poolcheck check --impl examples.asyncio_impl:implementation

* :class:`BoundedQueue`: FIFO, ``capacity`` items; blocked putters and getters wait in line
  on futures; ``close`` wakes everyone: putters get :class:`QueueClosed`, getters drain what
  is left and then get :class:`QueueEnded`.
* :class:`WorkerPool`: ``workers`` tasks read a :class:`BoundedQueue` of jobs and write
  results to a second one, read through ``results`` (an async iterator). Leaving the block
  drains; ``cancel`` cancels the workers, and every accepted job that did not reach
  ``results`` is in ``undelivered``.
* :class:`TokenBucket`: starts full, refills continuously, waiters admitted in FIFO order; a
  cancelled waiter takes nothing. :class:`SheddingGate` admits or rejects at once from one.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

#: Token amounts this close count as equal (the loop's clock is rounded).
TOLERANCE = 1e-9


class QueueClosed(Exception):
    """Put into (or submit to) something closed."""


class QueueEnded(Exception):
    """Get from a closed queue that has been drained."""


def _wake_first(waiters: deque[asyncio.Future[None]]) -> None:
    while waiters:
        waiter = waiters.popleft()
        if not waiter.done():
            waiter.set_result(None)
            return


def _wake_all(waiters: deque[asyncio.Future[None]]) -> None:
    while waiters:
        waiter = waiters.popleft()
        if not waiter.done():
            waiter.set_result(None)


async def _wait_in_line(waiters: deque[asyncio.Future[None]], pass_on: Callable[[], None]) -> None:
    """Wait to be woken; if cancelled after being woken, hand the wake-up to the next in line."""
    waiter = asyncio.get_running_loop().create_future()
    waiters.append(waiter)
    try:
        await waiter
    except BaseException:
        if waiter in waiters:
            waiters.remove(waiter)
        if waiter.done() and not waiter.cancelled():
            pass_on()
        raise


class BoundedQueue:
    """A FIFO queue of at most ``capacity`` items with blocking and non-blocking ends."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._items: deque[Any] = deque()
        self._putters: deque[asyncio.Future[None]] = deque()
        self._getters: deque[asyncio.Future[None]] = deque()
        self.closed = False

    def __len__(self) -> int:
        return len(self._items)

    def free(self) -> int:
        """Room left."""
        return self.capacity - len(self._items)

    def put_nowait(self, item: Any) -> None:
        """Append ``item``; ``QueueClosed`` after close, ``asyncio.QueueFull`` when full."""
        if self.closed:
            raise QueueClosed("queue is closed")
        if len(self._items) >= self.capacity:
            raise asyncio.QueueFull
        self._items.append(item)
        _wake_first(self._getters)

    async def put(self, item: Any) -> None:
        """Append ``item``, waiting in line while the queue is full."""
        while not self.closed and (len(self._items) >= self.capacity or self._putters):
            await _wait_in_line(self._putters, self._room_freed)
            if not self.closed and len(self._items) < self.capacity:
                break
        self.put_nowait(item)
        # Room may remain for the next putter in line.
        self._room_freed()

    def get_nowait(self) -> Any:
        """Take the head; ``asyncio.QueueEmpty`` when empty, ``QueueEnded`` once drained."""
        if self._items:
            item = self._items.popleft()
            self._room_freed()
            return item
        if self.closed:
            raise QueueEnded("queue is closed and drained")
        raise asyncio.QueueEmpty

    async def get(self) -> Any:
        """Take the head, waiting in line while the queue is empty and open."""
        while not self._items and not self.closed:
            await _wait_in_line(self._getters, self._item_added)
        item = self.get_nowait()
        self._item_added()
        return item

    def close(self) -> None:
        """Refuse puts from now on; wake every waiter (idempotent)."""
        self.closed = True
        _wake_all(self._putters)
        _wake_all(self._getters)

    def _room_freed(self) -> None:
        if len(self._items) < self.capacity:
            _wake_first(self._putters)

    def _item_added(self) -> None:
        if self._items:
            _wake_first(self._getters)


@dataclass
class Result:
    """One job's outcome: ``status`` is ok, error, timeout or cancelled."""

    id: Hashable
    status: str
    value: Any = None
    error: BaseException | None = None


@dataclass
class _Results:
    """The results stream: an async iterator that ends once the pool is done."""

    queue: BoundedQueue

    def __aiter__(self) -> AsyncIterator[Result]:
        return self

    async def __anext__(self) -> Result:
        try:
            result: Result = await self.queue.get()
        except QueueEnded:
            raise StopAsyncIteration from None
        return result


@dataclass
class WorkerPool:
    """``workers`` tasks run ``handler`` on submitted jobs; used as ``async with pool:``."""

    handler: Callable[[Any], Awaitable[Any]]
    workers: int
    jobs_buffer: int
    results_buffer: int
    job_timeout: float | None = None
    undelivered: list[Result] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._jobs = BoundedQueue(self.jobs_buffer)
        # asyncio has no rendezvous queue: a zero results buffer becomes one slot.
        self._results = BoundedQueue(max(self.results_buffer, 1))
        self.results = _Results(self._results)
        self._tasks: list[asyncio.Task[None]] = []
        self._supervisor: asyncio.Task[None] | None = None
        self._cancelled = False

    async def __aenter__(self) -> WorkerPool:
        self._tasks = [
            asyncio.create_task(self._worker(), name=f"worker-{n}") for n in range(self.workers)
        ]
        self._supervisor = asyncio.create_task(self._supervise(), name="pool-supervisor")
        return self

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
        # Shielded: the caller's own cancellation must not leave the workers behind.
        try:
            await asyncio.shield(self._supervisor)
        except asyncio.CancelledError:
            # Cancelled while it waits (a drain): stop the workers, let them exit, then let
            # the cancellation out, as a task group would.
            self.cancel()
            while not self._supervisor.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(self._supervisor)
            raise
        return False

    async def submit(self, job_id: Hashable, payload: Any) -> None:
        """Queue a job, waiting while the jobs buffer is full."""
        await self._jobs.put((job_id, payload))

    def submit_nowait(self, job_id: Hashable, payload: Any) -> None:
        """Queue a job or raise ``asyncio.QueueFull``."""
        self._jobs.put_nowait((job_id, payload))

    def close(self) -> None:
        """No more jobs: queued ones still run, then ``results`` ends."""
        self._jobs.close()

    def cancel(self) -> None:
        """Stop now: refuse jobs, cancel the workers; no job starts afterwards."""
        self._cancelled = True
        self._jobs.close()
        for task in self._tasks:
            task.cancel()

    async def _supervise(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Nobody takes jobs any more: what is still queued was accepted but never started.
        while len(self._jobs):
            job_id, _ = self._jobs.get_nowait()
            self.undelivered.append(Result(job_id, "cancelled"))
        self._results.close()

    async def _worker(self) -> None:
        while not self._cancelled:
            try:
                job_id, payload = await self._jobs.get()
            except QueueEnded:
                return
            try:
                result = await self._run(job_id, payload)
            except asyncio.CancelledError:
                self.undelivered.append(Result(job_id, "cancelled"))
                raise
            try:
                await self._results.put(result)
            except BaseException:
                self.undelivered.append(result)
                raise

    async def _run(self, job_id: Hashable, payload: Any) -> Result:
        try:
            if self.job_timeout is None:
                value = await self.handler(payload)
            else:
                async with asyncio.timeout(self.job_timeout):
                    value = await self.handler(payload)
        except TimeoutError:
            return Result(job_id, "timeout")
        except Exception as exc:
            return Result(job_id, "error", error=exc)
        return Result(job_id, "ok", value)


class TokenBucket:
    """Starts with ``burst`` tokens and refills at ``rate`` per second, up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        if not rate > 0 or math.isinf(rate):
            raise ValueError(f"rate must be positive and finite, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = asyncio.get_running_loop().time()
        self._line: deque[asyncio.Future[None]] = deque()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last refill, never above ``burst``."""
        if now > self._stamp:
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    def _check(self, weight: int) -> None:
        if not 1 <= weight <= self.burst:
            raise ValueError(f"weight must be in 1..burst={self.burst}, got {weight}")

    def try_acquire(self, weight: int = 1) -> bool:
        """Take ``weight`` tokens now if nobody waits and enough exist."""
        self._check(weight)
        if self._line:
            return False
        self.refill(self._now())
        if self._tokens + TOLERANCE >= weight:
            self._tokens -= weight
            return True
        return False

    async def acquire(self, weight: int = 1) -> None:
        """Wait behind earlier waiters, then until ``weight`` tokens exist, and take them."""
        self._check(weight)
        if self.try_acquire(weight):
            return
        me = asyncio.get_running_loop().create_future()
        self._line.append(me)
        try:
            while True:
                if self._line[0] is me:
                    self.refill(self._now())
                    deficit = weight - self._tokens
                    if deficit <= TOLERANCE:
                        self._tokens -= weight
                        return
                    await asyncio.sleep(deficit / self.rate)
                else:
                    await me
        finally:
            was_head = self._line[0] is me
            self._line.remove(me)
            if was_head and self._line and not self._line[0].done():
                self._line[0].set_result(None)


class SheddingGate:
    """Load shedding in front of a token bucket: admit now if a token is there, else reject."""

    def __init__(self, rate: float, burst: int) -> None:
        self._bucket = TokenBucket(rate, burst)

    def try_admit(self, weight: int = 1) -> bool:
        """Admit ``weight`` now or reject it; never waits."""
        return self._bucket.try_acquire(weight)


def implementation() -> dict[str, Any]:
    """The declaration poolcheck reads."""
    return {
        "name": "asyncio-example",
        "backend": "asyncio",
        "capabilities": ["job_timeout", "weighted_acquire"],
        "factories": {
            "bounded_queue": BoundedQueue,
            "worker_pool": WorkerPool,
            "token_bucket": TokenBucket,
            "shedding_gate": SheddingGate,
        },
        "closed_errors": [QueueClosed],
        "end_errors": [QueueEnded],
    }
