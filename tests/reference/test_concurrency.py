from __future__ import annotations

import pytest
import trio
import trio.testing

from reference.concurrency import ConcurrencyLimiter
from tests.reference._virtual import run_virtual


async def settle() -> None:
    """Let every task run until it blocks (before the virtual clock jumps)."""
    await trio.testing.wait_all_tasks_blocked()


def test_never_more_than_limit_hold_at_once() -> None:
    peak = 0
    inside = 0

    async def worker(limiter: ConcurrencyLimiter) -> None:
        nonlocal peak, inside
        async with limiter:
            inside += 1
            peak = max(peak, inside)
            await trio.sleep(1)
            inside -= 1

    async def main() -> float:
        limiter = ConcurrencyLimiter(3)
        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(worker, limiter)
        return trio.current_time()

    # Ten one-second jobs, three at a time: four rounds.
    assert run_virtual(main) == 4.0
    assert peak == 3


def test_slots_go_to_waiters_in_arrival_order_without_barging() -> None:
    order: list[int] = []

    async def main() -> None:
        limiter = ConcurrencyLimiter(1)
        await limiter.acquire()

        async def waiter(k: int) -> None:
            async with limiter:
                order.append(k)

        async with trio.open_nursery() as nursery:
            for k in range(5):
                nursery.start_soon(waiter, k)
                await settle()  # k is in line before k + 1 arrives
            assert limiter.waiting == 5
            limiter.release()
            # The slot went to waiter 0 at the release itself: a newcomer finds none.
            assert limiter.holders == 1
            nursery.start_soon(waiter, 99)
        assert limiter.holders == 0

    run_virtual(main)
    assert order == [0, 1, 2, 3, 4, 99]


def test_a_released_slot_is_handed_over_at_once() -> None:
    granted: list[float] = []

    async def main() -> None:
        limiter = ConcurrencyLimiter(2)
        async with trio.open_nursery() as nursery:
            await limiter.acquire()

            async def other() -> None:
                async with limiter:
                    await trio.sleep(10)

            nursery.start_soon(other)
            await settle()

            async def waiter() -> None:
                async with limiter:
                    granted.append(trio.current_time())

            nursery.start_soon(waiter)
            await settle()
            await trio.sleep(2.5)
            assert granted == []
            limiter.release()
            await settle()
            assert granted == [2.5]

    run_virtual(main)


def test_a_cancelled_waiter_takes_no_slot() -> None:
    async def main() -> None:
        limiter = ConcurrencyLimiter(1)
        await limiter.acquire()
        got: list[str] = []

        async def waiter(name: str, scope: trio.CancelScope) -> None:
            with scope:
                async with limiter:
                    got.append(name)

        first, second = trio.CancelScope(), trio.CancelScope()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter, "first", first)
            await settle()
            nursery.start_soon(waiter, "second", second)
            await settle()
            first.cancel()
            await settle()
            assert limiter.waiting == 1
            limiter.release()
        assert got == ["second"]
        assert limiter.holders == 0
        assert limiter.waiting == 0

    run_virtual(main)


def test_a_holder_cancelled_inside_its_block_returns_its_slot() -> None:
    async def main() -> None:
        limiter = ConcurrencyLimiter(1)
        scope = trio.CancelScope()

        async def holder() -> None:
            with scope:
                async with limiter:
                    await trio.sleep_forever()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(holder)
            await settle()
            assert limiter.holders == 1
            scope.cancel()
        assert limiter.holders == 0
        with trio.move_on_after(1) as timeout:
            async with limiter:
                pass
        assert not timeout.cancelled_caught

    run_virtual(main)


def test_a_cancelled_acquire_that_never_waited_takes_nothing() -> None:
    async def main() -> None:
        limiter = ConcurrencyLimiter(1)
        with trio.CancelScope() as scope:
            scope.cancel()
            await limiter.acquire()
        assert limiter.holders == 0

    run_virtual(main)


def test_release_by_a_task_that_holds_no_slot_raises_and_adds_none() -> None:
    async def main() -> None:
        limiter = ConcurrencyLimiter(1)
        with pytest.raises(RuntimeError, match="holds no slot"):
            limiter.release()
        async with trio.open_nursery() as nursery:

            async def holder() -> None:
                async with limiter:
                    await trio.sleep(5)

            nursery.start_soon(holder)
            await settle()
            # Another task cannot return the holder's slot, nor make a second one.
            with pytest.raises(RuntimeError, match="holds no slot"):
                limiter.release()
            assert limiter.holders == 1
            with trio.move_on_after(1):
                await limiter.acquire()
            assert trio.current_time() == 1.0
            assert limiter.holders == 1

    run_virtual(main)


def test_a_task_cannot_acquire_twice() -> None:
    async def main() -> None:
        limiter = ConcurrencyLimiter(2)
        await limiter.acquire()
        with pytest.raises(RuntimeError, match="already holds"):
            await limiter.acquire()
        assert limiter.holders == 1

    run_virtual(main)


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "2"])
def test_bad_limits_are_refused(limit: object) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="limit"):
            ConcurrencyLimiter(limit)  # type: ignore[arg-type]

    run_virtual(main)
