"""Long stress runs: a flat-out load is progress, not a livelock (issue 12, item 7).

Flat-out producers (no ``rate``) keep the system busy at one virtual instant for the whole
load, so it never settles: a million jobs of ``batch-steady`` took about four million task
steps without settling, past the runner's livelock budget of two million, and the correct
reference failed NO-HANG. The mechanism is linear in the job count, so these tests lower the
budget (:data:`harness.stress.runner.MAX_STEPS_BETWEEN_IDLE`) to show it at a few thousand
jobs. A genuine livelock must still be NO-HANG, and an aborted run must print nothing.
"""

from __future__ import annotations

import dataclasses
import gc
import sys
from typing import Any

import pytest
import trio
import trio.lowlevel

from harness.checking import Verdict
from harness.plugin import load_implementation
from harness.stress import runner
from harness.stress.runner import run_scenario
from harness.stress.scenario import Scenario, load_scenario
from reference.batching import Batcher
from reference.plugin import implementation as reference_implementation

REFERENCE = "reference.plugin:implementation"
#: A tenth of the jobs' task steps at one instant, so the unfixed guard trips.
BUDGET = 10_000


def flat_out(name: str, jobs: int) -> Scenario:
    """Catalog scenario ``name`` with ``jobs`` jobs offered as fast as they are taken."""
    scenario = load_scenario(name)
    return dataclasses.replace(
        scenario, jobs=jobs, load=dataclasses.replace(scenario.load, rate=None)
    )


@pytest.fixture
def small_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "MAX_STEPS_BETWEEN_IDLE", BUDGET)


@pytest.mark.usefixtures("small_budget")
@pytest.mark.parametrize("name", ["batch-steady", "idempotency-flaky-duplicates"])
def test_a_flat_out_load_is_progress_not_a_livelock(name: str) -> None:
    # 5,000 jobs: about 20,000 (batch) and 11,500 (idempotency) task steps at t=0 without the
    # system settling. Before: NO-HANG "livelock: 10001 task steps without settling".
    result = run_scenario(flat_out(name, 5_000), load_implementation(REFERENCE))
    failed = {rule.rule_id: rule.first for rule in result.rules if rule.verdict is Verdict.FAIL}
    assert failed == {}
    verdicts = {rule.rule_id: rule.verdict for rule in result.rules}
    assert verdicts["NO-HANG"] is Verdict.PASS


class SpinningBatcher(Batcher[Any]):
    """A batcher whose ``put`` spins for good once 4,000 items are in: a livelock."""

    puts = 0

    async def put(self, item: Any) -> None:
        """Spin on checkpoints after the 4,000th item."""
        self.puts += 1
        if self.puts > 4_000:
            while True:
                await trio.lowlevel.checkpoint()
        await super().put(item)


def spinning_batcher() -> dict[str, Any]:
    declaration = reference_implementation()
    return {
        "name": "spinning-batcher",
        "backend": "trio",
        "capabilities": declaration.capabilities,
        "factories": {
            **declaration.factories,
            "batcher": lambda *, max_size, max_age: SpinningBatcher(max_size, max_age),
        },
        "closed_errors": declaration.closed_errors,
        "counters": declaration.counters,
    }


@pytest.mark.usefixtures("small_budget")
def test_a_livelock_after_a_flat_out_load_is_still_no_hang() -> None:
    # New jobs restart the count, but once every producer spins no job is issued: caught,
    # after the 4,000 items that went through. Before: cut short at about 2,400 of them.
    implementation = load_implementation(f"{__name__}:spinning_batcher")
    result = run_scenario(flat_out("batch-steady", 5_000), implementation)
    verdicts = {rule.rule_id: rule for rule in result.rules}
    assert verdicts["NO-HANG"].verdict is Verdict.FAIL
    assert "livelock" in verdicts["NO-HANG"].first[0]["message"]
    assert result.metrics["counters"]["completed"] == 4_000


def test_an_aborted_stress_run_prints_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # A run of ``seconds`` offered flat out at one instant never ends: a genuine livelock,
    # whatever the implementation. Before, the aborted run's nurseries outlived the quiet
    # collection (the runner still held the workload) and each printed "Exception ignored in:
    # <function Nursery.__del__ ...>" with a traceback whenever a later collection reached it
    # (14 of them at a million jobs).
    monkeypatch.setattr(runner, "MAX_STEPS_BETWEEN_IDLE", 20_000)
    complaints: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: complaints.append(f"{u.exc_value!r}"))
    scenario = dataclasses.replace(flat_out("batch-steady", 1), jobs=None, seconds=1.0)
    result = run_scenario(scenario, load_implementation(REFERENCE))
    gc.collect()
    verdicts = {rule.rule_id: rule for rule in result.rules}
    assert verdicts["NO-HANG"].verdict is Verdict.FAIL
    assert "livelock" in verdicts["NO-HANG"].first[0]["message"]
    assert complaints == []
