from __future__ import annotations

from collections import Counter
from collections.abc import Hashable

import pytest
import trio
import trio.testing

from reference.instrumentation import Metrics
from reference.pool import Job, PoolClosed, Result, WorkerPool
from reference.queues import QueueClosed
from tests.reference._virtual import run_virtual


class TaskCounter(trio.abc.Instrument):
    """Counts tasks spawned and exited while installed: equal means nothing leaked."""

    def __init__(self) -> None:
        self.spawned = 0
        self.exited = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.spawned += 1

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self.exited += 1


async def square(x: int) -> int:
    return x * x


def ids_once(*groups: list[Result[int]]) -> Counter[Hashable]:
    return Counter(r.id for group in groups for r in group)


def test_guide_section3_squares_through_three_workers() -> None:
    async def main() -> None:
        async with WorkerPool(square, workers=3, jobs_buffer=8, results_buffer=8) as pool:
            for i in range(1, 6):
                await pool.submit(i, i)
            pool.close()
            got = {r.id: r.value async for r in pool.results}
            with pytest.raises(trio.EndOfChannel):
                await pool.results.receive()  # ended, and stays ended
        assert got == {1: 1, 2: 4, 3: 9, 4: 16, 5: 25}
        assert pool.undelivered == []
        snap = pool.metrics.snapshot()
        assert snap.counter("jobs_submitted") == 5
        assert snap.counter("jobs_completed") == 5

    run_virtual(main)


def test_job_and_result_types() -> None:
    job = Job(1, "p")
    assert (job.id, job.payload) == (1, "p")
    r: Result[int] = Result(1, "ok", 3)
    assert (r.error, r.value) == (None, 3)
    with pytest.raises(AttributeError):
        r.status = "error"  # type: ignore[misc]
    assert issubclass(PoolClosed, QueueClosed)


def test_workers_run_concurrently_and_results_end_after_last_worker() -> None:
    async def sleepy(x: float) -> float:
        await trio.sleep(x)
        return x

    async def main() -> None:
        async with WorkerPool(sleepy, workers=3) as pool:
            for i, d in enumerate([1.0, 2.0, 3.0]):
                await pool.submit(i, d)
            pool.close()
            seen = [(trio.current_time(), r.value) async for r in pool.results]
            ended_at = trio.current_time()
        assert seen == [(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]
        assert ended_at == 3.0

    run_virtual(main)


def test_submit_backpressure_and_nowait() -> None:
    async def slow(x: int) -> int:
        await trio.sleep(1)
        return x

    async def main() -> None:
        async with WorkerPool(slow, workers=1, jobs_buffer=1, results_buffer=10) as pool:
            await pool.submit(0, 0)  # taken by the worker at t=0
            await trio.sleep(0.5)
            pool.submit_nowait(1, 1)  # fills the buffer
            with pytest.raises(trio.WouldBlock):
                pool.submit_nowait(2, 2)
            await pool.submit(2, 2)  # waits until the worker takes job 1 at t=1
            assert trio.current_time() == 1.0
            pool.close()
            got = [r.id async for r in pool.results]
        assert got == [0, 1, 2]
        assert trio.current_time() == 3.0

    run_virtual(main)


def test_cancelled_submit_loses_nothing() -> None:
    ran: list[int] = []

    async def slow(x: int) -> int:
        ran.append(x)
        await trio.sleep(1)
        return x

    async def main() -> None:
        async with WorkerPool(slow, workers=1, jobs_buffer=1) as pool:
            await pool.submit(0, 0)
            await pool.submit(1, 1)
            with trio.move_on_after(0.5) as scope:
                await pool.submit(2, 2)  # blocked: buffer full
            assert scope.cancelled_caught
            pool.close()
            got = [r.id async for r in pool.results]
        assert got == [0, 1]
        assert ran == [0, 1]  # the cancelled submission never ran
        assert pool.metrics.snapshot().counter("jobs_submitted") == 2

    run_virtual(main)


def test_submit_after_close_or_cancel_raises_pool_closed() -> None:
    async def main() -> None:
        async with WorkerPool(square, workers=1) as pool:
            pool.close()
            with pytest.raises(PoolClosed):
                await pool.submit(1, 1)
            with pytest.raises(PoolClosed):
                pool.submit_nowait(1, 1)
        async with WorkerPool(square, workers=1) as pool2:
            pool2.cancel()
            with pytest.raises(PoolClosed):
                await pool2.submit(1, 1)
            assert pool2.cancelled

    run_virtual(main)


def test_blocked_submit_wakes_with_pool_closed_on_cancel() -> None:
    async def forever(x: int) -> int:
        await trio.sleep_forever()
        raise AssertionError

    async def main() -> None:
        errors: list[BaseException] = []
        async with WorkerPool(forever, workers=1, jobs_buffer=1) as pool:
            await pool.submit(0, 0)
            await pool.submit(1, 1)

            async def blocked() -> None:
                try:
                    await pool.submit(2, 2)
                except PoolClosed as exc:
                    errors.append(exc)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(blocked)
                await trio.sleep(1)
                pool.cancel()
        assert len(errors) == 1
        assert sorted((r.id, r.status) for r in pool.undelivered) == [
            (0, "cancelled"),
            (1, "cancelled"),
        ]

    run_virtual(main)


def test_cancel_mid_stream_exact_accounting_and_no_leak() -> None:
    starts: list[tuple[float, int]] = []

    async def job(x: int) -> int:
        starts.append((trio.current_time(), x))
        await trio.sleep(1)
        return x

    async def main() -> None:
        counter = TaskCounter()
        trio.lowlevel.add_instrument(counter)
        received: list[Result[int]] = []
        async with WorkerPool(job, workers=2, jobs_buffer=10, results_buffer=10) as pool:
            for i in range(8):
                await pool.submit(i, i)

            async def consume() -> None:
                async for r in pool.results:
                    received.append(r)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(consume)
                await trio.sleep(1.5)
                pool.cancel()
                cancelled_at = trio.current_time()
        exited_at = trio.current_time()
        trio.lowlevel.remove_instrument(counter)
        assert exited_at == cancelled_at == 1.5  # cancel is immediate
        assert counter.spawned == counter.exited  # every task the pool started exited
        # Jobs 0,1 finished at t=1; 2,3 started at t=1 and were cut short; 4..7 never ran.
        assert sorted(r.id for r in received) == [0, 1]
        assert all(r.status == "ok" for r in received)
        assert sorted((r.id, r.status) for r in pool.undelivered) == [
            (i, "cancelled") for i in range(2, 8)
        ]
        assert ids_once(received, pool.undelivered) == Counter(range(8))
        assert max(t for t, _ in starts) < 1.5  # no job started after cancel
        assert sorted(x for _, x in starts) == [0, 1, 2, 3]
        snap = pool.metrics.snapshot()
        assert snap.counter("jobs_submitted") == 8
        assert snap.counter("jobs_completed") == 2
        assert snap.counter("jobs_cancelled") == 6

    run_virtual(main)


def test_finished_result_blocked_on_send_keeps_real_outcome() -> None:
    async def job(x: int) -> int:
        await trio.sleep(1)
        if x == 1:
            raise ValueError("bad")
        return x * 10

    async def main() -> None:
        # results_buffer=0 and nobody reads: workers finish at t=1 and block sending.
        async with WorkerPool(job, workers=2, results_buffer=0) as pool:
            await pool.submit(0, 0)
            await pool.submit(1, 1)
            await pool.submit(2, 2)
            await trio.sleep(2)
            pool.cancel()
        by_id = {r.id: r for r in pool.undelivered}
        assert sorted(by_id) == [0, 1, 2]
        assert (by_id[0].status, by_id[0].value) == ("ok", 0)
        assert by_id[1].status == "error"
        assert isinstance(by_id[1].error, ValueError)
        assert by_id[2].status == "cancelled"  # queued behind the blocked workers
        with pytest.raises(trio.EndOfChannel):
            pool.results.receive_nowait()
        snap = pool.metrics.snapshot()
        assert snap.counter("jobs_completed") == 1
        assert snap.counter("jobs_failed") == 1
        assert snap.counter("jobs_cancelled") == 1

    run_virtual(main)


def test_no_job_starts_after_cancel_even_when_just_handed_over() -> None:
    started: list[int] = []

    async def job(x: int) -> int:
        started.append(x)
        return x

    async def main() -> None:
        async with WorkerPool(job, workers=1) as pool:
            await trio.sleep(1)  # the worker is parked waiting for a job
            pool.submit_nowait(0, 0)  # handed directly to the parked worker...
            pool.cancel()  # ...and cancelled before it could run
        assert started == []
        assert [(r.id, r.status) for r in pool.undelivered] == [(0, "cancelled")]

    run_virtual(main)


def test_per_job_timeout() -> None:
    async def job(d: float) -> float:
        await trio.sleep(d)
        return d

    async def main() -> None:
        async with WorkerPool(job, workers=3, job_timeout=1.0) as pool:
            await pool.submit("fast", 0.5)
            await pool.submit("slow", 5.0)
            await pool.submit("edge", 1.0)
            pool.close()
            got = {r.id: (r.status, r.value, trio.current_time()) async for r in pool.results}
        assert got["fast"] == ("ok", 0.5, 0.5)
        assert got["slow"] == ("timeout", None, 1.0)
        assert got["edge"][0] == "timeout"  # the timer fires at 1.0, the sleep would too
        assert pool.metrics.snapshot().counter("jobs_timed_out") == 2

    run_virtual(main)


def test_deadline_cancels_pool() -> None:
    async def job(x: int) -> int:
        await trio.sleep(1)
        return x

    async def main() -> None:
        await trio.sleep(10)  # the deadline is relative to entering the block
        async with WorkerPool(job, workers=1, deadline=2.5) as pool:
            for i in range(5):
                await pool.submit(i, i)
            pool.close()
            got = [(trio.current_time(), r.id) async for r in pool.results]
            ended_at = trio.current_time()
        assert got == [(11.0, 0), (12.0, 1)]
        assert ended_at == 12.5
        assert sorted((r.id, r.status) for r in pool.undelivered) == [
            (i, "cancelled") for i in range(2, 5)
        ]
        assert pool.cancelled

    run_virtual(main)


def test_error_results_do_not_kill_worker() -> None:
    async def job(x: int) -> int:
        if x % 2:
            raise ValueError(x)
        return x

    async def main() -> None:
        async with WorkerPool(job, workers=1) as pool:
            for i in range(6):
                await pool.submit(i, i)
            pool.close()
            got = [r async for r in pool.results]
        assert [r.id for r in got] == list(range(6))  # one worker: in order
        errors = [r for r in got if r.status == "error"]
        assert [r.id for r in errors] == [1, 3, 5]
        assert all(isinstance(r.error, ValueError) and r.value is None for r in errors)
        assert pool.metrics.snapshot().counter("jobs_failed") == 3
        assert pool.metrics.snapshot().counter("jobs_completed") == 3

    run_virtual(main)


def test_graceful_drain_on_close_runs_queued_jobs() -> None:
    async def job(x: int) -> int:
        await trio.sleep(1)
        return x

    async def main() -> None:
        async with WorkerPool(job, workers=2, jobs_buffer=10) as pool:
            for i in range(6):
                pool.submit_nowait(i, i)
            pool.close()
            got = sorted([r.id async for r in pool.results])
            assert trio.current_time() == 3.0
        assert got == list(range(6))
        assert pool.undelivered == []

    run_virtual(main)


def test_leaving_block_closes_and_waits_for_workers() -> None:
    async def job(x: int) -> int:
        await trio.sleep(2)
        return x

    async def main() -> None:
        async with WorkerPool(job, workers=1, results_buffer=5) as pool:
            await pool.submit(0, 0)
            await pool.submit(1, 1)
        assert trio.current_time() == 4.0  # both ran: a graceful drain, not a cancel
        assert [r.id for r in [pool.results.receive_nowait(), pool.results.receive_nowait()]] == [
            0,
            1,
        ]
        with pytest.raises(trio.EndOfChannel):
            pool.results.receive_nowait()

    run_virtual(main)


def test_body_exception_cancels_and_accounts() -> None:
    async def job(x: int) -> int:
        await trio.sleep(10)
        return x

    async def main() -> None:
        pool = WorkerPool(job, workers=1)

        async def use_pool() -> None:
            async with pool:
                await pool.submit(0, 0)
                await pool.submit(1, 1)
                await trio.sleep(1)
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await use_pool()  # the body's own exception, not an ExceptionGroup
        assert trio.current_time() == 1.0
        assert sorted((r.id, r.status) for r in pool.undelivered) == [
            (0, "cancelled"),
            (1, "cancelled"),
        ]

    run_virtual(main)


def test_enclosing_cancel_scope_accounts_every_job() -> None:
    async def job(x: int) -> int:
        await trio.sleep(1)
        return x

    async def main() -> None:
        pool = WorkerPool(job, workers=2, results_buffer=10)
        with trio.move_on_after(1.5):
            async with pool:
                for i in range(5):
                    await pool.submit(i, i)
                await trio.sleep_forever()
        received = [pool.results.receive_nowait() for _ in range(2)]
        with pytest.raises(trio.EndOfChannel):
            pool.results.receive_nowait()
        assert ids_once(received, pool.undelivered) == Counter(range(5))

    run_virtual(main)


def test_metrics_counters_and_gauges_agree() -> None:
    async def job(x: int) -> int:
        await trio.sleep(x)
        if x == 3:
            raise ValueError
        return x

    async def main() -> None:
        metrics = Metrics()
        async with WorkerPool(
            job, workers=2, job_timeout=3.5, metrics=metrics, results_buffer=20
        ) as pool:
            assert pool.metrics is metrics
            for x in [1, 1, 3, 4, 5, 5]:
                await pool.submit(object(), x)
            await trio.sleep(0.5)
            snap = metrics.snapshot()
            assert snap.gauges["workers_busy"] == 2.0
            assert snap.gauges["jobs_queued"] == 4.0
            await trio.sleep(4.5)  # t=5: 1,1 ok; 3 error at t=4; 4 timed out at t=4.5
            pool.cancel()
        snap = metrics.snapshot()
        counts = {
            name: snap.counter(name)
            for name in (
                "jobs_submitted",
                "jobs_completed",
                "jobs_failed",
                "jobs_timed_out",
                "jobs_cancelled",
            )
        }
        assert counts == {
            "jobs_submitted": 6,
            "jobs_completed": 2,
            "jobs_failed": 1,
            "jobs_timed_out": 1,
            "jobs_cancelled": 2,
        }
        assert len(pool.undelivered) == 2
        assert snap.gauges["workers_busy"] == 0.0
        # Both workers were busy from t=0 until the cancel at t=5.
        assert snap.gauges["worker_utilization"] == pytest.approx(1.0)

    run_virtual(main)


def test_utilization_half_busy() -> None:
    async def job(x: int) -> int:
        await trio.sleep(1)
        return x

    async def main() -> None:
        async with WorkerPool(job, workers=2) as pool:
            await pool.submit(0, 0)
            await trio.sleep(2)
            # One of two workers busy for 1 of 2 seconds.
            assert pool.metrics.snapshot().gauges["worker_utilization"] == pytest.approx(0.25)

    run_virtual(main)


def test_submit_many_backpressure_and_order() -> None:
    async def job(x: int) -> int:
        await trio.sleep(1)
        return x

    async def main() -> None:
        async with WorkerPool(job, workers=1, jobs_buffer=2, results_buffer=10) as pool:
            await pool.submit_many((i, i) for i in range(5))
            # 0 running, 1 and 2 buffered... 3 admitted at t=1, 4 at t=2.
            assert trio.current_time() == 2.0
            pool.close()
            got = [r.id async for r in pool.results]
        assert got == list(range(5))

    run_virtual(main)


def test_pool_validation() -> None:
    with pytest.raises(ValueError, match="workers"):
        WorkerPool(square, workers=0)


def test_a_zero_job_timeout_is_a_deadline_at_the_start() -> None:
    # Go's context.WithTimeout(ctx, 0): a job that waits at all times out at once; one that
    # never reaches a checkpoint finishes. 0 is not "no timeout" (that is None).
    async def job(d: float) -> float:
        if d:
            await trio.sleep(d)
        return d

    async def main() -> None:
        async with WorkerPool(job, workers=2, job_timeout=0) as pool:
            await trio.sleep(1)
            await pool.submit("waits", 5.0)
            await pool.submit("instant", 0.0)
            pool.close()
            got = {r.id: (r.status, trio.current_time()) async for r in pool.results}
        assert got == {"waits": ("timeout", 1.0), "instant": ("ok", 1.0)}
        assert pool.metrics.snapshot().counter("jobs_timed_out") == 1

    run_virtual(main)
