"""asyncio-pool 0.6.0: ``AioPool.cancel()`` does not cancel a job whose ``spawn()`` still waits.

Run with asyncio-pool installed (``pip install asyncio-pool==0.6.0``), no poolcheck needed::

    python docs/findings/asyncio_pool_cancel_misses_waiting_spawn.py

``AioPool.cancel()`` is documented to cancel "all spawned and waiting tasks", where *waiting*
means a coroutine waiting for pool space. For a coroutine handed to the blocking
``await pool.spawn(coro)``, the pool records a placeholder future instead of the task that
waits (``self._waiting[future] = self.loop.create_future()``), so ``cancel()`` cancels the
placeholder, not the wait. When ``cancel()`` then stops the running job and frees its slot, the
waiting ``spawn`` takes the slot and starts its job, which is not cancelled and runs to its
end (``cancel()`` has already collected the tasks it cancels). Exits 1 when the misbehaviour
shows, 0 when it does not.
"""

from __future__ import annotations

import asyncio
import sys

from asyncio_pool import AioPool  # type: ignore[import-untyped]

started: list[str] = []


async def job(name: str) -> str:
    """A job that records its start and takes a while."""
    started.append(name)
    await asyncio.sleep(0.2)
    return name


async def main() -> int:
    """Cancel a pool while a ``spawn`` waits for its slot; say whether that job still ran."""
    pool = AioPool(size=1)
    await pool.spawn(job("first"))  # takes the only slot
    waiter = asyncio.create_task(pool.spawn(job("second")))  # waits for space
    await asyncio.sleep(0.01)
    assert started == ["first"]
    assert not waiter.done()

    await pool.cancel()  # "cancels all spawned and waiting tasks"
    second = await waiter  # the spawn() that was waiting returns the second job's future
    await pool.join()
    outcome = "cancelled" if second.cancelled() else repr(second.exception() or second.result())
    print(f"jobs started: {started}; the waiting job's outcome: {outcome}")
    if "second" in started and not second.cancelled() and second.exception() is None:
        print("MISBEHAVIOUR: cancel() left the waiting spawn alone: its job started when")
        print("cancel() freed the slot and ran to its end")
        return 1
    print("ok: the waiting spawn was cancelled")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
