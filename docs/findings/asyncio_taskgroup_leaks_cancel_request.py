"""asyncio.TaskGroup (Python 3.11, 3.12): a failed task leaves the caller a cancel request.

Run with the Python to test, nothing else needed::

    python docs/findings/asyncio_taskgroup_leaks_cancel_request.py

When a task of a group fails, the group cancels its parent task (the one in the ``async with``
block) to stop the body, and must take that request back with ``Task.uncancel()``. On 3.11 and
3.12 ``__aexit__`` only takes it back if the request was already made when ``__aexit__``
began. If the body finished first (here it starts a task and ends without awaiting) and the
task fails while ``__aexit__`` waits for it, the request stays: ``Task.cancelling()`` is 1
after the group raised its ``ExceptionGroup``. A timeout around the group then misfires:
``asyncio.timeout`` tells its own expiry from an outside cancellation by that count, so when
it expires it raises ``CancelledError`` instead of ``TimeoutError``. Seen on 3.11.7 and
3.12.1; Python 3.13 calls ``uncancel()`` after the wait (CPython gh-116720: "task groups now
preserve the cancellation count") and 3.13.0 passes. Real time, about 0.1 s. Exits 1 when
the misbehaviour shows, 0 when it does not.
"""

from __future__ import annotations

import asyncio
import sys


async def fail() -> None:
    """A task that fails at once."""
    raise ValueError("task failed")


async def main() -> int:
    """1 if the group leaves its caller a cancellation request, else 0."""
    me = asyncio.current_task()
    assert me is not None
    try:
        async with asyncio.timeout(0.1):
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(fail())
            except* ValueError:
                pass  # the group raised its ExceptionGroup, as documented
            left = me.cancelling()
            await asyncio.sleep(1)  # the timeout expires here
    except TimeoutError:
        outcome = "TimeoutError"
    except asyncio.CancelledError:
        outcome = "CancelledError"
    print(
        f"Python {sys.version.split()[0]}: Task.cancelling() after the group: {left} "
        f"(expected 0); the 0.1 s timeout around it raised {outcome} (expected TimeoutError)"
    )
    if left or outcome != "TimeoutError":
        print("MISBEHAVIOUR: the group left a cancellation request on its caller's task")
        return 1
    print("ok: the group took its cancellation request back")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
