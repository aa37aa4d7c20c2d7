from __future__ import annotations

import itertools

import pytest
import trio
import trio.testing

from reference.instrumentation import ADMISSIONS, REJECTIONS, Metrics
from reference.ratelimit import LeakyBucket, SheddingGate, TokenBucket
from tests.reference._virtual import run_virtual

EPS = 1e-9


async def settle() -> None:
    """Let every task run until it blocks (before the virtual clock jumps)."""
    await trio.testing.wait_all_tasks_blocked()


def approx(values: list[float]) -> object:
    return pytest.approx(values, abs=EPS, rel=0)


def test_burst_then_steady_rate() -> None:
    times: list[float] = []
    metrics = Metrics()

    async def main() -> None:
        bucket = TokenBucket(rate=10, burst=5, metrics=metrics)
        for _ in range(12):
            await bucket.acquire()
            times.append(trio.current_time())
        assert metrics.snapshot().counter(ADMISSIONS) == 12

    run_virtual(main)
    assert times == approx([0.0] * 5 + [0.1 * k for k in range(1, 8)])


def test_refills_up_to_burst_only() -> None:
    async def main() -> None:
        bucket = TokenBucket(rate=2, burst=3)
        assert bucket.tokens() == 3.0
        for _ in range(3):
            assert bucket.try_acquire()
        assert not bucket.try_acquire()
        await trio.sleep(0.5)
        assert bucket.tokens() == pytest.approx(1.0)
        await trio.sleep(100)
        assert bucket.tokens() == 3.0
        for _ in range(3):
            assert bucket.try_acquire()
        assert not bucket.try_acquire()

    run_virtual(main)


def test_weighted_acquire() -> None:
    times: list[tuple[int, float]] = []

    async def main() -> None:
        bucket = TokenBucket(rate=2, burst=4)
        for weight in (3, 2, 4, 1):
            await bucket.acquire(weight)
            times.append((weight, trio.current_time()))
        with pytest.raises(ValueError, match="weight"):
            await bucket.acquire(5)
        with pytest.raises(ValueError, match="weight"):
            bucket.try_acquire(5)

    run_virtual(main)
    # 4 tokens at 0: take 3 (1 left); need 2 -> at 0.5; need 4 -> at 2.5; need 1 -> at 3.0.
    assert [w for w, _ in times] == [3, 2, 4, 1]
    assert [t for _, t in times] == approx([0.0, 0.5, 2.5, 3.0])


def test_fifo_heavy_head_blocks_light_waiters() -> None:
    order: list[tuple[str, float]] = []

    async def main() -> None:
        bucket = TokenBucket(rate=1, burst=5)
        for _ in range(5):
            assert bucket.try_acquire()

        async def take(name: str, weight: int) -> None:
            await bucket.acquire(weight)
            order.append((name, trio.current_time()))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(take, "heavy", 4)
            await settle()
            assert bucket.waiting == 1
            nursery.start_soon(take, "light1", 1)
            await settle()
            nursery.start_soon(take, "light2", 1)
            await trio.sleep(1.5)
            # One token exists, but the heavy head is still waiting: no barging.
            assert bucket.tokens() == pytest.approx(1.5)
            assert not bucket.try_acquire()
            assert order == []

    run_virtual(main)
    assert [name for name, _ in order] == ["heavy", "light1", "light2"]
    assert [t for _, t in order] == approx([4.0, 5.0, 6.0])


def test_cancelled_head_acquire_consumes_nothing() -> None:
    order: list[tuple[str, float]] = []

    async def main() -> None:
        bucket = TokenBucket(rate=1, burst=3)
        for _ in range(3):
            assert bucket.try_acquire()

        async def take(name: str, weight: int) -> None:
            await bucket.acquire(weight)
            order.append((name, trio.current_time()))

        heavy = trio.CancelScope()

        async def cancellable_heavy() -> None:
            with heavy:
                await take("heavy", 3)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancellable_heavy)
            await settle()
            nursery.start_soon(take, "light", 1)
            await settle()
            nursery.start_soon(take, "light2", 2)
            await trio.sleep(0.25)
            assert bucket.waiting == 3
            # The heavy head holds the light ones back (FIFO). It leaves at 2.25 having taken
            # nothing: "light" gets a token at once, "light2" when 2 more exist (at 3.0).
            await trio.sleep(2.0)
            assert bucket.tokens() == pytest.approx(2.25)
            heavy.cancel()
            await trio.sleep(0.01)
            assert bucket.waiting == 1

    run_virtual(main)
    assert [name for name, _ in order] == ["light", "light2"]
    assert [t for _, t in order] == approx([2.25, 3.0])


def test_cancelled_waiter_behind_head_does_not_block() -> None:
    order: list[tuple[str, float]] = []

    async def main() -> None:
        bucket = TokenBucket(rate=1, burst=2)
        assert bucket.try_acquire(2)

        async def take(name: str, weight: int) -> None:
            await bucket.acquire(weight)
            order.append((name, trio.current_time()))

        middle = trio.CancelScope()

        async def cancellable_middle() -> None:
            with middle:
                await take("middle", 2)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(take, "head", 1)
            await settle()
            nursery.start_soon(cancellable_middle)
            await settle()
            nursery.start_soon(take, "tail", 1)
            await trio.sleep(0.5)
            middle.cancel()

    run_virtual(main)
    # Without "middle": head at 1.0 and tail at 2.0, and "middle" took no token.
    assert [name for name, _ in order] == ["head", "tail"]
    assert [t for _, t in order] == approx([1.0, 2.0])


@pytest.mark.parametrize("rate", [3.0, 1 / 3, 7.0, 0.1])
def test_float_time_does_not_freeze(rate: float) -> None:
    n = 2000
    times: list[float] = []

    async def main() -> None:
        bucket = TokenBucket(rate=rate, burst=1)
        with trio.fail_after(n / rate + 10):
            for _ in range(n):
                await bucket.acquire()
                times.append(trio.current_time())

    run_virtual(main)
    assert len(times) == n
    for k, t in enumerate(times):
        assert t == pytest.approx(k / rate, rel=1e-9, abs=1e-9)
    # Never faster than the rate, even by float noise accumulating.
    assert times[-1] >= (n - 1) / rate - 1e-6


def test_float_time_far_from_zero() -> None:
    times: list[float] = []

    async def main() -> None:
        await trio.sleep_until(1e9)  # big timestamps have coarse float resolution
        bucket = TokenBucket(rate=3, burst=2)
        start = trio.current_time()
        with trio.fail_after(1000):
            for _ in range(300):
                await bucket.acquire()
                times.append(trio.current_time() - start)

    run_virtual(main)
    assert len(times) == 300
    assert times[-1] == pytest.approx(298 / 3, abs=1e-5)


def test_window_admission_bound_under_contention() -> None:
    admitted: list[tuple[float, int]] = []
    rate, burst = 4.0, 6

    async def main() -> None:
        bucket = TokenBucket(rate=rate, burst=burst)

        async def client(weights: list[int], pause: float) -> None:
            for w in weights:
                await bucket.acquire(w)
                admitted.append((trio.current_time(), w))
                await trio.sleep(pause)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(client, [1, 3, 2, 6, 1, 1, 4], 0.3)
            nursery.start_soon(client, [2, 2, 5, 1, 3], 0.0)
            nursery.start_soon(client, [1] * 20, 0.1)

    run_virtual(main)
    times = sorted({t for t, _ in admitted})
    for i, start in enumerate(times):
        for end in times[i:]:
            total = sum(w for t, w in admitted if start <= t <= end)
            assert total <= burst + rate * (end - start) + 1e-6


def test_leaky_bucket_spacing() -> None:
    times: list[float] = []
    metrics = Metrics()

    async def main() -> None:
        bucket = LeakyBucket(0.1, metrics=metrics)

        async def take() -> None:
            await bucket.acquire()
            times.append(trio.current_time())

        async with trio.open_nursery() as nursery:
            for _ in range(30):
                nursery.start_soon(take)
        await trio.sleep(1.0)
        before = trio.current_time()
        assert bucket.try_acquire()
        assert not bucket.try_acquire()
        await bucket.acquire()
        times.append(before)
        times.append(trio.current_time())
        assert metrics.snapshot().counter(ADMISSIONS) == 32

    run_virtual(main)
    assert times[:30] == approx([0.1 * k for k in range(30)])
    for a, b in itertools.pairwise(times[:30]):
        assert b - a >= 0.1
    assert times[31] - times[30] >= 0.1
    assert times[31] - times[30] == pytest.approx(0.1)


def test_leaky_bucket_fifo_and_cancel() -> None:
    order: list[tuple[str, float]] = []

    async def main() -> None:
        bucket = LeakyBucket(1.0)
        assert bucket.try_acquire()

        async def take(name: str) -> None:
            await bucket.acquire()
            order.append((name, trio.current_time()))

        scope = trio.CancelScope()

        async def cancellable(name: str) -> None:
            with scope:
                await take(name)

        async with trio.open_nursery() as nursery:
            for name in ("a", "b"):
                nursery.start_soon(take, name)
                await settle()
            nursery.start_soon(cancellable, "gone")
            await settle()
            nursery.start_soon(take, "c")
            await trio.sleep(1.5)
            scope.cancel()

    run_virtual(main)
    assert order == [("a", 1.0), ("b", 2.0), ("c", 3.0)]


def test_shedding_gate_rejects_only_without_tokens() -> None:
    metrics = Metrics()

    async def main() -> None:
        gate = SheddingGate(rate=2, burst=3, metrics=metrics)
        results = [gate.try_admit() for _ in range(5)]
        assert results == [True, True, True, False, False]
        await trio.sleep(0.5)  # one token back
        assert gate.try_admit()
        assert not gate.try_admit()
        await trio.sleep(1.0)  # two tokens
        assert not gate.try_admit(3)
        assert gate.try_admit(2)
        assert gate.rejected == 4
        assert gate.admitted == 5
        snap = metrics.snapshot()
        assert snap.counter(ADMISSIONS) == 5
        assert snap.counter(REJECTIONS) == 4

    run_virtual(main)


def test_invalid_arguments() -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="rate"):
            TokenBucket(rate=0, burst=1)
        with pytest.raises(ValueError, match="burst"):
            TokenBucket(rate=1, burst=0)
        with pytest.raises(ValueError, match="interval"):
            LeakyBucket(-1)
        with pytest.raises(ValueError, match="weight"):
            await TokenBucket(rate=1, burst=2).acquire(0)

    run_virtual(main)


@pytest.mark.timeout(10)
def test_deficit_below_clock_resolution_still_advances_time() -> None:
    # Regression: a deficit so small that ``now + deficit / rate == now`` once made the head
    # waiter "sleep" until now forever, freezing virtual time. Forced here on purpose.
    async def main() -> None:
        await trio.sleep_until(1e9)  # the clock's resolution is now ~1.2e-7 s
        bucket = TokenBucket(rate=1000, burst=1)
        assert bucket.try_acquire()
        now = trio.current_time()
        bucket._tokens = 1 - 1e-6  # deficit / rate = 1e-9 s, far below one clock step
        assert now + 1e-6 / 1000 == now
        await bucket.acquire()
        assert now < trio.current_time() <= now + 1e-6
        # And a deficit within TOLERANCE counts as paid: admitted without waiting at all.
        bucket._tokens = 1 - 1e-12
        before = trio.current_time()
        await bucket.acquire()
        assert trio.current_time() == before

    run_virtual(main)


# -- boundary values (docs/patterns/rate.md) ----------------------------------------------------


def test_a_weight_above_the_burst_is_refused_at_once_and_holds_up_nobody() -> None:
    admitted: list[float] = []

    async def main() -> None:
        bucket = TokenBucket(rate=1, burst=2)
        assert bucket.try_acquire(2)  # empty now: the next token is due at t=1

        async def waiter() -> None:
            await bucket.acquire(1)
            admitted.append(trio.current_time())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            await settle()
            with trio.fail_after(0.5), pytest.raises(ValueError, match="weight"):
                await bucket.acquire(3)  # never admissible: refused, not queued
            assert trio.current_time() == 0.0
            with pytest.raises(ValueError, match="weight"):
                bucket.try_acquire(3)

    run_virtual(main)
    assert admitted == [pytest.approx(1.0)]  # the waiter behind was not held up


def test_a_gate_refuses_a_weight_above_the_burst_without_counting_it() -> None:
    async def main() -> None:
        metrics = Metrics()
        gate = SheddingGate(rate=1, burst=1, metrics=metrics)
        with pytest.raises(ValueError, match="weight"):
            gate.try_admit(2)
        snapshot = metrics.snapshot()
        assert snapshot.counter(ADMISSIONS) == 0
        assert snapshot.counter(REJECTIONS) == 0
        assert gate.try_admit(1)  # the token was not touched

    run_virtual(main)
