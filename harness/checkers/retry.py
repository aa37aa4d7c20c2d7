"""Retry rules: attempt counts, backoff bounds, cancellation, the error raised, the counter.

Event kinds read (the retry driver writes them; ``id`` is the call number throughout):

``call_begin`` (``how``)
    a call of ``retrier.call`` starts; ``how`` is how its caller will cancel it (``entry``:
    the cancellation is requested before the retrier's first step), or absent.
``attempt_begin`` (``attempt``)
    the harness's ``fn`` was entered for attempt ``attempt`` (1-based).
``attempt_ok`` (``attempt``, ``value``)
    the attempt returned ``value``.
``attempt_fail`` (``attempt``, ``retryable``, ``error``, ``low``, ``high``)
    the attempt raised the exception named ``error`` (unique per attempt); ``low``/``high``
    are the implementation's declared bounds of the delay after this attempt.
``attempt_cancelled`` (``attempt``)
    the attempt was interrupted by ``trio.Cancelled``.
``cancel``
    the caller cancelled the call (its own cancel scope), while the call was still running.
``call_end`` (``outcome``, ``value``, ``error``)
    the call finished: ``outcome`` is ``ok`` (returned ``value``), ``error`` (raised the
    exception named ``error``; ``"foreign"`` when it is none of the attempts' exception
    objects), ``cancelled`` (``Cancelled`` came out of the caller's cancel scope) or
    ``refused`` (``max_attempts`` is 0 and the call raised ``ValueError``; ``error`` holds its
    text).
``metrics`` (``counters``)
    the retrier's counters, read after a call ended.

Parameters: ``max_attempts`` (0 asks for no attempt: every call must be refused with a
``ValueError``, and any attempt is one too many); when ``base``, ``factor``, ``cap`` and ``jitter``
are given too (the retry model always draws them), the declared bounds must be that schedule's
(guide §5): ``d = min(cap, base * factor**(n-1))``, ``none`` gives ``[d, d]``, ``full`` ``[0, d]``
and ``equal`` ``[d/2, d]``. Otherwise a retrier declaring its own, wrong schedule would check its
delays against itself. ``d`` is worked out without overflow for any attempt number (see
:func:`nominal_delay`): a base of 0 stays 0, and a tiny base is not sent to the cap just because
``factor**(n-1)`` left the float range.

A cancellation that lands at the very instant an attempt ended may legitimately lose the race
(trio delivers cancellation only at checkpoints): a call that then returns that attempt's
result, or raises its error, is not blamed. A cancellation requested at the call's entry reaches
the retrier at its first await, which may be inside its first attempt: that attempt may begin
after the ``cancel`` event (no later one may), and a refusal (``max_attempts`` 0, raised before
any await) may still end the call.
"""

from __future__ import annotations

import decimal
import math
import sys
from dataclasses import dataclass
from typing import Any

from harness.checking import EPSILON, Checker, param
from harness.events import Event, Scalar

_ENDS = ("attempt_ok", "attempt_fail", "attempt_cancelled")


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= EPSILON * max(1.0, abs(a), abs(b))


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


def nominal_delay(base: float, factor: float, cap: float, attempt: int) -> float:
    """The un-jittered delay after failed attempt ``attempt``: ``min(cap, base*factor**(n-1))``.

    Exact up to float rounding for any attempt number: a base of 0 or a factor of 1 is decided
    without computing a power, and a power beyond the float range is worked out in decimal, whose
    exponent does not overflow, so the delay is never sent to the cap (nor to 0) by an overflow.
    ``reference.retry.Backoff.nominal`` computes the same (the harness does not import it).
    """
    k = attempt - 1
    if base == 0 or k <= 0 or factor == 1:
        return min(cap, base)
    return min(cap, _grown(base, factor, k))


@dataclass(frozen=True, slots=True)
class _Schedule:
    """The backoff schedule a retrier was built with: the bounds it must declare."""

    base: float
    factor: float
    cap: float
    jitter: str

    @classmethod
    def from_params(cls, params: Any) -> _Schedule | None:
        names = ("base", "factor", "cap", "jitter")
        if any(params.get(name) is None for name in names):
            return None
        if params["jitter"] not in ("none", "full", "equal"):
            return None
        return cls(
            float(params["base"]), float(params["factor"]), float(params["cap"]), params["jitter"]
        )

    def bounds(self, attempt: int) -> tuple[float, float]:
        nominal = nominal_delay(self.base, self.factor, self.cap, attempt)
        if self.jitter == "none":
            return nominal, nominal
        if self.jitter == "full":
            return 0.0, nominal
        return nominal / 2, nominal


@dataclass(slots=True)
class _Call:
    """What the checker remembers about one open call."""

    begin: Event | None = None
    attempts: int = 0
    last: Event | None = None
    stop: Event | None = None
    cancel: Event | None = None
    last_at_cancel: Event | None = None
    #: Whether the caller cancels the call at its entry.
    at_entry: bool = False


class RetryChecker(Checker):
    """RETRY-MAX-ATTEMPTS, RETRY-BACKOFF, RETRY-CANCEL and RETRY-LAST-ERROR, per call.

    Giving up early (raising after fewer than ``max_attempts`` attempts that all failed with a
    retryable error, without being cancelled) is reported as RETRY-MAX-ATTEMPTS: the schedule
    promises exactly ``max_attempts`` tries to an always-failing retryable call.
    """

    rules = ("RETRY-MAX-ATTEMPTS", "RETRY-BACKOFF", "RETRY-CANCEL", "RETRY-LAST-ERROR")

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.max_attempts: int = param(params, "max_attempts", int)
        # A retrier with its own schedule (capability own_schedule) answers to its bounds().
        self.schedule = None if params.get("own_schedule") else _Schedule.from_params(params)
        self.calls: dict[Scalar, _Call] = {}

    def _call(self, event: Event) -> _Call:
        call = self.calls.get(event.id)
        if call is None:
            call = self.calls[event.id] = _Call()
        return call

    def on_call_begin(self, event: Event) -> None:
        """Open the call's state."""
        call = self._call(event)
        call.begin = event
        call.at_entry = event.get("how") == "entry"

    def on_attempt_begin(self, event: Event) -> None:
        """Check an attempt starts within budget, after a retryable failure and its delay."""
        call = self._call(event)
        call.attempts += 1
        # A cancellation at entry is still pending when the first attempt starts.
        if call.cancel is not None and not (call.at_entry and call.attempts == 1):
            self.violate(
                "RETRY-CANCEL",
                f"call {event.id}: attempt {call.attempts} started after the call was cancelled",
                call.cancel,
                event,
            )
        if call.stop is not None:
            why = "a success" if call.stop.kind == "attempt_ok" else "a non-retryable error"
            self.violate(
                "RETRY-MAX-ATTEMPTS",
                f"call {event.id}: attempt {call.attempts} started after {why}",
                call.stop,
                event,
            )
        elif call.attempts > self.max_attempts:
            hint = ": it must be refused (ValueError)" if self.max_attempts < 1 else ""
            self.violate(
                "RETRY-MAX-ATTEMPTS",
                f"call {event.id}: attempt {call.attempts} exceeds max_attempts="
                f"{self.max_attempts}{hint}",
                event,
            )
        last = call.last
        # After a cancel the backoff was cut short by the cancel itself: RETRY-CANCEL speaks.
        if (
            last is not None
            and last.kind == "attempt_fail"
            and call.stop is None
            and call.cancel is None
        ):
            bounds = self._bounds(last)
            if bounds is not None:
                low, high = bounds
                self.exercise("RETRY-BACKOFF")
                delay = event.t - last.t
                if not float(low) - EPSILON <= delay <= float(high) + EPSILON:
                    self.violate(
                        "RETRY-BACKOFF",
                        f"call {event.id}: delay {delay:.6g}s after attempt "
                        f"{last.get('attempt')} lies outside its bounds [{low:.6g}, {high:.6g}]",
                        last,
                        event,
                    )
        call.last = None

    def on_attempt_ok(self, event: Event) -> None:
        """Note a success: it ends the retrying."""
        call = self._call(event)
        call.last = call.stop = event

    def on_attempt_fail(self, event: Event) -> None:
        """Note a failure (a non-retryable one ends the retrying); check its declared bounds."""
        call = self._call(event)
        call.last = event
        if not event.get("retryable"):
            call.stop = event
        low, high, attempt = event.get("low"), event.get("high"), event.get("attempt")
        if self.schedule is None or low is None or high is None or attempt is None:
            return
        self.exercise("RETRY-BACKOFF")
        want_low, want_high = self.schedule.bounds(int(attempt))
        if not (_close(float(low), want_low) and _close(float(high), want_high)):
            self.violate(
                "RETRY-BACKOFF",
                f"call {event.id}: bounds after attempt {attempt} are declared "
                f"[{float(low):.6g}, {float(high):.6g}] but the schedule gives "
                f"[{want_low:.6g}, {want_high:.6g}]",
                event,
            )

    def _bounds(self, failed: Event) -> tuple[float, float] | None:
        """The delay allowed after the failed attempt ``failed``.

        The retrier's own ``bounds()`` when it has that method, else the guide's schedule for
        the run's parameters.
        """
        low, high, attempt = failed.get("low"), failed.get("high"), failed.get("attempt")
        if low is not None and high is not None:
            return float(low), float(high)
        if self.schedule is None or attempt is None:
            return None
        return self.schedule.bounds(int(attempt))

    def on_attempt_cancelled(self, event: Event) -> None:
        """Note an attempt interrupted by the caller's cancellation."""
        self._call(event).last = event

    def _backoff_overdue(self, call: _Call, now: Event) -> None:
        """In a backoff whose upper bound has passed, the next attempt is already late."""
        last = call.last
        if (
            last is None
            or last.kind != "attempt_fail"
            or call.stop is not None
            or call.attempts >= self.max_attempts
        ):
            return
        bounds = self._bounds(last)
        high = None if bounds is None else bounds[1]
        if high is not None and now.t > last.t + high + EPSILON:
            self.exercise("RETRY-BACKOFF")
            self.violate(
                "RETRY-BACKOFF",
                f"call {now.id}: no attempt {call.attempts + 1} by {float(high):.6g}s after "
                f"attempt {last.get('attempt')} failed",
                last,
                now,
            )

    def on_cancel(self, event: Event) -> None:
        """Remember what the call had done when its caller cancelled it."""
        call = self._call(event)
        if call.cancel is None:
            call.cancel = event
            call.last_at_cancel = call.last
        self._backoff_overdue(call, event)

    def _lost_race(self, call: _Call, end: Event) -> bool:
        """Whether a non-cancelled end is the result of an attempt that ended with the cancel."""
        last, cancel = call.last_at_cancel, call.cancel
        if last is None or cancel is None or last.t < cancel.t - EPSILON:
            return False
        if end.get("outcome") == "ok":
            return last.kind == "attempt_ok" and last.get("value") == end.get("value")
        if end.get("outcome") == "error":
            return last.kind == "attempt_fail" and last.get("error") == end.get("error")
        return False

    def on_call_end(self, event: Event) -> None:
        """Judge how the call ended against what its attempts did."""
        call = self.calls.pop(event.id, None) or _Call()
        outcome = event.get("outcome")
        last = call.last
        self.exercise("RETRY-MAX-ATTEMPTS")
        if call.cancel is not None:
            self.exercise("RETRY-CANCEL")
            refused = call.at_entry and outcome == "refused" and call.attempts == 0
            if outcome != "cancelled" and not refused and not self._lost_race(call, event):
                self.violate(
                    "RETRY-CANCEL",
                    f"call {event.id} was cancelled but ended with {outcome!r} instead of "
                    f"raising Cancelled",
                    call.cancel,
                    event,
                )
            if outcome == "cancelled":
                self._backoff_overdue(call, event)
            return
        if outcome == "cancelled":
            self.exercise("RETRY-CANCEL")
            self.violate(
                "RETRY-CANCEL",
                f"call {event.id} raised Cancelled though its caller never cancelled it",
                event,
            )
            return
        if self.max_attempts < 1 and call.attempts == 0:
            # max_attempts=0 asks for no attempt (docs/patterns/retry.md): the retrier refuses
            # it with a ValueError, which the driver reports as "refused" (and only then).
            if outcome != "refused":
                self.violate(
                    "RETRY-MAX-ATTEMPTS",
                    f"call {event.id} with max_attempts=0 ended {outcome!r} without an "
                    f"attempt: it must be refused with a ValueError",
                    event,
                )
            return
        if outcome == "refused":
            return  # the driver reports a refusal only for max_attempts=0, judged above
        self.exercise("RETRY-LAST-ERROR")
        if outcome == "ok":
            if last is None or last.kind != "attempt_ok" or last.get("value") != event.get("value"):
                what = "no attempt" if last is None else f"its last attempt ({last.kind})"
                self.violate(
                    "RETRY-LAST-ERROR",
                    f"call {event.id} returned {event.get('value')!r}, which {what} returned",
                    *(e for e in (last, event) if e is not None),
                )
            return
        if last is None or last.kind != "attempt_fail":
            self.violate(
                "RETRY-LAST-ERROR",
                f"call {event.id} raised {event.get('error')!r} though its last attempt did not "
                f"fail",
                *(e for e in (last, event) if e is not None),
            )
            return
        if last.get("error") != event.get("error"):
            self.violate(
                "RETRY-LAST-ERROR",
                f"call {event.id} raised {event.get('error')!r}, not the last attempt's error "
                f"{last.get('error')!r}",
                last,
                event,
            )
        if last.get("retryable") and call.attempts < self.max_attempts:
            self.violate(
                "RETRY-MAX-ATTEMPTS",
                f"call {event.id} gave up after {call.attempts} of {self.max_attempts} attempts "
                f"on a retryable error",
                last,
                event,
            )


class RetryMetricsChecker(Checker):
    """METRICS-CONSISTENT for retriers: ``retries`` equals the sum of (attempts - 1) per call.

    Counted from ``attempt_begin`` events: every attempt of a call after its first is one
    retry, whether the call is still open or not.
    """

    rules = ("METRICS-CONSISTENT",)

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.seen: dict[Scalar, bool] = {}
        self.retries = 0

    def on_attempt_begin(self, event: Event) -> None:
        """Every attempt of a call but its first is a retry."""
        if self.seen.get(event.id):
            self.retries += 1
        else:
            self.seen[event.id] = True

    def on_call_end(self, event: Event) -> None:
        """Forget the call (its retries stay counted)."""
        self.seen.pop(event.id, None)

    def on_metrics(self, event: Event) -> None:
        """Check the implementation's ``retries`` counter against the trace."""
        counters = event.get("counters") or {}
        self.exercise("METRICS-CONSISTENT")
        reported = int(counters.get("retries", 0))
        if reported != self.retries:
            self.violate(
                "METRICS-CONSISTENT",
                f"retries counter reads {reported}, but the trace shows {self.retries} retries",
                event,
            )
