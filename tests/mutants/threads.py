"""Broken thread pools (backend ``threads``): what goes wrong when a blocking pool is cancelled.

Each mutant is :class:`examples.thread_pool.ThreadPool`, the examples' correct thread pool, with
one thing changed in its ``cancel()``. Before the threads backend drove ``cancel()`` (it never
did: a thread cannot be interrupted, so cancellation was not drawn there at all) every one of
them passed every rule.
"""

from __future__ import annotations

from typing import Any

from examples.thread_pool import PoolClosed, ThreadPool
from tests.mutants._base import mutant


def _threads(name: str, pool: type[ThreadPool]) -> dict[str, Any]:
    return {
        "name": name,
        "backend": "threads",
        "capabilities": [],
        "factories": {"worker_pool": pool},
        "closed_errors": [PoolClosed],
    }


class _DropsQueuedOnCancel(ThreadPool):
    """``cancel()`` empties the jobs queue but reports nothing of the jobs it threw away."""

    def cancel(self) -> None:
        """Stop taking jobs and forget the queued ones."""
        with self._lock:
            self._cancelled = True
        self._jobs.close()
        self._jobs.take_all()  # the bug: not appended to undelivered


@mutant("POOL-EXACTLY-ONCE")
def drops_queued_on_cancel() -> dict[str, Any]:
    """A thread pool whose cancel() drops its queued jobs without an outcome."""
    return _threads("drops-queued-on-cancel", _DropsQueuedOnCancel)


class _RunsQueuedAfterCancel(ThreadPool):
    """``cancel()`` only closes the jobs queue: the workers go on with the queued jobs."""

    def cancel(self) -> None:
        """Refuse new jobs (and nothing else)."""
        self._jobs.close()  # the bug: neither flagged cancelled nor taken off the queue


@mutant("POOL-NO-LEAK")
def runs_queued_after_cancel() -> dict[str, Any]:
    """A thread pool whose cancel() is a close(): queued jobs still start afterwards."""
    return _threads("runs-queued-after-cancel", _RunsQueuedAfterCancel)


class _EndsResultsAtCancel(ThreadPool):
    """``cancel()`` ends the results at once, although the running jobs have not finished."""

    def cancel(self) -> None:
        """Cancel, and (the bug) close the results now rather than after the last worker."""
        super().cancel()
        self._results.close()


@mutant("POOL-RESULTS-CLOSED-ONCE")
def ends_results_at_cancel() -> dict[str, Any]:
    """A thread pool whose cancel() ends the results while jobs still run."""
    return _threads("ends-results-at-cancel", _EndsResultsAtCancel)
