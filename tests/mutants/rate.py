"""Broken rate limiters: over-admission, over-throttling, starvation, lost tokens, shedding."""

from __future__ import annotations

import math
from typing import Any

import trio

from reference.instrumentation import ADMISSIONS, REJECTIONS, Metrics
from reference.ratelimit import LeakyBucket, SheddingGate, TokenBucket, _Waiter
from tests.mutants._base import mutant, reference_with


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
@mutant("RATE-BOUND")
def uncapped_refill() -> Any:
    """A token bucket that refills above capacity: ``min(burst, ...)`` forgotten."""
    return reference_with(
        only=True, token_bucket=lambda *, rate, burst: UncappedBucket(rate, burst)
    )


@mutant("RATE-BOUND")
def leaky_catch_up() -> Any:
    """A leaky bucket scheduled from its last slot: after a pause it admits a backlog at once."""
    return reference_with(only=True, leaky_bucket=lambda *, interval: CatchUpLeakyBucket(interval))


@mutant("RATE-NO-OVERTHROTTLE")
def polling() -> Any:
    """Over-throttles: polls every 50 ms instead of sleeping until the tokens exist."""
    return reference_with(only=True, token_bucket=lambda *, rate, burst: PollingBucket(rate, burst))


@mutant("RATE-NO-OVERTHROTTLE")
def barging_try_acquire() -> Any:
    """``try_acquire`` ignores the line: a light newcomer overtakes a heavy waiter."""
    return reference_with(
        only=True, token_bucket=lambda *, rate, burst: BargingTryBucket(rate, burst)
    )


@mutant("RATE-NO-OVERTHROTTLE")
def lifo_waiters() -> Any:
    """Starves a waiter: the head of the line goes to the newest waiter (a stack)."""
    return reference_with(only=True, token_bucket=lambda *, rate, burst: LifoBucket(rate, burst))


@mutant("RATE-CANCEL-NO-LOSS")
def dead_waiter() -> Any:
    """A cancelled waiter stays in the line and holds up everyone behind it."""
    return reference_with(
        only=True, token_bucket=lambda *, rate, burst: DeadWaiterBucket(rate, burst)
    )


@mutant("RATE-CANCEL-NO-LOSS")
def cancel_consumes() -> Any:
    """Loses a token when an acquire is cancelled: a reservation is never refunded."""
    return reference_with(
        only=True, token_bucket=lambda *, rate, burst: ReservingBucket(rate, burst)
    )


@mutant("RATE-SHED-ONLY-WHEN-EMPTY")
def strict_gate() -> Any:
    """``tokens > weight`` instead of ``>=``: sheds with exactly enough tokens left."""
    return reference_with(only=True, shedding_gate=lambda *, rate, burst: StrictGate(rate, burst))


@mutant("METRICS-CONSISTENT")
def uncounted_rejections() -> Any:
    """Sheds work without counting it in ``rejections``."""
    return reference_with(
        only=True, shedding_gate=lambda *, rate, burst: UncountedRejectionsGate(rate, burst)
    )


class StaleGate(SheddingGate):
    def try_admit(self, weight: int = 1) -> bool:
        # Reads the stored count: the refill happens only inside an admission, so once the
        # burst is spent it never admits again.
        if self._bucket._tokens < weight:
            self.rejected += 1
            self.metrics.incr(REJECTIONS)
            return False
        return super().try_admit(weight)


@mutant("RATE-SHED-ONLY-WHEN-EMPTY")
def gate_reads_stale_tokens() -> Any:
    """A shedding gate that reads the stored token count without refilling it first."""
    return reference_with(only=True, shedding_gate=lambda *, rate, burst: StaleGate(rate, burst))
