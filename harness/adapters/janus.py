"""The ``async_q`` side of janus's mixed sync/async queue as poolcheck's queue (``asyncio``).

    poolcheck check --impl harness.adapters.janus:implementation

PyPI distribution ``janus``. A janus user makes ``q = janus.Queue(maxsize)`` inside the event
loop and hands ``q.async_q`` to coroutines (``q.sync_q`` to threads). The harness drives the
``async_q`` side exactly as such a coroutine would: its own ``put``, ``put_nowait``, ``get``
and ``get_nowait`` are passed through untouched. Only names are mapped:

* ``len(queue)`` is ``async_q.qsize()`` (the proxy has no ``__len__``);
* ``close()`` is ``async_q.shutdown()``, janus's graceful shutdown (the ``queue.Queue`` /
  ``asyncio.Queue`` 3.13 semantics it backports): puts raise ``janus.AsyncQueueShutDown``, gets
  drain what is left and then raise it. janus's own ``Queue.close()`` is documented as
  ``shutdown(immediate=True)``, which discards the items still held by design; that is a
  different operation from the contract's close, so it is not the one mapped.

``janus.AsyncQueueFull`` and ``janus.AsyncQueueEmpty`` are asyncio's ``QueueFull`` and
``QueueEmpty``, already among the harness's default would-block errors. janus has no dropping
queue, so ``dropping_queue`` is not declared. Nothing else is added: no deviation from the
guide's queue semantics is declared, so every queue rule is judged.

Capability ``fifo_waiters`` is not declared: blocked ``async_q`` calls wait on conditions and
re-check when notified, so a ``put_nowait`` (``get_nowait``) in the same step takes the slot
(the item) a blocked put (get) was woken for, and QUEUE-FIFO-WAITERS is not-applicable.
"""

from __future__ import annotations

from typing import Any

import janus


class JanusAsyncSide:
    """One ``janus.Queue`` seen through its ``async_q`` proxy, as a user's coroutine sees it."""

    def __init__(self, maxsize: int) -> None:
        #: The mixed queue itself (its ``sync_q`` stays available to threads, unused here).
        self.queue: janus.Queue[Any] = janus.Queue(maxsize)
        side = self.queue.async_q
        self.put = side.put
        self.put_nowait = side.put_nowait
        self.get = side.get
        self.get_nowait = side.get_nowait
        self._side = side

    def __len__(self) -> int:
        return self._side.qsize()

    def close(self) -> None:
        """Graceful shutdown: refuse puts, let gets drain (``async_q.shutdown()``)."""
        self._side.shutdown()


def _bounded_queue(*, capacity: int) -> JanusAsyncSide:
    return JanusAsyncSide(capacity)


def _unbounded_queue() -> JanusAsyncSide:
    # maxsize <= 0 is janus's documented infinite queue.
    return JanusAsyncSide(0)


def implementation() -> dict[str, Any]:
    """The declaration of ``janus.Queue().async_q`` for poolcheck."""
    return {
        "name": f"janus-{janus.__version__}",
        "backend": "asyncio",
        "capabilities": [],
        "factories": {"bounded_queue": _bounded_queue, "unbounded_queue": _unbounded_queue},
        # After shutdown a put raises AsyncQueueShutDown, and a get raises it once drained.
        "closed_errors": (janus.AsyncQueueShutDown,),
        "end_errors": (janus.AsyncQueueShutDown,),
    }
