"""Pebble's ``ThreadPool`` as poolcheck's worker pool (backend ``threads``).

    poolcheck check --impl harness.adapters.pebble:implementation

PyPI distribution ``Pebble`` (import name ``pebble``). Its users write::

    with pebble.ThreadPool(max_workers=workers) as pool:   # leaving: close() then join()
        future = pool.schedule(handler, args=(payload,))    # a concurrent.futures.Future
        future.add_done_callback(...)                       # or future.result()

and the adapter maps the contract onto exactly those calls: ``submit(job_id, payload)`` is
``pool.schedule(handler, args=(payload,))``, ``close()`` is ``pool.close()`` ("preventing new
tasks from being accepted; pending tasks will be completed"), and ``with`` is the pool's own
``with``. After ``close()``, ``schedule`` raises ``RuntimeError("The Pool is not active")``,
which is therefore the declared closed error.

The threads backend hands the harness's handler in as a plain blocking function, called in
Pebble's worker threads.

Plumbing around the public API, as a user would write it, because the contract asks for it and
``ThreadPool`` has no such thing:

* ``results``: the futures in the order they finish, as ``concurrent.futures.as_completed``
  gives them to a Pebble user: each future's done-callback puts one result (``ok`` with the
  handler's value, ``error`` with its exception) on a ``queue.Queue``, read as a plain
  iterator, which ends once ``close()`` was called and every scheduled future is done.
  Leaving the ``with`` block is Pebble's own ``__exit__``: ``close()`` then ``join()``, which
  returns once the workers exited.

Not provided, so the rules about them are not-applicable:

* ``submit_nowait``: ``schedule`` never blocks (Pebble's task queue is unbounded), so a
  separate non-blocking submit would be the same call; ``jobs_buffer`` and ``results_buffer``
  are ignored for the same reason (results are futures), which is declared as a deviation
  from POOL-BACKPRESSURE.
* ``cancel``: ``ThreadPool.stop()`` stops the pool "without performing any pending task", but
  the threads backend never drives a cancel (a running thread cannot be interrupted), so it is
  left out rather than mapped unchecked.
* ``job_timeout``: ``ThreadPool.schedule`` takes no timeout (only Pebble's process pool does).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import pebble

#: The end of the results stream.
_END: Any = object()


@dataclass
class Result:
    """One job's outcome: ``status`` is ok or error."""

    id: Hashable
    status: str
    value: Any = None
    error: BaseException | None = None


def _result(job_id: Hashable, future: Future[Any]) -> Result:
    """What a user reads from the future Pebble returned for a job."""
    if future.cancelled():
        return Result(job_id, "cancelled")
    error = future.exception()
    if error is not None:
        return Result(job_id, "error", error=error)
    return Result(job_id, "ok", future.result())


class PebblePool:
    """A ``pebble.ThreadPool`` of ``workers`` threads running the harness's ``handler``."""

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
            raise ValueError("pebble.ThreadPool.schedule takes no timeout")
        self.handler = handler
        self.pool = pebble.ThreadPool(max_workers=workers)
        self.undelivered: list[Result] = []
        self._queue: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._pending = 0  # futures scheduled and not done yet
        self._closed = False

    def __enter__(self) -> PebblePool:
        self.pool.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._mark_closed()
        # Pebble's own exit: close() then join().
        self.pool.__exit__(exc_type, exc, tb)  # type: ignore[no-untyped-call,unused-ignore]

    @property
    def results(self) -> Iterator[Result]:
        """Each job's result, in the order the futures finished; ends after the last one."""
        while True:
            result = self._queue.get()
            if result is _END:
                self._queue.put(_END)  # every later read ends too
                return
            yield result

    def submit(self, job_id: Hashable, payload: Any) -> None:
        """``pool.schedule(handler, args=(payload,))``; never blocks."""
        with self._lock:
            self._pending += 1
        try:
            future = self.pool.schedule(self.handler, args=(payload,))
        except BaseException:
            self._finished()
            raise
        future.add_done_callback(lambda done: self._finished(_result(job_id, done)))

    def close(self) -> None:
        """``pool.close()``: no more jobs; ``results`` ends once every future is done."""
        self.pool.close()  # type: ignore[no-untyped-call,unused-ignore]
        self._mark_closed()

    def _mark_closed(self) -> None:
        with self._lock:
            self._closed = True
            last = self._pending == 0
        if last:
            self._queue.put(_END)

    def _finished(self, result: Result | None = None) -> None:
        if result is not None:
            self._queue.put(result)
        with self._lock:
            self._pending -= 1
            last = self._closed and self._pending == 0
        if last:
            self._queue.put(_END)


def implementation() -> dict[str, Any]:
    """The declaration of ``pebble.ThreadPool`` for poolcheck."""
    return {
        "name": f"pebble-{pebble.__version__}",
        "backend": "threads",
        "capabilities": [],
        "factories": {"worker_pool": PebblePool},
        "deviations": {
            "POOL-BACKPRESSURE": "pebble.ThreadPool's task queue is unbounded: schedule() never "
            "blocks, so jobs_buffer has no counterpart",
        },
        # schedule() after close(): RuntimeError("The Pool is not active").
        "closed_errors": (RuntimeError,),
    }
