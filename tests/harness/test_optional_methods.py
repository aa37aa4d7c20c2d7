"""Beyond a pattern's core operations every method is optional, and either sync or async.

A library without ``try_acquire``, a queue without ``close`` (``asyncio.Queue`` before 3.13), a
pool without ``cancel``, a retrier without ``bounds`` is checked on the rest: only the rules
that need the missing method are not-applicable, with the method named. A method a library
offers as a coroutine (``async try_acquire``, ``async close``) is awaited, never read as a
truthy coroutine object.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from harness.checking import Verdict
from harness.conformance import RuleResult, run_pattern, verdicts
from harness.plugin import load_implementation
from harness.rules import Pattern
from harness.search.engine import Profile
from reference.plugin import Retrier
from reference.pool import WorkerPool
from reference.queues import BoundedQueue, QueueClosed
from reference.ratelimit import TokenBucket

QUICK = Profile("quick", max_examples=80, derandomize=True)
MODULE = __name__


def _check(declaration: str, pattern: Pattern) -> dict[str, RuleResult]:
    implementation = load_implementation(f"{MODULE}:{declaration}")
    run = run_pattern(implementation, pattern, QUICK)
    return {result.rule.id: result for result in verdicts(implementation, [run])}


def _declare(factories: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"name": "shape", "backend": "trio", "capabilities": [], "factories": factories, **more}


# -- a queue without close ----------------------------------------------------------------------
class QueueWithoutClose:
    """The reference bounded queue, minus ``close``: a queue that is never closed."""

    def __init__(self, capacity: int) -> None:
        self._queue: BoundedQueue[Any] = BoundedQueue(capacity)
        self.put, self.get = self._queue.put, self._queue.get
        self.put_nowait, self.get_nowait = self._queue.put_nowait, self._queue.get_nowait

    def __len__(self) -> int:
        return len(self._queue)


def queue_without_close() -> dict[str, Any]:
    return _declare(
        {"bounded_queue": lambda *, capacity: QueueWithoutClose(capacity)},
        closed_errors=(QueueClosed,),
    )


def test_a_queue_without_close_makes_only_the_close_rule_not_applicable() -> None:
    results = _check("queue_without_close", Pattern.QUEUE)
    close = results["QUEUE-CLOSE"]
    assert close.verdict is Verdict.NOT_APPLICABLE
    assert "no close()" in close.reason
    for rule in ("QUEUE-BOUND", "QUEUE-FIFO", "QUEUE-CONSERVATION", "NO-CRASH"):
        assert results[rule].verdict is Verdict.PASS, (rule, results[rule])


# -- limiters: no try_acquire, an async one ------------------------------------------------------
class AcquireOnly:
    """A token bucket that only waits: no non-blocking probe at all."""

    def __init__(self, rate: float, burst: int) -> None:
        self.acquire = TokenBucket(rate, burst).acquire


class AsyncProbe(TokenBucket):
    """A token bucket whose probe is a coroutine, as some libraries write it."""

    async def try_acquire(self, weight: int = 1) -> bool:  # type: ignore[override]
        return TokenBucket.try_acquire(self, weight)


class AsyncProbeAlwaysYes(TokenBucket):
    """An async probe that admits everything: it must still be judged by what it returns."""

    async def try_acquire(self, weight: int = 1) -> bool:  # type: ignore[override]
        return True


def acquire_only() -> dict[str, Any]:
    return _declare({"token_bucket": lambda *, rate, burst: AcquireOnly(rate, burst)})


def async_probe() -> dict[str, Any]:
    return _declare({"token_bucket": lambda *, rate, burst: AsyncProbe(rate, burst)})


def async_probe_always_yes() -> dict[str, Any]:
    return _declare({"token_bucket": lambda *, rate, burst: AsyncProbeAlwaysYes(rate, burst)})


def test_a_limiter_without_try_acquire_is_judged_on_its_acquires() -> None:
    results = _check("acquire_only", Pattern.RATE)
    for rule in ("RATE-BOUND", "RATE-NO-OVERTHROTTLE", "RATE-CANCEL-NO-LOSS", "NO-CRASH"):
        assert results[rule].verdict is Verdict.PASS, (rule, results[rule])


def test_an_async_try_acquire_is_awaited() -> None:
    results = _check("async_probe", Pattern.RATE)
    for rule in ("RATE-BOUND", "RATE-NO-OVERTHROTTLE", "NO-CRASH"):
        assert results[rule].verdict is Verdict.PASS, (rule, results[rule])


def test_an_async_try_acquire_that_admits_everything_fails_the_bound() -> None:
    results = _check("async_probe_always_yes", Pattern.RATE)
    assert results["RATE-BOUND"].verdict is Verdict.FAIL


# -- a pool without cancel, with an async close --------------------------------------------------
class PoolWithoutCancel:
    """The reference pool with an ``async close`` and no ``cancel``."""

    def __init__(self, handler: Any, **sizes: Any) -> None:
        self._pool: WorkerPool[Any, Any] = WorkerPool(handler, **sizes)
        self.results = self._pool.results
        self.submit, self.submit_nowait = self._pool.submit, self._pool.submit_nowait

    @property
    def undelivered(self) -> list[Any]:
        return self._pool.undelivered

    async def close(self) -> None:
        self._pool.close()

    async def __aenter__(self) -> PoolWithoutCancel:
        await self._pool.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        return await self._pool.__aexit__(*exc)


def pool_without_cancel() -> dict[str, Any]:
    return _declare(
        {
            "worker_pool": lambda *, handler, workers, jobs_buffer, results_buffer, job_timeout: (
                PoolWithoutCancel(
                    handler, workers=workers, jobs_buffer=jobs_buffer, results_buffer=results_buffer
                )
            )
        },
        closed_errors=(QueueClosed,),
    )


def test_a_pool_without_cancel_and_with_an_async_close() -> None:
    results = _check("pool_without_cancel", Pattern.POOL)
    prompt = results["POOL-CANCEL-PROMPT"]
    assert prompt.verdict is Verdict.NOT_APPLICABLE
    assert "no cancel()" in prompt.reason
    for rule in ("POOL-EXACTLY-ONCE", "POOL-DRAIN", "POOL-RESULTS-CLOSED-ONCE", "NO-CRASH"):
        assert results[rule].verdict is Verdict.PASS, (rule, results[rule])


# -- a retrier without bounds ---------------------------------------------------------------------
class RetrierWithoutBounds:
    """The reference retrier without ``bounds``: its delays are held to the guide's schedule."""

    def __init__(self, **kwargs: Any) -> None:
        self.call = Retrier(**kwargs).call


class SlowRetrierWithoutBounds:
    """Waits twice the guide's delay between attempts, and declares no bounds to hide behind."""

    def __init__(self, **kwargs: Any) -> None:
        self.retrier = Retrier(**kwargs)
        self.retrier.backoff = type(self.retrier.backoff)(
            base=2 * kwargs["base"], factor=kwargs["factor"], cap=2 * kwargs["cap"], jitter="none"
        )
        self.rng = random.Random(kwargs["seed"])

    async def call(self, fn: Any) -> Any:
        return await self.retrier.call(fn)


def retrier_without_bounds() -> dict[str, Any]:
    return _declare({"retrier": RetrierWithoutBounds})


def slow_retrier_without_bounds() -> dict[str, Any]:
    return _declare({"retrier": SlowRetrierWithoutBounds})


def test_a_retrier_without_bounds_is_held_to_the_guides_schedule() -> None:
    results = _check("retrier_without_bounds", Pattern.RETRY)
    assert results["RETRY-BACKOFF"].verdict is Verdict.PASS, results["RETRY-BACKOFF"]
    assert results["NO-CRASH"].verdict is Verdict.PASS


@pytest.mark.parametrize("declaration", ["slow_retrier_without_bounds"])
def test_a_retrier_without_bounds_waiting_too_long_fails_backoff(declaration: str) -> None:
    results = _check(declaration, Pattern.RETRY)
    assert results["RETRY-BACKOFF"].verdict is Verdict.FAIL
