"""Same-instant batches: races only they reach, one step each, shrunk, replayed, no false alarm.

The mutants of ``tests/mutants/batches.py`` are correct whenever the system settles between two
calls: a search without batches passes them, a search with batches fails them with a minimal
counterexample of one batch, and the blob replays it. On every backend a correct
implementation passes examples whose batches draw every operation a part may be; a draw whose
place would depend on scheduling is refused as poolcheck's bug.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.contract import Implementation
from harness.plugin import load_implementation
from harness.rules import Pattern
from harness.search import batches
from harness.search.engine import PROFILES, ReplayStatus, replay, search_model
from harness.search.model import Model, run_example
from harness.search.models.registry import model_for
from harness.search.models.retry import RetryModel

RATE_MUTANT = "tests.mutants.batches:acquire_yields_before_taking"
MUTANTS = [
    ("tests.mutants.batches:acquire_yields_before_taking", Pattern.RATE, "RATE-BOUND"),
    ("tests.mutants.batches:put_yields_before_appending", Pattern.QUEUE, "QUEUE-BOUND"),
    ("tests.mutants.batches:submit_yields_before_queueing", Pattern.POOL, "POOL-BACKPRESSURE"),
    ("tests.mutants.batches:woken_waiter_counts_itself", Pattern.CONCURRENCY, "CONC-BOUND"),
]


@functools.cache
def _found(spec: str, pattern: Pattern) -> dict[str, tuple[list[str], str | None]]:
    """Rule -> (minimal steps, replay blob), from a quick search of ``spec`` with batches."""
    outcome = search_model(model_for(pattern), load_implementation(spec), PROFILES["quick"])
    return {rule: (found.steps, found.blob) for rule, found in outcome.failures.items()}


# -- what only a batch reaches -----------------------------------------------------------------
@pytest.mark.parametrize(("spec", "pattern", "rule"), MUTANTS, ids=[m[2] for m in MUTANTS])
def test_without_batches_the_mutant_passes(
    spec: str, pattern: Pattern, rule: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same search (the ci profile kills each one through the CLI: tests/mutants).
    monkeypatch.setattr(model_for(pattern), "batchable", False)
    outcome = search_model(model_for(pattern), load_implementation(spec), PROFILES["quick"])
    assert rule not in outcome.failures
    assert rule in outcome.exercised


def test_a_failing_batch_shrinks_to_the_two_parts_of_the_race() -> None:
    steps, _ = _found(RATE_MUTANT, Pattern.RATE)["RATE-BOUND"]
    # One step: two acquires at one instant, no checkpoint between them, nothing else.
    [step] = steps
    assert re.fullmatch(r"t=0 batch\[acquire\(\d\) #\d \| acquire\(\d\) #\d\]", step), step


def test_the_blob_replays_the_batch() -> None:
    steps, blob = _found(RATE_MUTANT, Pattern.RATE)["RATE-BOUND"]
    assert blob is not None
    outcome = replay(model_for(Pattern.RATE), load_implementation(RATE_MUTANT), blob)
    assert outcome.status is ReplayStatus.REPRODUCED, outcome.message
    assert outcome.counterexamples["RATE-BOUND"].steps == steps


# -- the step a batch logs ---------------------------------------------------------------------
class _Steps:
    """A stand-in for the session: where a batch logs its line."""

    def __init__(self) -> None:
        self.steps = ["t=0 put(0)"]

    def step(self, description: str) -> None:
        self.steps.append(f"t=1.5 {description}")


def test_a_batch_is_one_line_of_its_parts_and_checkpoints() -> None:
    session: Any = _Steps()
    batch = batches._Batch(session)
    first, silent, last = (batches.Part(batch, name, False) for name in ("put", "cancel", "get"))
    batch.parts += [first, silent, last]
    first.log("put(3)")
    first.checkpoints, silent.checkpoints = 1, 2
    last.log("cancel get() #1")
    last.log("get() #2")
    # The part that did nothing is left out; the checkpoints around it add up.
    assert session.steps == [
        "t=0 put(0)",
        "t=1.5 batch[put(3) | +3 checkpoints | cancel get() #1; get() #2]",
    ]


# -- no false alarm on any backend ---------------------------------------------------------------
BACKENDS = [
    ("reference.plugin:implementation", 100),  # trio
    ("examples.asyncio_impl:implementation", 100),  # asyncio
    ("examples.thread_pool:implementation", 30),  # threads (the real clock)
    ("tests.harness.test_sync_backend:retrier", 100),  # sync: parts run one after another
    ("tests.harness.test_sync_backend:bucket", 100),
]
CASES = [
    pytest.param(spec, pattern, examples, id=f"{implementation.backend}-{pattern}")
    for spec, examples in BACKENDS
    for implementation in [load_implementation(spec)]
    for pattern in Pattern
    if model_for(pattern).batchable and model_for(pattern).applicable(implementation)
]


def _batch_kinds(
    model: type[Model], implementation: Implementation, examples: int, patch: pytest.MonkeyPatch
) -> tuple[set[str], set[str], list[str]]:
    """(the parts a batch may draw, those drawn, violations) over ``examples`` examples."""
    offered: set[str] = set()
    drawn: set[str] = set()
    violations: list[str] = []
    run_batch = batches.run_batch

    async def spy(session: Any, operations: Any, parts: Any, overlapping: Any) -> None:
        offered.update(parts.elements)
        await run_batch(session, operations, parts, overlapping)

    class Part(batches.Part):
        def __init__(self, batch: Any, name: str, overlapping: bool) -> None:
            drawn.add(name)
            super().__init__(batch, name, overlapping)

    patch.setattr(batches, "run_batch", spy)
    patch.setattr(batches, "Part", Part)

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        outcome = run_example(model, implementation, data)
        violations.extend(
            f"{v.rule_id}: {v.message} in {outcome.steps}" for v in outcome.violations
        )

    run()
    return offered, drawn, violations


@pytest.mark.parametrize(("spec", "pattern", "examples"), CASES)
def test_every_part_kind_runs_without_a_false_alarm(
    spec: str, pattern: Pattern, examples: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = model_for(pattern)
    offered, drawn, violations = _batch_kinds(
        model, load_implementation(spec), examples, monkeypatch
    )
    assert not violations
    assert offered, "no batch was drawn"
    assert drawn == offered


def test_every_model_but_idempotency_draws_batches() -> None:
    # Idempotency's effect is drawn inside the call, after its part let the next one start.
    assert {p for p in Pattern if not model_for(p).batchable} == {Pattern.IDEMPOTENCY}


# -- replay safety -----------------------------------------------------------------------------
class _DrawsLate(RetryModel):
    """A broken model: its only batchable operation draws after it entered a call."""

    overlapping: ClassVar[frozenset[str]] = frozenset({"late"})
    helper: ClassVar[bool] = False

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        return {"late": self.late, "advance": self.advance}

    async def late(self) -> None:
        session = self.session
        if self.helper:
            # The helper draws once the part has returned (a part that is not overlapping).
            async def helper() -> None:
                await anyio.lowlevel.checkpoint()
                session.draw(st.booleans())

            session.step("late (helper)")
            session.spawn(helper, "draws late")
            return
        session.step("late")
        session.spawn(anyio.lowlevel.checkpoint, "enters")  # the host's spawn: inside a call
        session.draw(st.booleans())


class _HelperDrawsLate(_DrawsLate):
    overlapping: ClassVar[frozenset[str]] = frozenset()
    helper: ClassVar[bool] = True


@pytest.mark.parametrize("model", [_DrawsLate, _HelperDrawsLate])
def test_a_draw_after_the_next_part_could_start_is_refused(model: type[Model]) -> None:
    implementation = load_implementation("reference.plugin:implementation")

    @settings(max_examples=50, database=None, deadline=None, derandomize=True)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        run_example(model, implementation, data)

    with pytest.raises(RuntimeError, match="poolcheck bug: the batch part 'late'"):
        run()
