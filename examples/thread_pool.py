"""A thread-based worker pool, declared for poolcheck (backend ``threads``).

Plain threads and blocking calls, no event loop: ``workers`` threads take jobs from a bounded
jobs queue, call the (synchronous) handler, and put results on a bounded results queue.

    with ThreadPool(handler=f, workers=3, jobs_buffer=2, results_buffer=1) as pool:
        pool.submit("a", 1)          # blocks while the jobs buffer is full
        pool.close()
        for result in pool.results:  # ends once every worker has exited
            ...

Leaving the block drains (close, then join the workers); leaving it with an exception, or
calling :meth:`ThreadPool.cancel`, stops taking jobs: queued ones end up in ``undelivered``
(a running handler cannot be interrupted and finishes its job).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any


class PoolClosed(Exception):
    """Submitted to a closed pool."""


class _Ended(Exception):
    """Taken from a closed, drained queue."""


class ClosableQueue:
    """A bounded FIFO shared by threads that can be closed (Python 3.11 has no shutdown)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[Any] = deque()
        self._changed = threading.Condition()
        self.closed = False

    def __len__(self) -> int:
        with self._changed:
            return len(self._items)

    def put(self, item: Any, *, block: bool = True) -> None:
        """Append ``item``, waiting for room (or raising ``queue.Full`` if not ``block``)."""
        with self._changed:
            while not self.closed and len(self._items) >= self.capacity:
                if not block:
                    raise queue.Full
                self._changed.wait()
            if self.closed:
                raise PoolClosed("pool is closed")
            self._items.append(item)
            self._changed.notify_all()

    def get(self) -> Any:
        """Take the head, waiting while empty and open; :class:`_Ended` once drained."""
        with self._changed:
            while not self._items and not self.closed:
                self._changed.wait()
            if not self._items:
                raise _Ended
            item = self._items.popleft()
            self._changed.notify_all()
            return item

    def close(self) -> list[Any]:
        """Refuse further puts and wake every waiter; remaining items can still be taken."""
        with self._changed:
            self.closed = True
            self._changed.notify_all()
            return list(self._items)

    def take_all(self) -> list[Any]:
        """Remove and return every item left."""
        with self._changed:
            items = list(self._items)
            self._items.clear()
            self._changed.notify_all()
            return items


@dataclass
class Result:
    """One job's outcome: ``status`` is ok, error or cancelled."""

    id: Hashable
    status: str
    value: Any = None
    error: BaseException | None = None


class ThreadPool:
    """``workers`` threads running ``handler`` on submitted jobs; used as ``with pool:``."""

    def __init__(
        self,
        *,
        handler: Callable[[Any], Any],
        workers: int,
        jobs_buffer: int,
        results_buffer: int,
        job_timeout: float | None = None,
    ) -> None:
        if job_timeout is not None:
            raise ValueError("a thread cannot be interrupted: job_timeout is not supported")
        self.handler = handler
        self.undelivered: list[Result] = []
        self._jobs = ClosableQueue(jobs_buffer)
        # A zero results buffer (a rendezvous) becomes one slot.
        self._results = ClosableQueue(max(results_buffer, 1))
        self._threads = [
            threading.Thread(target=self._work, name=f"pool-worker-{n}", daemon=True)
            for n in range(workers)
        ]
        self._lock = threading.Lock()
        self._running = workers
        self._cancelled = False

    def __enter__(self) -> ThreadPool:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self.cancel()
        for thread in self._threads:
            thread.join()

    @property
    def results(self) -> Iterator[Result]:
        """Each finished job's result; ends once every worker has exited."""
        while True:
            try:
                yield self._results.get()
            except _Ended:
                return

    def submit(self, job_id: Hashable, payload: Any) -> None:
        """Queue a job, blocking while the jobs buffer is full."""
        self._jobs.put((job_id, payload))

    def submit_nowait(self, job_id: Hashable, payload: Any) -> None:
        """Queue a job or raise ``queue.Full``."""
        self._jobs.put((job_id, payload), block=False)

    def close(self) -> None:
        """No more jobs: queued ones still run, then ``results`` ends."""
        self._jobs.close()

    def cancel(self) -> None:
        """Stop taking jobs: queued ones go to ``undelivered``; running ones finish."""
        with self._lock:
            self._cancelled = True
        self._jobs.close()
        for job_id, _ in self._jobs.take_all():
            self.undelivered.append(Result(job_id, "cancelled"))

    def _work(self) -> None:
        try:
            while True:
                try:
                    job_id, payload = self._jobs.get()
                except _Ended:
                    return
                with self._lock:
                    cancelled = self._cancelled
                if cancelled:
                    self.undelivered.append(Result(job_id, "cancelled"))
                    continue
                try:
                    result = Result(job_id, "ok", self.handler(payload))
                except Exception as exc:
                    result = Result(job_id, "error", error=exc)
                try:
                    self._results.put(result)
                except PoolClosed:
                    self.undelivered.append(result)
        finally:
            with self._lock:
                self._running -= 1
                last = self._running == 0
            if last:
                self._results.close()  # the last worker out ends the results


def implementation() -> dict[str, Any]:
    """The declaration poolcheck reads."""
    return {
        "name": "thread-pool-example",
        "backend": "threads",
        "capabilities": [],
        "factories": {"worker_pool": ThreadPool},
        "closed_errors": [PoolClosed],
    }
