from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import aclosing

import pytest
import trio
import trio.testing

from reference.ordering import Reorderer, ordered_map
from reference.queues import QueueClosed
from tests.reference._virtual import run_virtual


async def settle() -> None:
    """Let every task run until it blocks (before the virtual clock jumps)."""
    await trio.testing.wait_all_tasks_blocked()


def test_out_of_order_arrivals_emitted_in_order_at_arrival_of_last_predecessor() -> None:
    # (arrival time, seq)
    arrivals = [(1.0, 2), (2.0, 0), (3.0, 3), (4.0, 1), (5.0, 5), (6.0, 4)]
    got: list[tuple[int, str, float]] = []

    async def main() -> None:
        r: Reorderer[str] = Reorderer(window=10)

        async def producer() -> None:
            for at, seq in arrivals:
                await trio.sleep_until(at)
                await r.put(seq, f"item{seq}")
            r.close()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(producer)
            async for seq, item in r:
                got.append((seq, item, trio.current_time()))
        assert r.pending == 0

    run_virtual(main)
    assert got == [
        (0, "item0", 2.0),
        (1, "item1", 4.0),
        (2, "item2", 4.0),
        (3, "item3", 4.0),
        (4, "item4", 6.0),
        (5, "item5", 6.0),
    ]


def test_random_permutation_is_restored() -> None:
    rng = random.Random(42)
    seqs = list(range(200))
    rng.shuffle(seqs)

    async def main() -> list[int]:
        r: Reorderer[int] = Reorderer(window=200, start=0)
        for seq in seqs:
            await r.put(seq, seq * 10)
        r.close()
        out = []
        async for seq, item in r:
            assert item == seq * 10
            out.append(seq)
        return out

    assert run_virtual(main) == list(range(200))


def test_window_backpressure() -> None:
    log: list[tuple[str, int, float]] = []

    async def main() -> None:
        r: Reorderer[int] = Reorderer(window=3, start=10)
        assert r.delivered == 10

        async def put(seq: int) -> None:
            await r.put(seq, seq)
            log.append(("put", seq, trio.current_time()))

        async with trio.open_nursery() as nursery:
            for seq in (11, 12, 13, 14):
                nursery.start_soon(put, seq)
            await settle()
            # 11 and 12 fit (< 10 + 3); 13 and 14 must wait for the consumer.
            assert sorted(s for _, s, _ in log) == [11, 12]
            assert r.pending == 2
            await trio.sleep(1)
            await r.put(10, 10)
            assert await r.get() == (10, 10)
            await settle()
            assert sorted(s for _, s, _ in log) == [11, 12, 13]  # 14 >= 11 + 3 still waits
            assert await r.get() == (11, 11)
            await settle()
            assert sorted(s for _, s, _ in log) == [11, 12, 13, 14]
            assert r.pending == 3
        assert [t for _, s, t in log if s >= 13] == [1.0, 1.0]

    run_virtual(main)


def test_cancelled_put_loses_nothing_and_can_be_repeated() -> None:
    async def main() -> None:
        r: Reorderer[str] = Reorderer(window=2)
        await r.put(1, "b")
        with trio.move_on_after(1) as scope:
            await r.put(2, "c")  # 2 >= 0 + 2: blocks
        assert scope.cancelled_caught
        assert r.pending == 1
        await r.put(0, "a")
        assert await r.get() == (0, "a")
        await r.put(2, "c")  # the cancelled put left no trace, so this is not a duplicate
        assert await r.get() == (1, "b")
        assert await r.get() == (2, "c")
        # A cancelled get takes nothing either.
        with trio.move_on_after(1):
            await r.get()
        await r.put(3, "d")
        assert await r.get() == (3, "d")

    run_virtual(main)


def test_duplicates_and_close() -> None:
    async def main() -> None:
        r: Reorderer[str] = Reorderer(window=4)
        await r.put(0, "a")
        await r.put(2, "c")
        with pytest.raises(ValueError, match="already"):
            await r.put(2, "again")
        assert await r.get() == (0, "a")
        with pytest.raises(ValueError, match="already"):
            await r.put(0, "delivered already")

        blocked: list[BaseException] = []

        async def blocked_put() -> None:
            try:
                await r.put(9, "far ahead")
            except QueueClosed as exc:
                blocked.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(blocked_put)
            await settle()
            r.close()
        assert len(blocked) == 1
        with pytest.raises(QueueClosed):
            await r.put(1, "b")
        # 2 is stranded behind the gap at 1: the stream ends, and pending shows it.
        with pytest.raises(trio.EndOfChannel):
            await r.get()
        assert r.pending == 1
        with pytest.raises(ValueError, match="window"):
            Reorderer(window=0)

    run_virtual(main)


def test_close_wakes_waiting_getter() -> None:
    async def main() -> None:
        r: Reorderer[int] = Reorderer(window=2)
        ended_at: list[float] = []

        async def consumer() -> None:
            async for _ in r:
                pass
            ended_at.append(trio.current_time())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer)
            await trio.sleep(3)
            r.close()
        assert ended_at == [3.0]

    run_virtual(main)


# ordered_map runs on reference.pool.WorkerPool.


async def _delayed_square(x: int) -> int:
    # Later items finish sooner, so completion order is the reverse of input order.
    await trio.sleep(1.0 + (10 - x) * 0.1)
    return x * x


def test_ordered_map_restores_order_and_bounds_in_flight() -> None:
    in_flight = 0
    peak = 0

    async def handler(x: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await _delayed_square(x)
        finally:
            in_flight -= 1

    async def main() -> list[int]:
        out = []
        async with ordered_map(handler, range(10), workers=4, window=3) as results:
            async for value in results:
                out.append(value)
        return out

    assert run_virtual(main) == [x * x for x in range(10)]
    assert peak == 3  # the window caps concurrency below the 4 workers


def test_ordered_map_direct_iteration_and_early_exit() -> None:
    started: list[int] = []

    async def handler(x: int) -> int:
        started.append(x)
        await trio.sleep(1)
        return -x

    async def main() -> None:
        async with aclosing(ordered_map(handler, range(5), workers=2, window=2).__aiter__()) as it:
            assert [v async for v in it] == [0, -1, -2, -3, -4]
        # Leaving early stops everything: no task outlives the block, no more jobs start.
        async with ordered_map(handler, range(1000), workers=2, window=4) as results:
            async for value in results:
                if value == -2:
                    break
        now = trio.current_time()
        count = len(started)
        await trio.sleep(100)
        assert len(started) == count < 20
        assert trio.current_time() == now + 100

    run_virtual(main)


def test_ordered_map_handler_error_raised_in_order() -> None:
    class Bad(Exception):
        pass

    bad = Bad()

    async def handler(x: int) -> int:
        await trio.sleep(5 - x)  # item 3 fails before items 0..2 have finished
        if x == 3:
            raise bad
        return x

    async def main() -> list[int]:
        out: list[int] = []

        async def consume() -> None:
            async with ordered_map(handler, range(6), workers=6, window=6) as results:
                async for value in results:
                    out.append(value)

        with pytest.raises(Bad) as info:
            await consume()
        assert info.value is bad
        return out

    assert run_virtual(main) == [0, 1, 2]


def test_ordered_map_items_error_surfaces_unwrapped() -> None:
    class BadItems(Exception):
        pass

    bad = BadItems()

    def items() -> Iterator[int]:
        yield 0
        yield 1
        raise bad

    async def handler(x: int) -> int:
        await trio.sleep(10)
        return x

    async def consume() -> list[int]:
        return [v async for v in ordered_map(handler, items(), workers=2, window=4)]

    async def main() -> None:
        with pytest.raises(BadItems) as info:
            await consume()
        assert info.value is bad
        assert trio.current_time() == 0.0  # failed at once, no waiting for the handlers

    run_virtual(main)
