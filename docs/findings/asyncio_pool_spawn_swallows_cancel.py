"""asyncio-pool 0.6.0: a cancelled ``await pool.spawn(coro)`` returns instead of raising.

Run with asyncio-pool installed (``pip install asyncio-pool==0.6.0``), no poolcheck needed::

    python docs/findings/asyncio_pool_spawn_swallows_cancel.py

``spawn`` waits for pool space. When the task waiting in it is cancelled, ``_spawn`` catches
the ``CancelledError`` (``except BaseException``), stores it on the job's future and returns
that future: the caller's cancellation is swallowed, ``spawn`` returns normally as if the job
had been accepted, and the task carries on (``task.cancelled()`` is False). A caller cannot
tell an accepted job from a refused one without inspecting the future, and code after the
``await`` runs although the task was cancelled. Exits 1 when the misbehaviour shows, 0 when
it does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from asyncio_pool import AioPool  # type: ignore[import-untyped]


async def job() -> None:
    """A job that outlives the script's waits."""
    await asyncio.sleep(10)


async def main() -> int:
    """Cancel a task waiting in ``spawn``; say whether ``spawn`` raised or returned."""
    pool = AioPool(size=1)
    await pool.spawn(job())  # takes the only slot
    carried_on: list[object] = []

    async def submitter() -> None:
        future = await pool.spawn(job())  # waits for space; cancelled while waiting
        carried_on.append(future)

    task = asyncio.create_task(submitter())
    await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await pool.cancel()
    if carried_on:
        future = carried_on[0]
        assert isinstance(future, asyncio.Future)
        print(
            f"MISBEHAVIOUR: the cancelled spawn() returned a future holding "
            f"{future.exception()!r}; task.cancelled() is {task.cancelled()}"
        )
        return 1
    print("ok: the cancelled spawn() raised CancelledError")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
