"""BATCH-BOUNDS: batches of 1..max_size items, in put order, none lost, flushed on size or age.

The checker folds these event kinds (the trace format the batch driver records, and what a
trace from another language must provide):

``params``
    ``max_size`` (int >= 1) and ``max_age`` (seconds, > 0).
``put_begin`` id=item
    a producer calls ``put(item)``; items are distinct and the producer puts one at a time, so
    the order of ``put_begin`` events is the put order.
``put_ok`` id=item
    that put returned: the item was accepted.
``flush`` data ``items`` (list of item ids, in batch order), ``size``
    the consumer received a batch from ``batches``.
``batches_end``
    ``batches`` reported its end.
``close``
    the producer called ``close()`` (recorded before the call, so a flush it causes follows it).
``metrics`` data ``counters``
    the batcher's counters read at a settled instant; ``batches`` and ``batched_items`` (the
    reference's names), when present, must equal the batches and items flushed so far
    (METRICS-CONSISTENT).
``idle``, ``end``
    shared: the system settled; the run is over.

What BATCH-BOUNDS demands, clause by clause:

* every batch holds 1..max_size items; batches carry the items in put order, each exactly once,
  so each batch is a prefix of the items not flushed yet;
* a batch is flushed no later than ``max_age`` after its first item was accepted, and at an idle
  no accepted, unflushed item is older than ``max_age``;
* a batch smaller than ``max_size`` is flushed only at age (not before ``max_age`` after its
  first item was handed in) or after close;
* after close, ``batches`` ends only once every accepted item came out.

An item's admission instant lies between its ``put_begin`` and its ``put_ok``: deadlines use
the latter and the "not early" bound the former, so a put that takes time never causes a false
alarm. Times compare with ``EPSILON`` of slack.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from harness.checking import EPSILON, Checker, param
from harness.events import Event

RULE = "BATCH-BOUNDS"
METRICS = "METRICS-CONSISTENT"


@dataclass(slots=True)
class _Pending:
    item: Any
    begin: Event
    accepted_at: float | None = None


class BatchChecker(Checker):
    """Decides BATCH-BOUNDS; memory is O(items not flushed yet)."""

    rules = (RULE, METRICS)

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.max_size: int = param(params, "max_size", int)
        self.max_age: float = param(params, "max_age", float)
        #: Items handed in and not flushed yet, in put order.
        self.pending: deque[_Pending] = deque()
        self.closed = False
        self.ended = False
        self.batches = 0
        self.batched_items = 0

    def on_put_begin(self, event: Event) -> None:
        """An item is handed in; its place in the order is now fixed."""
        self.pending.append(_Pending(event.id, event))

    def on_put_ok(self, event: Event) -> None:
        """The put returned: the item was accepted by now, so its age deadline is known."""
        for entry in reversed(self.pending):
            if entry.item == event.id:
                if entry.accepted_at is None:
                    entry.accepted_at = event.t
                return

    def on_close(self, event: Event) -> None:
        """The producer closed the batcher: the partial batch may now be flushed."""
        self.closed = True

    def on_flush(self, event: Event) -> None:
        """A batch came out: check its size, its contents and its timing."""
        self.exercise(RULE)
        items = list(event.get("items") or ())
        size = len(items)
        self.batches += 1
        self.batched_items += size
        if not 1 <= size <= self.max_size:
            self.violate(RULE, f"a batch of {size} item(s); max_size is {self.max_size}", event)
        if not items:
            return
        first = self.pending[0] if self.pending else None
        if first is not None and first.item == items[0]:
            self._check_timing(event, first, size)
        self._check_contents(event, items)

    def _check_timing(self, event: Event, first: _Pending, size: int) -> None:
        if first.accepted_at is not None and event.t > first.accepted_at + self.max_age + EPSILON:
            self.violate(
                RULE,
                f"batch starting with item {first.item!r} flushed at t={event.t:.6g}, later "
                f"than max_age {self.max_age} after it was accepted (t={first.accepted_at:.6g})",
                first.begin,
                event,
            )
        if (
            size < self.max_size
            and not self.closed
            and event.t < first.begin.t + self.max_age - EPSILON
        ):
            self.violate(
                RULE,
                f"partial batch of {size} (max_size {self.max_size}) flushed at "
                f"t={event.t:.6g}, before max_age {self.max_age} after its first item "
                f"(t={first.begin.t:.6g}) and before close",
                first.begin,
                event,
            )

    def _check_contents(self, event: Event, items: list[Any]) -> None:
        problem: str | None = None
        for item in items:
            if self.pending and self.pending[0].item == item:
                self.pending.popleft()
                continue
            # Out of place: find it further on (skipping items = reordering or loss).
            for index, entry in enumerate(self.pending):
                if entry.item == item:
                    skipped = self.pending[0].item
                    del self.pending[index]
                    problem = problem or (
                        f"item {item!r} came out before item {skipped!r}, which was put earlier"
                    )
                    break
            else:
                problem = problem or f"item {item!r} came out but was not pending (never put, "
                "or flushed already)"
        if problem is not None:
            self.violate(RULE, problem, event)

    def on_metrics(self, event: Event) -> None:
        """The batcher's own counters must match the flushes the trace shows."""
        counters = event.get("counters") or {}
        for name, seen in (("batches", self.batches), ("batched_items", self.batched_items)):
            if name in counters:
                self.exercise(METRICS)
                if int(counters[name]) != seen:
                    self.violate(
                        METRICS,
                        f"counter {name} says {counters[name]}, the trace shows {seen}",
                        event,
                    )

    def on_batches_end(self, event: Event) -> None:
        """``batches`` ended: after close, with every accepted item flushed."""
        self.ended = True
        self.exercise(RULE)
        if not self.closed:
            self.violate(RULE, "batches ended although close() was never called", event)
        elif self.pending:
            lost = [entry.item for entry in list(self.pending)[:5]]
            self.violate(
                RULE,
                f"batches ended with {len(self.pending)} item(s) never flushed, e.g. {lost}",
                self.pending[0].begin,
                event,
            )

    def on_idle(self, event: Event) -> None:
        """At a settled instant no accepted item may be older than max_age."""
        if not self.pending:
            return
        first = self.pending[0]
        self.exercise(RULE)
        if first.accepted_at is not None and event.t > first.accepted_at + self.max_age + EPSILON:
            self.violate(
                RULE,
                f"item {first.item!r}, accepted at t={first.accepted_at:.6g}, is still "
                f"unflushed at t={event.t:.6g}, past max_age {self.max_age}",
                first.begin,
                event,
            )

    def on_end(self, event: Event) -> None:
        """After close, nothing accepted may be left unflushed (if batches never ended)."""
        if self.closed and not self.ended:
            self.exercise(RULE)
            accepted = [entry for entry in self.pending if entry.accepted_at is not None]
            if accepted:
                self.violate(
                    RULE,
                    f"after close, {len(accepted)} accepted item(s) were never flushed",
                    accepted[0].begin,
                    event,
                )
