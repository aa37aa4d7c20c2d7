"""Deliberately broken reorder stages, each with the realistic bug named in its docstring.

Each function is a declaration factory, loaded through the plug-in path exactly as a user's
implementation would be: ``tests.harness.broken.ordering:emits_early``. All of them violate
ORDER-RESTORED, each through a different clause.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from reference.ordering import Reorderer
from reference.plugin import implementation as reference_implementation
from reference.queues import QueueClosed


def _with(**factories: Callable[..., Any]) -> Any:
    declaration = reference_implementation()
    return {
        "name": "broken",
        "backend": "trio",
        "capabilities": declaration.capabilities,
        "factories": {**declaration.factories, **factories},
        "closed_errors": declaration.closed_errors,
        "counters": declaration.counters,
    }


class EmitsEarly(Reorderer[Any]):
    """Treats the window as a tolerance: hands out the lowest buffered seq, gap or not."""

    async def get(self) -> tuple[int, Any]:
        while not self._buffer:
            if self._closed:
                raise trio.EndOfChannel
            await self._ready.park()
        seq = min(self._buffer)
        item = self._buffer.pop(seq)
        self._next = seq + 1
        self._room.unpark_all()
        return seq, item

    async def put(self, seq: int, item: Any) -> None:
        await super().put(seq, item)
        self._ready.unpark_all()  # anything buffered is "ready" for this stage


class DropsLateFiller(Reorderer[Any]):
    """Dedups by a high-water mark: a gap filler arriving after a later seq looks like a replay.

    ``if seq <= max_seen: return`` is the classic at-least-once dedup, wrong for a reorder
    stage, whose whole job is accepting seqs below ones already seen.
    """

    def __init__(self, window: int) -> None:
        super().__init__(window)
        self._max_seen = -1

    async def put(self, seq: int, item: Any) -> None:
        if seq <= self._max_seen:
            await trio.lowlevel.checkpoint()
            return
        self._max_seen = seq
        await super().put(seq, item)


class WindowOffByOne(Reorderer[Any]):
    """Blocks only while ``seq > delivered + window``: admits one seq too many."""

    def __init__(self, window: int) -> None:
        super().__init__(window + 1)


class NoBackpressure(Reorderer[Any]):
    """Buffers whatever arrives and never blocks a producer: the window bounds nothing."""

    def __init__(self, window: int) -> None:
        super().__init__(1 << 30)


class StaleCursor:
    """Pushes each ready run into an output channel, but from a stale cursor.

    The put side walks ``cursor, cursor+1, ...`` while they are buffered and sends them out, but
    advances a local copy and never pops them, so every later put re-sends the items already
    sent: the consumer sees duplicates.
    """

    def __init__(self, window: int) -> None:
        self.window = window
        self._buffer: dict[int, Any] = {}
        self._cursor = 0
        self._taken = 0
        self._closed = False
        self._send, self._recv = trio.open_memory_channel[tuple[int, Any]](1 << 20)
        self._room = trio.lowlevel.ParkingLot()

    async def put(self, seq: int, item: Any) -> None:
        """Store ``seq`` (blocking beyond the window) and push out the ready run."""
        if self._closed:
            raise QueueClosed("closed")
        while seq >= self._taken + self.window:
            await self._room.park()
            if self._closed:
                raise QueueClosed("closed")
        self._buffer[seq] = item
        cursor = self._cursor
        while cursor in self._buffer:
            self._send.send_nowait((cursor, self._buffer[cursor]))
            cursor += 1
        await trio.lowlevel.checkpoint()

    async def get(self) -> tuple[int, Any]:
        """The next pushed item."""
        seq, item = await self._recv.receive()
        self._taken = max(self._taken, seq + 1)
        self._room.unpark_all()
        return seq, item

    def close(self) -> None:
        """No more items."""
        self._closed = True
        self._send.close()
        self._room.unpark_all()


def emits_early() -> Any:
    """Violates ORDER-RESTORED (an item is emitted across a gap)."""
    return _with(reorderer=lambda *, window: EmitsEarly(window))


def drops_late_filler() -> Any:
    """Violates ORDER-RESTORED (a gap filler is lost; the stream stalls)."""
    return _with(reorderer=lambda *, window: DropsLateFiller(window))


def window_off_by_one() -> Any:
    """Violates ORDER-RESTORED (a put at ``delivered + window`` completes)."""
    return _with(reorderer=lambda *, window: WindowOffByOne(window))


def no_backpressure() -> Any:
    """Violates ORDER-RESTORED (puts far beyond the window complete)."""
    return _with(reorderer=lambda *, window: NoBackpressure(window))


def duplicates() -> Any:
    """Violates ORDER-RESTORED (an item is emitted twice)."""
    return _with(reorderer=lambda *, window: StaleCursor(window))
