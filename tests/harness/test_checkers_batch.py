"""BATCH-BOUNDS (and the batch counters) on hand-written traces."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checkers.batch import BatchChecker
from harness.checking import TraceChecker
from harness.events import Event

RULE = "BATCH-BOUNDS"
METRICS = "METRICS-CONSISTENT"


def E(t: float, kind: str, ident: Any = None, **data: Any) -> Event:
    return Event(t, kind, ident, data)


def put(t: float, *items: int) -> list[Event]:
    return [e for i in items for e in (E(t, "put_begin", i), E(t, "put_ok", i))]


def flush(t: float, *items: int) -> Event:
    return E(t, "flush", None, items=list(items), size=len(items))


def check(
    events: list[Event], max_size: int = 2, max_age: float = 0.5
) -> tuple[list[str], set[str]]:
    params = {"pattern": "batch", "max_size": max_size, "max_age": max_age}
    trace = TraceChecker([BatchChecker(params)])
    trace.feed_all([E(0, "params", None, **params), *events])
    return [v.rule_id for v in trace.violations()], trace.exercised()


def test_a_legitimate_run_passes_and_is_exercised() -> None:
    events = [
        *put(0, 0),
        E(0, "idle"),
        E(0.25, "idle"),
        flush(0.5, 0),  # at age, exactly
        E(0.5, "idle"),
        *put(1, 1, 2),
        flush(1, 1, 2),  # full: at once
        *put(1, 3),
        E(1, "idle"),
        E(1, "metrics", None, counters={"batches": 2, "batched_items": 3}),
        flush(1.5 + 1e-12, 3),  # at age, a float hair late
        *put(2, 4),
        E(2.1, "close"),
        flush(2.1, 4),  # partial, early, but closed
        E(2.1, "batches_end"),
        E(2.1, "idle"),
        E(2.1, "metrics", None, counters={"batches": 4, "batched_items": 5}),
        E(2.1, "end"),
    ]
    violations, exercised = check(events)
    assert violations == []
    assert {RULE, METRICS} <= exercised


def test_an_item_is_in_the_batch_before_its_put_returns() -> None:
    # A put that hands its item to the batching task may return after the flush it caused.
    events = [
        *put(0, 0),
        E(0, "put_begin", 1),
        flush(0, 0, 1),
        E(0, "put_ok", 1),
        E(0, "idle"),
        E(0, "close"),
        E(0, "batches_end"),
        E(0, "end"),
    ]
    assert check(events)[0] == []


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([*put(0, 0, 1, 2), flush(0, 0, 1, 2)], id="batch over max_size"),
        pytest.param([flush(0)], id="empty batch"),
        pytest.param([*put(0, 0, 1), flush(0, 1, 0)], id="items out of put order"),
        pytest.param([*put(0, 0, 1), flush(0, 0, 1), flush(0, 1)], id="item flushed twice"),
        pytest.param([*put(0, 0, 1), flush(0, 1)], id="item skipped (lost)"),
        pytest.param([flush(0, 9)], id="item never put"),
        pytest.param([*put(0, 0), flush(0.75, 0)], id="flushed later than max_age"),
        pytest.param([*put(0, 0), E(0.6, "idle")], id="unflushed past max_age at idle"),
        pytest.param([*put(0, 0), flush(0.4, 0)], id="partial batch flushed early"),
        pytest.param(
            [*put(0, 0), E(0, "close"), E(0, "batches_end")], id="partial batch lost at close"
        ),
        pytest.param([E(0, "batches_end")], id="batches ended without close"),
        pytest.param([*put(0, 0), E(0, "close"), E(0, "end")], id="never flushed after close"),
    ],
)
def test_each_clause_is_flagged(events: list[Event]) -> None:
    violations, exercised = check(events)
    assert violations, "expected a violation"
    assert set(violations) == {RULE}
    assert RULE in exercised


def test_a_size_one_batcher_flushes_every_item() -> None:
    assert check([*put(0, 0), flush(0, 0)], max_size=1)[0] == []
    assert check([*put(0, 0, 1), flush(0, 0, 1)], max_size=1)[0] == [RULE]


def test_counters_must_match_the_flushes() -> None:
    events = [
        *put(0, 0, 1),
        flush(0, 0, 1),
        E(0, "metrics", None, counters={"batches": 1, "batched_items": 1}),
    ]
    assert check(events)[0] == [METRICS]
