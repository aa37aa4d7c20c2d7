"""``asyncio.Queue`` as poolcheck's bounded and unbounded queue (backend ``asyncio``).

    poolcheck check --impl harness.adapters.asyncio_queue:implementation

The standard library's queue is used as its users use it: ``asyncio.Queue(maxsize)`` with its
own ``put``, ``put_nowait``, ``get`` and ``get_nowait``; ``QueueFull`` and ``QueueEmpty`` are
already among the harness's default would-block errors. Only two names are mapped:

* ``len(queue)`` is ``queue.qsize()`` (``asyncio.Queue`` has no ``__len__``);
* ``close()`` is ``queue.shutdown()`` (graceful: puts raise ``QueueShutDown``, gets drain what
  is left and then raise ``QueueShutDown``), which exists from Python 3.13 on. On 3.11 and
  3.12 the queue cannot be closed, so the adapter offers no ``close`` at all and the rules
  about closing are not applicable there.

``asyncio.Queue`` has no dropping variant, so ``dropping_queue`` is not declared.

Capability ``fifo_waiters`` is not declared: a freed slot (a new item) only wakes the first
blocked putter (getter), which then retries, so a ``put_nowait`` (``get_nowait``) in the same
step takes it and the woken task goes back to the end of the line (CPython gh-83055, open).
"""

from __future__ import annotations

import asyncio
from typing import Any

#: ``asyncio.QueueShutDown`` (Python 3.13+), or None where the queue cannot be shut down.
QUEUE_SHUT_DOWN: type[Exception] | None = getattr(asyncio, "QueueShutDown", None)


class AsyncioQueue(asyncio.Queue[Any]):
    """``asyncio.Queue`` with ``len()``; ``close()`` is ``shutdown()`` where the queue has it."""

    def __len__(self) -> int:
        return self.qsize()

    if hasattr(asyncio.Queue, "shutdown"):

        def close(self) -> None:
            """Shut the queue down gracefully (``shutdown(immediate=False)``)."""
            self.shutdown()  # type: ignore[attr-defined,unused-ignore]


def _bounded_queue(*, capacity: int) -> AsyncioQueue:
    return AsyncioQueue(maxsize=capacity)


def _unbounded_queue() -> AsyncioQueue:
    # maxsize <= 0 is asyncio's documented "infinite" queue.
    return AsyncioQueue()


def implementation() -> dict[str, Any]:
    """The declaration of ``asyncio.Queue`` for poolcheck."""
    shut_down = () if QUEUE_SHUT_DOWN is None else (QUEUE_SHUT_DOWN,)
    declaration: dict[str, Any] = {
        "name": "asyncio-queue",
        "backend": "asyncio",
        "capabilities": [],
        "factories": {"bounded_queue": _bounded_queue, "unbounded_queue": _unbounded_queue},
    }
    if shut_down:
        # After shutdown a put raises QueueShutDown, and a get raises it once drained.
        declaration["closed_errors"] = shut_down
        declaration["end_errors"] = shut_down
    return declaration
