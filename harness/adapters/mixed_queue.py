"""The ``async_q`` side of a mixed sync/async queue (janus, culsans) as poolcheck's queue.

Both libraries' users make ``q = Queue(maxsize)`` inside the event loop and hand ``q.async_q``
to coroutines (``q.sync_q`` to threads). The harness drives the ``async_q`` proxy exactly as
such a coroutine would: its own ``put``, ``put_nowait``, ``get`` and ``get_nowait`` are passed
through untouched. Only names are mapped: ``len(queue)`` is ``async_q.qsize()``, and
``close()`` is ``async_q.shutdown()``, the graceful shutdown (puts are refused, gets drain what
is left and then raise). Each library's own ``Queue.close()`` is documented as
``shutdown(immediate=True)``, which discards the items still held by design: a different
operation from the contract's close, so it is not the one mapped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class AsyncSide:
    """One mixed queue seen through its ``async_q`` proxy, as a user's coroutine sees it."""

    def __init__(self, queue: Any) -> None:
        #: The mixed queue itself (its ``sync_q`` stays available to threads, unused here).
        self.queue = queue
        side = queue.async_q
        self.put = side.put
        self.put_nowait = side.put_nowait
        self.get = side.get
        self.get_nowait = side.get_nowait
        self._side = side

    def __len__(self) -> int:
        return int(self._side.qsize())

    def close(self) -> None:
        """Graceful shutdown: refuse puts, let gets drain (``async_q.shutdown()``)."""
        self._side.shutdown()


def queue_factories(make: Callable[[int], Any]) -> dict[str, Callable[..., AsyncSide]]:
    """The contract's bounded and unbounded queue factories over ``make(maxsize)``.

    ``maxsize`` 0 is both libraries' documented infinite queue.
    """

    def bounded_queue(*, capacity: int) -> AsyncSide:
        return AsyncSide(make(capacity))

    def unbounded_queue() -> AsyncSide:
        return AsyncSide(make(0))

    return {"bounded_queue": bounded_queue, "unbounded_queue": unbounded_queue}
