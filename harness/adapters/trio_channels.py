"""trio memory channels as poolcheck's bounded and unbounded queue (backend ``trio``).

    poolcheck check --impl harness.adapters.trio_channels:implementation

A queue is one ``trio.open_memory_channel(max_buffer_size)`` pair, used as trio's users use it:

* ``put``/``put_nowait`` are the send channel's ``send``/``send_nowait``;
* ``get``/``get_nowait`` are the receive channel's ``receive``/``receive_nowait``;
* ``close()`` is the send channel's ``close()``: a later send raises
  ``trio.ClosedResourceError``, and receives drain the buffer, then raise
  ``trio.EndOfChannel`` (both among the harness's defaults);
* ``len(queue)`` is ``receive.statistics().current_buffer_used``.

``bounded_queue(capacity)`` is ``open_memory_channel(capacity)``; ``unbounded_queue()`` is
``open_memory_channel(math.inf)``, trio's documented unbounded buffer. trio has no dropping
channel, so ``dropping_queue`` is not declared.
"""

from __future__ import annotations

import math
from typing import Any

import trio


class MemoryChannelQueue:
    """The two ends of one trio memory channel, under the queue contract's names."""

    def __init__(self, max_buffer_size: float) -> None:
        self.send_channel, self.receive_channel = trio.open_memory_channel[Any](max_buffer_size)

    async def put(self, item: Any) -> None:
        """``send_channel.send(item)``."""
        await self.send_channel.send(item)

    def put_nowait(self, item: Any) -> None:
        """``send_channel.send_nowait(item)``."""
        self.send_channel.send_nowait(item)

    async def get(self) -> Any:
        """``receive_channel.receive()``."""
        return await self.receive_channel.receive()

    def get_nowait(self) -> Any:
        """``receive_channel.receive_nowait()``."""
        return self.receive_channel.receive_nowait()

    def close(self) -> None:
        """``send_channel.close()``: the producer side is done."""
        self.send_channel.close()

    def __len__(self) -> int:
        return self.receive_channel.statistics().current_buffer_used


def _bounded_queue(*, capacity: int) -> MemoryChannelQueue:
    return MemoryChannelQueue(capacity)


def _unbounded_queue() -> MemoryChannelQueue:
    return MemoryChannelQueue(math.inf)


def implementation() -> dict[str, Any]:
    """The declaration of trio memory channels for poolcheck."""
    return {
        "name": "trio-channels",
        "backend": "trio",
        # receive_nowait admits the first parked sender's value into the buffer at once, and
        # send_nowait hands a value to the first parked receiver: nothing can overtake them.
        "capabilities": ["fifo_waiters"],
        "factories": {"bounded_queue": _bounded_queue, "unbounded_queue": _unbounded_queue},
    }
