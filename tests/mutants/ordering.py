"""Broken reorder stages: early emits, lost gap fillers, window off by one, duplicates."""

from __future__ import annotations

from typing import Any

import trio

from reference.ordering import Reorderer
from reference.queues import QueueClosed
from tests.mutants._base import mutant, reference_with


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


@mutant("ORDER-RESTORED")
def emits_early() -> Any:
    """A reorder stage that emits early: hands out the lowest buffered seq across a gap."""
    return reference_with(reorderer=lambda *, window: EmitsEarly(window))


@mutant("ORDER-RESTORED")
def drops_late_filler() -> Any:
    """Loses a gap filler: a high-water-mark dedup drops seqs below one already seen."""
    return reference_with(reorderer=lambda *, window: DropsLateFiller(window))


@mutant("ORDER-RESTORED")
def window_off_by_one() -> Any:
    """Blocks only while ``seq > delivered + window``: admits one seq too many."""
    return reference_with(reorderer=lambda *, window: WindowOffByOne(window))


@mutant("ORDER-RESTORED")
def no_backpressure() -> Any:
    """Buffers whatever arrives and never blocks a producer: the window bounds nothing."""
    return reference_with(reorderer=lambda *, window: NoBackpressure(window))


@mutant("ORDER-RESTORED")
def duplicates() -> Any:
    """Pushes ready runs from a stale cursor: items already sent are sent again."""
    return reference_with(reorderer=lambda *, window: StaleCursor(window))
