"""The ``async_q`` side of janus's mixed sync/async queue as poolcheck's queue (``asyncio``).

    poolcheck check --impl harness.adapters.janus:implementation

PyPI distribution ``janus``. A janus user makes ``q = janus.Queue(maxsize)`` inside the event
loop and hands ``q.async_q`` to coroutines, which the harness drives as such a coroutine would
(:mod:`harness.adapters.mixed_queue`): ``len(queue)`` is ``async_q.qsize()``, and ``close()``
is ``async_q.shutdown()``, janus's graceful shutdown (the ``asyncio.Queue`` 3.13 semantics it
backports): puts raise ``janus.AsyncQueueShutDown``, gets drain what is left and then raise it.

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

from harness.adapters.mixed_queue import queue_factories


def implementation() -> dict[str, Any]:
    """The declaration of ``janus.Queue().async_q`` for poolcheck."""
    return {
        "name": f"janus-{janus.__version__}",
        "backend": "asyncio",
        "capabilities": [],
        "factories": queue_factories(janus.Queue),
        # After shutdown a put raises AsyncQueueShutDown, and a get raises it once drained.
        "closed_errors": (janus.AsyncQueueShutDown,),
        "end_errors": (janus.AsyncQueueShutDown,),
    }
