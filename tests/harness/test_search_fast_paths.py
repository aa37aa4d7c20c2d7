"""The search's fast paths change no example: same draws, same strategies, same clock."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import strategies as st

from harness.guards import Budgets, GuardedClock
from harness.plugin import load_implementation
from harness.rules import Pattern
from harness.search import engine
from harness.search import model as search_model_module
from harness.search.engine import Profile, search_model
from harness.search.models.registry import model_for

SMALL = Profile("small", max_examples=40, derandomize=True)
RUN_EXAMPLE = engine.run_example


def _traces(pattern: Pattern, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        outcome = RUN_EXAMPLE(*args, **kwargs)
        events = [(e.t, e.kind, e.id, dict(e.data)) for e in outcome.events]
        seen.append((outcome.steps, events))
        return outcome

    monkeypatch.setattr(engine, "run_example", spy)
    implementation = load_implementation("reference.plugin:implementation")
    search_model(model_for(pattern), implementation, SMALL)
    return seen


@pytest.mark.parametrize("pattern", [Pattern.QUEUE, Pattern.RATE, Pattern.RETRY], ids=str)
def test_direct_draws_run_the_examples_hypothesis_own_draws_run(
    pattern: Pattern, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _traces(pattern, monkeypatch)
    # Hypothesis's own DataObject.draw for every draw, and a fresh strategy every time.
    monkeypatch.setattr(search_model_module, "fast_draws", lambda data: data)
    monkeypatch.setattr(search_model_module, "_operation_strategy", _fresh_operations)
    plain = _traces(pattern, monkeypatch)
    assert len(fast) == len(plain) == SMALL.max_examples
    assert fast == plain


def _fresh_operations(model_cls: Any, operations: Any) -> st.SearchStrategy[str]:
    return st.sampled_from(search_model_module._operation_names(model_cls, operations))


def test_a_known_sample_is_reused_only_for_the_same_plain_elements() -> None:
    known = search_model_module._known_sample
    first = known(st.sampled_from([0.5, 1.0, "a"]))
    assert known(st.sampled_from([0.5, 1.0, "a"])) is first
    assert known(st.sampled_from((0.5, 1.0, "a"))) is first, "a tuple samples like a list"
    # Equal but different values are different samples.
    ints = known(st.sampled_from([1, 0]))
    assert known(st.sampled_from([True, False])) is not ints
    assert known(st.sampled_from([1.0, 0.0])) is not ints
    assert known(st.sampled_from([1.0, -0.0])) is not known(st.sampled_from([1.0, 0.0]))
    # A sample that maps its values, or holds objects, is never swapped.
    mapped = st.sampled_from([1, 0]).map(str)
    assert known(mapped) is mapped
    things = st.sampled_from([object(), object()])
    assert known(things) is things


def test_the_guarded_clock_reads_exactly_what_the_mock_clock_reads() -> None:
    guarded = GuardedClock(Budgets())
    reference = trio.testing.MockClock()
    for seconds in (0.0, 1e-12, 0.1, 1 / 3, 5.0, 1e-9, 2.5e5):
        guarded.clock.jump(seconds)
        reference.jump(seconds)
        assert guarded.read() == reference.current_time() == guarded.clock.current_time()
    # A clock someone sets running again is read through trio's own arithmetic.
    guarded.clock.rate = 1.0
    before = guarded.read()
    assert guarded.read() >= before > reference.current_time() - 1e-6


def test_a_guarded_run_keeps_virtual_time() -> None:
    guarded = GuardedClock(Budgets())

    async def main() -> float:
        await trio.sleep(2.5)
        return trio.current_time()

    assert trio.run(main, clock=guarded.clock) == 2.5
    assert guarded.read() == 2.5
