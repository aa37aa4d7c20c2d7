"""ORDER-RESTORED on hand-written traces: each clause flagged, legitimate interleavings passed."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checkers.ordering import OrderingChecker
from harness.checking import TraceChecker
from harness.events import Event

RULE = "ORDER-RESTORED"


def E(t: float, kind: str, ident: Any = None, **data: Any) -> Event:
    return Event(t, kind, ident, data)


def put(seq: int, t: float = 0.0) -> list[Event]:
    return [E(t, "put_begin", seq, item=f"item-{seq}"), E(t, "put_ok", seq)]


def emit(seq: int, t: float = 0.0, item: str | None = None) -> list[Event]:
    """The consumer receives ``seq`` and waits again."""
    return [E(t, "emit", seq, item=item or f"item-{seq}"), E(t, "get_begin")]


def check(events: list[Event], window: int = 2) -> tuple[list[str], set[str]]:
    checker = OrderingChecker({"pattern": "ordering", "window": window})
    trace = TraceChecker([checker])
    trace.feed_all([E(0, "params", None, window=window), E(0, "get_begin"), *events])
    return [v.rule_id for v in trace.violations()], trace.exercised()


def test_a_legitimate_run_passes_and_is_exercised() -> None:
    events = [
        *put(1),  # arrives early: buffered behind the gap at 0
        E(0, "idle"),
        E(0, "put_begin", 3, item="item-3"),  # 3 >= 0 + 2: blocks
        E(0, "idle"),
        E(0, "put_begin", 0, item="item-0"),
        *emit(0),  # the consumer may take 0 before the put of 0 returns
        E(0, "put_ok", 0),
        *emit(1),
        E(0, "put_ok", 3),  # room made: 3 < 2 + 2
        E(0, "idle"),
        E(1, "put_begin", 4, item="item-4"),  # blocked: 4 >= 2 + 2
        E(1, "idle"),
        E(1, "put_begin", 2, item="item-2"),
        # The getter popped 2 and yielded; the woken putter of 4 records first (slack of one).
        E(1, "put_ok", 4),
        *emit(2),
        E(1, "put_ok", 2),
        *emit(3),
        *emit(4),
        E(1, "idle"),
        *put(5, 2),
        *emit(5, 2),
        E(2, "idle"),
        E(3, "close"),
        E(3, "put_begin", 6, item="item-6"),
        E(3, "put_closed", 6),
        E(3, "get_end", how="end"),
        E(3, "idle"),
        E(3, "end"),
    ]
    violations, exercised = check(events)
    assert violations == []
    assert RULE in exercised


def test_items_stranded_behind_a_gap_at_close_are_not_a_loss() -> None:
    events = [*put(1), E(0, "idle"), E(0, "close"), E(0, "get_end"), E(0, "idle"), E(0, "end")]
    assert check(events)[0] == []


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([*put(1), *emit(1)], id="gap: emitted across a missing seq"),
        pytest.param([*put(0), *emit(0), *emit(0)], id="duplicate"),
        pytest.param([*put(0), *emit(0, item="item-7")], id="wrong item under the seq"),
        pytest.param([*emit(0)], id="emitted but never put"),
        pytest.param([*put(2)], id="backpressure: put at delivered + window completed"),
        pytest.param(
            [E(0, "put_begin", 0, item="item-0"), *put(3)],
            id="slack is only one seq",
        ),
        pytest.param(
            [*put(0), *emit(0), E(0, "put_begin", 2, item="item-2"), E(0, "idle")],
            id="put inside the window still blocked at idle",
        ),
        pytest.param(
            [*put(1), *put(0), E(0, "idle")],
            id="next seq accepted, consumer waiting, not emitted at idle",
        ),
        pytest.param([*put(0), *emit(0), E(0, "get_end")], id="stream ended before close"),
        pytest.param([*put(0), E(0, "close"), E(0, "get_end")], id="ended with an item left"),
        pytest.param(
            [E(0, "put_begin", 0, item="item-0"), E(0, "close"), E(0, "put_ok", 0), E(0, "end")],
            id="after close the accepted next item never came out",
        ),
    ],
)
def test_each_clause_is_flagged(events: list[Event]) -> None:
    violations, exercised = check(events)
    assert violations, "expected a violation"
    assert set(violations) == {RULE}
    assert RULE in exercised


def test_window_one_admits_only_the_next_seq() -> None:
    assert check([*put(0)], window=1)[0] == []
    assert check([*put(1)], window=1)[0] == [RULE]
