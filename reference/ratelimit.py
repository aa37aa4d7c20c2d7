"""Rate limiting and load shedding (guide §6, §10.5).

The guide builds a token bucket from a buffered channel refilled by a ticker goroutine, and
sheds load with a non-blocking receive. Here the bucket is computed instead of ticked: the
token count is a function of time (``min(burst, tokens + elapsed * rate)``), so there is no
background task, no tick granularity, and the exact admission instants are known, which is
what makes the behaviour checkable on virtual time.

- :class:`TokenBucket`: bursts up to ``burst``, then ``rate`` per second; weighted, FIFO.
- :class:`LeakyBucket`: one admission at a time, at least ``interval`` apart, FIFO.
- :class:`SheddingGate`: never waits; refuses work when no token is available (``select``
  with ``default`` in the guide).

Both waiting limiters share one FIFO discipline (:class:`_FifoLimiter`): only the waiter at
the head of the line watches the clock; the others sleep until they reach the head. So a
heavy request at the head holds back lighter ones behind it (no barging), and a cancelled
waiter just leaves the line, having consumed nothing.

Float time: a sleep so short that ``now + d == now`` would not advance a virtual clock and
would spin forever. Each wait therefore targets an absolute instant strictly after now, and
a deficit within ``TOLERANCE`` tokens counts as paid.
"""

from __future__ import annotations

import math
from collections import deque

import trio

from reference.instrumentation import ADMISSIONS, REJECTIONS, Metrics

# A token deficit this small is float noise, not a real shortfall. The (tiny) debt is kept on
# the books, so the long-run rate is still exact.
TOLERANCE = 1e-9


class _Waiter:
    __slots__ = ("at_head", "weight")

    def __init__(self, weight: int) -> None:
        self.weight = weight
        self.at_head = trio.Event()


class _FifoLimiter:
    """The shared waiting line; subclasses say when the head may go and what it costs."""

    def __init__(self, metrics: Metrics | None) -> None:
        self.metrics = metrics if metrics is not None else Metrics()
        self._line: deque[_Waiter] = deque()

    def _ready_at(self, weight: int, now: float) -> float:
        """Return ``now`` if ``weight`` can be admitted now, else a later instant (> now)."""
        raise NotImplementedError

    def _take(self, weight: int, now: float) -> None:
        """Consume the capacity for one admission of ``weight`` at ``now``."""
        raise NotImplementedError

    @property
    def waiting(self) -> int:
        """How many acquires are queued."""
        return len(self._line)

    def _try(self, weight: int) -> bool:
        # Queued waiters come first: admitting a newcomer now would be barging.
        if self._line:
            return False
        now = trio.current_time()
        if self._ready_at(weight, now) > now:
            return False
        self._take(weight, now)
        self.metrics.incr(ADMISSIONS)
        return True

    async def _acquire(self, weight: int) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._try(weight):
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        waiter = _Waiter(weight)
        self._line.append(waiter)
        if len(self._line) == 1:
            waiter.at_head.set()
        try:
            await waiter.at_head.wait()
            while True:
                now = trio.current_time()
                ready_at = self._ready_at(weight, now)
                if ready_at <= now:
                    break
                await trio.sleep_until(ready_at)
            # No checkpoint from here on: being admitted and leaving the line are one step.
            self._take(weight, now)
            self.metrics.incr(ADMISSIONS)
        finally:
            # Admitted or cancelled, we leave the line and hand the head to the next waiter
            # at this very instant, so a cancelled waiter delays nobody.
            self._line.remove(waiter)
            if self._line:
                self._line[0].at_head.set()


class TokenBucket(_FifoLimiter):
    """A token bucket: starts full with ``burst`` tokens, refills at ``rate`` tokens/second.

    Over any window of length ``T`` it admits at most ``burst + rate * T`` weight, and it
    admits each request as soon as the ideal bucket holds enough tokens and no earlier
    waiter is ahead. Counts one ``admissions`` per admitted acquire.
    """

    def __init__(self, rate: float, burst: int, *, metrics: Metrics | None = None) -> None:
        if not rate > 0 or math.isinf(rate):
            raise ValueError(f"rate must be positive and finite, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        super().__init__(metrics)
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = trio.current_time()

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    def _check(self, weight: int) -> None:
        if not 1 <= weight <= self.burst:
            raise ValueError(f"weight must be in 1..burst={self.burst}, got {weight}")

    def _ready_at(self, weight: int, now: float) -> float:
        self._refill(now)
        deficit = weight - self._tokens
        if deficit <= TOLERANCE:
            return now
        # Aim at the instant the deficit is refilled; if float rounding puts it at or
        # before now, step to the next representable instant so virtual time still moves.
        return max(self._stamp + deficit / self.rate, math.nextafter(now, math.inf))

    def _take(self, weight: int, now: float) -> None:
        self._tokens -= weight

    def tokens(self) -> float:
        """Return how many tokens the bucket holds now."""
        self._refill(trio.current_time())
        return max(0.0, self._tokens)

    async def acquire(self, weight: int = 1) -> None:
        """Wait behind earlier waiters, then until ``weight`` tokens exist, and take them.

        Raises ``ValueError`` if ``weight > burst`` (it could never be satisfied). A
        cancelled acquire takes no tokens and leaves the line at once.
        """
        self._check(weight)
        await self._acquire(weight)

    def try_acquire(self, weight: int = 1) -> bool:
        """Take ``weight`` tokens now if nobody is waiting and enough exist; else False.

        Raises ``ValueError`` if ``weight > burst``, as :meth:`acquire` does: such a weight is
        never admissible, which is not the same answer as "not now".
        """
        self._check(weight)
        return self._try(weight)


class LeakyBucket(_FifoLimiter):
    """Admits one acquire at a time, consecutive admissions at least ``interval`` apart.

    The first admission is immediate; each later one happens as soon as ``interval`` has
    passed since the previous one (and earlier waiters have gone). Counts ``admissions``.
    """

    def __init__(self, interval: float, *, metrics: Metrics | None = None) -> None:
        if not interval >= 0 or math.isinf(interval):
            raise ValueError(f"interval must be >= 0 and finite, got {interval}")
        super().__init__(metrics)
        self.interval = interval
        self._next_free = -math.inf

    def _ready_at(self, weight: int, now: float) -> float:
        return max(now, self._next_free)

    def _take(self, weight: int, now: float) -> None:
        next_free = now + self.interval
        # ``(now + interval) - now`` can round to just under ``interval``; nudge it up so
        # the gap an observer measures is never shorter than promised.
        while next_free - now < self.interval:
            next_free = math.nextafter(next_free, math.inf)
        self._next_free = next_free

    async def acquire(self) -> None:
        """Wait behind earlier waiters, then until ``interval`` after the last admission."""
        await self._acquire(1)

    def try_acquire(self) -> bool:
        """Be admitted now if nobody is waiting and ``interval`` has passed; else False."""
        return self._try(1)


class SheddingGate:
    """Load shedding: admit while tokens are available, otherwise refuse at once.

    A :class:`TokenBucket` used only through ``try_acquire``: it never waits and never
    queues, so it rejects exactly when the bucket is short of tokens. Counts every decision
    in the ``admissions`` and ``rejections`` counters.
    """

    def __init__(self, rate: float, burst: int, *, metrics: Metrics | None = None) -> None:
        self.metrics = metrics if metrics is not None else Metrics()
        self._bucket = TokenBucket(rate, burst)
        self.admitted = 0
        self.rejected = 0

    def tokens(self) -> float:
        """Return how many tokens are available now."""
        return self._bucket.tokens()

    def try_admit(self, weight: int = 1) -> bool:
        """Admit (True) if ``weight`` tokens are available now, else reject (False).

        A weight above the burst is no load to shed but a weight no bucket of this size
        admits: ``ValueError``, counted neither as an admission nor as a rejection.
        """
        if self._bucket.try_acquire(weight):
            self.admitted += 1
            self.metrics.incr(ADMISSIONS)
            return True
        self.rejected += 1
        self.metrics.incr(REJECTIONS)
        return False
