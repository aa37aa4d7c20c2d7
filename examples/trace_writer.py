"""A program in its own right that writes a poolcheck trace of its run: a thread-safe bounded queue.

It imports neither poolcheck nor the reference: any program, in any language, can do the
same. Run it, then check what it wrote::

    python examples/trace_writer.py --out queue.jsonl
    poolcheck check-trace queue.jsonl --pattern queue

With ``--broken`` the queue's ``close()`` discards the items still buffered (a classic mix-up
of "close" with "shut down": the guide's §7.1 says close stops producers, and consumers drain
what remains). ``check-trace`` then reports QUEUE-CONSERVATION with the lines of the events
that show the loss.

How the trace is kept exact (see docs/trace-format.md):

* each queue operation records its event while holding the queue's lock, so the order of the
  lines is the order in which the queue really changed;
* ``idle`` is written only at instants when the program knows every thread is blocked (the
  producer waiting on a full queue, the consumer parked on a gate): the checker judges
  liveness there ("a put may wait only while the queue is full");
* ``t`` is the monotonic clock in seconds since the start, read under the trace's lock, so it
  never goes backwards.

The run: a producer puts ``--items`` items into a queue of ``--capacity`` while the consumer
is still starting up, so the producer blocks on a full queue (a settled instant). The consumer
then takes items concurrently with the producer until the last ``capacity`` items are left to
it; it pauses, the producer puts the rest and closes the queue (another settled instant), and
the consumer drains the queue until it reports its end.
"""

from __future__ import annotations

import argparse
import collections
import json
import threading
import time
from typing import IO, Any


class TraceFile:
    """Writes one JSON object per line; thread-safe, with a clock that never goes backwards."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._lock = threading.Lock()
        self._start = time.monotonic()

    def record(self, kind: str, ident: Any = None, **data: Any) -> None:
        """Append one event, stamped now."""
        with self._lock:
            line: dict[str, Any] = {"v": 1, "t": round(time.monotonic() - self._start, 9)}
            line["kind"] = kind
            if ident is not None:
                line["id"] = ident
            if data:
                line["data"] = data
            self._out.write(json.dumps(line) + "\n")


class Closed(Exception):
    """The queue is closed: no more puts, and (once drained) no more gets."""


class BoundedQueue:
    """A FIFO queue of at most ``capacity`` items; ``put`` blocks while it is full."""

    def __init__(self, capacity: int, trace: TraceFile, broken: bool = False) -> None:
        self._items: collections.deque[Any] = collections.deque()
        self._capacity = capacity
        self._closed = False
        self._cond = threading.Condition()
        self._trace = trace
        self._broken = broken
        self.blocked_putters = 0

    def put(self, item: Any) -> None:
        """Add ``item`` at the tail, waiting while the queue is full; Closed after close."""
        with self._cond:
            self._trace.record("put", item, mode="blocking")
            while len(self._items) >= self._capacity and not self._closed:
                self.blocked_putters += 1
                self._cond.notify_all()  # lets the driver see that the producer is blocked
                self._cond.wait()
                self.blocked_putters -= 1
            if self._closed:
                self._trace.record("put_closed", item)
                raise Closed
            self._items.append(item)
            self._trace.record("put_ok", item)
            self._cond.notify_all()

    def get(self, getter: int) -> Any:
        """Take the head item, waiting while the queue is empty; Closed once closed and empty."""
        with self._cond:
            self._trace.record("get", getter, mode="blocking")
            while not self._items and not self._closed:
                self._cond.wait()
            if not self._items:
                self._trace.record("get_end", getter)
                raise Closed
            item = self._items.popleft()
            self._trace.record("get_ok", getter, item=item)
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """No more puts; what is buffered can still be taken."""
        with self._cond:
            self._trace.record("close")
            self._closed = True
            if self._broken:
                self._items.clear()  # the bug: buffered items are thrown away
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def wait_for_blocked_putter(self) -> None:
        """Return once a producer is blocked on the full queue."""
        with self._cond:
            self._cond.wait_for(lambda: self.blocked_putters > 0)


def run(out: IO[str], items: int, capacity: int, broken: bool) -> None:
    """Run producer and consumer threads over one queue, tracing everything to ``out``."""
    if items <= 2 * capacity:
        raise ValueError("--items must exceed twice --capacity, so the producer blocks")
    trace = TraceFile(out)
    trace.record("params", pattern="queue", factory="bounded_queue", capacity=capacity, policy=None)
    queue = BoundedQueue(capacity, trace, broken)
    start_consumer = threading.Event()
    finish_consumer = threading.Event()
    producer_done = threading.Event()

    def settled() -> None:
        # Every thread is blocked now: record what the queue says, then the settled instant.
        trace.record("length", n=len(queue))
        trace.record("idle")

    def produce() -> None:
        for item in range(items):
            queue.put(item)
        queue.close()
        producer_done.set()

    def consume() -> None:
        start_consumer.wait()
        getter = 0
        for _ in range(items - capacity):
            queue.get(getter)
            getter += 1
        finish_consumer.wait()  # the last items are left for after close
        while True:
            try:
                queue.get(getter)
            except Closed:
                return
            getter += 1

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for thread in threads:
        thread.start()
    queue.wait_for_blocked_putter()
    settled()  # the producer waits on a full queue; the consumer has not started
    start_consumer.set()
    producer_done.wait()
    settled()  # the producer has closed the queue; the consumer is parked
    finish_consumer.set()
    for thread in threads:
        thread.join()
    settled()
    trace.record("end")


def main(argv: list[str] | None = None) -> int:
    """Parse the options and write the trace."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", required=True, help="the trace file to write (JSON Lines)")
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--capacity", type=int, default=3)
    parser.add_argument("--broken", action="store_true", help="close() discards buffered items")
    args = parser.parse_args(argv)
    try:
        with open(args.out, "w", encoding="utf-8") as out:
            run(out, args.items, args.capacity, args.broken)
    except ValueError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
