from __future__ import annotations

import random

import pytest
import trio

from reference.instrumentation import RETRIES, Metrics
from reference.retry import Backoff, retry
from tests.reference._virtual import run_virtual


class Boom(Exception):
    pass


class Fatal(Exception):
    pass


def test_backoff_bounds_none_full_equal() -> None:
    none = Backoff(base=0.1, factor=2.0, cap=0.5, jitter="none")
    full = Backoff(base=0.1, factor=2.0, cap=0.5, jitter="full")
    equal = Backoff(base=0.1, factor=2.0, cap=0.5, jitter="equal")
    nominal = [0.1, 0.2, 0.4, 0.5, 0.5]
    for n, d in enumerate(nominal, start=1):
        assert none.bounds(n) == (d, d)
        assert full.bounds(n) == (0.0, d)
        assert equal.bounds(n) == (d / 2, d)
    # Huge attempt numbers hit the cap instead of overflowing.
    assert none.bounds(5000) == (0.5, 0.5)
    with pytest.raises(ValueError, match="start at 1"):
        none.bounds(0)


@pytest.mark.parametrize("jitter", ["none", "full", "equal"])
def test_base_zero_backoff_stays_zero_for_any_attempt(jitter: str) -> None:
    # 2.0**9999 overflows the float range; base 0 still means no delay at all.
    backoff = Backoff(base=0.0, factor=2.0, cap=1.0, jitter=jitter)  # type: ignore[arg-type]
    for n in (1025, 1026, 10_000, 10**400):
        assert backoff.nominal(n) == 0.0
        assert backoff.bounds(n) == (0.0, 0.0)
        assert backoff.delay(n, random.Random(1)) == 0.0


def test_tiny_base_backoff_is_not_capped_when_the_power_overflows() -> None:
    # 2**-1074 * 2**(n-1) is exact and below the cap of 10 up to n = 1078.
    backoff = Backoff(base=5e-324, factor=2.0, cap=10.0, jitter="equal")
    assert backoff.nominal(1026) == 2.0**-49
    assert backoff.bounds(1078) == (4.0, 8.0)
    assert backoff.nominal(1079) == 10.0


@pytest.mark.parametrize("jitter", ["none", "full", "equal"])
def test_backoff_delay_within_bounds(jitter: str) -> None:
    backoff = Backoff(base=0.01, factor=3.0, cap=2.0, jitter=jitter)  # type: ignore[arg-type]
    rng = random.Random(1234)
    draws = []
    for n in range(1, 12):
        low, high = backoff.bounds(n)
        for _ in range(200):
            d = backoff.delay(n, rng)
            assert low <= d <= high
            draws.append(d)
    if jitter != "none":
        assert len(set(draws)) > 100  # really random, not pinned to a bound


def test_backoff_delay_deterministic_with_seed() -> None:
    b = Backoff()
    a = [b.delay(n, random.Random(7)) for n in range(1, 6)]
    c = [b.delay(n, random.Random(7)) for n in range(1, 6)]
    assert a == c


def test_retry_stops_at_first_success_and_sleeps_schedule() -> None:
    calls: list[float] = []
    metrics = Metrics()

    async def flaky() -> str:
        calls.append(trio.current_time())
        if len(calls) < 3:
            raise Boom(len(calls))
        return "ok"

    async def main() -> str:
        result = await retry(
            flaky,
            max_attempts=5,
            backoff=Backoff(base=1.0, factor=2.0, cap=10.0, jitter="none"),
            metrics=metrics,
        )
        await trio.sleep(100)  # no attempt after the success
        assert metrics.snapshot().counter(RETRIES) == 2
        return result

    assert run_virtual(main) == "ok"
    assert calls == [0.0, 1.0, 3.0]


def test_retry_delays_measured_from_end_of_attempt_within_bounds() -> None:
    backoff = Backoff(base=0.5, factor=2.0, cap=3.0, jitter="equal")
    spans: list[tuple[float, float]] = []

    async def slow_failure() -> None:
        start = trio.current_time()
        await trio.sleep(0.25)
        spans.append((start, trio.current_time()))
        raise Boom

    async def main() -> None:
        with pytest.raises(Boom):
            await retry(slow_failure, max_attempts=6, backoff=backoff, rng=random.Random(3))

    run_virtual(main)
    assert len(spans) == 6
    for n in range(1, 6):
        gap = spans[n][0] - spans[n - 1][1]
        low, high = backoff.bounds(n)
        assert low - 1e-9 <= gap <= high + 1e-9


def test_retry_exhausted_raises_last_error_object() -> None:
    errors: list[Boom] = []
    metrics = Metrics()

    async def always_fails() -> None:
        errors.append(Boom(len(errors)))
        raise errors[-1]

    async def main() -> None:
        with pytest.raises(Boom) as info:
            await retry(always_fails, max_attempts=4, metrics=metrics, rng=random.Random(0))
        assert info.value is errors[-1]
        assert metrics.snapshot().counter(RETRIES) == 3

    run_virtual(main)
    assert len(errors) == 4


def test_non_retryable_error_raised_at_once() -> None:
    calls = 0

    async def fails() -> None:
        nonlocal calls
        calls += 1
        raise Fatal if calls == 2 else Boom

    async def main() -> None:
        with pytest.raises(Fatal):
            await retry(
                fails,
                max_attempts=10,
                retryable=lambda e: not isinstance(e, Fatal),
                rng=random.Random(0),
            )

    run_virtual(main)
    assert calls == 2


def test_cancel_during_backoff_propagates_and_stops() -> None:
    calls: list[float] = []
    metrics = Metrics()

    async def fails() -> None:
        calls.append(trio.current_time())
        raise Boom

    async def main() -> None:
        backoff = Backoff(base=10.0, cap=10.0, jitter="none")
        with trio.move_on_after(15.0) as scope:
            await retry(fails, max_attempts=5, backoff=backoff, metrics=metrics)
        assert scope.cancelled_caught
        assert trio.current_time() == 15.0
        await trio.sleep(100)  # nothing keeps retrying in the background
        assert metrics.snapshot().counter(RETRIES) == 1

    run_virtual(main)
    assert calls == [0.0, 10.0]


def test_cancel_during_attempt_propagates_and_stops() -> None:
    calls: list[float] = []

    async def slow() -> None:
        calls.append(trio.current_time())
        await trio.sleep(5.0)
        raise Boom

    async def main() -> None:
        with trio.move_on_after(7.0) as scope:
            await retry(slow, max_attempts=5, backoff=Backoff(base=1.0, jitter="none"))
        assert scope.cancelled_caught
        await trio.sleep(100)

    run_virtual(main)
    assert calls == [0.0, 6.0]


def test_max_attempts_must_be_positive() -> None:
    async def ok() -> int:
        return 1

    async def main() -> None:
        with pytest.raises(ValueError, match="max_attempts"):
            await retry(ok, max_attempts=0)

    run_virtual(main)


# -- boundary values (docs/patterns/retry.md) ---------------------------------------------------


def test_zero_attempts_is_refused_without_calling_fn() -> None:
    calls = 0

    async def fn() -> int:
        nonlocal calls
        calls += 1
        return 1

    async def main() -> None:
        with pytest.raises(ValueError, match="max_attempts"):
            await retry(fn, max_attempts=0)

    run_virtual(main)
    assert calls == 0  # 0 is neither "no limit" nor "at least one"


def test_five_thousand_attempts_run_to_the_end_past_the_power_overflow() -> None:
    # The smallest float as base: 2.0**(n-1) overflows at attempt 1025 while the delay is still
    # 2**-50, and the cap of 1 ms is reached only near attempt 1065.
    backoff = Backoff(base=5e-324, factor=2.0, cap=0.001, jitter="none")
    starts: list[float] = []
    metrics = Metrics()

    async def fn() -> int:
        starts.append(trio.current_time())
        raise Boom(len(starts))

    async def main() -> None:
        with pytest.raises(Boom) as caught:
            await retry(fn, max_attempts=5000, backoff=backoff, metrics=metrics)
        assert caught.value.args == (5000,)  # the last attempt's own error
        assert metrics.snapshot().counter(RETRIES) == 4999

    run_virtual(main)
    assert len(starts) == 5000
    # The delay after attempt 1025 is exactly 2**-50 (not the cap, not 0), the last ones 1 ms.
    assert starts[1025] - starts[1024] == pytest.approx(2.0**-50, rel=1e-6)
    assert starts[-1] - starts[-2] == pytest.approx(0.001)
    assert starts[-1] == pytest.approx(sum(backoff.nominal(n) for n in range(1, 5000)))
