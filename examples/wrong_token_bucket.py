"""A deliberately wrong asyncio token bucket: it refills above its burst capacity.

The bug is the classic one: the refill adds the tokens earned since the last look but forgets
to cap them at ``burst``, so after a quiet spell the bucket admits a burst larger than
promised. ``poolcheck check --impl examples.wrong_token_bucket:implementation`` fails on
RATE-BOUND with the minimal counterexample (a pause, then more than ``burst`` admissions at
one instant).
"""

from __future__ import annotations

from typing import Any

from examples.asyncio_impl import SheddingGate, TokenBucket


class OverfillingTokenBucket(TokenBucket):
    """A :class:`~examples.asyncio_impl.TokenBucket` whose refill has no cap."""

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last refill (the bug: no ``min(burst, ...)``)."""
        if now > self._stamp:
            self._tokens += (now - self._stamp) * self.rate
            self._stamp = now


def implementation() -> dict[str, Any]:
    """The declaration poolcheck reads."""
    return {
        "name": "wrong-token-bucket",
        "backend": "asyncio",
        "capabilities": ["weighted_acquire"],
        # The gate is the correct one, so the bucket's bug is the only failure.
        "factories": {"token_bucket": OverfillingTokenBucket, "shedding_gate": SheddingGate},
    }
