"""``concurrent.futures.ThreadPoolExecutor`` as poolcheck's worker pool (backend ``threads``).

    poolcheck check --impl harness.adapters.thread_pool_executor:implementation

The executor does the pooling, as its users use it: ``with ThreadPoolExecutor(max_workers=n)
as executor:``, ``executor.submit(handler, payload)``, and a done callback per future to
stream the outcomes as they complete. The adapter maps:

* ``with pool:`` is the executor's own ``with`` (leaving it is ``shutdown(wait=True)``);
* ``submit(job_id, payload)`` is ``executor.submit(handler, payload)``; after shutdown the
  executor raises ``RuntimeError`` (documented), declared as the pool's closed error;
* ``close()`` is ``shutdown(wait=False)``: queued jobs still run;
* ``cancel()`` is ``shutdown(wait=False, cancel_futures=True)``: queued jobs' futures are
  cancelled and never run; running ones finish (a thread cannot be interrupted);
* ``results`` yields one result per future as it completes (``future.add_done_callback``):
  ``ok`` with its value, ``error`` with its exception, or ``cancelled``; it ends once the
  executor is shut down and every submitted future is done. ``undelivered`` stays empty,
  since every future's outcome reaches ``results``.

Documented differences from the guide's pool, which the adapter leaves as they are:

* the executor's work queue is unbounded, so ``submit`` never blocks: ``jobs_buffer`` and
  ``results_buffer`` have no counterpart, and there is no ``submit_nowait`` (nothing to
  refuse), which is declared as a deviation from POOL-BACKPRESSURE;
* there is no per-job timeout (``Future.result(timeout)`` only stops waiting), so capability
  ``job_timeout`` is not declared.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

from harness.adapters.futures_stream import FutureResults, Result


class ExecutorPool:
    """One ``ThreadPoolExecutor`` running ``handler``; its futures' outcomes as ``results``."""

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
            raise ValueError("ThreadPoolExecutor has no per-job timeout")
        self.handler = handler
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="executor")
        self.undelivered: list[Result] = []
        self._results = FutureResults()

    def __enter__(self) -> ExecutorPool:
        self.executor.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.executor.__exit__(exc_type, exc, tb)
        finally:
            self._results.shut()

    def submit(self, job_id: Hashable, payload: Any) -> None:
        """``executor.submit(handler, payload)``, its outcome streamed to ``results``."""
        self._results.track(job_id, lambda: self.executor.submit(self.handler, payload))

    def close(self) -> None:
        """``executor.shutdown(wait=False)``: no more jobs; queued ones still run."""
        self.executor.shutdown(wait=False)
        self._results.shut()

    def cancel(self) -> None:
        """``executor.shutdown(wait=False, cancel_futures=True)``: queued jobs never run."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        self._results.shut()

    @property
    def results(self) -> Iterator[Result]:
        """Each future's outcome as it completes; ends once shut down and all are done."""
        return iter(self._results)


def implementation() -> dict[str, Any]:
    """The declaration of ``concurrent.futures.ThreadPoolExecutor`` for poolcheck."""
    return {
        "name": "thread-pool-executor",
        "backend": "threads",
        "capabilities": [],
        "factories": {"worker_pool": ExecutorPool},
        "deviations": {
            "POOL-BACKPRESSURE": "ThreadPoolExecutor's work queue is unbounded: submit() never "
            "blocks, so jobs_buffer has no counterpart",
        },
        # "RuntimeError: cannot schedule new futures after shutdown", as documented.
        "closed_errors": [RuntimeError],
    }
