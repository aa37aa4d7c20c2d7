"""A thread pool's futures as the contract's ``results`` stream (ThreadPoolExecutor, Pebble).

Users of a futures-based pool stream its outcomes with a done callback per future. Both
adapters do the same: each submitted future's outcome goes to one stream as it completes, and
the stream ends once the pool is shut down and every future it accepted is done.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any


@dataclass
class Result:
    """One future's outcome: ``status`` is ok, error or cancelled."""

    id: Hashable
    status: str
    value: Any = None
    error: BaseException | None = None


def outcome(job_id: Hashable, future: Future[Any]) -> Result:
    """What a user reads from a job's finished future."""
    if future.cancelled():
        return Result(job_id, "cancelled")
    error = future.exception()
    if error is not None:
        return Result(job_id, "error", error=error)
    return Result(job_id, "ok", future.result())


class FutureResults:
    """The outcomes of a pool's futures, ending once the pool is shut and all are done."""

    def __init__(self) -> None:
        # queue.Queue (not SimpleQueue): a reader blocked in it waits in Python's threading,
        # which is how the threads backend tells a waiting thread from a running one.
        self._outcomes: queue.Queue[Result | None] = queue.Queue()
        self._lock = threading.Lock()
        self._pending = 0
        self._shut = False
        self._ended = False

    def track(self, job_id: Hashable, submit: Callable[[], Future[Any]]) -> None:
        """Submit a job (``submit()`` returns its future); its outcome joins the stream."""
        with self._lock:
            self._pending += 1
        try:
            future = submit()
        except BaseException:
            self._done(None)
            raise
        future.add_done_callback(lambda done: self._done(outcome(job_id, done)))

    def shut(self) -> None:
        """The pool takes no more jobs: the stream ends once the pending ones are done."""
        with self._lock:
            self._shut = True
        self._maybe_end()

    def __iter__(self) -> Iterator[Result]:
        while True:
            result = self._outcomes.get()
            if result is None:
                self._outcomes.put(None)  # every later read ends too
                return
            yield result

    def _done(self, result: Result | None) -> None:
        if result is not None:
            self._outcomes.put(result)
        with self._lock:
            self._pending -= 1
        self._maybe_end()

    def _maybe_end(self) -> None:
        with self._lock:
            end = self._shut and self._pending == 0 and not self._ended
            self._ended = self._ended or end
        if end:
            self._outcomes.put(None)
