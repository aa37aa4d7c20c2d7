"""throttler 1.2.3: no waiting line, so waiters are admitted in arbitrary order.

Run with throttler installed (``pip install throttler==1.2.3``), no poolcheck needed::

    python docs/findings/throttler_no_waiting_line.py

``async with Throttler(rate_limit, period):`` sleeps until the oldest of the last
``rate_limit`` entries is ``period`` old and then looks again. Every waiter sleeps to that same
instant, so they all wake together and whichever the event loop runs first takes the slot;
the rest sleep to the next instant and race again. Which one runs first depends on the
nanoseconds between two clock readings (``loop.time()`` when the timer is set,
``time.monotonic()`` in the library), not on who arrived first: here ten waiters arrive 1 ms
apart at a ``Throttler(rate_limit=1, period=0.05)`` and are admitted in a shuffled order, the
first to arrive often among the last, several periods late. The library does not promise an
order, and does not document that there is none; the guide asks for first-come-first-served.
(poolcheck's RATE-NO-OVERTHROTTLE is not-applicable for throttler for another, documented
reason, that it is a sliding window rather than a bucket, so this is not a matrix FAIL.)
Real sleeps, about 0.6 s per try, up to five tries. Exits 1 when the misbehaviour shows, 0
when it does not.
"""

from __future__ import annotations

import asyncio
import sys

from throttler import Throttler  # type: ignore[import-untyped]

WAITERS = 10


async def admission_order() -> list[int]:
    """The order in which waiters that arrived 1 ms apart (0, 1, 2, ...) were admitted."""
    throttler = Throttler(rate_limit=1, period=0.05)
    order: list[int] = []

    async def waiter(number: int) -> None:
        async with throttler:
            order.append(number)

    async with throttler:  # the window is full: everyone after this waits
        pass
    tasks = []
    for number in range(WAITERS):
        tasks.append(asyncio.create_task(waiter(number)))
        await asyncio.sleep(0.001)
    await asyncio.gather(*tasks)
    return order


def main() -> int:
    """Up to five tries; 1 as soon as one admits the waiters out of their arrival order."""
    for _ in range(5):
        order = asyncio.run(admission_order())
        print(f"arrival order 0..{WAITERS - 1}, admitted as {order}")
        if order != sorted(order):
            print("MISBEHAVIOUR: waiters were admitted out of their arrival order")
            return 1
    print("ok: every try admitted the waiters in arrival order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
