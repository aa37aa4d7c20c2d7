"""ORDER-RESTORED: a reorder stage hands items out in sequence order, promptly, within its window.

Sequence numbers start at 0. The checker folds these event kinds (the trace format the ordering
driver records, and what a trace from another language must provide):

``params``
    ``window`` (int >= 1): how far ahead of the consumer a put may be admitted.
``put_begin`` id=seq, data ``item``
    a producer calls ``put(seq, item)``.
``put_ok`` id=seq
    that put returned: the item was accepted.
``put_closed`` id=seq
    that put was refused because the stage is closed (nothing was stored).
``put_cancelled`` id=seq
    the cancellation came out of that put: nothing may have been stored.
``get_begin``
    the consumer calls ``get()`` (it is waiting until the matching ``emit`` or ``get_end``).
``emit`` id=seq, data ``item``
    ``get()`` returned ``(seq, item)``.
``get_cancelled``
    the cancellation came out of ``get()``: nothing may have been taken.
``get_end``
    ``get()`` reported the end of the stream.
``close``
    the producer side called ``close()`` (recorded before the call).
``idle``, ``end``
    shared: the system settled; the run is over.

What ORDER-RESTORED demands, clause by clause:

* emitted seqs are 0, 1, 2, ... exactly (no gap, no duplicate), each with the item put under it;
* at an idle with the consumer waiting, the next seq must not have been accepted without being
  emitted (an item is handed out as soon as it and its predecessors arrived);
* a put with ``seq >= delivered + window`` never completes (backpressure), and at an idle no
  put with ``seq < delivered + window`` is still blocked (``delivered`` = seqs emitted so far);
* the stream ends only after close, and never while the next item is accepted but not emitted;
* a cancelled put stores nothing: its seq counts as never handed in (the producer puts it again),
  and an item emitted while its put was open must not belong to a put that then comes out
  cancelled; a cancelled get takes nothing (an item it took is missing from the stream, which
  the first clause sees).

A put may return a hair before the consumer records the ``emit`` that made room for it (the
getter popped the item, then yielded before its caller could record): the window check grants
one seq of slack exactly when the consumer is inside ``get`` and the next item was handed in.
"""

from __future__ import annotations

from typing import Any

from harness.checking import Checker, param
from harness.events import Event

RULE = "ORDER-RESTORED"


class OrderingChecker(Checker):
    """Decides ORDER-RESTORED from puts, emits and idles; memory is O(items not yet emitted)."""

    rules = (RULE,)

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.window: int = param(params, "window", int)
        #: The next seq the consumer should receive (= how many were emitted in order).
        self.delivered = 0
        #: Seqs handed in (put begun) and not yet emitted, with their items.
        self.items: dict[Any, Any] = {}
        #: Puts begun that have neither returned nor been refused.
        self.blocked: dict[Any, Event] = {}
        #: Seqs whose put returned and that were not emitted yet.
        self.accepted: set[Any] = set()
        self.reader_waiting = False
        self.ended = False
        self.closed = False
        #: Seqs emitted while their put was still open, until that put ends.
        self.taken: dict[Any, Event] = {}

    # -- puts --------------------------------------------------------------------------------
    def on_put_begin(self, event: Event) -> None:
        """A put starts: remember its item until it is emitted."""
        self.items[event.id] = event.get("item")
        self.blocked[event.id] = event

    def on_put_ok(self, event: Event) -> None:
        """A put returned: it must lie inside the window (backpressure)."""
        self.blocked.pop(event.id, None)
        self.taken.pop(event.id, None)
        if event.id not in self.items:
            return  # emitted already (a consumer may take an item before its put returns)
        self.accepted.add(event.id)
        if not isinstance(event.id, int):
            return
        self.exercise(RULE)
        # One seq of slack when the consumer may have taken `delivered` without recording yet.
        slack = 1 if self.reader_waiting and self.delivered in self.items else 0
        limit = self.delivered + slack + self.window
        if event.id >= limit:
            self.violate(
                RULE,
                f"put({event.id}) completed beyond the window: {self.delivered} item(s) "
                f"delivered and window {self.window} admit seqs below {limit}",
                event,
            )

    def on_put_closed(self, event: Event) -> None:
        """A put was refused after close: nothing was stored."""
        self.blocked.pop(event.id, None)
        self.taken.pop(event.id, None)
        self.items.pop(event.id, None)
        self.accepted.discard(event.id)

    def on_put_cancelled(self, event: Event) -> None:
        """A put raised its caller's cancellation: it stored nothing, its seq is free again."""
        self.exercise(RULE)
        self.blocked.pop(event.id, None)
        self.items.pop(event.id, None)
        self.accepted.discard(event.id)
        taken = self.taken.pop(event.id, None)
        if taken is not None:
            self.violate(
                RULE,
                f"put({event.id}) came out cancelled, yet its item was emitted: a cancelled put "
                "stores nothing (its producer will hand the seq in again)",
                taken,
                event,
            )

    def on_get_cancelled(self, event: Event) -> None:
        """The consumer's get raised its cancellation: it took nothing, and it asks again."""
        self.exercise(RULE)
        self.reader_waiting = False

    # -- the consumer -----------------------------------------------------------------------
    def on_get_begin(self, event: Event) -> None:
        """The consumer waits for the next item."""
        self.reader_waiting = True

    def on_emit(self, event: Event) -> None:
        """An item came out: it must be the next seq, carrying the item put under it."""
        self.reader_waiting = False
        self.exercise(RULE)
        seq = event.id
        if seq not in self.items:
            if isinstance(seq, int) and seq < self.delivered:
                what = f"duplicate: seq {seq} was emitted already (next expected {self.delivered})"
            else:
                what = f"seq {seq} was emitted but never accepted"
            self.violate(RULE, what, event)
            return
        put_item = self.items.pop(seq)
        self.accepted.discard(seq)
        if self.blocked.pop(seq, None) is not None:
            self.taken[seq] = event
        if seq != self.delivered:
            self.violate(
                RULE,
                f"emitted seq {seq} while seq {self.delivered} was next: out of order or gap",
                event,
            )
        elif event.get("item") != put_item:
            self.violate(
                RULE,
                f"seq {seq} came out with item {event.get('item')!r}, but {put_item!r} was put",
                event,
            )
        if isinstance(seq, int):
            self.delivered = max(self.delivered, seq + 1)

    def on_get_end(self, event: Event) -> None:
        """The stream ended: only after close, and with nothing deliverable left behind."""
        self.reader_waiting = False
        self.ended = True
        self.exercise(RULE)
        if not self.closed:
            self.violate(RULE, "the stream ended although close() was never called", event)
        elif self.delivered in self.accepted:
            self.violate(
                RULE,
                f"the stream ended with seq {self.delivered} accepted but never emitted",
                event,
            )

    def on_close(self, event: Event) -> None:
        """The producer closed the stage."""
        self.closed = True

    # -- liveness ---------------------------------------------------------------------------
    def on_idle(self, event: Event) -> None:
        """Everything is blocked: what was due must have happened."""
        if self.reader_waiting:
            self.exercise(RULE)
            if self.delivered in self.accepted:
                self.violate(
                    RULE,
                    f"seq {self.delivered} was accepted and the consumer waits, "
                    "but it was not emitted",
                    event,
                )
        for seq, begin in self.blocked.items():
            self.exercise(RULE)
            if isinstance(seq, int) and seq < self.delivered + self.window:
                self.violate(
                    RULE,
                    f"put({seq}) is still blocked though it lies inside the window "
                    f"({self.delivered} delivered, window {self.window})",
                    begin,
                    event,
                )
                break

    def on_end(self, event: Event) -> None:
        """After close, the next accepted item must have come out."""
        if not self.closed or self.ended:
            return
        self.exercise(RULE)
        if self.delivered in self.accepted:
            self.violate(
                RULE,
                f"after close, seq {self.delivered} was accepted but never emitted",
                event,
            )
