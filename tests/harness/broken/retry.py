"""Deliberately broken retriers, each with the realistic bug named in its docstring.

Each function at the bottom is a declaration factory, loaded through the plug-in path exactly
as a user's implementation would be: ``tests.harness.broken.retry:retries_after_success``.
Every broken retrier reuses the reference adapter (schedule, rng, metrics, honest ``bounds``)
and replaces only the loop or the delay draw that carries its bug.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from reference.instrumentation import RETRIES
from reference.plugin import Retrier
from reference.plugin import implementation as reference_implementation


def _with(**factories: Callable[..., Any]) -> Any:
    declaration = reference_implementation()
    return {
        "name": "broken",
        "backend": "trio",
        "capabilities": declaration.capabilities,
        "factories": {**declaration.factories, **factories},
        "closed_errors": declaration.closed_errors,
        "counters": declaration.counters,
    }


class _LoopRetrier(Retrier):
    """The reference loop, spelled out so that each mutant changes one line of it."""

    def delay(self, n: int) -> float:
        return self.backoff.delay(n, self.rng)

    async def backoff_sleep(self, n: int) -> None:
        await trio.sleep(self.delay(n))
        self.metrics.incr(RETRIES)

    async def call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        last: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            if last is not None:
                await self.backoff_sleep(attempt - 1)
            try:
                return await fn()
            except Exception as exc:
                if not self.retryable(exc):
                    raise
                last = exc
        assert last is not None
        raise last


class RetriesAfterSuccess(_LoopRetrier):
    """Keeps the result but forgets to stop: every call runs all ``max_attempts`` attempts."""

    async def call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        result: Any = None
        last: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                await self.backoff_sleep(attempt - 1)
            try:
                result = await fn()
                last = None
            except Exception as exc:
                if not self.retryable(exc):
                    raise
                last = exc
        if last is not None:
            raise last
        return result


class OneAttemptTooMany(_LoopRetrier):
    """``range(max_attempts + 1)``: counts retries as attempts, so tries max_attempts + 1 times."""

    async def call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        last: Exception | None = None
        for attempt in range(self.max_attempts + 1):
            if last is not None:
                await self.backoff_sleep(attempt)
            try:
                return await fn()
            except Exception as exc:
                if not self.retryable(exc):
                    raise
                last = exc
        assert last is not None
        raise last


class RetriesEverything(_LoopRetrier):
    """Never consults ``retryable``: a permanent error is retried like a transient one."""

    async def call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        last: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            if last is not None:
                await self.backoff_sleep(attempt - 1)
            try:
                return await fn()
            except Exception as exc:
                last = exc
        assert last is not None
        raise last


class IgnoresCap(_LoopRetrier):
    """Jitters the uncapped exponential: ``base * factor**(n-1)``, forgetting ``min(cap, .)``."""

    def delay(self, n: int) -> float:
        b = self.backoff
        d = b.base * b.factor ** (n - 1)
        if b.jitter == "none":
            return d
        if b.jitter == "full":
            return self.rng.uniform(0, d)
        return self.rng.uniform(d / 2, d)


class EqualJitterFromZero(_LoopRetrier):
    """ "Equal" jitter drawn from ``[0, d]``: full jitter under the wrong name, below its floor."""

    def delay(self, n: int) -> float:
        low, high = self.backoff.bounds(n)
        if self.backoff.jitter == "equal":
            low = 0.0
        return low if low == high else self.rng.uniform(low, high)


class CancelContinues(_LoopRetrier):
    """Treats a cancelled backoff sleep as "sleep over": goes straight to the next attempt."""

    async def backoff_sleep(self, n: int) -> None:
        try:  # noqa: SIM105 - the bug, spelled the way it is usually written
            await trio.sleep(self.delay(n))
        except trio.Cancelled:
            pass
        self.metrics.incr(RETRIES)


class CancelReturnsNone(_LoopRetrier):
    """Catches ``BaseException`` around the backoff sleep and gives up quietly with None."""

    async def call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        last: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            if last is not None:
                try:
                    await self.backoff_sleep(attempt - 1)
                except BaseException:
                    return None
            try:
                return await fn()
            except Exception as exc:
                if not self.retryable(exc):
                    raise
                last = exc
        assert last is not None
        raise last


class RaisesFirstError(_LoopRetrier):
    """Keeps the first error ("the root cause") and raises it when attempts run out."""

    async def call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        first: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            if first is not None:
                await self.backoff_sleep(attempt - 1)
            try:
                return await fn()
            except Exception as exc:
                if not self.retryable(exc):
                    raise
                if first is None:
                    first = exc
        assert first is not None
        raise first


class CountsRetryBeforeSleep(_LoopRetrier):
    """Counts the retry before the backoff sleep: a call cancelled in backoff over-counts."""

    async def backoff_sleep(self, n: int) -> None:
        self.metrics.incr(RETRIES)
        await trio.sleep(self.delay(n))


def retries_after_success() -> Any:
    """RETRY-MAX-ATTEMPTS: attempts after a success."""
    return _with(retrier=RetriesAfterSuccess)


def one_attempt_too_many() -> Any:
    """RETRY-MAX-ATTEMPTS: max_attempts + 1 attempts."""
    return _with(retrier=OneAttemptTooMany)


def retries_everything() -> Any:
    """RETRY-MAX-ATTEMPTS: attempts after a non-retryable error."""
    return _with(retrier=RetriesEverything)


def ignores_cap() -> Any:
    """RETRY-BACKOFF: delays above the cap."""
    return _with(retrier=IgnoresCap)


def equal_jitter_from_zero() -> Any:
    """RETRY-BACKOFF: equal-jitter delays below d/2."""
    return _with(retrier=EqualJitterFromZero)


def cancel_continues() -> Any:
    """RETRY-CANCEL: an attempt after a cancelled backoff."""
    return _with(retrier=CancelContinues)


def cancel_returns_none() -> Any:
    """RETRY-CANCEL: a cancelled call returns None."""
    return _with(retrier=CancelReturnsNone)


def raises_first_error() -> Any:
    """RETRY-LAST-ERROR: the first attempt's error instead of the last."""
    return _with(retrier=RaisesFirstError)


def counts_retry_before_sleep() -> Any:
    """METRICS-CONSISTENT: retries counted for a retry that never happened."""
    return _with(retrier=CountsRetryBeforeSleep)
