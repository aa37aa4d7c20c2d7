"""The ``async_q`` side of culsans's mixed sync/async queue as poolcheck's queue (``asyncio``).

    poolcheck check --impl harness.adapters.culsans:implementation

PyPI distribution ``culsans`` (a janus-compatible queue built on aiologic). Its users make
``q = culsans.Queue(maxsize)`` and hand ``q.async_q`` to coroutines. The harness drives that
proxy's own ``put``, ``put_nowait``, ``get``, ``get_nowait`` and ``len()`` untouched; the one
mapped name is ``close()``, which is ``async_q.shutdown()``: culsans's graceful shutdown (puts
raise ``culsans.QueueShutDown``, gets drain what is left and then raise it). culsans's
``Queue.close()`` exists only for janus compatibility and is documented as
``shutdown(immediate=True)``, which discards the items still held by design, so it is not the
contract's close.

culsans's ``QueueFull``/``QueueEmpty`` subclass asyncio's, already among the harness's default
would-block errors. It has no dropping queue, so ``dropping_queue`` is not declared; every queue
rule is judged, with no deviation declared.

Capability ``fifo_waiters`` is not declared: blocked ``async_q`` calls wait on conditions and
re-check when notified, so a ``put_nowait`` (``get_nowait``) in the same step takes the slot
(the item) a blocked put (get) was woken for, and QUEUE-FIFO-WAITERS is not-applicable.
"""

from __future__ import annotations

from typing import Any

import culsans


class CulsansAsyncSide:
    """One ``culsans.Queue`` seen through its ``async_q`` proxy, as a user's coroutine sees it."""

    def __init__(self, maxsize: int) -> None:
        #: The mixed queue itself (its ``sync_q`` stays available to threads, unused here).
        self.queue: culsans.Queue[Any] = culsans.Queue(maxsize)
        side = self.queue.async_q
        self.put = side.put
        self.put_nowait = side.put_nowait
        self.get = side.get
        self.get_nowait = side.get_nowait
        self._side = side

    def __len__(self) -> int:
        return len(self._side)

    def close(self) -> None:
        """Graceful shutdown: refuse puts, let gets drain (``async_q.shutdown()``)."""
        self._side.shutdown()


def _bounded_queue(*, capacity: int) -> CulsansAsyncSide:
    return CulsansAsyncSide(capacity)


def _unbounded_queue() -> CulsansAsyncSide:
    # maxsize <= 0 is culsans's documented infinite queue.
    return CulsansAsyncSide(0)


def implementation() -> dict[str, Any]:
    """The declaration of ``culsans.Queue().async_q`` for poolcheck."""
    return {
        "name": f"culsans-{culsans.__version__}",
        "backend": "asyncio",
        "capabilities": [],
        "factories": {"bounded_queue": _bounded_queue, "unbounded_queue": _unbounded_queue},
        # After shutdown a put raises QueueShutDown, and a get raises it once drained.
        "closed_errors": (culsans.QueueShutDown,),
        "end_errors": (culsans.QueueShutDown,),
    }
