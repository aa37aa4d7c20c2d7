"""``trio.CapacityLimiter`` as poolcheck's concurrency limiter (backend ``trio``).

    poolcheck check --impl harness.adapters.trio_capacity_limiter:implementation

``concurrency_limiter(limit)`` is ``trio.CapacityLimiter(limit)`` itself, with nothing
wrapped: ``await limiter.acquire()`` ... ``limiter.release()`` and ``async with limiter:`` are
the contract's two forms already.

Declared:

* ``fifo``: waiters park in a ``trio.lowlevel.ParkingLot`` (trio's fair, first-in first-out
  wait queue), a released token goes to the first of them at once, and ``acquire_nowait``
  refuses while anyone waits, so a newcomer never takes a slot ahead of a waiter;
* ``strict_release``: ``release()`` raises ``RuntimeError`` when the calling task holds no
  token (documented), so a stray release changes nothing.
"""

from __future__ import annotations

from typing import Any

import trio


def _concurrency_limiter(*, limit: int) -> trio.CapacityLimiter:
    return trio.CapacityLimiter(limit)


def implementation() -> dict[str, Any]:
    """The declaration of ``trio.CapacityLimiter`` for poolcheck."""
    return {
        "name": "trio-capacity-limiter",
        "backend": "trio",
        "capabilities": ["fifo", "strict_release"],
        "factories": {"concurrency_limiter": _concurrency_limiter},
    }
