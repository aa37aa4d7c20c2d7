"""Hand-written traces for the idempotency checker: violations flagged, valid traces passed."""

from __future__ import annotations

from typing import Any

from harness.checkers.idempotency import IdempotencyChecker
from harness.checking import TraceChecker
from harness.events import Event

PARAMS = {"pattern": "idempotency", "factory": "idempotent_sink", "keys": 2}


def ev(t: float, kind: str, ident: Any = None, **data: Any) -> Event:
    return Event(t, kind, ident, data)


def run(events: list[Event]) -> tuple[set[str], TraceChecker]:
    checker = TraceChecker([IdempotencyChecker(PARAMS)])
    checker.feed_all(events)
    return {v.rule_id for v in checker.violations()}, checker


def serialised_duplicates() -> list[Event]:
    """Two concurrent deliveries of key 0: the first fails, the second applies, a retry is a dup."""
    return [
        ev(0.0, "deliver", 0, delivery=0, value="a"),
        ev(0.0, "deliver", 0, delivery=1, value="b"),
        ev(0.0, "effect_begin", 0, effect=0, value="a"),
        ev(0.1, "effect_end", 0, effect=0, ok=False),
        ev(0.1, "apply_end", 0, delivery=0, outcome="error"),
        ev(0.1, "deliver", 0, delivery=2, value="a"),
        ev(0.1, "effect_begin", 0, effect=1, value="b"),
        ev(0.6, "effect_end", 0, effect=1, ok=True),
        ev(0.6, "apply_end", 0, delivery=1, outcome="applied"),
        ev(0.6, "apply_end", 0, delivery=2, outcome="duplicate"),
        ev(0.6, "idle"),
        ev(1.0, "end"),
    ]


def test_serialised_duplicates_pass_and_exercise_the_rule() -> None:
    found, checker = run(serialised_duplicates())
    assert found == set()
    assert checker.exercised() == {"IDEMPOTENT-EFFECT"}


def test_effect_after_apply_is_flagged() -> None:
    events = [
        *serialised_duplicates()[:-2],
        ev(0.7, "deliver", 0, delivery=3, value="b"),
        ev(0.7, "effect_begin", 0, effect=2, value="b"),
        ev(0.8, "effect_end", 0, effect=2, ok=True),
        ev(0.8, "apply_end", 0, delivery=3, outcome="applied"),
    ]
    assert run(events)[0] == {"IDEMPOTENT-EFFECT"}


def test_concurrent_effects_for_one_key_are_flagged() -> None:
    events = [
        ev(0.0, "deliver", 0, delivery=0, value="a"),
        ev(0.0, "deliver", 0, delivery=1, value="a"),
        ev(0.0, "effect_begin", 0, effect=0, value="a"),
        ev(0.0, "effect_begin", 0, effect=1, value="a"),
        ev(0.1, "effect_end", 0, effect=0, ok=False),
        ev(0.1, "effect_end", 0, effect=1, ok=False),
        ev(0.1, "apply_end", 0, delivery=0, outcome="error"),
        ev(0.1, "apply_end", 0, delivery=1, outcome="error"),
    ]
    assert run(events)[0] == {"IDEMPOTENT-EFFECT"}


def test_duplicate_of_a_failed_effect_is_flagged() -> None:
    events = [
        ev(0.0, "deliver", 1, delivery=0, value="a"),
        ev(0.0, "effect_begin", 1, effect=0, value="a"),
        ev(0.1, "effect_end", 1, effect=0, ok=False),
        ev(0.1, "apply_end", 1, delivery=0, outcome="error"),
        ev(0.1, "deliver", 1, delivery=1, value="a"),
        ev(0.1, "apply_end", 1, delivery=1, outcome="duplicate"),
    ]
    assert run(events)[0] == {"IDEMPOTENT-EFFECT"}


def test_duplicate_while_in_flight_is_flagged() -> None:
    events = [
        ev(0.0, "deliver", 1, delivery=0, value="a"),
        ev(0.0, "deliver", 1, delivery=1, value="a"),
        ev(0.0, "effect_begin", 1, effect=0, value="a"),
        ev(0.0, "apply_end", 1, delivery=1, outcome="duplicate"),
        ev(0.1, "effect_end", 1, effect=0, ok=True),
        ev(0.1, "apply_end", 1, delivery=0, outcome="applied"),
    ]
    assert run(events)[0] == {"IDEMPOTENT-EFFECT"}


def test_true_without_effect_is_flagged() -> None:
    events = [
        ev(0.0, "deliver", 1, delivery=0, value="a"),
        ev(0.0, "apply_end", 1, delivery=0, outcome="applied"),
    ]
    assert run(events)[0] == {"IDEMPOTENT-EFFECT"}


def test_two_trues_for_one_effect_are_flagged() -> None:
    events = [
        ev(0.0, "deliver", 1, delivery=0, value="a"),
        ev(0.0, "deliver", 1, delivery=1, value="a"),
        ev(0.0, "effect_begin", 1, effect=0, value="a"),
        ev(0.1, "effect_end", 1, effect=0, ok=True),
        ev(0.1, "apply_end", 1, delivery=0, outcome="applied"),
        ev(0.1, "apply_end", 1, delivery=1, outcome="applied"),
    ]
    assert run(events)[0] == {"IDEMPOTENT-EFFECT"}


def test_unreported_success_is_flagged_at_the_end() -> None:
    events = [
        ev(0.0, "deliver", 1, delivery=0, value="a"),
        ev(0.0, "effect_begin", 1, effect=0, value="a"),
        ev(0.1, "effect_end", 1, effect=0, ok=True),
        ev(0.1, "apply_end", 1, delivery=0, outcome="duplicate"),
        ev(0.2, "end"),
    ]
    assert run(events)[0] == {"IDEMPOTENT-EFFECT"}


def test_delivery_still_open_at_the_end_is_not_blamed() -> None:
    events = [
        ev(0.0, "deliver", 1, delivery=0, value="a"),
        ev(0.0, "effect_begin", 1, effect=0, value="a"),
        ev(0.1, "effect_end", 1, effect=0, ok=True),
        ev(0.2, "end"),
    ]
    assert run(events)[0] == set()


def test_distinct_keys_with_one_value_pass() -> None:
    events = [
        ev(0.0, "deliver", 0, delivery=0, value="a"),
        ev(0.0, "effect_begin", 0, effect=0, value="a"),
        ev(0.0, "effect_end", 0, effect=0, ok=True),
        ev(0.0, "apply_end", 0, delivery=0, outcome="applied"),
        ev(0.0, "deliver", 1, delivery=1, value="a"),
        ev(0.0, "effect_begin", 1, effect=1, value="a"),
        ev(0.0, "effect_end", 1, effect=1, ok=True),
        ev(0.0, "apply_end", 1, delivery=1, outcome="applied"),
        ev(0.0, "end"),
    ]
    assert run(events)[0] == set()
