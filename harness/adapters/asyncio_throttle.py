"""asyncio-throttle's ``Throttler`` as poolcheck's token bucket (backend ``asyncio``).

    poolcheck check --impl harness.adapters.asyncio_throttle:implementation

PyPI distribution ``asyncio-throttle`` (checked at 1.0.2). Its users write
``throttler = Throttler(rate_limit=N, period=P)`` and then ``async with throttler:`` before
each call; that block is the adapter's ``acquire()``. Nothing else is mapped: the library
has no weights and no non-blocking probe, so the adapter offers neither.

What the library is, read from its source: a *sliding-window log*. It remembers the
``time.monotonic()`` instant of each admission and admits a caller once fewer than
``rate_limit`` admissions are younger than ``period``; a caller that finds the window full
sleeps ``retry_interval`` (0.01 s by default) and looks again. Mapped to the guide's token
bucket as ``burst = rate_limit`` and ``rate = rate_limit / period``:

* RATE-BOUND holds by design (at most ``rate_limit`` admissions in any ``period``, so at most
  ``burst + rate*T`` in any window ``T``) and is judged.
* RATE-NO-OVERTHROTTLE is declared a deviation: the documented model is "``rate_limit`` per
  ``period``", not a refilling bucket, so after a burst nothing is admitted until the oldest
  admission is ``period`` old, where a bucket would admit one every ``period / rate_limit``;
  and waiters poll on their own ``retry_interval`` phases instead of waiting in line, so they
  are admitted up to ``retry_interval`` late and in no particular order.
"""

from __future__ import annotations

from typing import Any

from asyncio_throttle import Throttler  # type: ignore[attr-defined]

__all__ = ["ThrottlerLimiter", "implementation"]


class ThrottlerLimiter:
    """An ``asyncio_throttle.Throttler`` with the contract's ``acquire``."""

    def __init__(self, throttler: Throttler) -> None:
        self.throttler = throttler

    async def acquire(self) -> None:
        """``async with throttler:`` (entering is the whole wait; leaving does nothing)."""
        async with self.throttler:
            pass


def _token_bucket(*, rate: float, burst: int) -> ThrottlerLimiter:
    # burst admissions per window of burst/rate seconds: the long-run rate is `rate`.
    return ThrottlerLimiter(Throttler(rate_limit=burst, period=burst / rate))


def implementation() -> dict[str, Any]:
    """The declaration of ``asyncio_throttle.Throttler`` for poolcheck."""
    return {
        "name": "asyncio-throttle",
        "backend": "asyncio",
        "capabilities": [],
        "factories": {"token_bucket": _token_bucket},
        "deviations": {
            "RATE-NO-OVERTHROTTLE": (
                "asyncio-throttle is a sliding-window log ('rate_limit per period'), not a "
                "refilling bucket: after a burst it admits nothing until the oldest admission "
                "is a period old; and waiters poll every retry_interval (a constructor "
                "argument, 0.01 s by default) instead of waiting in line, so they are admitted "
                "up to that late and in no set order"
            ),
        },
    }
