"""``asyncio.Semaphore`` as poolcheck's concurrency limiter (backend ``asyncio``).

    poolcheck check --impl harness.adapters.asyncio_semaphore:implementation

``concurrency_limiter(limit)`` is ``asyncio.Semaphore(limit)`` itself, with nothing wrapped:
``await sem.acquire()`` ... ``sem.release()`` and ``async with sem:`` are the contract's two
forms already.

Declared:

* ``fifo``: waiters are woken in the order they began to wait, and a newcomer does not take a
  slot while others wait (``locked()`` is true while a waiter waits). CPython fixed a
  violation of that order as a bug (bpo-45997, "Fix asyncio.Semaphore waiters order").
* not ``strict_release``: a semaphore has no holders. ``release()`` documents that it
  increments the counter whoever calls it, so a release by a task that holds nothing makes a
  slot by design; the rule about releases by holders is not applicable.
  (``asyncio.BoundedSemaphore`` only refuses a release above the initial value.)
"""

from __future__ import annotations

import asyncio
from typing import Any


def _concurrency_limiter(*, limit: int) -> asyncio.Semaphore:
    return asyncio.Semaphore(limit)


def implementation() -> dict[str, Any]:
    """The declaration of ``asyncio.Semaphore`` for poolcheck."""
    return {
        "name": "asyncio-semaphore",
        "backend": "asyncio",
        "capabilities": ["fifo"],
        "factories": {"concurrency_limiter": _concurrency_limiter},
    }
