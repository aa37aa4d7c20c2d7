"""Bugs that live only at a parameter's boundary: 0, a long schedule, a weight above the burst.

Each boundary kind has two mutants. The models before issue 11 never drew these values
(``max_attempts`` 1-4, ``base`` >= 0.05, ``cap`` >= 0.1, weights up to the burst, no
``job_timeout`` of 0), so every mutant here passed them; the meanings are on the patterns'
pages (``docs/patterns/retry.md``, ``rate.md``, ``pool.md``).

* ``max_attempts=0``: read as "no limit", or as "at least one attempt".
* long schedules (thousands of attempts): the backoff's ``factor**(n-1)`` overflowing the float
  range (a crash, or a delay sent to the cap), and a hidden ceiling on the attempts.
* ``base`` or ``cap`` of 0: Python's ``x or default`` reading 0 as "not given".
* a weight above the burst: clamped to the burst, so the bucket admits more than it holds.
* ``job_timeout=0``: read as "no timeout", or the job reported timed out without running.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import trio

from reference.instrumentation import JOBS_TIMED_OUT, RETRIES
from reference.plugin import Retrier
from reference.pool import Result
from reference.ratelimit import SheddingGate, TokenBucket
from tests.mutants._base import mutant, reference_with
from tests.mutants.pool import _PlainPool, _with_pool


# -- retry: one loop, one hook per bug -------------------------------------------------------
class _Loop(Retrier):
    """The reference loop spelled out: ``attempts()`` is how many tries it makes."""

    def attempts(self) -> float:
        """How many attempts a call may make (the reference refuses 0)."""
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        return self.max_attempts

    def nominal(self, n: int) -> float:
        """The un-jittered delay after failed attempt ``n``."""
        return self.backoff.nominal(n)

    def bounds(self, attempt: int) -> tuple[float, float]:
        """The delay bounds after failed attempt ``attempt``, from :meth:`nominal`."""
        d = self.nominal(attempt)
        jitter = self.backoff.jitter
        return (d, d) if jitter == "none" else (0.0, d) if jitter == "full" else (d / 2, d)

    async def call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        """The reference's retry loop, over :meth:`attempts` and :meth:`bounds`."""
        limit = self.attempts()
        attempt = 0
        last: Exception | None = None
        while attempt < limit:
            attempt += 1
            if last is not None:
                low, high = self.bounds(attempt - 1)
                await trio.sleep(low if low == high else self.rng.uniform(low, high))
                self.metrics.incr(RETRIES)
            try:
                return await fn()
            except Exception as exc:
                if not self.retryable(exc):
                    raise
                last = exc
        assert last is not None
        raise last


class ZeroMeansUnlimited(_Loop):
    """Reads max_attempts=0 as "no limit"."""

    def attempts(self) -> float:
        return self.max_attempts or math.inf


class AtLeastOneAttempt(_Loop):
    """Makes at least one attempt, whatever max_attempts says."""

    def attempts(self) -> float:
        return max(1, self.max_attempts)


class NaivePower(_Loop):
    """Computes the schedule in plain floats: ``factor**(n-1)`` overflows far out."""

    def nominal(self, n: int) -> float:
        return min(self.backoff.cap, self.backoff.base * self.backoff.factor ** (n - 1))


class CapOnOverflow(_Loop):
    """Sends the delay to the cap when ``factor**(n-1)`` overflows, whatever the base."""

    def nominal(self, n: int) -> float:
        try:
            return min(self.backoff.cap, self.backoff.base * self.backoff.factor ** (n - 1))
        except OverflowError:
            return self.backoff.cap


class ThousandAttemptCeiling(_Loop):
    """Never makes more than 1,000 attempts."""

    def attempts(self) -> float:
        return min(super().attempts(), 1000)


def _retrier(cls: type[Retrier], **defaults: Callable[[float], float]) -> Any:
    """The reference declaration with ``cls`` as its retrier; ``defaults`` rewrite parameters."""

    def make(**kwargs: Any) -> Retrier:
        for name, rewrite in defaults.items():
            kwargs[name] = rewrite(kwargs[name])
        return cls(**kwargs)

    return reference_with(retrier=make)


@mutant("RETRY-MAX-ATTEMPTS")
def zero_attempts_means_unlimited() -> Any:
    """``max_attempts or inf``: max_attempts=0 read as "no limit" retries for ever."""
    return _retrier(ZeroMeansUnlimited)


@mutant("RETRY-MAX-ATTEMPTS")
def at_least_one_attempt() -> Any:
    """``max(1, max_attempts)``: max_attempts=0 still makes one attempt."""
    return _retrier(AtLeastOneAttempt)


@mutant("NO-CRASH", pattern="retry")
def naive_power_overflows() -> Any:
    """``min(cap, base * factor**(n-1))`` in floats: OverflowError past attempt ~1025."""
    return _retrier(NaivePower)


@mutant("RETRY-BACKOFF")
def cap_when_the_power_overflows() -> Any:
    """Catches the OverflowError of ``factor**(n-1)`` and sleeps the cap: wrong for a tiny base."""
    return _retrier(CapOnOverflow)


@mutant("RETRY-MAX-ATTEMPTS")
def thousand_attempt_ceiling() -> Any:
    """A hidden safety ceiling of 1,000 attempts: a longer schedule gives up early."""
    return _retrier(ThousandAttemptCeiling)


@mutant("RETRY-BACKOFF")
def zero_base_means_default() -> Any:
    """``base or 0.1``: a base of 0 (no delay) is read as "not given" and sleeps 0.1 s."""
    return _retrier(Retrier, base=lambda base: base or 0.1)


@mutant("RETRY-BACKOFF")
def zero_cap_means_uncapped() -> Any:
    """``cap or inf``: a cap of 0 (no delay) is read as "no cap" and sleeps the full schedule."""
    return _retrier(Retrier, cap=lambda cap: cap or math.inf)


# -- rate: a weight above the burst -----------------------------------------------------------
class ClampingBucket(TokenBucket):
    """Takes ``min(weight, burst)`` tokens for any weight, so a heavy acquire gets through."""

    def _check(self, weight: int) -> None:
        if weight < 1:
            raise ValueError(f"weight must be >= 1, got {weight}")

    async def acquire(self, weight: int = 1) -> None:
        self._check(weight)
        await self._acquire(min(weight, self.burst))

    def try_acquire(self, weight: int = 1) -> bool:
        TokenBucket._check(self, weight)  # probes still refuse: only the blocking path clamps
        return self._try(weight)


class ClampingGate(SheddingGate):
    """Admits any weight the bucket's burst could hold: the weight is clamped first."""

    def try_admit(self, weight: int = 1) -> bool:
        return super().try_admit(min(weight, self._bucket.burst))


@mutant("RATE-BOUND")
def acquire_clamps_weight_to_burst() -> Any:
    """A weight above the burst is clamped to the burst: the bucket admits more than it holds."""
    return reference_with(
        only=True, token_bucket=lambda *, rate, burst: ClampingBucket(rate, burst)
    )


@mutant("RATE-BOUND")
def gate_clamps_weight_to_burst() -> Any:
    """A gate clamps a weight above the burst and admits it with only ``burst`` tokens taken."""
    return reference_with(only=True, shedding_gate=lambda *, rate, burst: ClampingGate(rate, burst))


# -- pool: job_timeout=0 ----------------------------------------------------------------------
class SkipsZeroBudgetJobs(_PlainPool):
    """Reports a job with a 0 s timeout as timed out without starting it."""

    async def _run(self, job_id: Hashable, payload: Any) -> Result[Any] | None:
        if self._job_timeout == 0:
            # "Not worth starting": no time budget at all, so report it timed out at once.
            self.metrics.incr(JOBS_TIMED_OUT)
            return Result(job_id, "timeout")
        return await super()._run(job_id, payload)


def _zero_timeout_as_none(
    *,
    handler: Callable[[Any], Awaitable[Any]],
    workers: int,
    jobs_buffer: int,
    results_buffer: int,
    job_timeout: float | None,
) -> _PlainPool:
    return _PlainPool(
        handler,
        workers=workers,
        jobs_buffer=jobs_buffer,
        results_buffer=results_buffer,
        job_timeout=job_timeout or None,
    )


@mutant("POOL-TIMEOUT")
def zero_timeout_means_none() -> Any:
    """``job_timeout or None``: a timeout of 0 is read as "no timeout", jobs run to the end."""
    return reference_with(worker_pool=_zero_timeout_as_none)


@mutant("POOL-TIMEOUT")
def zero_timeout_skips_the_job() -> Any:
    """A job with a 0 s budget is reported timed out without ever being started."""
    return _with_pool(SkipsZeroBudgetJobs)
