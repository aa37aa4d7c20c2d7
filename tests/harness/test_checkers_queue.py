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
