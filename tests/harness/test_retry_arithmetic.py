"""The backoff schedule's arithmetic is exact for any attempt count (issue 12, item 5).

``min(cap, base * factor**(n-1))`` must not turn into ``cap`` just because ``factor**(n-1)``
leaves the float range: a base-0 schedule stays 0 forever, and a tiny base keeps the delay far
below the cap long after ``2.0**1024`` overflowed. The checker and the reference compute the
same schedule (each on its own: the harness never imports the reference).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Context, Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checkers.retry import RetryChecker, RetryMetricsChecker, nominal_delay
from harness.checking import TraceChecker
from harness.events import Event
from reference.retry import Backoff

Bounds = tuple[float, float]

#: An attempt lasts this long in the hand-written traces.
ATTEMPT = 0.001


def ev(t: float, kind: str, ident: Any = None, **data: Any) -> Event:
    return Event(t, kind, ident, data)


def exhausted_call(params: dict[str, Any], declared: Callable[[int], Bounds]) -> list[Event]:
    """One call whose every attempt fails; after attempt n it declares and sleeps ``declared(n)``.

    ``declared(n)`` returns the ``(low, high)`` bounds the retrier states; it sleeps ``high``.
    """
    attempts = int(params["max_attempts"])
    t = 0.0
    events = [ev(t, "params", None, **params), ev(t, "call_begin", 0)]
    for n in range(1, attempts + 1):
        events.append(ev(t, "attempt_begin", 0, attempt=n))
        t += ATTEMPT
        low, high = declared(n)
        events.append(
            ev(t, "attempt_fail", 0, attempt=n, retryable=True, error=f"e{n}", low=low, high=high)
        )
        if n < attempts:
            t += high
    events += [
        ev(t, "call_end", 0, outcome="error", value=None, error=f"e{attempts}"),
        ev(t, "metrics", None, counters={"retries": attempts - 1}),
        ev(t, "end"),
    ]
    return events


def judge(events: list[Event], params: dict[str, Any]) -> tuple[set[str], list[str]]:
    checker = TraceChecker([RetryChecker(params), RetryMetricsChecker(params)])
    checker.feed_all(events)
    found = checker.violations()
    return {v.rule_id for v in found}, [v.message for v in found]


def schedule(**kw: Any) -> dict[str, Any]:
    return {"pattern": "retry", "factory": "retrier", **kw}


@pytest.mark.parametrize("jitter", ["none", "full", "equal"])
def test_base_zero_retrier_over_5000_attempts_is_not_flagged(jitter: str) -> None:
    params = schedule(max_attempts=5000, base=0.0, factor=2.0, cap=1.0, jitter=jitter)
    found, messages = judge(exhausted_call(params, lambda n: (0.0, 0.0)), params)
    assert found == set(), messages[:3]


def old_style_bounds(base: float, factor: float, cap: float) -> Callable[[int], Bounds]:
    """A retrier that sends its delay to the cap once ``factor**(n-1)`` overflows."""

    def declared(n: int) -> Bounds:
        try:
            d = min(cap, base * factor ** (n - 1))
        except OverflowError:
            d = cap
        return d, d

    return declared


# The smallest subnormal is 2**-1074, so 2.0**(n-1) overflows at n = 1025 while the true delay is
# still the exact power of two 2**(n-1075): 2**-50 there, and below the cap of 10 up to n = 1078.
TINY: dict[str, Any] = {"base": 5e-324, "factor": 2.0, "cap": 10.0, "jitter": "none"}


def test_retrier_jumping_to_the_cap_when_the_power_overflows_is_flagged() -> None:
    params = schedule(max_attempts=1030, **TINY)
    declared = old_style_bounds(5e-324, 2.0, 10.0)
    found, messages = judge(exhausted_call(params, declared), params)
    assert found == {"RETRY-BACKOFF"}
    assert "after attempt 1025 " in messages[0]
    assert "schedule gives [8.88178e-16, 8.88178e-16]" in messages[0]


def test_retrier_with_the_exact_tiny_base_schedule_passes() -> None:
    params = schedule(max_attempts=1100, **TINY)

    def declared(n: int) -> tuple[float, float]:
        d = min(10.0, math.ldexp(1.0, n - 1075))
        return d, d

    found, messages = judge(exhausted_call(params, declared), params)
    assert found == set(), messages[:3]


def exact(base: float, factor: float, cap: float, attempt: int) -> float:
    """``min(cap, base * factor**(attempt-1))`` worked out in 80-digit decimal arithmetic."""
    context = Context(prec=80, Emax=10**15, Emin=-(10**15))
    power = context.power(Decimal(factor), attempt - 1) if attempt > 1 else Decimal(1)
    grown = context.multiply(Decimal(base), power)
    return min(cap, float(grown))


def agree(got: float, want: float) -> bool:
    # Relative error far below the checker's 1e-9; a few subnormal ulps where relative
    # precision runs out.
    return abs(got - want) <= 1e-12 * abs(want) + 1e-320


finite = st.floats(min_value=0.0, max_value=1e300, allow_subnormal=True)


@settings(max_examples=300, deadline=None)
@given(
    base=st.one_of(st.sampled_from([0.0, 5e-324, 1e-310, 1e-3, 1.0]), finite),
    factor=st.one_of(
        st.sampled_from([0.0, 0.5, 1.0, 1.0001, 2.0, 3.0]), st.floats(min_value=0.0, max_value=10.0)
    ),
    cap=st.one_of(st.sampled_from([1.0, 10.0, 1e300]), finite),
    attempt=st.one_of(st.integers(1, 5000), st.integers(1, 10**7)),
)
def test_checker_and_reference_give_the_exact_nominal_delay(
    base: float, factor: float, cap: float, attempt: int
) -> None:
    want = exact(base, factor, cap, attempt)
    got = nominal_delay(base, factor, cap, attempt)
    assert agree(got, want), (got, want)
    assert Backoff(base=base, factor=factor, cap=cap, jitter="none").nominal(attempt) == got


@pytest.mark.parametrize(
    ("base", "factor", "cap", "attempt"),
    [
        (0.0, 2.0, 1.0, 10_000),
        pytest.param(0.0, 2.0, 1.0, 10**400, id="base0-beyond-float-range"),
        (5e-324, 2.0, 10.0, 1026),
        (1e-310, 1.0001, 10.0, 7_100_000),  # 1.0001**7099999 overflows; the product is ~0.02
        (1e300, 0.5, 10.0, 1100),  # 0.5**1099 underflows; the product is ~1.5e-31
        pytest.param(1.0, 0.5, 10.0, 10**400, id="shrinking-beyond-float-range"),
        pytest.param(0.25, 1.0, 10.0, 10**400, id="constant-beyond-float-range"),
    ],
)
def test_nominal_never_raises_and_is_exact_far_out(
    base: float, factor: float, cap: float, attempt: int
) -> None:
    got = nominal_delay(base, factor, cap, attempt)
    assert Backoff(base=base, factor=factor, cap=cap).nominal(attempt) == got
    if attempt < 10**9:
        assert agree(got, exact(base, factor, cap, attempt))
    else:
        assert got == min(cap, 0.0 if factor < 1 or base == 0 else cap if factor > 1 else base)
