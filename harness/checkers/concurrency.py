"""Concurrency-limiter rules: CONC-BOUND, -CANCEL-NO-LEAK, -FIFO, -RELEASE-BY-HOLDER, -NO-IDLE-WAIT.

The checker keeps the limiter's books from the trace alone: who waits (in arrival order), who
holds a slot, whose release is under way. A holder is counted from its ``grant`` (its acquire
returned) to its ``release`` (recorded just *before* the harness calls ``release()``), an
interval inside the one it really holds its slot, so counting holders never overstates them;
a slot counts as free again only at ``released`` (the call returned).

* CONC-BOUND: at no ``grant`` do more than ``limit`` holders hold a slot.
* CONC-RELEASE-BY-HOLDER: the harness releases only from the holder's own task, so what can
  break is a *stray* release: ``release()`` called by a task holding no slot (the model tries
  one only where the implementation declares ``strict_release``). It may raise or do nothing,
  but it must not create a slot: an over-admission after any stray release is reported under
  this rule rather than CONC-BOUND.
* CONC-CANCEL-NO-LEAK: a waiter still waiting at the settled instant after its cancellation
  (the cancellation was swallowed), or granted a slot later than the instant it was
  cancelled, breaks it; so does a waiter left waiting while the books show a free slot when
  cancelled tasks can account for every slot that looks free: holders cancelled while
  holding, and waiters cancelled while waiting that began waiting no later than the stuck
  one (any cancelled waiter, where no order is promised). Otherwise the stuck waiter is a
  CONC-NO-IDLE-WAIT. (A limiter that never hands a released slot over fails both once an
  example cancels a holder: that holder's slot was not returned to the waiters either.)
* CONC-FIFO (only when ``params.fifo``): no grant while a waiter that began waiting at an
  earlier settled instant (an ``idle`` in between) still waits, cancelled ones aside. Waiters
  that began at the same instant count as unordered. A grant is recorded when its task runs,
  not when the limiter decided, so an overtaken waiter is judged at the next ``idle``: it is
  a violation if it still waits then (had it been handed its slot first, it would have
  recorded its grant by then).
* CONC-NO-IDLE-WAIT: at every ``idle`` (everything settled), no waiter still waits while
  fewer than ``limit`` slots are held or being released. A failed acquire or release (already
  a NO-HANG or NO-CRASH) leaves the books uncertain, and this clause is not judged after it.

Trace vocabulary (``id`` is a holder number: one task that acquires, holds and releases)::

    params            pattern "concurrency", factory "concurrency_limiter", limit, fifo
    created           data form: "acquire" (acquire/release) or "context" (async with)
    acquire           id; a task began to acquire (it waits until granted)
    grant             id; the acquire returned: the task holds a slot
    cancel            id; the harness cancelled this task (waiting, or holding its slot)
    acquire_cancelled id; the acquire raised Cancelled: the task took no slot
    acquire_failed    id; the acquire hung or crashed (already reported)
    release           id; the holder is about to release (data cancelled: inside a cancellation)
    released          id; the release returned: the slot is free (or handed over)
    release_failed    id; the release hung or crashed (already reported)
    stray_release     id; release() called by a task that holds no slot
    stray_refused     id; it raised (data error), as strict_release allows
    stray_returned    id; it returned
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from harness.checking import Checker, param
from harness.events import Event

#: Tolerance on "granted after it was cancelled", in seconds (float noise on virtual instants).
LATE_TOLERANCE: Final = 1e-7


@dataclass(slots=True)
class _Waiter:
    epoch: int
    begin: Event
    cancel_at: float | None = None
    reported: bool = False


class ConcurrencyChecker(Checker):
    """Every concurrency-limiter rule, folded over the limiter's books."""

    rules = (
        "CONC-BOUND",
        "CONC-CANCEL-NO-LEAK",
        "CONC-FIFO",
        "CONC-RELEASE-BY-HOLDER",
        "CONC-NO-IDLE-WAIT",
    )

    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        self._configure(params)
        self.waiting: OrderedDict[Any, _Waiter] = OrderedDict()
        self.holding: dict[Any, Event] = {}
        self.releasing: set[Any] = set()
        self.epoch = 0  # idle events so far: waiters of different epochs are ordered
        #: Cancelled tasks that may have kept a slot: each holder cancelled while holding, and
        #: the epoch each waiter cancelled while waiting began to wait in.
        self.cancelled_holders = 0
        self.cancelled_waiters: list[int] = []
        self.strays = 0
        #: Grants that overtook a waiter still waiting then: (its id, it, who, whom, grant).
        self.overtaken: list[tuple[Any, _Waiter, Any, _Waiter, Event]] = []
        #: A failed acquire or release: whether a slot is held is unknown from here on.
        self.unsure = False

    def _configure(self, params: Mapping[str, Any]) -> None:
        self.limit: int = param(params, "limit", int)
        self.fifo: bool = bool(param(params, "fifo", bool, False))

    # -- events ----------------------------------------------------------------------------
    def on_params(self, event: Event) -> None:
        """The run's own parameters (a stress run adds ``fifo`` from the declaration)."""
        self._configure({**self.params, **event.data})

    def on_acquire(self, event: Event) -> None:
        """A task joined the line."""
        self.waiting[event.id] = _Waiter(self.epoch, event)

    def on_cancel(self, event: Event) -> None:
        """The harness cancelled a waiter or a holder."""
        waiter = self.waiting.get(event.id)
        if waiter is not None:
            if waiter.cancel_at is None:
                waiter.cancel_at = event.t
                self.cancelled_waiters.append(waiter.epoch)
        elif event.id in self.holding:
            self.cancelled_holders += 1

    def on_acquire_cancelled(self, event: Event) -> None:
        """A waiter left without a slot."""
        self.waiting.pop(event.id, None)

    def on_acquire_failed(self, event: Event) -> None:
        """A waiter hung or crashed (reported elsewhere)."""
        self.waiting.pop(event.id, None)
        self.unsure = True

    def on_stray_release(self, event: Event) -> None:
        """``release()`` by a task holding no slot: from now on, an extra slot is its doing."""
        self.strays += 1
        self.exercise("CONC-RELEASE-BY-HOLDER")

    def on_grant(self, event: Event) -> None:
        """An acquire returned: check the order and the bound, then count the holder."""
        t = event.t
        waiter = self.waiting.pop(event.id, None)
        if waiter is not None:
            if waiter.cancel_at is not None and t > waiter.cancel_at + LATE_TOLERANCE:
                self.exercise("CONC-CANCEL-NO-LEAK")
                self.violate(
                    "CONC-CANCEL-NO-LEAK",
                    f"task {event.id!r} was granted a slot {t - waiter.cancel_at:.6g}s after "
                    "it was cancelled while waiting: the cancellation was swallowed",
                    waiter.begin,
                    event,
                )
            if self.fifo:
                self.exercise("CONC-FIFO")
                earlier = next(
                    (
                        (ident, other)
                        for ident, other in self.waiting.items()
                        if other.epoch < waiter.epoch and other.cancel_at is None
                    ),
                    None,
                )
                if earlier is not None:
                    # Judged at the next settled instant: the earlier waiter may have been
                    # handed its slot first and merely not have run yet to record it.
                    self.overtaken.append((*earlier, event.id, waiter, event))
        self.holding[event.id] = event
        self.exercise("CONC-BOUND")
        if len(self.holding) > self.limit:
            held = list(self.holding.values())
            message = (
                f"{len(self.holding)} tasks hold a slot at once with limit {self.limit} "
                f"(holders {', '.join(repr(e.id) for e in held[:8])})"
            )
            if self.strays:
                self.violate(
                    "CONC-RELEASE-BY-HOLDER",
                    f"after {self.strays} release(s) by a task holding no slot, {message}: "
                    "a stray release created a slot",
                    *held[-8:],
                )
            else:
                self.violate("CONC-BOUND", message, *held[-8:])

    def on_release(self, event: Event) -> None:
        """A holder is about to release: it no longer counts against the bound."""
        if self.holding.pop(event.id, None) is not None:
            self.releasing.add(event.id)

    def on_released(self, event: Event) -> None:
        """The release returned: the slot is free (or already someone else's)."""
        self.releasing.discard(event.id)

    def on_release_failed(self, event: Event) -> None:
        """A release hung or crashed (reported elsewhere): the slot's fate is unknown."""
        self.releasing.discard(event.id)
        self.unsure = True

    def _judge_overtaken(self) -> None:
        """A waiter overtaken by a grant and still waiting now was passed over: not FIFO."""
        for ident, other, later, waiter, grant in self.overtaken:
            if self.waiting.get(ident) is other and other.cancel_at is None:
                self.violate(
                    "CONC-FIFO",
                    f"task {later!r} was granted a slot at t={grant.t:.6g} while task "
                    f"{ident!r}, which began waiting before it (at t={other.begin.t:.6g}, a "
                    "settled instant earlier), still waits: not first come, first served",
                    other.begin,
                    waiter.begin,
                    grant,
                )
        self.overtaken.clear()

    def _suspects(self, head: _Waiter) -> int:
        """How many cancelled tasks could hold the slots a stuck ``head`` is denied.

        Every holder cancelled while holding; every waiter cancelled while waiting that could
        have been handed a slot before ``head``: one that began waiting no later than it, or
        any one when the limiter promises no order.
        """
        waiters = sum(1 for epoch in self.cancelled_waiters if not self.fifo or epoch <= head.epoch)
        return self.cancelled_holders + waiters

    def on_idle(self, event: Event) -> None:
        """Everything settled: no cancelled waiter still waits, no waiter beside a free slot."""
        self.epoch += 1
        self._judge_overtaken()
        live: list[tuple[Any, _Waiter]] = []
        for ident, waiter in self.waiting.items():
            if waiter.cancel_at is None:
                live.append((ident, waiter))
                continue
            self.exercise("CONC-CANCEL-NO-LEAK")
            if not waiter.reported:
                waiter.reported = True
                self.violate(
                    "CONC-CANCEL-NO-LEAK",
                    f"task {ident!r} still waits for a slot after it was cancelled at "
                    f"t={waiter.cancel_at:.6g}: the cancellation was swallowed",
                    waiter.begin,
                    event,
                )
        if self.unsure:
            return
        if self.cancelled_holders or self.cancelled_waiters:
            # The books after a cancellation are judged here: cancelled waiters gone, and no
            # waiter left beside a slot a cancelled task may have kept.
            self.exercise("CONC-CANCEL-NO-LEAK")
        if not live:
            return
        self.exercise("CONC-NO-IDLE-WAIT")
        busy = len(self.holding) + len(self.releasing)
        free = self.limit - busy
        ident, head = live[0]
        if free <= 0 or head.reported:
            return
        head.reported = True
        message = (
            f"task {ident!r} still waits (since t={head.begin.t:.6g}) although only {busy} of "
            f"{self.limit} slots are held"
        )
        suspects = self._suspects(head)
        if suspects and free <= suspects:
            self.violate(
                "CONC-CANCEL-NO-LEAK",
                f"after {suspects} cancellation(s) that could have kept a slot, {message}: "
                "a cancelled task kept its slot",
                head.begin,
                event,
            )
        else:
            self.violate("CONC-NO-IDLE-WAIT", message, head.begin, event)
