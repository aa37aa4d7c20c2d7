"""Broken retriers: too many attempts, bad delays, swallowed cancellation, the wrong error.

Each reuses the reference adapter (schedule, rng, metrics, honest ``bounds``) and replaces
only the loop or the delay draw that carries its bug.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from reference.instrumentation import RETRIES
from reference.plugin import Retrier
from tests.mutants._base import mutant, reference_with


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


@mutant("RETRY-MAX-ATTEMPTS")
def retries_after_success() -> Any:
    """A retry that retries after success: keeps the result but runs every attempt."""
    return reference_with(retrier=RetriesAfterSuccess)


@mutant("RETRY-MAX-ATTEMPTS")
def one_attempt_too_many() -> Any:
    """``range(max_attempts + 1)``: counts retries as attempts, one attempt too many."""
    return reference_with(retrier=OneAttemptTooMany)


@mutant("RETRY-MAX-ATTEMPTS")
def retries_everything() -> Any:
    """Never consults ``retryable``: a permanent error is retried like a transient one."""
    return reference_with(retrier=RetriesEverything)


@mutant("RETRY-BACKOFF")
def ignores_cap() -> Any:
    """Ignores its cap: jitters the uncapped exponential ``base * factor**(n-1)``."""
    return reference_with(retrier=IgnoresCap)


@mutant("RETRY-BACKOFF")
def equal_jitter_from_zero() -> Any:
    """Jitters below its floor: equal jitter drawn from ``[0, d]`` instead of ``[d/2, d]``."""
    return reference_with(retrier=EqualJitterFromZero)


@mutant("RETRY-CANCEL")
def cancel_continues() -> Any:
    """Swallows cancellation: a cancelled backoff sleep counts as slept."""
    return reference_with(retrier=CancelContinues)


@mutant("RETRY-CANCEL")
def cancel_returns_none() -> Any:
    """Catches ``BaseException`` around the backoff sleep and returns None."""
    return reference_with(retrier=CancelReturnsNone)


@mutant("RETRY-LAST-ERROR")
def raises_first_error() -> Any:
    """Keeps the first error as the root cause and raises it when attempts run out."""
    return reference_with(retrier=RaisesFirstError)


@mutant("METRICS-CONSISTENT")
def counts_retry_before_sleep() -> Any:
    """Counts the retry before the backoff sleep: a call cancelled in backoff over-counts."""
    return reference_with(retrier=CountsRetryBeforeSleep)


class StickyError(_LoopRetrier):
    error: Exception | None = None

    async def call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                await self.backoff_sleep(attempt - 1)
            try:
                return await fn()
            except Exception as exc:
                if not self.retryable(exc):
                    raise
                if self.error is None:  # kept on the retrier and never reset between calls
                    self.error = exc
        assert self.error is not None
        raise self.error


@mutant("RETRY-LAST-ERROR")
def sticky_error() -> Any:
    """Keeps the error on the retrier, never reset: a later call raises an earlier call's error."""
    return reference_with(retrier=StickyError)


class RetriesExhausted(Exception):
    """A library-style error the contract does not allow in place of the last error."""


class WrapsLastError(_LoopRetrier):
    async def call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        last: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                await self.backoff_sleep(attempt - 1)
            try:
                return await fn()
            except Exception as exc:
                if not self.retryable(exc):
                    raise
                last = exc
        raise RetriesExhausted(f"gave up after {self.max_attempts} attempts") from last


@mutant("NO-CRASH")
def wraps_last_error() -> Any:
    """Raises its own RetriesExhausted instead of the last error once attempts run out."""
    return reference_with(retrier=WrapsLastError)
