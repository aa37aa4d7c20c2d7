"""Deliberately broken declarations for the stress tests, loaded through the plug-in path.

``extra_worker``: the pool starts one worker more than asked (POOL-CONCURRENCY).
``fast_bucket``: the token bucket refills twice as fast as asked (RATE-BOUND).
``asyncio_extra_worker`` and ``asyncio_fast_bucket``: the same two bugs in the asyncio example,
as its users would make them (stress runs on the asyncio backend too).
"""

from __future__ import annotations

from typing import Any

from reference.plugin import implementation as reference_implementation
from reference.pool import WorkerPool
from reference.ratelimit import TokenBucket


def _with(name: str, **factories: Any) -> dict[str, Any]:
    declaration = reference_implementation()
    return {
        "name": name,
        "backend": "trio",
        "capabilities": declaration.capabilities,
        "factories": {**declaration.factories, **factories},
        "closed_errors": declaration.closed_errors,
        "counters": declaration.counters,
    }


def extra_worker() -> dict[str, Any]:
    """A pool with one worker too many."""

    def make(
        *, handler: Any, workers: int, jobs_buffer: int, results_buffer: int, job_timeout: Any
    ) -> WorkerPool[Any, Any]:
        return WorkerPool(
            handler,
            workers=workers + 1,
            jobs_buffer=jobs_buffer,
            results_buffer=results_buffer,
            job_timeout=job_timeout,
        )

    return _with("broken-extra-worker", worker_pool=make)


def fast_bucket() -> dict[str, Any]:
    """A token bucket that admits at twice its rate."""
    return _with(
        "broken-fast-bucket", token_bucket=lambda *, rate, burst: TokenBucket(rate * 2, burst)
    )


def hanging_pool() -> dict[str, Any]:
    """A pool whose submit never returns."""

    class Hanging(WorkerPool[Any, Any]):
        async def submit(self, id: Any, payload: Any) -> None:
            import trio

            await trio.sleep_forever()

    def make(
        *, handler: Any, workers: int, jobs_buffer: int, results_buffer: int, job_timeout: Any
    ) -> WorkerPool[Any, Any]:
        return Hanging(
            handler,
            workers=workers,
            jobs_buffer=jobs_buffer,
            results_buffer=results_buffer,
            job_timeout=job_timeout,
        )

    return _with("broken-hanging-pool", worker_pool=make)


def _asyncio_with(name: str, **factories: Any) -> dict[str, Any]:
    from examples.asyncio_impl import implementation as asyncio_implementation

    declaration = asyncio_implementation()
    return {**declaration, "name": name, "factories": {**declaration["factories"], **factories}}


def asyncio_extra_worker() -> dict[str, Any]:
    """The asyncio example's pool with one worker too many."""
    from examples.asyncio_impl import WorkerPool as AsyncioPool

    def make(**kwargs: Any) -> AsyncioPool:
        kwargs["workers"] += 1
        return AsyncioPool(**kwargs)

    return _asyncio_with("broken-asyncio-extra-worker", worker_pool=make)


def asyncio_fast_bucket() -> dict[str, Any]:
    """The asyncio example's token bucket, refilling at twice its rate."""
    from examples.asyncio_impl import TokenBucket as AsyncioBucket

    def make(*, rate: float, burst: int) -> AsyncioBucket:
        return AsyncioBucket(rate * 2, burst)

    return _asyncio_with("broken-asyncio-fast-bucket", token_bucket=make)
