"""limiter 0.5.0: with ``jitter`` a caller is admitted without taking any token.

Run with limiter installed (``pip install limiter==0.5.0``), no poolcheck needed::

    python docs/findings/limiter_jitter_admits_without_tokens.py

Found by reading the source (the ecosystem matrix checks the default ``jitter=False``, where
this cannot happen). ``async_limit_rate`` and ``limit_rate`` loop ``while not consume(...)``:
the sleep is ``(needed - tokens) / rate`` *minus* the jitter, and ``if sleep_for <= 0:
break`` leaves the loop and admits the caller although ``consume`` failed, so no token is
taken. With the README's ``jitter=True`` (up to 1 ms) every caller short of tokens by less
than 1 ms of refill walks in for free, and the bucket keeps that count, so the next one does
too. A plain number is documented as milliseconds but subtracted as seconds (``jitter=1``
waves through every caller whose wait is under 1 s). Each configuration below runs five
callers for 0.5 s of real time against ``Limiter(rate=10, capacity=1)``, which may admit at
most ``1 + 10 * 0.5 = 6``. Exits 1 when the misbehaviour shows, 0 when it does not.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from limiter import Limiter  # type: ignore[import-untyped]

RATE, CAPACITY, RUN = 10, 1, 0.5
BOUND = CAPACITY + RATE * RUN


async def admitted(jitter: Any) -> int:
    """How many callers ``Limiter(rate, capacity, jitter=jitter)`` admitted within RUN s."""
    limiter = Limiter(rate=RATE, capacity=CAPACITY, jitter=jitter)
    start = time.monotonic()
    stamps: list[float] = []

    async def caller() -> None:
        while time.monotonic() - start < RUN:
            async with limiter:
                stamps.append(time.monotonic() - start)

    await asyncio.gather(*(caller() for _ in range(5)))
    return sum(1 for t in stamps if t <= RUN)


def main() -> int:
    """Run each configuration; 1 if one with jitter broke the bound."""
    broken = False
    for jitter in (False, True, (0, 100), 1):
        count = asyncio.run(admitted(jitter))
        over = count > BOUND
        broken |= over and jitter is not False
        print(f"jitter={jitter!r}: {count} admitted in {RUN} s (at most {BOUND:g} allowed)")
    if broken:
        print("MISBEHAVIOUR: with jitter the limiter admits callers it has no tokens for")
        return 1
    print("ok: every configuration stayed within capacity + rate * T")
    return 0


if __name__ == "__main__":
    sys.exit(main())
