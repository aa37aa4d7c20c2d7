"""Rate rules (guide §6): RATE-BOUND, -NO-OVERTHROTTLE, -SHED-ONLY-WHEN-EMPTY, -CANCEL-NO-LOSS.

The checker runs the *ideal* limiter beside the trace: a token bucket that starts full with
``burst`` tokens when the limiter is created and refills continuously at ``rate`` (capped at
``burst``), or, for a leaky bucket, the instant of the last admission. Only admissions change
it, so it is a small streaming state, and every rule is a comparison against it:

* RATE-BOUND: an admission may not take the ideal bucket below zero (beyond a float
  tolerance). Keeping the continuously refilled, capped bucket non-negative is equivalent to
  "admitted weight in every window ``[s, s + T]`` is at most ``burst + rate * T``" for all
  ``T`` at once. A leaky bucket's admissions must be at least ``interval`` apart.
* RATE-NO-OVERTHROTTLE: waiters are admitted in FIFO order (by the order of their ``acquire``
  events, where only waiters separated by an ``idle`` count as ordered), no ``try_acquire``
  barges past a queued waiter, the head waiter is admitted no later than the instant the ideal
  bucket holds its tokens (checked when it is admitted, and at every ``idle`` while it still
  waits), and a ``try_acquire`` with nobody queued is refused only when the tokens are lacking.
* RATE-SHED-ONLY-WHEN-EMPTY: a gate's rejection happens only when the ideal bucket lacks the
  tokens (its admissions fall under RATE-BOUND).
* RATE-CANCEL-NO-LOSS: over-throttling is reported under this rule instead when a cancelled
  acquire explains it: one that was ahead of the stuck waiter was cancelled while it waited,
  or nothing at all was admitted since a cancellation (a dead waiter may block the line), or
  a *shadow* bucket in which cancelled acquires
  did consume their tokens would not be ready either. A cancelled acquire still waiting at the
  next ``idle``, or admitted after its cancellation, also breaks it.
* METRICS-CONSISTENT: ``admissions`` (and a gate's ``rejections``) equal what the trace shows.

Trace vocabulary (``id`` is a waiter or a probe number)::

    params            pattern "rate", factory ("token_bucket" | "leaky_bucket" |
                      "shedding_gate"), rate, burst (token bucket and gate), interval (leaky)
    created           the limiter was built: the ideal bucket is full from this instant
    acquire           id: waiter; a blocking acquire began; data weight
    admit             id: waiter or probe; data weight, via ("acquire" | "try_acquire" |
                      "try_admit")
    refuse            id: probe; a try_acquire returned False or a gate rejected; data weight,
                      via ("try_acquire" | "try_admit")
    cancel            id: waiter; the harness cancelled this waiting acquire
    acquire_cancelled id: waiter; the acquire raised Cancelled (it must have taken nothing)
    acquire_failed    id: waiter; the acquire hung or crashed (already reported); forget it
    metrics           data counters: the limiter's counters ({"admissions": n, ...})
    clock             shared, just before end: the implementation's own clock readings (the
                      clock bridge); a failed RATE-* verdict says when they never moved
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from harness.checking import EPSILON, Checker, param
from harness.events import Event

#: Float tolerance on token counts (the reference itself forgives a 1e-9 token deficit).
TOKEN_TOLERANCE: Final = 1e-6
#: Tolerance on "admitted late" instants, in seconds: far below any real throttling bug (and
#: below the model's smallest pause), far above float noise on instants of thousands of seconds.
LATE_TOLERANCE: Final = 1e-7


class _Ideal:
    """The ideal limiter: when it could admit a weight, and what an admission does to it."""

    def ready_at(self, weight: float) -> float:
        """The earliest instant the ideal limiter holds ``weight`` (inf: never)."""
        raise NotImplementedError

    def shadow_ready_at(self, weight: float) -> float:
        """Like :meth:`ready_at`, had every cancelled acquire consumed its tokens."""
        raise NotImplementedError

    def surely_ready(self, weight: float, t: float) -> bool:
        """Whether the ideal limiter holds ``weight`` at ``t`` beyond any float doubt."""
        raise NotImplementedError

    def admit(self, weight: float, t: float) -> str | None:
        """Fold an admission at ``t``; return why it breaks RATE-BOUND, if it does."""
        raise NotImplementedError

    def cancelled(self, weight: float, t: float) -> None:
        """Fold a cancelled acquire into the shadow only."""
        raise NotImplementedError

    def describe(self, t: float) -> str:
        """The ideal limiter's state at ``t``, for messages."""
        raise NotImplementedError


class _IdealTokens(_Ideal):
    """Token bucket: ``(tokens, stamp)`` changes only at admissions, refills in between."""

    def __init__(self, rate: float, burst: float, t: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = t
        # Whether ``tokens`` is exact (integer arithmetic from a full bucket, no refill), so
        # that "enough tokens" needs no float tolerance: a full gate rejecting at creation.
        self.exact = True
        self.shadow = burst
        self.shadow_stamp = t

    def _at(self, tokens: float, stamp: float, t: float) -> float:
        if t <= stamp:
            return tokens
        return min(self.burst, tokens + (t - stamp) * self.rate)

    def tokens_at(self, t: float) -> float:
        """Tokens the ideal bucket holds at ``t`` (no earlier than the last admission)."""
        return self._at(self.tokens, self.stamp, t)

    def _ready(self, tokens: float, stamp: float, weight: float) -> float:
        if weight > self.burst + TOKEN_TOLERANCE:
            return math.inf
        if tokens >= weight:
            return stamp
        return stamp + (weight - tokens) / self.rate

    def ready_at(self, weight: float) -> float:
        """When the refill since the last admission reaches ``weight`` tokens."""
        return self._ready(self.tokens, self.stamp, weight)

    def shadow_ready_at(self, weight: float) -> float:
        """The same for the shadow bucket (cancellations consume)."""
        return self._ready(self.shadow, self.shadow_stamp, weight)

    def surely_ready(self, weight: float, t: float) -> bool:
        """Enough tokens by more than the tolerance, or exactly enough with no refill."""
        if t > self.ready_at(weight) + LATE_TOLERANCE:
            return True
        if self.tokens_at(t) >= weight + TOKEN_TOLERANCE:
            return True
        return self.exact and self.tokens >= weight

    def admit(self, weight: float, t: float) -> str | None:
        """Take ``weight`` tokens at ``t``; negative beyond the tolerance breaks the bound."""
        before = self.tokens_at(t)
        full_at = self.ready_at(self.burst)
        self.exact = (self.exact and t <= self.stamp) or t > full_at + LATE_TOLERANCE
        self.tokens, self.stamp = before - weight, max(t, self.stamp)
        self.shadow = self._at(self.shadow, self.shadow_stamp, t) - weight
        self.shadow_stamp = max(t, self.shadow_stamp)
        if self.tokens < -TOKEN_TOLERANCE:
            # Clamp, so one excess is reported once rather than poisoning every later check.
            self.tokens = 0.0
            self.exact = False
            return (
                f"admitted weight {weight:g} when the ideal bucket (rate {self.rate:g}/s, "
                f"burst {self.burst:g}) held only {before:.6g} tokens: more than "
                f"burst + rate*T in some window"
            )
        return None

    def cancelled(self, weight: float, t: float) -> None:
        """The shadow bucket loses the cancelled weight."""
        self.shadow = self._at(self.shadow, self.shadow_stamp, t) - weight
        self.shadow_stamp = max(t, self.shadow_stamp)

    def describe(self, t: float) -> str:
        """Tokens now."""
        return f"the ideal bucket held {self.tokens_at(t):.6g} tokens"


class _IdealLeaky(_Ideal):
    """Leaky bucket: the instant of the last admission."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last = -math.inf
        self.shadow_next = -math.inf

    def ready_at(self, weight: float) -> float:
        """``interval`` after the last admission."""
        return self.last + self.interval

    def shadow_ready_at(self, weight: float) -> float:
        """As if each cancelled acquire had kept the slot it was waiting for."""
        return max(self.shadow_next, self.ready_at(weight))

    def surely_ready(self, weight: float, t: float) -> bool:
        """Nothing admitted yet, or ``interval`` passed by more than the tolerance."""
        return t > self.ready_at(weight) + LATE_TOLERANCE

    def admit(self, weight: float, t: float) -> str | None:
        """Admissions closer than ``interval`` break the bound."""
        gap = t - self.last
        self.last = max(t, self.last)
        self.shadow_next = max(self.shadow_next, t + self.interval)
        if gap < self.interval - EPSILON:
            return f"two admissions {gap:.6g}s apart, less than the interval {self.interval:g}s"
        return None

    def cancelled(self, weight: float, t: float) -> None:
        """The shadow gives the cancelled acquire the next slot."""
        self.shadow_next = max(self.shadow_next, self.ready_at(weight), t) + self.interval

    def describe(self, t: float) -> str:
        """Time since the last admission."""
        if self.last == -math.inf:
            return "nothing had been admitted yet"
        return f"the last admission was {t - self.last:.6g}s earlier (interval {self.interval:g}s)"


def clock_hint(event: Event) -> str | None:
    """What a ``clock`` event says about a failed rate verdict, or None if nothing useful.

    Said when the clock bridge was off; when the implementation read the bridged clocks, they
    never moved, and the example's time went on after the last reading (so it kept time some
    way the bridge cannot see, or not at all); or when it read none and has no event loop whose
    clock it could read instead (the sync backend).
    """
    if event.get("bridged") is False:
        return (
            "the clock bridge was off (clock_bridge: False): time.monotonic(), perf_counter() "
            "and time() read the real clock, which barely moves during an example on virtual time"
        )
    reads = int(event.get("reads") or 0)
    last = event.get("last")
    frozen = reads and float(event.get("span") or 0.0) == 0.0
    if frozen and isinstance(last, int | float) and event.t > last + EPSILON:
        times = "once" if reads == 1 else f"{reads} times"
        return (
            f"the implementation read the clock {times} and it never moved: is all its "
            "timekeeping bridged? (docs/backends.md: what the clock bridge cannot reach)"
        )
    if not reads and event.get("loop_clock") is False:
        return (
            "the implementation read no clock the bridge can see (time.monotonic, "
            "perf_counter, time): is its timekeeping bridged? (docs/backends.md: what the "
            "clock bridge cannot reach)"
        )
    return None


@dataclass(slots=True)
class _Waiter:
    weight: float
    epoch: int
    begin: Event
    cancel_ahead: bool = False
    cancel_at: float | None = None
    reported: bool = False


class RateChecker(Checker):
    """All rate rules, folded over the ideal limiter and the line of waiting acquires."""

    rules = (
        "RATE-BOUND",
        "RATE-NO-OVERTHROTTLE",
        "RATE-SHED-ONLY-WHEN-EMPTY",
        "RATE-CANCEL-NO-LOSS",
        "METRICS-CONSISTENT",
    )

    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        self.factory: str = param(params, "factory", str, "token_bucket")
        self.ideal: _Ideal = self._fresh(0.0)
        self.line: OrderedDict[Any, _Waiter] = OrderedDict()
        self.head_since = 0.0
        self.epoch = 0  # how many idle events so far: waiters of different epochs are ordered
        self.admissions = 0
        self.rejections = 0
        self.cancel_since_admit = False
        self.any_cancel = False

    def _fresh(self, t: float) -> _Ideal:
        if self.factory == "leaky_bucket":
            return _IdealLeaky(param(self.params, "interval", float))
        return _IdealTokens(
            param(self.params, "rate", float), param(self.params, "burst", float), t
        )

    # -- helpers ---------------------------------------------------------------------------
    def _set_head_since(self, t: float, old_head: Any) -> None:
        if self.line and next(iter(self.line)) != old_head:
            self.head_since = t

    def _head(self) -> Any:
        return next(iter(self.line)) if self.line else None

    def _throttled(
        self,
        waiter: _Waiter | None,
        weight: float,
        t: float,
        stuck: bool,
        message: str,
        *events: Event,
    ) -> None:
        """Report over-throttling, under CANCEL-NO-LOSS when a cancellation explains it.

        ``stuck``: nothing was admitted yet (an idle check or a refused try_acquire), so a
        dead cancelled waiter still blocking the line is a suspect too; an admission that is
        merely late cannot be explained that way.
        """
        if "RATE-NO-OVERTHROTTLE" in self.params.get("deviations", ()):
            # A limiter that is not timely by design (a sliding window, a polling waiter):
            # its lateness says nothing about what a cancellation cost.
            return
        explained = (
            (waiter is not None and waiter.cancel_ahead)
            or (stuck and self.cancel_since_admit)
            or t <= self.ideal.shadow_ready_at(weight) + LATE_TOLERANCE
        )
        if self.any_cancel and explained:
            self.violate("RATE-CANCEL-NO-LOSS", f"after a cancelled acquire, {message}", *events)
        else:
            self.violate("RATE-NO-OVERTHROTTLE", message, *events)

    def _checked_liveness(self) -> None:
        self.exercise("RATE-NO-OVERTHROTTLE")
        if self.any_cancel:
            self.exercise("RATE-CANCEL-NO-LOSS")

    # -- events ----------------------------------------------------------------------------
    def on_params(self, event: Event) -> None:
        """The run starts; the limiter is (about to be) created now."""
        self.ideal = self._fresh(event.t)

    def on_created(self, event: Event) -> None:
        """The limiter exists from here on: the ideal bucket is full."""
        self.ideal = self._fresh(event.t)

    def on_acquire(self, event: Event) -> None:
        """A blocking acquire joined the line."""
        if not self.line:
            self.head_since = event.t
        self.line[event.id] = _Waiter(float(event.get("weight", 1)), self.epoch, event)

    def on_cancel(self, event: Event) -> None:
        """The harness cancelled a waiting acquire."""
        waiter = self.line.get(event.id)
        if waiter is not None and waiter.cancel_at is None:
            waiter.cancel_at = event.t

    def on_acquire_cancelled(self, event: Event) -> None:
        """A waiter left the line without being admitted."""
        old_head = self._head()
        waiter = self.line.pop(event.id, None)
        if waiter is None:
            return
        self.ideal.cancelled(waiter.weight, event.t)
        for other in self.line.values():
            if other.epoch >= waiter.epoch:
                other.cancel_ahead = True
        self.cancel_since_admit = True
        self.any_cancel = True
        self._set_head_since(event.t, old_head)

    def on_acquire_failed(self, event: Event) -> None:
        """A waiter hung or crashed (reported elsewhere): it no longer waits."""
        old_head = self._head()
        if self.line.pop(event.id, None) is not None:
            self._set_head_since(event.t, old_head)

    def on_admit(self, event: Event) -> None:
        """Something was admitted: check the bound, FIFO order and timeliness, then take."""
        t = event.t
        weight = float(event.get("weight", 1))
        via = event.get("via", "acquire")
        old_head = self._head()
        waiter = self.line.get(event.id) if via == "acquire" else None
        if waiter is not None:
            first = self.line[old_head]
            self._checked_liveness()
            if waiter.cancel_at is not None and t > waiter.cancel_at + LATE_TOLERANCE:
                self.exercise("RATE-CANCEL-NO-LOSS")
                self.violate(
                    "RATE-CANCEL-NO-LOSS",
                    f"acquire {event.id!r} was admitted {t - waiter.cancel_at:.6g}s after it "
                    "was cancelled: the cancellation was swallowed and its tokens consumed",
                    waiter.begin,
                    event,
                )
            elif first is not waiter and first.epoch < waiter.epoch:
                self.violate(
                    "RATE-NO-OVERTHROTTLE",
                    f"acquire {event.id!r} was admitted before the earlier waiter "
                    f"{old_head!r}: not FIFO",
                    first.begin,
                    waiter.begin,
                    event,
                )
            elif first is waiter:
                due = max(self.head_since, self.ideal.ready_at(weight))
                if t > due + LATE_TOLERANCE and not waiter.reported:
                    self._throttled(
                        waiter,
                        weight,
                        t,
                        False,
                        f"acquire {event.id!r} (weight {weight:g}) at the head of the line "
                        f"was admitted at t={t:.6g}, {t - due:.6g}s after the ideal limiter "
                        f"could admit it (t={due:.6g})",
                        waiter.begin,
                        event,
                    )
            self.line.pop(event.id)
        elif via == "try_acquire" and self.line:
            first = self.line[old_head]
            if first.epoch < self.epoch:
                self._checked_liveness()
                self.violate(
                    "RATE-NO-OVERTHROTTLE",
                    f"try_acquire admitted weight {weight:g} while acquire {old_head!r} "
                    "was waiting: barging past the line",
                    first.begin,
                    event,
                )
        self.exercise("RATE-BOUND")
        excess = self.ideal.admit(weight, t)
        if excess is not None:
            self.violate("RATE-BOUND", excess, event)
        self.admissions += 1
        self.cancel_since_admit = False
        self._set_head_since(t, old_head)

    def on_refuse(self, event: Event) -> None:
        """A try_acquire was refused or a gate rejected: only when the tokens are lacking."""
        t = event.t
        weight = float(event.get("weight", 1))
        due = self.ideal.ready_at(weight)
        if event.get("via") == "try_admit":
            self.rejections += 1
            self.exercise("RATE-SHED-ONLY-WHEN-EMPTY")
            if self.ideal.surely_ready(weight, t):
                self.violate(
                    "RATE-SHED-ONLY-WHEN-EMPTY",
                    f"rejected weight {weight:g} although {self.ideal.describe(t)} "
                    f"(enough since t={due:.6g})",
                    event,
                )
            return
        if self.line:
            return  # refusing while someone waits is FIFO, not over-throttling
        self._checked_liveness()
        if self.ideal.surely_ready(weight, t):
            self._throttled(
                None,
                weight,
                t,
                True,
                f"try_acquire({weight:g}) was refused with nobody waiting although "
                f"{self.ideal.describe(t)} (enough since t={due:.6g})",
                event,
            )

    def on_idle(self, event: Event) -> None:
        """Everything settled: a cancelled acquire is gone, and a ready head is admitted."""
        t = event.t
        self.epoch += 1
        if not self.line:
            return
        head_epoch = next(iter(self.line.values())).epoch
        heaviest = 0.0
        head: _Waiter | None = None
        for ident, waiter in self.line.items():
            if waiter.cancel_at is not None and not waiter.reported:
                waiter.reported = True
                self.exercise("RATE-CANCEL-NO-LOSS")
                self.violate(
                    "RATE-CANCEL-NO-LOSS",
                    f"acquire {ident!r} still waits after it was cancelled at "
                    f"t={waiter.cancel_at:.6g}: the cancellation was swallowed",
                    waiter.begin,
                    event,
                )
            if waiter.epoch == head_epoch:
                heaviest = max(heaviest, waiter.weight)
                head = head or waiter
        assert head is not None
        self._checked_liveness()
        due = max(self.head_since, self.ideal.ready_at(heaviest))
        if self.ideal.surely_ready(heaviest, t) and not head.reported:
            head.reported = True
            self._throttled(
                head,
                heaviest,
                t,
                True,
                f"acquire {head.begin.id!r} (weight {head.weight:g}) at the head of the line "
                f"still waits although {self.ideal.describe(t)} (enough since t={due:.6g})",
                head.begin,
                event,
            )

    def on_clock(self, event: Event) -> None:
        """The implementation's own clock readings: a failed verdict says if they never moved."""
        hint = clock_hint(event)
        if hint is None:
            return
        self.violations = [
            replace(v, message=f"{v.message}; {hint}") if v.rule_id.startswith("RATE-") else v
            for v in self.violations
        ]

    def on_metrics(self, event: Event) -> None:
        """The limiter's counters agree with the admissions and rejections seen."""
        counters = event.get("counters") or {}
        gate = self.factory == "shedding_gate"
        expected = {"admissions": self.admissions}
        if gate:
            expected["rejections"] = self.rejections
        for name, count in expected.items():
            if name not in counters and not gate:
                continue  # a limiter need not count what the contract does not ask of it
            self.exercise("METRICS-CONSISTENT")
            actual = counters.get(name, 0)
            if actual != count:
                self.violate(
                    "METRICS-CONSISTENT",
                    f"counter {name!r} is {actual} but the trace shows {count}",
                    event,
                )
