"""The queue checker flags hand-written violating traces by rule ID and passes valid ones."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checkers.queue import QueueChecker
from harness.checking import TraceChecker
from harness.events import Event

BOUNDED = {"pattern": "queue", "factory": "bounded_queue", "capacity": 1, "policy": None}
NEWEST = {**BOUNDED, "factory": "dropping_queue", "policy": "newest"}
OLDEST = {**BOUNDED, "factory": "dropping_queue", "policy": "oldest"}


def ev(kind: str, ident: Any = None, t: float = 0.0, **data: Any) -> Event:
    return Event(t, kind, ident, data)


def rules_broken(params: dict[str, Any], events: list[Event]) -> set[str]:
    checker = TraceChecker([QueueChecker(params)])
    checker.feed_all(events)
    return {v.rule_id for v in checker.violations()}


VALID = [
    ev("put", 0, mode="nowait"),
    ev("put_ok", 0),
    ev("put", 1, mode="blocking"),
    ev("idle"),
    ev("get", 0, mode="nowait"),
    ev("get_ok", 0, item=0),
    ev("put_ok", 1),
    ev("idle"),
    ev("length", n=1),
    ev("close"),
    ev("get", 1, mode="nowait"),
    ev("get_ok", 1, item=1),
    ev("get", 2, mode="nowait"),
    ev("get_end", 2),
    ev("idle"),
    ev("end"),
]


def test_valid_trace_passes() -> None:
    assert rules_broken(BOUNDED, VALID) == set()


def test_handoff_recorded_by_getter_before_putter_is_not_a_violation() -> None:
    events = [
        ev("put", 0, mode="blocking"),
        ev("get", 0, mode="blocking"),
        ev("get_ok", 0, item=0),
        ev("put_ok", 0),
        ev("idle"),
        ev("end"),
    ]
    assert rules_broken(BOUNDED, events) == set()


@pytest.mark.parametrize(
    ("params", "events", "rule_id"),
    [
        (
            BOUNDED,
            [ev("put", 0), ev("put_ok", 0), ev("put", 1), ev("put_ok", 1), ev("idle")],
            "QUEUE-BOUND",
        ),
        (BOUNDED, [ev("put", 0, mode="nowait"), ev("put_full", 0)], "QUEUE-BACKPRESSURE"),
        (BOUNDED, [ev("put", 0, mode="blocking"), ev("idle")], "QUEUE-BACKPRESSURE"),
        (
            BOUNDED,
            [
                ev("put", 0),
                ev("put_ok", 0),
                ev("get", 0, mode="blocking"),
                ev("put", 1, mode="blocking"),
                ev("idle"),
            ],
            "QUEUE-BACKPRESSURE",
        ),
        (NEWEST, [ev("put", 0, mode="offer"), ev("offer_refused", 0)], "QUEUE-DROP-POLICY"),
        (
            OLDEST,
            [
                ev("put", 0, mode="offer"),
                ev("put_ok", 0),
                ev("put", 1, mode="offer"),
                ev("put_ok", 1),
                ev("get", 0),
                ev("get_ok", 0, item=0),
            ],
            "QUEUE-DROP-POLICY",
        ),
        (
            BOUNDED,
            [
                ev("put", 0),
                ev("put_ok", 0),
                ev("get", 0),
                ev("get_ok", 0, item=0),
                ev("get", 1),
                ev("get_ok", 1, item=0),
            ],
            "QUEUE-CONSERVATION",
        ),
        (
            BOUNDED,
            [
                ev("put", 0, mode="blocking"),
                ev("put_cancelled", 0),
                ev("get", 0),
                ev("get_ok", 0, item=0),
            ],
            "QUEUE-CONSERVATION",
        ),
        (BOUNDED, [ev("put", 0), ev("put_ok", 0), ev("close"), ev("end")], "QUEUE-CONSERVATION"),
        (
            {**BOUNDED, "capacity": 2},
            [
                ev("put", 0),
                ev("put_ok", 0),
                ev("put", 1),
                ev("put_ok", 1),
                ev("get", 0),
                ev("get_ok", 0, item=1),
            ],
            "QUEUE-FIFO",
        ),
        (BOUNDED, [ev("close"), ev("put", 0, mode="nowait"), ev("put_ok", 0)], "QUEUE-CLOSE"),
        (BOUNDED, [ev("get", 0), ev("get_end", 0)], "QUEUE-CLOSE"),
        (BOUNDED, [ev("close"), ev("get", 0, mode="blocking"), ev("idle")], "QUEUE-CLOSE"),
        (
            NEWEST,
            [
                ev("put", 0, mode="offer"),
                ev("put_ok", 0),
                ev("put", 1, mode="offer"),
                ev("offer_refused", 1),
                ev("metrics", counters={"drops": 0}),
            ],
            "METRICS-CONSISTENT",
        ),
        (BOUNDED, [ev("put", 0), ev("put_ok", 0), ev("length", n=0)], "METRICS-CONSISTENT"),
    ],
)
def test_violating_trace_is_flagged(
    params: dict[str, Any], events: list[Event], rule_id: str
) -> None:
    assert rule_id in rules_broken(params, events)


def test_taken_items_are_forgotten_so_memory_stays_flat() -> None:
    checker = QueueChecker({**BOUNDED, "capacity": 4})
    checker.taken.limit = 8
    trace = TraceChecker([checker])
    for item in range(100):
        trace.feed_all(
            [
                ev("put", item, mode="nowait"),
                ev("put_ok", item),
                ev("get", "g", mode="nowait"),
                ev("get_ok", "g", item=item),
                ev("idle"),
            ]
        )
    assert len(checker.taken) == 8
    assert not checker.held
    assert checker.violations == []
    # An item taken long ago coming out again is still a conservation violation.
    trace.feed_all([ev("get", "g", mode="nowait"), ev("get_ok", "g", item=0)])
    assert {v.rule_id for v in checker.violations} == {"QUEUE-CONSERVATION"}


# -- QUEUE-FIFO-WAITERS ------------------------------------------------------------------------

FIFO = {**BOUNDED, "fifo_waiters": True}
UNBOUNDED_FIFO = {**FIFO, "factory": "unbounded_queue", "capacity": None}

#: Capacity 1, full; put 1 blocks at one settled instant, put 2 at the next.
TWO_BLOCKED_PUTTERS = [
    ev("put", 0, mode="nowait"),
    ev("put_ok", 0),
    ev("put", 1, mode="blocking"),
    ev("idle"),
    ev("put", 2, mode="blocking"),
    ev("idle"),
]

PUTTERS_OUT_OF_ORDER = [
    *TWO_BLOCKED_PUTTERS,
    ev("get", "g", mode="nowait"),
    ev("get_ok", "g", item=0),
    ev("put_ok", 2),  # the later putter got the slot
    ev("idle"),  # ... and put 1 still waits
]


@pytest.mark.parametrize(
    ("params", "events"),
    [
        pytest.param(FIFO, PUTTERS_OUT_OF_ORDER, id="putters-newest-first"),
        pytest.param(
            FIFO,
            [
                ev("put", 0, mode="nowait"),
                ev("put_ok", 0),
                ev("put", 1, mode="blocking"),
                ev("idle"),
                ev("get", "g", mode="nowait"),
                ev("get_ok", "g", item=0),
                ev("put", 2, mode="nowait"),
                ev("put_ok", 2),  # took the slot put 1 was waiting for
                ev("idle"),
            ],
            id="put-nowait-overtakes",
        ),
        pytest.param(
            UNBOUNDED_FIFO,
            [
                ev("get", "a", mode="blocking"),
                ev("idle"),
                ev("get", "b", mode="blocking"),
                ev("idle"),
                ev("put", 0, mode="nowait"),
                ev("put_ok", 0),
                ev("get_ok", "b", item=0),  # the later getter got the item
                ev("idle"),  # ... and get a still waits
            ],
            id="getters-newest-first",
        ),
        pytest.param(
            UNBOUNDED_FIFO,
            [
                ev("get", "a", mode="blocking"),
                ev("idle"),
                ev("put", 0, mode="nowait"),
                ev("put_ok", 0),
                ev("get", "b", mode="nowait"),
                ev("get_ok", "b", item=0),  # took the item get a was waiting for
                ev("idle"),
            ],
            id="get-nowait-steals",
        ),
    ],
)
def test_fifo_waiters_flags_an_overtaken_waiter(
    params: dict[str, Any], events: list[Event]
) -> None:
    assert rules_broken(params, events) == {"QUEUE-FIFO-WAITERS"}


@pytest.mark.parametrize(
    "events",
    [
        pytest.param(
            [
                ev("put", 0, mode="nowait"),
                ev("put_ok", 0),
                ev("put", 1, mode="blocking"),
                ev("idle"),
                ev("get", "g", mode="nowait"),
                ev("get_ok", "g", item=0),
                ev("put", 2, mode="nowait"),
                ev("put_full", 2),  # the slot is put 1's ...
                ev("put_ok", 1),  # ... which records it only now
                ev("idle"),
            ],
            id="nowait-refused-woken-putter-records-late",
        ),
        pytest.param(
            [
                *TWO_BLOCKED_PUTTERS,
                ev("get", "g", mode="nowait"),
                ev("get_ok", "g", item=0),
                ev("put_ok", 1),
                ev("get", "h", mode="nowait"),
                ev("get_ok", "h", item=1),
                ev("put_ok", 2),
                ev("idle"),
            ],
            id="two-slots-freed-in-one-instant",
        ),
        pytest.param(
            [
                ev("put", 0, mode="nowait"),
                ev("put_ok", 0),
                ev("put", 1, mode="blocking"),
                ev("put", 2, mode="blocking"),  # the same instant: not ordered
                ev("idle"),
                ev("get", "g", mode="nowait"),
                ev("get_ok", "g", item=0),
                ev("put_ok", 2),
                ev("idle"),
            ],
            id="same-instant-putters-unordered",
        ),
        pytest.param(
            [
                *TWO_BLOCKED_PUTTERS,
                ev("get", "g", mode="nowait"),
                ev("get_ok", "g", item=0),
                ev("put_ok", 2),
                ev("put_cancelled", 1),  # put 1 was cancelled in that instant
                ev("idle"),
            ],
            id="overtaken-waiter-cancelled",
        ),
    ],
)
def test_fifo_waiters_passes_waiters_served_in_order(events: list[Event]) -> None:
    checker = TraceChecker([QueueChecker(FIFO)])
    checker.feed_all(events)
    assert {v.rule_id for v in checker.violations()} == set()
    assert "QUEUE-FIFO-WAITERS" in checker.exercised()


def test_fifo_waiters_is_judged_only_with_the_capability() -> None:
    checker = TraceChecker([QueueChecker(BOUNDED)])
    checker.feed_all(PUTTERS_OUT_OF_ORDER)
    assert checker.violations() == []
    assert "QUEUE-FIFO-WAITERS" not in checker.exercised()


def test_fifo_waiters_waits_for_the_settled_instant_before_judging() -> None:
    # Capacity 2: two slots freed in one instant admit puts 2 and 3 in order, but put 3's
    # task happens to record its return first. By the next settled instant both have.
    events = [
        ev("put", 0, mode="nowait"),
        ev("put_ok", 0),
        ev("put", 1, mode="nowait"),
        ev("put_ok", 1),
        ev("put", 2, mode="blocking"),
        ev("idle"),
        ev("put", 3, mode="blocking"),
        ev("idle"),
        ev("get", "g", mode="nowait"),
        ev("get_ok", "g", item=0),
        ev("get", "h", mode="nowait"),
        ev("get_ok", "h", item=1),
        ev("put_ok", 3),
        ev("put_ok", 2),
        ev("idle"),
    ]
    assert rules_broken({**FIFO, "capacity": 2}, events) == set()
    # Had put 2 still been waiting at that instant, put 3 would have overtaken it.
    overtaken = [e for e in events if not (e.kind == "put_ok" and e.id == 2)]
    assert "QUEUE-FIFO-WAITERS" in rules_broken({**FIFO, "capacity": 2}, overtaken)


# -- QUEUE-FIFO with two gets served in one instant ------------------------------------------
UNBOUNDED = {**BOUNDED, "factory": "unbounded_queue", "capacity": None}
#: Items 0 then 1 accepted, a settled instant apart.
TWO_HELD = [
    ev("put", 0, mode="nowait"),
    ev("put_ok", 0),
    ev("idle"),
    ev("put", 1, mode="nowait"),
    ev("put_ok", 1),
    ev("idle"),
]


def test_two_gets_of_one_instant_may_record_out_of_take_order() -> None:
    # Get #0 took 0 and get #1 took 1, in that order, but #1 returned to the harness first.
    events = [
        *TWO_HELD,
        ev("get", 0, mode="blocking"),
        ev("get", 1, mode="blocking"),
        ev("get_ok", 1, item=1),
        ev("get_ok", 0, item=0),
        ev("idle"),
        ev("end"),
    ]
    assert rules_broken(UNBOUNDED, events) == set()


def test_an_item_handed_to_a_waiting_getter_may_be_recorded_after_a_later_take() -> None:
    # Getter #0 waits; 0 is handed to it, 1 is buffered and taken by get_nowait #1, all before
    # getter #0 runs again to record what it was handed.
    events = [
        ev("get", 0, mode="blocking"),
        ev("idle"),
        ev("put", 0, mode="nowait"),
        ev("put_ok", 0),
        ev("put", 1, mode="nowait"),
        ev("put_ok", 1),
        ev("get", 1, mode="nowait"),
        ev("get_ok", 1, item=1),
        ev("get_ok", 0, item=0),
        ev("idle"),
        ev("end"),
    ]
    assert rules_broken(UNBOUNDED, events) == set()


def test_a_later_item_taken_while_the_older_stays_queued_breaks_fifo() -> None:
    # Get #0 is in flight, so the verdict waits for the settled instant; #0 was cancelled
    # meanwhile, and 0 is still queued then.
    events = [
        *TWO_HELD,
        ev("get", 0, mode="blocking"),
        ev("get", 1, mode="blocking"),
        ev("get_ok", 1, item=1),
        ev("get_cancelled", 0),
    ]
    assert rules_broken(UNBOUNDED, events) == set()
    assert rules_broken(UNBOUNDED, [*events, ev("idle")]) == {"QUEUE-FIFO"}


def test_more_older_items_than_getters_in_flight_break_fifo_at_once() -> None:
    events = [
        *TWO_HELD,
        ev("put", 2, mode="nowait"),
        ev("put_ok", 2),
        ev("idle"),
        ev("get", 0, mode="blocking"),
        ev("get", 1, mode="nowait"),
        ev("get_ok", 1, item=2),
    ]
    assert rules_broken(UNBOUNDED, events) == {"QUEUE-FIFO"}
