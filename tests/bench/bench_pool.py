"""Throughput benchmark: the reference pools against bare trio, asyncio and threads.

Run as ``python -m tests.bench.bench_pool [--jobs N]``. Not a test: it uses the real clock.
Every contender pushes the same trivial jobs (``x * x``) through 4 workers with buffers of 64
and the consumer reads every result, so the numbers compare like with like.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import time
from collections.abc import Callable

import trio

from reference.batching import BatchedWorkerPool
from reference.pool import WorkerPool

WORKERS = 4
BUFFER = 64


async def _square(x: int) -> int:
    return x * x


def _square_sync(x: int) -> int:
    return x * x


# -- contenders: each returns the number of results it received -------------------------


async def reference_pool(n: int) -> int:
    received = 0
    async with WorkerPool(
        _square, workers=WORKERS, jobs_buffer=BUFFER, results_buffer=BUFFER
    ) as pool:

        async def produce() -> None:
            for i in range(n):
                await pool.submit(i, i)
            pool.close()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            async for _ in pool.results:
                received += 1
    return received


async def batched_pool(n: int) -> int:
    received = 0
    async with BatchedWorkerPool(
        _square, workers=WORKERS, jobs_buffer=BUFFER, results_buffer=BUFFER, batch=BUFFER
    ) as pool:

        async def produce() -> None:
            await pool.submit_many((i, i) for i in range(n))
            pool.close()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            async for batch in pool.results:
                received += len(batch)
    return received


async def bare_trio(n: int) -> int:
    # The guide's §3 pattern, nothing else: producer, N workers, results closed by the
    # last worker's clone.
    jobs_send, jobs_recv = trio.open_memory_channel[tuple[int, int]](BUFFER)
    res_send, res_recv = trio.open_memory_channel[tuple[int, int]](BUFFER)

    async def worker(
        jobs: trio.MemoryReceiveChannel[tuple[int, int]],
        results: trio.MemorySendChannel[tuple[int, int]],
    ) -> None:
        async with jobs, results:
            async for job_id, x in jobs:
                await results.send((job_id, await _square(x)))

    async def produce() -> None:
        async with jobs_send:
            for i in range(n):
                await jobs_send.send((i, i))

    received = 0
    async with trio.open_nursery() as nursery:
        async with jobs_recv, res_send:
            for _ in range(WORKERS):
                nursery.start_soon(worker, jobs_recv.clone(), res_send.clone())
        nursery.start_soon(produce)
        async for _ in res_recv:
            received += 1
    return received


async def asyncio_pool(n: int) -> int:
    jobs: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue(maxsize=BUFFER)
    results: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue(maxsize=BUFFER)

    async def worker() -> None:
        while (job := await jobs.get()) is not None:
            job_id, x = job
            await results.put((job_id, await _square(x)))
        await results.put(None)

    async def produce() -> None:
        for i in range(n):
            await jobs.put((i, i))
        for _ in range(WORKERS):
            await jobs.put(None)

    tasks = [asyncio.create_task(worker()) for _ in range(WORKERS)]
    tasks.append(asyncio.create_task(produce()))
    received = 0
    finished = 0
    while finished < WORKERS:
        if await results.get() is None:
            finished += 1
        else:
            received += 1
    await asyncio.gather(*tasks)
    return received


def thread_pool(n: int) -> int:
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as executor:
        return sum(1 for _ in executor.map(_square_sync, range(n), chunksize=1))


# -- driver -------------------------------------------------------------------------------


def _timed(run: Callable[[], int], n: int) -> float:
    start = time.perf_counter()
    got = run()
    elapsed = time.perf_counter() - start
    if got != n:
        raise AssertionError(f"expected {n} results, got {got}")
    return n / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs per contender")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args(argv)
    n = args.jobs
    contenders: dict[str, Callable[[], int]] = {
        "reference WorkerPool": lambda: trio.run(reference_pool, n),
        "bare trio channels": lambda: trio.run(bare_trio, n),
        "asyncio.Queue pool": lambda: asyncio.run(asyncio_pool(n)),
        "ThreadPoolExecutor(4)": lambda: thread_pool(n),
        "reference BatchedWorkerPool": lambda: trio.run(batched_pool, n),
    }
    rates = {
        name: max(_timed(run, n) for _ in range(args.repeat)) for name, run in contenders.items()
    }
    print(f"{n} jobs, {WORKERS} workers, buffers {BUFFER} (best of {args.repeat})")
    for name, rate in rates.items():
        print(f"  {name:<28} {rate:>12,.0f} jobs/s")
    ref_ratio = rates["reference WorkerPool"] / rates["bare trio channels"]
    batch_ratio = rates["reference BatchedWorkerPool"] / rates["asyncio.Queue pool"]
    print(f"  reference / bare trio      {ref_ratio:6.2f}  (target >= 0.9)")
    print(f"  batched / asyncio          {batch_ratio:6.2f}  (target >= 1.0)")


if __name__ == "__main__":
    main()
