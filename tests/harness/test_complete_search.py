"""A rule passes only after a complete search judged it; a found failure hides no other rule.

Hypothesis stops generating at the first failing example, so a pattern's other rules were once
judged on the few examples before it (mostly shrink attempts) and still read ``pass``. Now a
search that finds a counterexample is repeated with the rules already found set aside, until
one search runs its whole budget with nothing new failing; only that search's examples count
toward ``pass``. ``ignore`` sets rules aside from the start (``poolcheck check --ignore``).
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from harness.checking import Verdict
from harness.conformance import PatternRun, RuleResult, exit_code, run_pattern, verdicts
from harness.plugin import load_implementation
from harness.rules import Pattern
from harness.search import parallel
from harness.search.engine import PROFILES, Profile
from harness.search.parallel import run_patterns
from reference.ratelimit import TokenBucket

IGNORED = "ignored by --ignore"
#: Every example that trips the livelock guard costs a run's worth of task steps: fewer of them.
QUICK = Profile("quick", max_examples=60, derandomize=True)


class CrashingPollingBucket(TokenBucket):
    """``try_acquire`` is missing (it raises), and ``acquire`` polls every 0.7 s.

    The crash is found at once; the over-throttling (an admission up to a tick late) only once
    the crash is out of the way.
    """

    TICK = 0.7

    def _ready_at(self, weight: int, now: float) -> float:
        ready = super()._ready_at(weight, now)
        return now if ready <= now else now + self.TICK

    def try_acquire(self, weight: int = 1) -> bool:
        """Not written yet."""
        raise NotImplementedError("try_acquire")


class CrashingUncappedBucket(TokenBucket):
    """``try_acquire`` raises, and the refill forgets ``min(burst, ...)``."""

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens += (now - self._stamp) * self.rate
            self._stamp = now

    def try_acquire(self, weight: int = 1) -> bool:
        """Not written yet."""
        raise NotImplementedError("try_acquire")


class SpinningUncappedBucket(TokenBucket):
    """A weighted ``acquire`` spins without waiting (NO-HANG, by the livelock guard), and the
    refill forgets ``min(burst, ...)``."""

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens += (now - self._stamp) * self.rate
            self._stamp = now

    async def acquire(self, weight: int = 1) -> None:
        """A weight above 1 yields forever and never lets virtual time move."""
        while weight > 1:
            await trio.lowlevel.checkpoint()
        await super().acquire(weight)


def _declare(name: str, cls: type[TokenBucket]) -> dict[str, Any]:
    return {
        "name": name,
        "backend": "trio",
        "capabilities": ["weighted_acquire"],
        "factories": {"token_bucket": lambda *, rate, burst: cls(rate, burst)},
    }


def crashing_polling() -> dict[str, Any]:
    """The crashing, over-throttling bucket."""
    return _declare("crashing-polling", CrashingPollingBucket)


def crashing_uncapped() -> dict[str, Any]:
    """The crashing, over-admitting bucket."""
    return _declare("crashing-uncapped", CrashingUncappedBucket)


def spinning_uncapped() -> dict[str, Any]:
    """The spinning, over-admitting bucket."""
    return _declare("spinning-uncapped", SpinningUncappedBucket)


def _verdicts(
    spec: str, profile: Profile = PROFILES["quick"], **options: Any
) -> tuple[PatternRun, dict[str, RuleResult]]:
    implementation = load_implementation(f"{__name__}:{spec}")
    run = run_pattern(implementation, Pattern.RATE, profile, **options)
    return run, {x.rule.id: x for x in verdicts(implementation, [run])}


@pytest.mark.parametrize(
    ("spec", "hidden"),
    [
        ("crashing_polling", "RATE-NO-OVERTHROTTLE"),
        ("crashing_uncapped", "RATE-BOUND"),
        ("spinning_uncapped", "RATE-BOUND"),
    ],
)
def test_a_found_failure_does_not_hide_the_other_rules(spec: str, hidden: str) -> None:
    spinning = spec.startswith("spinning")
    run, results = _verdicts(spec, QUICK if spinning else PROFILES["quick"])
    found = "NO-HANG" if spinning else "NO-CRASH"
    assert run.error is None
    assert results[found].verdict is Verdict.FAIL
    assert results[hidden].verdict is Verdict.FAIL, (results[hidden].verdict, run.failures)


def test_only_a_complete_search_counts_toward_pass() -> None:
    run, results = _verdicts("crashing_polling")
    assert run.complete, "the last search ran its whole budget"
    assert run.searches >= 2, "a search that found the crash, then at least one more"
    budget = PROFILES["quick"].max_examples
    # NO-LEAK is judged in every example of the complete search, and only those count.
    assert results["NO-LEAK"].verdict is Verdict.PASS
    assert results["NO-LEAK"].examples == run.judged["NO-LEAK"] == budget
    assert run.examples > budget, "every search's examples are in the run's total"
    assert "NO-CRASH" not in run.judged, "a rule set aside is not judged by the search"


def test_a_search_that_never_completes_leaves_its_rules_unknown() -> None:
    implementation = load_implementation(f"{__name__}:crashing_polling")
    run = PatternRun(
        pattern="rate",
        applicable=True,
        examples=40,
        exercised=["NO-LEAK", "RATE-BOUND"],
        failures={"NO-CRASH": {"rule": "NO-CRASH", "message": "boom"}},
        complete=False,
        searches=7,
        stopped=None,
    )
    results = {x.rule.id: x for x in verdicts(implementation, [run])}
    assert results["NO-CRASH"].verdict is Verdict.FAIL
    for rule_id in ("NO-LEAK", "RATE-BOUND"):
        assert results[rule_id].verdict is Verdict.UNKNOWN, rule_id
        assert "no search ran its full budget" in results[rule_id].reason


def test_ignored_rules_are_unknown_and_the_rest_are_judged() -> None:
    run, results = _verdicts("crashing_polling", ignore=frozenset({"NO-CRASH"}))
    assert run.ignored == ["NO-CRASH"]
    assert results["NO-CRASH"].verdict is Verdict.UNKNOWN
    assert results["NO-CRASH"].reason == IGNORED
    assert "NO-CRASH" not in run.failures, "an ignored rule is never searched for"
    assert results["RATE-NO-OVERTHROTTLE"].verdict is Verdict.FAIL
    assert results["NO-LEAK"].verdict is Verdict.PASS


def test_ignoring_the_only_failure_lets_the_gate_pass() -> None:
    implementation = load_implementation("examples.wrong_token_bucket:implementation")
    [run] = run_patterns(
        implementation, [Pattern.RATE], PROFILES["quick"], jobs=1, ignore=frozenset({"RATE-BOUND"})
    )
    results = verdicts(implementation, [run])
    by_id = {x.rule.id: x for x in results}
    assert by_id["RATE-BOUND"].verdict is Verdict.UNKNOWN
    assert by_id["RATE-BOUND"].reason == IGNORED
    assert by_id["RATE-NO-OVERTHROTTLE"].verdict is Verdict.PASS
    assert exit_code(results) == 0, "a rule the user set aside does not fail the gate"


def test_a_search_stopped_later_keeps_what_the_earlier_searches_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The child (forked, so it runs this stand-in) finishes a search that finds a crash, then
    # spins in the next one until the parent kills it.
    crash = {"rule": "NO-CRASH", "message": "boom", "steps": ["t=0 x()"], "blob": "AAAA"}

    def first_search_then_spin(*args: Any, on_search: Any = None, **kwargs: Any) -> PatternRun:
        on_search(PatternRun("rate", True, examples=3, failures={"NO-CRASH": crash}, searches=1))
        while True:
            pass

    monkeypatch.setattr(parallel, "run_pattern", first_search_then_spin)
    implementation = load_implementation("reference.plugin:implementation")
    [run] = run_patterns(implementation, [Pattern.RATE], PROFILES["ci"], jobs=1, stall_seconds=1.0)
    assert run.stopped is not None
    assert "did not yield" in run.stopped
    assert run.searches == 2
    results = {x.rule.id: x for x in verdicts(implementation, [run])}
    assert results["NO-HANG"].verdict is Verdict.FAIL
    assert results["NO-CRASH"].verdict is Verdict.FAIL, "found before the child stalled"
    assert results["NO-CRASH"].counterexample == crash
    assert results["RATE-BOUND"].verdict is Verdict.UNKNOWN
