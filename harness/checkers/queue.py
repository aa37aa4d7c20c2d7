"""Queue rules (guide §2, §7): the QUEUE-* rules and the queue's METRICS-CONSISTENT.

Trace vocabulary (``id`` is the item unless said otherwise)::

    params        capacity (int or null), policy ("newest" | "oldest" | null), factory,
                  fifo_waiters (bool, default false: whether QUEUE-FIFO-WAITERS is judged)
    put           a put began; data mode: "blocking" | "nowait" | "offer"
    put_ok        the item was accepted
    put_full      a non-blocking put was refused because the queue was full (WouldBlock)
    put_closed    the put was refused because the queue is closed
    put_cancelled a blocking put was cancelled (the item must not have been enqueued)
    offer_refused a dropping queue refused the item (drop-newest)
    get           a get began; id: the getter; data mode: "blocking" | "nowait"
    get_ok        id: the getter; data item: the item taken
    get_empty     id: the getter; a non-blocking get found nothing (WouldBlock)
    get_end       id: the getter; the queue is closed and drained (EndOfChannel)
    get_cancelled id: the getter; a blocking get was cancelled (nothing may be removed)
    close         the queue was closed
    length        data n: the queue's own length, read at an idle instant
    metrics       data counters: the queue's counters ({"drops": n})

Between two ``idle`` events, a harness task may not yet have recorded an operation the queue
already performed (a woken putter whose item was handed in, a woken getter that holds an
item); the checks made mid-step allow for those, and the exact accounting is done at ``idle``,
when every task is blocked and has recorded all it saw.

QUEUE-FIFO: an item taken while an item accepted before it was offered is still held is out of
order, unless the other blocked getters could hold every such item already (handed over, their
``get_ok`` not yet recorded: two gets served in one instant record in any order). Then the
verdict waits for the next ``idle``, when an older item still held is still in the queue.

QUEUE-FIFO-WAITERS (only when ``params.fifo_waiters``) orders waiters by the settled instant
their call began in: a blocking put or get still waiting at an ``idle`` was blocked then, and
calls that began between the same two ``idle`` events are unordered. When a put is accepted
(or a get takes an item) while a blocked putter (getter) that began at an earlier settled
instant still waits, the verdict waits for the next ``idle``: the queue may have served the
earlier one first and its task merely not have run yet to record it. If that one still waits
then (not cancelled, not refused), it was overtaken, by a later blocked call or by a
non-blocking one that took the room (the item) it was waiting for.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

from harness.checkers import Recent
from harness.checking import Checker, param
from harness.events import Event

FIFO_WAITERS: Final = "QUEUE-FIFO-WAITERS"


@dataclass(frozen=True, slots=True)
class _Overtaking:
    """A call served while an earlier blocked one of the same side still waited."""

    side: str  # "put" or "get"
    waiter: Any  # the item of the blocked put, or the blocked getter
    begin: Event  # its ``put``/``get`` event
    served: Any  # the item accepted, or the getter that took an item
    mode: str  # the served call's mode: "blocking", "nowait", "offer" (or "unknown")
    event: Event  # the ``put_ok``/``get_ok`` that served it


class QueueChecker(Checker):
    """All queue rules, folded over one model of the queue's contents."""

    rules = (
        "QUEUE-BOUND",
        "QUEUE-BACKPRESSURE",
        "QUEUE-DROP-POLICY",
        "QUEUE-CONSERVATION",
        "QUEUE-FIFO",
        "QUEUE-CLOSE",
        FIFO_WAITERS,
        "METRICS-CONSISTENT",
    )

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.capacity: int | None = param(params, "capacity", int, None)
        self.policy: str | None = param(params, "policy", str, None)
        self.closed_at: Event | None = None
        self.closed_no: int | None = None
        self.event_no = 0
        # Accepted, not yet taken or evicted, in acceptance order: item -> (put begin no, ok no).
        self.held: OrderedDict[Any, tuple[int, int]] = OrderedDict()
        self.began: dict[Any, tuple[int, Event]] = {}  # puts begun and not finished
        self.blocking_puts: dict[Any, Event] = {}
        self.getters: dict[Any, Event] = {}  # gets begun and not finished
        self.blocking_gets: dict[Any, Event] = {}
        # Finished items, the last RECENT_LIMIT of each kind, so memory stays flat in a stress
        # run; an older item coming out again is still caught, as never put.
        self.taken: Recent[Any, None] = Recent()
        self.evicted: Recent[Any, None] = Recent()
        self.refused: Recent[Any, str] = Recent()  # item -> why it was not enqueued
        self.drops = 0
        self.fifo_waiters = bool(param(params, "fifo_waiters", bool, False))
        self.epoch = 0  # idle events so far: calls of different epochs are ordered
        # The epoch each unfinished put (by item) and get (by getter) began in.
        self.put_epochs: dict[Any, int] = {}
        self.get_epochs: dict[Any, int] = {}
        self.overtaken: list[_Overtaking] = []
        # Items taken while older ones were still held, each with those older items: a
        # blocked getter may have been handed them and not have run yet to record it.
        self.passed_over: list[tuple[Any, list[Any], Event]] = []

    # -- helpers ---------------------------------------------------------------------------
    def _tick(self) -> int:
        self.event_no += 1
        return self.event_no

    def _full(self) -> bool:
        return self.capacity is not None and len(self.held) >= self.capacity

    # -- puts ------------------------------------------------------------------------------
    def on_put(self, event: Event) -> None:
        """A put began."""
        self.began[event.id] = (self._tick(), event)
        self.put_epochs[event.id] = self.epoch
        if event.get("mode") == "blocking":
            self.blocking_puts[event.id] = event

    def on_put_ok(self, event: Event) -> None:
        """An item was accepted."""
        begin_no, begin = self.began.pop(event.id, (self._tick(), event))
        self.blocking_puts.pop(event.id, None)
        since = self.put_epochs.pop(event.id, self.epoch)
        if self.fifo_waiters:
            mode = str(begin.get("mode") or "unknown")
            self._served("put", event.id, since, mode, self.blocking_puts, self.put_epochs, event)
        ok_no = self._tick()
        if event.id in self.taken:
            # A woken getter recorded it first; the acceptance already happened.
            return
        if self.closed_no is not None and begin_no > self.closed_no:
            self.violate("QUEUE-CLOSE", f"put of {event.id!r} accepted after close", begin, event)
        if self._full():
            if self.policy == "oldest":
                victim, _ = self.held.popitem(last=False)
                self.evicted.add(victim)
                self.drops += 1
                self.exercise("QUEUE-DROP-POLICY")
            elif self.policy == "newest":
                self.exercise("QUEUE-DROP-POLICY")
                self.violate(
                    "QUEUE-DROP-POLICY",
                    f"drop-newest queue accepted {event.id!r} while full",
                    event,
                )
        self.held[event.id] = (begin_no, ok_no)

    def on_put_full(self, event: Event) -> None:
        """A non-blocking put was refused as full."""
        self.exercise("QUEUE-BACKPRESSURE")
        self.began.pop(event.id, None)
        self.put_epochs.pop(event.id, None)
        self.refused[event.id] = "refused as full"
        if self.closed_at is not None:
            self.violate("QUEUE-CLOSE", "a put after close was refused as full, not closed", event)
            return
        pending = len(self.blocking_puts)
        if self.capacity is None or len(self.held) + pending < self.capacity:
            self.violate(
                "QUEUE-BACKPRESSURE",
                f"put_nowait refused {event.id!r} as full with {len(self.held)} of "
                f"{self.capacity} slots used",
                event,
            )

    def on_offer_refused(self, event: Event) -> None:
        """A dropping queue refused an offer."""
        self.exercise("QUEUE-DROP-POLICY")
        self.began.pop(event.id, None)
        self.put_epochs.pop(event.id, None)
        self.refused[event.id] = "refused by the drop policy"
        self.drops += 1
        if self.policy != "newest":
            self.violate("QUEUE-DROP-POLICY", f"{self.policy} queue refused {event.id!r}", event)
        elif not self._full():
            self.violate(
                "QUEUE-DROP-POLICY",
                f"refused {event.id!r} with {len(self.held)} of {self.capacity} slots used",
                event,
            )

    def on_put_closed(self, event: Event) -> None:
        """A put was refused because the queue is closed."""
        self.exercise("QUEUE-CLOSE")
        self.began.pop(event.id, None)
        self.blocking_puts.pop(event.id, None)
        self.put_epochs.pop(event.id, None)
        self.refused[event.id] = "refused as closed"
        if self.closed_at is None:
            self.violate("QUEUE-CLOSE", f"put of {event.id!r} refused as closed while open", event)

    def on_put_cancelled(self, event: Event) -> None:
        """A blocking put was cancelled."""
        self.exercise("QUEUE-CONSERVATION")
        self.began.pop(event.id, None)
        self.blocking_puts.pop(event.id, None)
        self.put_epochs.pop(event.id, None)
        self.refused[event.id] = "cancelled"
        if event.id in self.taken:
            self.violate(
                "QUEUE-CONSERVATION",
                f"put of {event.id!r} reported cancelled, but the item was enqueued and taken",
                event,
            )

    # -- gets ------------------------------------------------------------------------------
    def on_get(self, event: Event) -> None:
        """A get began."""
        self.getters[event.id] = event
        self.get_epochs[event.id] = self.epoch
        if event.get("mode") == "blocking":
            self.blocking_gets[event.id] = event

    def on_get_ok(self, event: Event) -> None:
        """An item was taken."""
        begin = self.getters.pop(event.id, event)
        self.blocking_gets.pop(event.id, None)
        since = self.get_epochs.pop(event.id, self.epoch)
        if self.fifo_waiters:
            mode = str(begin.get("mode") or "unknown")
            self._served("get", event.id, since, mode, self.blocking_gets, self.get_epochs, event)
        item = event.get("item")
        self.exercise("QUEUE-CONSERVATION")
        if item in self.taken:
            self.violate("QUEUE-CONSERVATION", f"{item!r} taken twice", event)
            return
        if item in self.evicted:
            self.violate(
                "QUEUE-DROP-POLICY",
                f"{item!r} came out although drop-oldest should have evicted it: the wrong end "
                "was dropped",
                event,
            )
            self.taken.add(item)
            return
        if item in self.refused:
            self.violate(
                "QUEUE-CONSERVATION",
                f"{item!r} came out although its put was {self.refused[item]}",
                event,
            )
            self.taken.add(item)
            return
        if item not in self.held and item not in self.began:
            self.violate("QUEUE-CONSERVATION", f"{item!r} came out but was never put", event)
            return
        self.taken.add(item)
        if item in self.held:
            begin_no, _ = self.held.pop(item)
        else:
            begin_no = self.began[item][0]
        if self.held:
            self.exercise("QUEUE-FIFO")
            # Held items accepted before this one was offered (held is in acceptance order);
            # as many as the other blocked getters may be in their hands already, unrecorded.
            older: list[Any] = []
            for held, (_, ok_no) in self.held.items():
                if ok_no >= begin_no or len(older) > len(self.blocking_gets):
                    break
                older.append(held)
            if len(older) > len(self.blocking_gets):
                self._came_out_before(item, older[0], event)
            elif older:
                self.passed_over.append((item, older, event))

    def _came_out_before(self, item: Any, oldest: Any, *events: Event) -> None:
        self.violate(
            "QUEUE-FIFO",
            f"{item!r} came out before {oldest!r}, which was accepted before {item!r} was even "
            "offered",
            *events,
        )

    def on_get_empty(self, event: Event) -> None:
        """A non-blocking get found nothing."""
        self.getters.pop(event.id, None)
        self.get_epochs.pop(event.id, None)
        if self.closed_at is not None and not self.held:
            self.violate("QUEUE-CLOSE", "get_nowait on a closed, drained queue did not end", event)
        elif len(self.held) - len(self.blocking_gets) > 0:
            self.violate(
                "QUEUE-CONSERVATION",
                f"get_nowait found the queue empty while it held {list(self.held)[:5]}",
                event,
            )

    def on_get_end(self, event: Event) -> None:
        """A get reported the end of the queue."""
        self.exercise("QUEUE-CLOSE")
        self.getters.pop(event.id, None)
        self.blocking_gets.pop(event.id, None)
        self.get_epochs.pop(event.id, None)
        if self.closed_at is None:
            self.violate("QUEUE-CLOSE", "a get reported the end before close", event)
        elif len(self.held) - len(self.blocking_gets) > 0:
            self.violate(
                "QUEUE-CONSERVATION",
                f"a get reported the end while {list(self.held)[:5]} never came out: lost",
                event,
            )

    def on_get_cancelled(self, event: Event) -> None:
        """A blocking get was cancelled; what it would have taken must still be there."""
        self.getters.pop(event.id, None)
        self.blocking_gets.pop(event.id, None)
        self.get_epochs.pop(event.id, None)

    def on_close(self, event: Event) -> None:
        """The queue was closed."""
        if self.closed_at is None:
            self.closed_at = event
            self.closed_no = self._tick()

    # -- the order of waiters --------------------------------------------------------------
    def _served(
        self,
        side: str,
        served: Any,
        since: int,
        mode: str,
        waiting: dict[Any, Event],
        epochs: dict[Any, int],
        event: Event,
    ) -> None:
        """A call that began in epoch ``since`` was served: note the earliest it passed over.

        ``waiting`` holds the blocked calls of the same side in the order they began, so the
        first one (other than ``served``) is the only candidate to have been overtaken.
        """
        if since < self.epoch:
            self.exercise(FIFO_WAITERS)  # a call that was blocked at a settled instant
        first = next(((k, e) for k, e in waiting.items() if k != served), None)
        if first is None:
            return
        waiter, begin = first
        if epochs.get(waiter, since) < since:
            self.exercise(FIFO_WAITERS)
            self.overtaken.append(_Overtaking(side, waiter, begin, served, mode, event))

    def _judge_overtaken(self, idle: Event) -> None:
        """An earlier blocked call still waiting a settled instant after a later one was served."""
        for case in self.overtaken:
            waiting = self.blocking_puts if case.side == "put" else self.blocking_gets
            if waiting.get(case.waiter) is not case.begin:
                continue  # served (or cancelled, or refused) by now: nothing was overtaken
            if case.side == "put":
                what = f"{case.served!r} was accepted"
                whom = f"the put of {case.waiter!r}"
                needs = "room"
            else:
                what = f"get #{case.served!r} took an item"
                whom = f"get #{case.waiter!r}"
                needs = "item"
            if case.mode == "blocking":
                how = "blocked calls are not served in the order they began to wait"
            elif case.mode == "unknown":
                how = "a later call was served first"
            else:
                how = f"a non-blocking call took the {needs} a blocked {case.side} waited for"
            self.violate(
                FIFO_WAITERS,
                f"{what} at t={case.event.t:.6g} while {whom}, blocked since "
                f"t={case.begin.t:.6g} (a settled instant earlier), still waits: {how}",
                case.begin,
                case.event,
                idle,
            )
        self.overtaken.clear()

    # -- settled states --------------------------------------------------------------------
    def on_idle(self, event: Event) -> None:
        """Every task is blocked: the accounting is exact and nothing due may still wait."""
        if self.overtaken:
            self._judge_overtaken(event)
        for item, older, taken in self.passed_over:
            # Every getter has recorded what it took by now: an older item still held is
            # still in the queue.
            still = [held for held in older if held in self.held]
            if still:
                self._came_out_before(item, still[0], taken, event)
        self.passed_over.clear()
        self.epoch += 1
        if self.capacity is not None:
            self.exercise("QUEUE-BOUND")
            if len(self.held) > self.capacity:
                self.violate(
                    "QUEUE-BOUND",
                    f"holds {len(self.held)} items, capacity {self.capacity}",
                    event,
                )
        if self.blocking_puts:
            self.exercise("QUEUE-BACKPRESSURE")
            if self.closed_at is not None:
                first = next(iter(self.blocking_puts.values()))
                self.violate("QUEUE-CLOSE", "a put still blocks after close", first, event)
            elif not self._full():
                first = next(iter(self.blocking_puts.values()))
                self.violate(
                    "QUEUE-BACKPRESSURE",
                    f"put of {first.id!r} still blocks with {len(self.held)} of "
                    f"{self.capacity} slots used",
                    first,
                    event,
                )
        if self.blocking_gets:
            first = next(iter(self.blocking_gets.values()))
            if self.held:
                self.exercise("QUEUE-BACKPRESSURE")
                self.violate(
                    "QUEUE-BACKPRESSURE",
                    f"a get still waits while {list(self.held)[:5]} are queued",
                    first,
                    event,
                )
            elif self.closed_at is not None:
                self.violate("QUEUE-CLOSE", "a get still waits on a closed, empty queue", first)

    def on_length(self, event: Event) -> None:
        """The queue's own length gauge, read at an idle instant."""
        n = int(event.get("n", 0))
        if self.capacity is not None and n > self.capacity:
            self.violate("QUEUE-BOUND", f"len() is {n}, capacity {self.capacity}", event)
        self.exercise("METRICS-CONSISTENT")
        # A put may have placed its item and not yet returned (or a get taken one and not
        # yet returned); such in-flight calls widen what len() may say.
        low = len(self.held) - len(self.blocking_gets)
        high = len(self.held) + len(self.blocking_puts)
        if not low <= n <= high:
            self.violate(
                "METRICS-CONSISTENT", f"len() is {n} but {len(self.held)} items are held", event
            )

    def on_metrics(self, event: Event) -> None:
        """The queue's counters must agree with the drops the trace shows."""
        counters = event.get("counters") or {}
        if self.policy is not None:
            # A counter that was never incremented may be absent: it reads as zero.
            reported = int(counters.get("drops", 0))
            self.exercise("METRICS-CONSISTENT")
            if reported != self.drops:
                self.violate(
                    "METRICS-CONSISTENT",
                    f"drops counter says {reported}, the trace shows {self.drops}",
                    event,
                )

    def on_end(self, event: Event) -> None:
        """After the final drain nothing accepted may be missing."""
        if self.held and self.closed_at is not None:
            self.exercise("QUEUE-CONSERVATION")
            self.violate(
                "QUEUE-CONSERVATION",
                f"accepted items never came out: {list(self.held)[:5]}",
                event,
            )
