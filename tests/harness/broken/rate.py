"""Deliberately broken rate limiters, each with the realistic bug named in its docstring.

Each function is a declaration factory, loaded through the plug-in path exactly as a user's
implementation would be: ``tests.harness.broken.rate:uncapped_refill``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import trio

from reference.instrumentation import ADMISSIONS, Metrics
from reference.plugin import implementation as reference_implementation
from reference.ratelimit import LeakyBucket, SheddingGate, TokenBucket, _Waiter

_RATE_FACTORIES = ("token_bucket", "leaky_bucket", "shedding_gate")


def _with(**factories: Callable[..., Any]) -> Any:
    """The reference's declaration whose only rate factories are the broken ones given."""
    declaration = reference_implementation()
    kept = {k: v for k, v in declaration.factories.items() if k not in _RATE_FACTORIES}
    return {
        "name": "broken",
        "backend": "trio",
        "capabilities": declaration.capabilities,
        "factories": {**kept, **factories},
        "closed_errors": declaration.closed_errors,
        "counters": declaration.counters,
    }


# -- RATE-BOUND ---------------------------------------------------------------------------------
class UncappedBucket(TokenBucket):
    """Forgets ``min(burst, ...)``: after a quiet spell it admits far more than the burst."""

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens += (now - self._stamp) * self.rate
            self._stamp = now


class CatchUpLeakyBucket(LeakyBucket):
    """Schedules from the previous slot, like a drift-free ticker: after a quiet spell the
    missed slots are all in the past, so several waiters are admitted at once."""

    def _take(self, weight: int, now: float) -> None:
        if self._next_free == -math.inf:
            self._next_free = now + self.interval
        else:
            self._next_free += self.interval


# -- RATE-NO-OVERTHROTTLE -----------------------------------------------------------------------
class PollingBucket(TokenBucket):
    """Polls every 50 ms tick instead of sleeping until the tokens exist: admits up to a tick
    late."""

    TICK = 0.05

    def _ready_at(self, weight: int, now: float) -> float:
        ready = super()._ready_at(weight, now)
        return now if ready <= now else now + self.TICK


class BargingTryBucket(TokenBucket):
    """``try_acquire`` forgets to look at the line: a light newcomer overtakes a heavy waiter."""

    def try_acquire(self, weight: int = 1) -> bool:
        self._check(weight)
        now = trio.current_time()
        if self._ready_at(weight, now) > now:
            return False
        self._take(weight, now)
        self.metrics.incr(ADMISSIONS)
        return True


class _LineVariant(TokenBucket):
    """The reference's waiting line, rewritten with one hook per classic mistake."""

    lifo = False
    cleanup_on_cancel = True

    async def _acquire(self, weight: int) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._try(weight):
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        waiter = _Waiter(weight)
        self._line.append(waiter)
        if len(self._line) == 1:
            waiter.at_head.set()
        admitted = False
        try:
            await waiter.at_head.wait()
            while True:
                now = trio.current_time()
                ready_at = self._ready_at(weight, now)
                if ready_at <= now:
                    break
                await trio.sleep_until(ready_at)
            self._take(weight, now)
            self.metrics.incr(ADMISSIONS)
            admitted = True
        finally:
            if admitted or self.cleanup_on_cancel:
                self._line.remove(waiter)
                if self._line:
                    self._line[-1 if self.lifo else 0].at_head.set()


class LifoBucket(_LineVariant):
    """Hands the head to the newest waiter (a stack): earlier waiters starve."""

    lifo = True


# -- RATE-CANCEL-NO-LOSS ------------------------------------------------------------------------
class DeadWaiterBucket(_LineVariant):
    """Leaves the line only when admitted: a cancelled waiter blocks everyone behind it."""

    cleanup_on_cancel = False


class ReservingBucket:
    """Reserves tokens up front (going into debt) and sleeps off the debt, the classic
    reservation limiter, but never refunds a cancelled reservation."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = trio.current_time()
        self.metrics = Metrics()

    def _refill(self) -> None:
        now = trio.current_time()
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def try_acquire(self, weight: int = 1) -> bool:
        """Take the tokens if they exist (a reservation in progress leaves them negative)."""
        self._refill()
        if self.tokens < weight - 1e-9:
            return False
        self.tokens -= weight
        self.metrics.incr(ADMISSIONS)
        return True

    async def acquire(self, weight: int = 1) -> None:
        """Reserve, then wait until the debt is repaid."""
        self._refill()
        self.tokens -= weight
        debt = -self.tokens
        if debt > 1e-9:
            await trio.sleep_until(self.stamp + debt / self.rate)
        else:
            await trio.lowlevel.checkpoint()
        self.metrics.incr(ADMISSIONS)


# -- RATE-SHED-ONLY-WHEN-EMPTY and METRICS-CONSISTENT -------------------------------------------
class StrictGate(SheddingGate):
    """``tokens > weight`` instead of ``>=``: rejects when exactly enough tokens are left."""

    def try_admit(self, weight: int = 1) -> bool:
        if not self.tokens() > weight:
            self.rejected += 1
            self.metrics.incr("rejections")
            return False
        return super().try_admit(weight)


class UncountedRejectionsGate(SheddingGate):
    """Counts admissions but forgets to count the work it sheds."""

    def try_admit(self, weight: int = 1) -> bool:
        if self._bucket.try_acquire(weight):
            self.admitted += 1
            self.metrics.incr(ADMISSIONS)
            return True
        self.rejected += 1
        return False


# -- declarations -------------------------------------------------------------------------------
def uncapped_refill() -> Any:
    """RATE-BOUND: the bucket refills above its burst."""
    return _with(token_bucket=lambda *, rate, burst: UncappedBucket(rate, burst))


def leaky_catch_up() -> Any:
    """RATE-BOUND: the leaky bucket admits a backlog at once after a pause."""
    return _with(leaky_bucket=lambda *, interval: CatchUpLeakyBucket(interval))


def polling() -> Any:
    """RATE-NO-OVERTHROTTLE: admissions up to a polling tick late."""
    return _with(token_bucket=lambda *, rate, burst: PollingBucket(rate, burst))


def barging_try_acquire() -> Any:
    """RATE-NO-OVERTHROTTLE: try_acquire overtakes queued waiters."""
    return _with(token_bucket=lambda *, rate, burst: BargingTryBucket(rate, burst))


def lifo_waiters() -> Any:
    """RATE-NO-OVERTHROTTLE: the newest waiter goes first."""
    return _with(token_bucket=lambda *, rate, burst: LifoBucket(rate, burst))


def dead_waiter() -> Any:
    """RATE-CANCEL-NO-LOSS: a cancelled waiter stays in the line."""
    return _with(token_bucket=lambda *, rate, burst: DeadWaiterBucket(rate, burst))


def cancel_consumes() -> Any:
    """RATE-CANCEL-NO-LOSS: a cancelled reservation keeps its tokens."""
    return _with(token_bucket=lambda *, rate, burst: ReservingBucket(rate, burst))


def strict_gate() -> Any:
    """RATE-SHED-ONLY-WHEN-EMPTY: off-by-one rejection."""
    return _with(shedding_gate=lambda *, rate, burst: StrictGate(rate, burst))


def uncounted_rejections() -> Any:
    """METRICS-CONSISTENT: rejections are not counted."""
    return _with(shedding_gate=lambda *, rate, burst: UncountedRejectionsGate(rate, burst))
