"""asyncio-pool 0.6.0: a cancelled exit from ``async with AioPool()`` leaves its jobs running.

Run with asyncio-pool installed (``pip install asyncio-pool==0.6.0``), no poolcheck needed::

    python docs/findings/asyncio_pool_cancelled_exit_leaves_jobs_running.py

``AioPool.__aexit__`` is ``await self.join()``: it waits for every spawned job. When the task
leaving the block is cancelled while it waits (a timeout around the block, a task group
cancelling its children), the wait is cancelled and the block is left, but the pool's jobs are
neither cancelled nor awaited: they go on running after the ``async with`` has ended, which the
guide's pool (and a task group or a trio nursery) never allows. The other way round, a task
cancelled inside the block's body does not cancel the jobs either: ``__aexit__`` joins them, so
the cancelled task waits until they finish on their own. Exits 1 when either shows, 0 when
neither does.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from asyncio_pool import AioPool  # type: ignore[import-untyped]

finished: list[str] = []


async def job(name: str) -> None:
    """A job that takes a while and records that it finished."""
    await asyncio.sleep(0.2)
    finished.append(name)


async def leave_the_block() -> None:
    """Spawn a job and leave the block; the caller cancels this task while it waits."""
    async with AioPool(size=1) as pool:
        await pool.spawn(job("the job"))


async def cancelled_in_the_body() -> float:
    """Cancel a task inside the block's body; how long (s) its exit then took."""
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    left_at: list[float] = []

    async def body() -> None:
        try:
            async with AioPool(size=1) as pool:
                await pool.spawn(job("the body's job"))
                ready.set()
                await asyncio.sleep(10)
        finally:
            left_at.append(loop.time())

    task = asyncio.create_task(body())
    await ready.wait()
    cancelled_at = loop.time()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return left_at[0] - cancelled_at


async def main() -> int:
    """Cancel the task leaving the block; say whether the job still ran to its end."""
    leaving = asyncio.create_task(leave_the_block())
    await asyncio.sleep(0.05)  # the block is being left: __aexit__ waits in join()
    leaving.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await leaving
    print(f"the block is left (cancelled: {leaving.cancelled()}); finished so far: {finished}")
    await asyncio.sleep(0.3)
    print(f"0.3 s later, finished: {finished}")
    waited = await cancelled_in_the_body()
    print(f"a task cancelled in the block's body left it {waited:.2f} s later")
    bad = 0
    if "the job" in finished:
        print("MISBEHAVIOUR: the pool's job ran on after its block was left")
        bad = 1
    if waited >= 0.15:
        print("MISBEHAVIOUR: the cancelled body waited for its job instead of cancelling it")
        bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
