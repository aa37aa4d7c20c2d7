"""Searching for counterexamples: Hypothesis drives a model, shrinks failures, keeps replay blobs.

:func:`search_model` runs one model against one implementation under a profile and returns a
:class:`SearchOutcome`: how many examples ran, which rules they exercised, and for each rule that
broke its minimal counterexample with the blob that replays it exactly (the scheduler seed is
part of the example's data, so the interleaving replays too).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import hypothesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from harness.backends import backend_for
from harness.contract import Implementation
from harness.events import Event
from harness.guards import Budgets
from harness.search.model import Model, RuleViolation, check_example


@dataclass(frozen=True, slots=True)
class Profile:
    """How hard to search: ``ci`` is derandomized so a CI run is reproducible."""

    name: str
    max_examples: int
    derandomize: bool


PROFILES: Final[dict[str, Profile]] = {
    "dev": Profile("dev", max_examples=60, derandomize=False),
    "ci": Profile("ci", max_examples=150, derandomize=True),
    "thorough": Profile("thorough", max_examples=2000, derandomize=False),
}


@dataclass
class Counterexample:
    """A minimal failing example of one rule."""

    rule_id: str
    message: str
    steps: list[str]
    trace: list[Event]
    evidence: list[Event]
    blob: str | None
    hypothesis_version: str = hypothesis.__version__

    def render(self) -> str:
        """The counterexample as text: steps, then the offending events."""
        lines = [f"{self.rule_id}: {self.message}", "steps:"]
        lines += [f"  {i}. {step}" for i, step in enumerate(self.steps, start=1)]
        lines += ["offending events:"] + [f"  {e.describe()}" for e in self.evidence]
        return "\n".join(lines)


@dataclass
class SearchOutcome:
    """What a search of one model found."""

    pattern: str
    examples: int = 0
    exercised: set[str] = field(default_factory=set)
    failures: dict[str, Counterexample] = field(default_factory=dict)
    #: A failure of the harness itself (not of the implementation): rules become unknown.
    error: str | None = None


_BLOB = re.compile(r"@reproduce_failure\(\s*'[^']+'\s*,\s*b'([^']+)'\s*\)")


def _violations(exc: BaseException) -> Iterator[RuleViolation]:
    if isinstance(exc, RuleViolation):
        yield exc
    elif isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _violations(inner)


def _blob(exc: BaseException) -> str | None:
    for note in getattr(exc, "__notes__", ()):
        match = _BLOB.search(note)
        if match:
            return match.group(1)
    return None


def _counterexample(violation: RuleViolation) -> Counterexample:
    return Counterexample(
        rule_id=violation.violation.rule_id,
        message=violation.violation.message,
        steps=violation.steps,
        trace=violation.trace,
        evidence=list(violation.violation.events),
        blob=_blob(violation),
    )


def search_model(
    model_cls: type[Model],
    implementation: Implementation,
    profile: Profile,
    *,
    replay_blob: str | None = None,
    budgets: Budgets | None = None,
    seed: int | None = None,
    progress: Callable[[], None] | None = None,
) -> SearchOutcome:
    """Search ``model_cls`` against ``implementation``; never raises for a rule violation.

    ``seed`` fixes Hypothesis's random source for a non-derandomized profile, so a soak run
    that prints its seed can be repeated exactly. ``progress`` is called before every
    example, shrink steps included (a watchdog's heartbeat).
    """
    outcome = SearchOutcome(pattern=str(model_cls.pattern))

    def body(data: st.DataObject) -> None:
        if progress is not None:
            progress()
        outcome.examples += 1
        result = check_example(model_cls, implementation, data, budgets)
        outcome.exercised |= result.exercised

    test: Any = given(st.data())(body)
    test = settings(
        # A real-clock backend (threads) caps the examples: each one takes real time.
        max_examples=min(
            profile.max_examples,
            backend_for(implementation.backend).max_examples or profile.max_examples,
        ),
        derandomize=profile.derandomize,
        database=None,
        deadline=None,
        print_blob=True,
        report_multiple_bugs=True,
        suppress_health_check=list(HealthCheck),
        # The explain phase re-runs a failure under line tracing: ~95% of a search's time
        # for a note our own counterexample (steps and trace) already gives.
        phases=[phase for phase in Phase if phase is not Phase.explain],
    )(test)
    if seed is not None:
        test = hypothesis.seed(seed)(test)
    if replay_blob is not None:
        test = hypothesis.reproduce_failure(hypothesis.__version__, replay_blob.encode())(test)
    try:
        test()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        found = list(_violations(exc))
        for violation in found:
            counterexample = _counterexample(violation)
            if counterexample.blob is None:
                counterexample.blob = _blob(exc)
            outcome.failures.setdefault(counterexample.rule_id, counterexample)
        if not found:
            outcome.error = f"{type(exc).__name__}: {exc}"
    return outcome
