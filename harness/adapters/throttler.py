"""throttler's ``Throttler`` as poolcheck's token bucket (backend ``asyncio``).

    poolcheck check --impl harness.adapters.throttler:implementation

PyPI distribution ``throttler`` (checked at 1.2.3). Its users write
``t = Throttler(rate_limit=N, period=P)`` and then ``async with t:`` before each call ("limits
how often the block can be entered"); that block is the adapter's ``acquire()``. The library
has no weights and no non-blocking probe, so the adapter offers neither.

This module shares its name with the library: ``from throttler import Throttler`` below is an
absolute import (Python 3 has no implicit relative imports), so inside the ``harness.adapters``
package it always means the installed library. Only running this file as a script
(``python harness/adapters/throttler.py``, which no one needs to do) would put this directory
first on ``sys.path`` and make it import itself.

What the library is, read from its source: a *sliding-window log* of the last ``rate_limit``
entry instants (``time.monotonic()``). A caller is admitted once the oldest of them is more
than ``period`` old; until then it sleeps exactly until that instant and looks again. Mapped
to the guide's token bucket as ``burst = rate_limit`` and ``rate = rate_limit / period``:

* RATE-BOUND holds by design (at most ``rate_limit`` entries in any ``period``, so at most
  ``burst + rate*T`` in any window ``T``) and is judged.
* RATE-NO-OVERTHROTTLE is declared a deviation: the documented model is "``rate_limit`` calls
  per ``period``", not a refilling bucket, so after a burst nothing is admitted until the
  oldest entry is ``period`` old, where a bucket would admit one every ``period / rate_limit``.
  The rule's FIFO part goes unjudged with it, so it is shown on its own by
  ``docs/findings/throttler_no_waiting_line.py``: the source keeps no waiting line (every
  waiter sleeps to the same instant and whichever the loop wakes first takes the slot), and
  waiters are admitted in arbitrary order, which the library does not document.
"""

from __future__ import annotations

from typing import Any

from throttler import Throttler  # type: ignore[import-untyped]

__all__ = ["ThrottlerLimiter", "implementation"]


class ThrottlerLimiter:
    """A ``throttler.Throttler`` with the contract's ``acquire``."""

    def __init__(self, throttler: Throttler) -> None:
        self.throttler = throttler

    async def acquire(self) -> None:
        """``async with throttler:`` (entering is the whole wait; leaving does nothing)."""
        async with self.throttler:
            pass


def _token_bucket(*, rate: float, burst: int) -> ThrottlerLimiter:
    # burst entries per window of burst/rate seconds: the long-run rate is `rate`.
    return ThrottlerLimiter(Throttler(rate_limit=burst, period=burst / rate))


def implementation() -> dict[str, Any]:
    """The declaration of ``throttler.Throttler`` for poolcheck."""
    return {
        "name": "throttler",
        "backend": "asyncio",
        "capabilities": [],
        "factories": {"token_bucket": _token_bucket},
        "deviations": {
            "RATE-NO-OVERTHROTTLE": (
                "throttler is a sliding-window log ('rate_limit calls per period'), not a "
                "refilling bucket: after a burst it admits nothing until the oldest entry is "
                "a period old, where the bucket would admit one every period/rate_limit"
            ),
        },
    }
