"""Retries with exponential backoff and jitter (guide §5, §8).

The guide's Go ``withRetry`` calls ``f`` up to ``max`` times, doubling a sleep between
attempts, and gives up early when the context is done. In trio the context is the enclosing
cancel scope: a cancellation arriving during an attempt or during the backoff sleep simply
propagates out of :func:`retry`, and no further attempt is made.

§8 adds "exponential backoff + jitter": :class:`Backoff` describes the schedule and its
jitter flavour ("full" and "equal" jitter as popularised by the AWS architecture blog), with
:meth:`Backoff.bounds` stating exactly which delays are legal so a checker can verify them.
"""

from __future__ import annotations

import decimal
import math
import random
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

import trio

from reference.instrumentation import RETRIES, Metrics

T = TypeVar("T")

Jitter = Literal["none", "full", "equal"]


def _grown(base: float, factor: float, k: int) -> float:
    """``base * factor**k`` for ``k >= 1``, with no overflow or underflow on the way."""
    try:
        power = factor**k
    except OverflowError:  # the result, or ``k`` itself, is beyond the float range
        power = math.inf
    if sys.float_info.min <= abs(power) < math.inf:
        # One pow and one product, each rounded once: as exact as floats get.
        return base * power
    # factor**k left the normal float range, yet the product may be back inside it (a tiny base,
    # or a factor below 1 on a large base). Decimal's exponent range is practically unbounded and
    # 40 digits leave the final rounding to float as the only error that matters.
    wide = decimal.Context(prec=40, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, traps=[])
    return float(wide.multiply(decimal.Decimal(base), wide.power(decimal.Decimal(factor), k)))


@dataclass(frozen=True, slots=True)
class Backoff:
    """An exponential backoff schedule: ``min(cap, base * factor**(n-1))`` plus jitter.

    ``jitter`` picks how the nominal delay ``d`` is randomised: ``"none"`` sleeps exactly
    ``d``; ``"full"`` draws uniformly from ``[0, d]`` (spreads retries the most);
    ``"equal"`` draws from ``[d/2, d]`` (keeps a guaranteed minimum pause).
    """

    base: float = 0.01
    factor: float = 2.0
    cap: float = 1.0
    jitter: Jitter = "full"

    def nominal(self, n: int) -> float:
        """Return ``d = min(cap, base * factor**(n-1))``, the un-jittered delay after failure n.

        Exact up to float rounding for any ``n``: ``factor**(n-1)`` leaving the float range sends
        the delay to the cap only when the product really exceeds it (``harness.checkers.retry``
        computes the same schedule on its own, as the harness does not import the reference).
        """
        if n < 1:
            raise ValueError(f"attempt numbers start at 1, got {n}")
        # Without a power to compute there is nothing to overflow: base 0 stays 0 for ever.
        if self.base == 0 or n == 1 or self.factor == 1:
            return min(self.cap, self.base)
        return min(self.cap, _grown(self.base, self.factor, n - 1))

    def bounds(self, n: int) -> tuple[float, float]:
        """Return the inclusive ``(low, high)`` range of the delay after the n-th failed attempt."""
        d = self.nominal(n)
        if self.jitter == "none":
            return (d, d)
        if self.jitter == "full":
            return (0.0, d)
        return (d / 2, d)

    def delay(self, n: int, rng: random.Random) -> float:
        """Draw the delay after the n-th failed attempt; always inside :meth:`bounds`."""
        low, high = self.bounds(n)
        if low == high:
            return low
        # Clamp: uniform() may round one ulp past ``high``, and the bounds are a contract.
        return min(high, max(low, rng.uniform(low, high)))


def _always(exc: Exception) -> bool:
    return True


async def retry(
    fn: Callable[[], Awaitable[T]],
    *,
    max_attempts: int = 3,
    backoff: Backoff = Backoff(),  # frozen, so one shared default is safe
    retryable: Callable[[Exception], bool] = _always,
    rng: random.Random | None = None,
    metrics: Metrics | None = None,
) -> T:
    """Call ``fn`` until it succeeds, at most ``max_attempts`` times, and return its result.

    Between attempt ``n`` and ``n + 1`` it sleeps ``backoff.delay(n, rng)``, measured from the
    moment attempt ``n`` ended. An error for which ``retryable`` is false is raised at once;
    when every attempt failed, the last error (the exception object itself) is raised.
    Only :class:`Exception` is retried: ``trio.Cancelled`` (a ``BaseException``) raised
    during an attempt or during the backoff sleep propagates and ends the retrying.
    Each re-attempt adds 1 to the ``retries`` counter, so ``retries == attempts - 1``.

    ``max_attempts=0`` asks for no attempt at all (the guide's loop runs zero times), and
    there is then neither a value to return nor an error to raise: it raises ``ValueError``
    without calling ``fn``, never reading 0 as "no limit". Schedules of any length are exact:
    :meth:`Backoff.nominal` never overflows (``docs/patterns/retry.md``, boundary values).
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    rng = rng if rng is not None else random.Random()
    metrics = metrics if metrics is not None else Metrics()
    last: Exception | None = None
    for attempt in range(1, max_attempts + 1):
        if last is not None:
            # Sleeping is the checkpoint where a cancelled caller stops us before the next try.
            await trio.sleep(backoff.delay(attempt - 1, rng))
            metrics.incr(RETRIES)
        try:
            return await fn()
        except Exception as exc:
            if not retryable(exc):
                raise
            last = exc
    assert last is not None  # the loop ran at least once and every attempt failed
    # Raised outside the ``except`` block so the error is not chained to itself.
    raise last
