"""limiter's ``Limiter`` as poolcheck's token bucket, in its async and its sync form.

    poolcheck check --impl harness.adapters.limiter:implementation        # async with limiter
    poolcheck check --impl harness.adapters.limiter:sync_implementation   # with limiter (blocking)

PyPI distribution ``limiter`` (checked at 0.5.0; it builds on ``token-bucket``). Its users
write ``limiter = Limiter(rate=R, capacity=C)`` and then ``async with limiter:`` (or, in
blocking code, ``with limiter:``) before each call, and ``limiter(consume=N)`` for a call that
costs ``N`` tokens (the README's own examples). So ``acquire(weight)`` is
``async with limiter(consume=weight):`` on backend ``asyncio`` and
``with limiter(consume=weight):`` on backend ``sync``; ``rate`` and ``burst`` are ``rate`` and
``capacity``. The library has no non-blocking probe, so the adapter offers none.

What the library is, read from its source: a token bucket (``token_bucket.Limiter`` on a
``MemoryStorage``) that starts full, refills continuously at ``rate`` up to ``capacity`` and
reads ``time.monotonic()``. A caller that finds too few tokens sleeps until the bucket should
hold them and tries again. There is no waiting line, so later callers overtake earlier ones
and a heavier caller can starve: RATE-NO-OVERTHROTTLE fails, a finding
(``docs/findings/limiter_no_waiting_line.py``), not a declared deviation, since the library
does not document it. The adapter keeps the default ``jitter=False``; with jitter the limiter
admits callers it has no tokens for (``docs/findings/limiter_jitter_admits_without_tokens.py``).
On backend ``sync`` blocking calls run one at a time, so the overtaking cannot show there.
"""

from __future__ import annotations

from typing import Any

from limiter import Limiter  # type: ignore[import-untyped]

__all__ = ["AsyncLimiter", "SyncLimiter", "implementation", "sync_implementation"]


class AsyncLimiter:
    """A ``limiter.Limiter`` used as ``async with limiter(consume=weight):``."""

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter

    async def acquire(self, weight: int = 1) -> None:
        """Wait until ``weight`` tokens are taken (entering is the wait; leaving does nothing)."""
        async with self.limiter(consume=weight):
            pass


class SyncLimiter:
    """A ``limiter.Limiter`` used as ``with limiter(consume=weight):`` (blocking)."""

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter

    def acquire(self, weight: int = 1) -> None:
        """Block (``time.sleep``) until ``weight`` tokens are taken."""
        with self.limiter(consume=weight):
            pass


def _async_bucket(*, rate: float, burst: int) -> AsyncLimiter:
    return AsyncLimiter(Limiter(rate=rate, capacity=burst))


def _sync_bucket(*, rate: float, burst: int) -> SyncLimiter:
    return SyncLimiter(Limiter(rate=rate, capacity=burst))


#: A consume above the capacity can never be served: the bucket never holds more than its
#: capacity, and ``limiter`` sleeps and retries for it for ever (no error), so a weight above
#: the burst is left out rather than refused.
_SUPPORTS = {"weight": {"max": "burst"}}


def implementation() -> dict[str, Any]:
    """The declaration of ``limiter.Limiter`` used with ``async with``, for poolcheck."""
    return {
        "name": "limiter",
        "backend": "asyncio",
        "capabilities": ["weighted_acquire"],
        "supports": _SUPPORTS,
        "factories": {"token_bucket": _async_bucket},
    }


def sync_implementation() -> dict[str, Any]:
    """The declaration of ``limiter.Limiter`` used with a blocking ``with``, for poolcheck."""
    return {
        "name": "limiter-sync",
        "backend": "sync",
        "capabilities": ["weighted_acquire"],
        "supports": _SUPPORTS,
        "factories": {"token_bucket": _sync_bucket},
    }
