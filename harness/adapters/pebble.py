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

from collections.abc import Callable, Hashable, Iterator
from types import TracebackType
from typing import Any

import pebble

from harness.adapters.futures_stream import FutureResults, Result


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
        self._results = FutureResults()

    def __enter__(self) -> PebblePool:
        self.pool.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._results.shut()
        # Pebble's own exit: close() then join().
        self.pool.__exit__(exc_type, exc, tb)  # type: ignore[no-untyped-call,unused-ignore]

    @property
    def results(self) -> Iterator[Result]:
        """Each job's result, in the order the futures finished; ends after the last one."""
        return iter(self._results)

    def submit(self, job_id: Hashable, payload: Any) -> None:
        """``pool.schedule(handler, args=(payload,))``; never blocks."""
        self._results.track(job_id, lambda: self.pool.schedule(self.handler, args=(payload,)))

    def close(self) -> None:
        """``pool.close()``: no more jobs; ``results`` ends once every future is done."""
        self.pool.close()  # type: ignore[no-untyped-call,unused-ignore]
        self._results.shut()


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
