"""The ``async_q`` side of culsans's mixed sync/async queue as poolcheck's queue (``asyncio``).

    poolcheck check --impl harness.adapters.culsans:implementation

PyPI distribution ``culsans`` (a janus-compatible queue built on aiologic). Its users make
``q = culsans.Queue(maxsize)`` and hand ``q.async_q`` to coroutines, which the harness drives
as janus's (:mod:`harness.adapters.mixed_queue`): ``close()`` is ``async_q.shutdown()``, after
which puts raise ``culsans.QueueShutDown`` and gets raise it once drained. culsans's
``Queue.close()`` exists only for janus compatibility and is documented as
``shutdown(immediate=True)``, which discards the items still held, so it is not the contract's
close.

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

from harness.adapters.mixed_queue import queue_factories


def implementation() -> dict[str, Any]:
    """The declaration of ``culsans.Queue().async_q`` for poolcheck."""
    return {
        "name": f"culsans-{culsans.__version__}",
        "backend": "asyncio",
        "capabilities": [],
        "factories": queue_factories(culsans.Queue),
        # After shutdown a put raises QueueShutDown, and a get raises it once drained.
        "closed_errors": (culsans.QueueShutDown,),
        "end_errors": (culsans.QueueShutDown,),
    }
