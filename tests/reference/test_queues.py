from __future__ import annotations

import pytest
import trio
import trio.testing

from reference.instrumentation import Metrics
from reference.queues import BoundedQueue, DroppingQueue, DropPolicy, QueueClosed, UnboundedQueue
from tests.reference._virtual import run_virtual


def test_bounded_fifo_and_nowait() -> None:
    async def main() -> None:
        q: BoundedQueue[int] = BoundedQueue(3)
        assert q.capacity == 3
        for i in range(3):
            q.put_nowait(i)
        with pytest.raises(trio.WouldBlock):
            q.put_nowait(99)
        assert len(q) == 3
        assert [q.get_nowait() for _ in range(3)] == [0, 1, 2]
        with pytest.raises(trio.WouldBlock):
            q.get_nowait()
        assert q.stats() == {"length": 0, "puts": 3, "gets": 3, "drops": 0}

    run_virtual(main)


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        BoundedQueue(0)
    with pytest.raises(ValueError, match="capacity"):
        DroppingQueue(0)


def test_backpressure_put_blocks_until_space_same_instant() -> None:
    async def main() -> None:
        q: BoundedQueue[str] = BoundedQueue(1)
        await q.put("a")
        done_at: list[float] = []

        async def producer() -> None:
            await q.put("b")  # full: waits
            done_at.append(trio.current_time())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(producer)
            await trio.sleep(1.0)
            assert done_at == []  # still blocked while full
            assert len(q) == 1
            assert await q.get() == "a"
            # The parked item moved in at the same instant the space appeared.
            assert len(q) == 1
            assert q.stats()["puts"] == 2
        assert done_at == [1.0]
        assert q.get_nowait() == "b"

    run_virtual(main)


def test_blocked_putters_served_fifo() -> None:
    async def main() -> None:
        q: BoundedQueue[int] = BoundedQueue(1)
        q.put_nowait(0)
        async with trio.open_nursery() as nursery:
            for i in range(1, 5):
                nursery.start_soon(q.put, i)
                await trio.sleep(0.1)  # park them in a known order
            got = [await q.get() for _ in range(5)]
        assert got == [0, 1, 2, 3, 4]

    run_virtual(main)


def test_get_waits_for_put_and_handoff_counts_exactly() -> None:
    async def main() -> None:
        q: BoundedQueue[int] = BoundedQueue(2)
        got: list[tuple[float, int]] = []

        async def getter() -> None:
            got.append((trio.current_time(), await q.get()))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(getter)
            await trio.sleep(2.0)
            q.put_nowait(7)
            # Handed straight to the parked getter: counted as put and get at once.
            assert q.stats() == {"length": 0, "puts": 1, "gets": 1, "drops": 0}
        assert got == [(0.0, 7)]

    run_virtual(main)


def test_close_semantics() -> None:
    async def main() -> None:
        q: BoundedQueue[int] = BoundedQueue(1)
        q.put_nowait(1)
        errors: list[BaseException] = []

        async def blocked_putter() -> None:
            try:
                await q.put(2)
            except QueueClosed as exc:
                errors.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(blocked_putter)
            await trio.sleep(1)
            q.close()
            q.close()  # idempotent
        assert len(errors) == 1
        assert q.closed
        with pytest.raises(QueueClosed):
            q.put_nowait(3)
        with pytest.raises(QueueClosed):
            await q.put(3)
        # Getters drain what remains (the blocked item was not enqueued), then end.
        assert await q.get() == 1
        with pytest.raises(trio.EndOfChannel):
            await q.get()
        with pytest.raises(trio.EndOfChannel):
            q.get_nowait()
        assert q.stats()["puts"] == 1

    run_virtual(main)


def test_close_wakes_parked_getter_with_end_of_channel() -> None:
    async def main() -> None:
        q: UnboundedQueue[int] = UnboundedQueue()
        ended_at: list[float] = []

        async def getter() -> None:
            with pytest.raises(trio.EndOfChannel):
                await q.get()
            ended_at.append(trio.current_time())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(getter)
            await trio.sleep(3)
            q.close()
        assert ended_at == [3.0]

    run_virtual(main)


def test_async_for_ends_at_close() -> None:
    async def main() -> None:
        q: BoundedQueue[int] = BoundedQueue(4)
        for i in range(3):
            await q.put(i)
        q.close()
        assert [i async for i in q] == [0, 1, 2]

    run_virtual(main)


def test_cancelled_put_enqueues_nothing() -> None:
    async def main() -> None:
        q: BoundedQueue[str] = BoundedQueue(1)
        q.put_nowait("kept")
        with trio.move_on_after(1.0) as scope:
            await q.put("lost")
        assert scope.cancelled_caught
        assert trio.current_time() == 1.0
        assert len(q) == 1
        assert q.get_nowait() == "kept"
        with pytest.raises(trio.WouldBlock):
            q.get_nowait()  # the cancelled putter did not slip in when space appeared
        assert q.stats()["puts"] == 1

    run_virtual(main)


def test_cancelled_get_removes_nothing() -> None:
    async def main() -> None:
        q: BoundedQueue[str] = BoundedQueue(2)
        with trio.move_on_after(1.0) as scope:
            await q.get()
        assert scope.cancelled_caught
        q.put_nowait("x")  # not handed to the cancelled getter
        assert len(q) == 1
        assert q.get_nowait() == "x"
        # A get cancelled before it starts takes nothing either.
        q.put_nowait("y")
        with trio.CancelScope() as cs:
            cs.cancel()
            await q.get()
        assert q.get_nowait() == "y"
        assert q.stats()["gets"] == 2

    run_virtual(main)


def test_unbounded_never_blocks() -> None:
    async def main() -> None:
        q: UnboundedQueue[int] = UnboundedQueue()
        assert q.capacity is None
        for i in range(10_000):
            await q.put(i)
        assert trio.current_time() == 0.0
        assert len(q) == 10_000
        assert q.get_nowait() == 0

    run_virtual(main)


def test_dropping_newest_refuses_and_counts() -> None:
    async def main() -> None:
        metrics = Metrics()
        q: DroppingQueue[int] = DroppingQueue(2, DropPolicy.NEWEST, metrics=metrics)
        assert q.metrics is metrics
        assert [q.offer(i) for i in range(5)] == [True, True, False, False, False]
        q.put_nowait(5)  # behaves like offer: dropped, never raises
        await q.put(6)  # never blocks
        assert trio.current_time() == 0.0
        assert q.drops == 5
        assert metrics.snapshot().counter("drops") == 5
        assert [q.get_nowait(), q.get_nowait()] == [0, 1]
        assert q.stats() == {"length": 0, "puts": 2, "gets": 2, "drops": 5}

    run_virtual(main)


def test_dropping_oldest_evicts_head() -> None:
    async def main() -> None:
        q: DroppingQueue[int] = DroppingQueue(3, DropPolicy.OLDEST)
        assert [q.offer(i) for i in range(7)] == [True] * 7
        assert q.drops == 4
        assert q.metrics.snapshot().counter("drops") == 4
        assert [q.get_nowait() for _ in range(3)] == [4, 5, 6]
        assert q.stats() == {"length": 0, "puts": 7, "gets": 3, "drops": 4}
        q.close()
        with pytest.raises(QueueClosed):
            q.offer(9)

    run_virtual(main)


def test_dropping_default_policy_is_newest() -> None:
    assert DroppingQueue[int](1).policy is DropPolicy.NEWEST


def test_queue_length_gauge() -> None:
    async def main() -> None:
        q: BoundedQueue[int] = BoundedQueue(5)
        q.put_nowait(1)
        q.put_nowait(2)
        assert q.metrics.snapshot().gauges["queue_length"] == 2.0

    run_virtual(main)
