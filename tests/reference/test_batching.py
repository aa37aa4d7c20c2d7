from __future__ import annotations

from collections import Counter

import pytest
import trio
import trio.testing

from reference.batching import BatchedWorkerPool, Batcher
from reference.pool import PoolClosed, Result
from reference.queues import QueueClosed
from tests.reference._virtual import run_virtual


async def collect(batcher: Batcher[int], out: list[tuple[float, list[int]]]) -> None:
    async for batch in batcher.batches:
        out.append((trio.current_time(), batch))


def test_size_flush_then_age_flush_of_remainder() -> None:
    async def main() -> None:
        out: list[tuple[float, list[int]]] = []
        async with trio.open_nursery() as nursery, Batcher[int](3, 1.0) as b:
            nursery.start_soon(collect, b, out)
            for i in range(7):
                await b.put(i)
            await trio.sleep(5)
        assert out == [(0.0, [0, 1, 2]), (0.0, [3, 4, 5]), (1.0, [6])]
        assert b.metrics.snapshot().counter("batches") == 3

    run_virtual(main)


def test_age_flush_exactly_max_age_after_first_item() -> None:
    async def main() -> None:
        out: list[tuple[float, list[int]]] = []
        async with trio.open_nursery() as nursery, Batcher[int](10, 1.0) as b:
            nursery.start_soon(collect, b, out)
            await trio.sleep(2.0)  # an idle batcher does not flush empty batches
            await b.put(1)  # first item at t=2.0
            await trio.sleep(0.3)
            await b.put(2)
            await trio.sleep(0.69)
            assert out == []  # not yet: 0.99 s old
            await trio.sleep(0.5)  # t=3.49
            await b.put(3)  # starts the next batch; its age counts from t=3.49
            await trio.sleep(5)
        assert out == [(3.0, [1, 2]), (pytest.approx(4.49), [3])]

    run_virtual(main)


def test_close_flushes_remainder_and_ends() -> None:
    async def main() -> None:
        out: list[tuple[float, list[int]]] = []
        async with trio.open_nursery() as nursery, Batcher[int](10, 100.0) as b:
            nursery.start_soon(collect, b, out)
            await b.put(1)
            await b.put(2)
            await trio.sleep(1)
            b.close()
            with pytest.raises(QueueClosed):
                await b.put(3)
        assert out == [(1.0, [1, 2])]

    run_virtual(main)


def test_cancelled_put_adds_nothing() -> None:
    async def main() -> None:
        b = Batcher[int](2, 10.0, buffer=0)
        async with b:
            await b.put(1)
            await b.put(2)  # full batch: the batcher now waits to hand it downstream
            with trio.move_on_after(1) as scope:
                await b.put(3)  # the batcher is busy: this put waits and is cancelled
            assert scope.cancelled_caught
            assert await b.batches.receive() == [1, 2]
            b.close()
            assert [batch async for batch in b.batches] == []

    run_virtual(main)


def test_batcher_validation() -> None:
    with pytest.raises(ValueError, match="max_size"):
        Batcher[int](0, 1.0)
    with pytest.raises(ValueError, match="max_age"):
        Batcher[int](1, 0.0)


async def square(x: int) -> int:
    return x * x


def test_batched_pool_delivers_lists_every_job_once() -> None:
    async def main() -> None:
        async with BatchedWorkerPool(
            square, workers=3, jobs_buffer=16, results_buffer=4, batch=5
        ) as pool:

            async def produce() -> None:
                await pool.submit_many((i, i) for i in range(100))
                pool.close()

            batches: list[list[Result[int]]] = []
            async with trio.open_nursery() as nursery:
                nursery.start_soon(produce)
                async for batch in pool.results:
                    batches.append(batch)
        flat = [r for batch in batches for r in batch]
        assert sorted((r.id, r.value) for r in flat) == [(i, i * i) for i in range(100)]
        assert all(1 <= len(batch) <= 5 for batch in batches)
        assert any(len(batch) > 1 for batch in batches)  # it did batch
        snap = pool.metrics.snapshot()
        assert snap.counter("jobs_submitted") == 100
        assert snap.counter("jobs_completed") == 100

    run_virtual(main)


def test_batched_pool_errors_and_timeouts() -> None:
    async def job(x: int) -> int:
        if x < 0:
            raise ValueError(x)
        await trio.sleep(x)
        return x

    async def main() -> None:
        async with BatchedWorkerPool(job, workers=1, job_timeout=2.0) as pool:
            await pool.submit_many([("a", 1), ("b", -1), ("c", 3)])
            pool.close()
            got = {r.id: r.status async for batch in pool.results for r in batch}
        assert got == {"a": "ok", "b": "error", "c": "timeout"}
        snap = pool.metrics.snapshot()
        assert (snap.counter("jobs_completed"), snap.counter("jobs_failed")) == (1, 1)
        assert snap.counter("jobs_timed_out") == 1

    run_virtual(main)


def test_batched_pool_cancel_mid_batch_exact_accounting() -> None:
    starts: list[tuple[float, int]] = []

    async def job(x: int) -> int:
        starts.append((trio.current_time(), x))
        await trio.sleep(1)
        return x

    async def main() -> None:
        received: list[Result[int]] = []
        async with BatchedWorkerPool(job, workers=2, results_buffer=10, batch=4) as pool:
            await pool.submit_many((i, i) for i in range(10))

            async def consume() -> None:
                async for batch in pool.results:
                    received.extend(batch)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(consume)
                await trio.sleep(1.5)  # each worker has finished one job of its batch
                pool.cancel()
            with pytest.raises(PoolClosed):
                await pool.submit(99, 99)
        assert received == []  # no batch completed, so nothing was sent
        assert Counter(r.id for r in pool.undelivered) == Counter(range(10))
        statuses = Counter(r.status for r in pool.undelivered)
        assert statuses == Counter({"ok": 2, "cancelled": 8})
        assert max(t for t, _ in starts) < 1.5
        assert len(starts) == 4
        assert pool.metrics.snapshot().counter("jobs_cancelled") == 8

    run_virtual(main)


def test_batched_pool_validation() -> None:
    with pytest.raises(ValueError, match="batch"):
        BatchedWorkerPool(square, workers=1, batch=0)
