"""Searching for counterexamples: Hypothesis drives a model, shrinks failures, keeps replay blobs.

:func:`search_model` runs one model against one implementation under a profile and returns a
:class:`SearchOutcome`: how many examples ran, which rules they exercised, and for each rule that
broke its minimal counterexample with the blob that replays it exactly (the scheduler seed is
part of the example's data, so the interleaving replays too).
"""

from __future__ import annotations

import base64
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import hypothesis
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.errors import DidNotReproduce, InvalidArgument

from harness.backends import backend_for
from harness.contract import Implementation
from harness.events import Event
from harness.guards import Budgets
from harness.rules import rules_for
from harness.search.model import (
    ExampleOutcome,
    Model,
    RuleViolation,
    run_example,
    violation_type,
)

#: The rule that echoes another's failure (a lost item also skews the counters).
_ECHO: Final = "METRICS-CONSISTENT"


@dataclass(frozen=True, slots=True)
class Profile:
    """How hard to search: ``ci`` is derandomized so a CI run is reproducible."""

    name: str
    max_examples: int
    derandomize: bool


PROFILES: Final[dict[str, Profile]] = {
    "dev": Profile("dev", max_examples=60, derandomize=False),
    # A derandomized search runs the same examples for the same ``max_examples`` (and the
    # same source of ``_search_once``'s ``body``), so ``quick`` is exactly what ``ci`` ran
    # before it grew: a fast reproducible verdict (the project's own tests use it).
    "quick": Profile("quick", max_examples=150, derandomize=True),
    "ci": Profile("ci", max_examples=1000, derandomize=True),
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
    """What the searches of one model found, and on how many examples each rule was judged.

    A search that finds a counterexample stops generating: Hypothesis shrinks it and ends. So
    :func:`search_model` searches again with the rules found so far set aside, until one search
    runs its whole budget with nothing new failing (``complete``). A rule that did not fail is
    judged only by that complete search: ``judged[rule]`` counts its examples that exercised
    the rule, and nothing else counts toward a pass.
    """

    pattern: str
    #: Examples run by every search together (the cost, not the evidence for a pass).
    examples: int = 0
    #: Rules exercised by any example of any search.
    exercised: set[str] = field(default_factory=set)
    failures: dict[str, Counterexample] = field(default_factory=dict)
    #: A failure of the harness itself (not of the implementation): rules become unknown.
    error: str | None = None
    #: Examples of the complete search that exercised each rule (rules set aside excluded).
    judged: dict[str, int] = field(default_factory=dict)
    #: Whether the last search ran its whole budget with no rule newly failing.
    complete: bool = False
    #: How many Hypothesis searches ran (one, plus one per search that found something new).
    searches: int = 0
    #: Rules the caller set aside from the start (``--ignore``): never searched for.
    ignored: frozenset[str] = frozenset()
    #: Optional methods some object of the implementation did not have (see
    #: :meth:`harness.drivers.base.Driver.has`): the rules that need one are not-applicable.
    lacking: set[str] = field(default_factory=set)


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
    ignore: frozenset[str] = frozenset(),
    replay_blob: str | None = None,
    budgets: Budgets | None = None,
    seed: int | None = None,
    progress: Callable[[], None] | None = None,
    max_searches: int | None = None,
    on_search: Callable[[SearchOutcome], None] | None = None,
) -> SearchOutcome:
    """Search ``model_cls`` against ``implementation``; never raises for a rule violation.

    Each search that finds a counterexample is followed by another with the rules found so
    far set aside (their violations no longer fail an example), until one search runs its
    whole budget with nothing new failing; at most ``max_searches`` searches (default: one
    per rule of the pattern, plus one), so the cost stays bounded. Rules in ``ignore`` are
    set aside from the start and never searched for.

    ``seed`` fixes Hypothesis's random source for a non-derandomized profile, so a soak run
    that prints its seed can be repeated exactly. ``progress`` is called before every
    example, shrink steps included (a watchdog's heartbeat); ``on_search`` is handed the
    outcome so far after each search that found a new rule failing. ``replay_blob`` runs that one
    example instead of searching (kept for old callers; :func:`replay` tells a fixed example
    from a blob that does not replay).
    """
    outcome = SearchOutcome(pattern=str(model_cls.pattern), ignored=frozenset(ignore))
    limit = max_searches or len(rules_for(model_cls.pattern)) + 1
    set_aside = frozenset(ignore)
    while outcome.searches < limit:
        found = _search_once(
            model_cls,
            implementation,
            profile,
            outcome,
            set_aside=set_aside,
            replay_blob=replay_blob,
            budgets=budgets,
            seed=seed,
            progress=progress,
        )
        if outcome.error is not None or replay_blob is not None:
            break
        if not found:
            outcome.complete = True
            break
        set_aside |= found
        if on_search is not None:
            on_search(outcome)
    return outcome


def _search_once(
    model_cls: type[Model],
    implementation: Implementation,
    profile: Profile,
    outcome: SearchOutcome,
    *,
    set_aside: frozenset[str],
    replay_blob: str | None,
    budgets: Budgets | None,
    seed: int | None,
    progress: Callable[[], None] | None,
) -> set[str]:
    """One Hypothesis search, violations of ``set_aside`` ignored; the rules it found failing.

    The counts go into ``outcome``; ``outcome.judged`` only if the search runs its whole
    budget (it is then the last one).
    """
    outcome.searches += 1
    judged: Counter[str] = Counter()

    def body(data: st.DataObject) -> None:
        if progress is not None:
            progress()
        result = run_example(model_cls, implementation, data, budgets)
        outcome.examples += 1
        outcome.exercised |= result.exercised
        outcome.lacking |= result.lacking
        live = [v for v in result.violations if v.rule_id not in set_aside]
        if len(live) < len(result.violations):
            # The example broke a rule set aside and stopped there: counters that disagree
            # with the trace now echo that failure, as check_example's ordering assumes.
            live = [v for v in live if v.rule_id != _ECHO]
            judged.update(result.exercised - set_aside - {_ECHO})
        else:
            judged.update(result.exercised - set_aside)
        if live:
            # A lost item also skews the counters; name the root rule rather than its echo.
            first = min(live, key=lambda v: v.rule_id == _ECHO)
            raise violation_type(first.rule_id)(first, result.steps, result.events)

    test: Any = given(st.data())(body)
    test = settings(_settings(implementation, profile))(test)
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
        return {violation.violation.rule_id for violation in found} - set_aside
    outcome.judged = dict(judged)
    return set()


def _settings(implementation: Implementation, profile: Profile) -> settings:
    return settings(
        # A backend may cap the examples (none does today: threads run the profile's count).
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
    )


# -- replay ----------------------------------------------------------------------------------

#: The longest blob :func:`replay` accepts, in characters (a shrunk example's blob is tens).
MAX_BLOB_CHARS: Final = 64 * 1024
#: The most a blob may inflate to: a zlib bomb is refused before Hypothesis decodes it.
MAX_INFLATED_BYTES: Final = 1024 * 1024
#: How much of a blob a message quotes.
_QUOTE_CHARS: Final = 32


class ReplayStatus(StrEnum):
    """What replaying one blob showed."""

    #: The example ran and broke a rule (the counterexamples say which).
    REPRODUCED = "reproduced"
    #: The example ran exactly as recorded and broke no rule: the bug is fixed.
    PASSED = "passed"
    #: The example did not run as recorded (its choices ran out or did not fit), and broke
    #: no rule in the steps it ran: the implementation now behaves differently, or the blob
    #: is from another pattern or another version. Nothing can be concluded.
    DIVERGED = "diverged"
    #: The blob is not a replay blob of this Hypothesis version: nothing ran.
    INVALID = "invalid"
    #: poolcheck itself failed while replaying.
    ERROR = "error"


@dataclass
class ReplayOutcome:
    """The result of :func:`replay`: a status, a one-line message, and what the example did."""

    status: ReplayStatus
    message: str
    #: Every rule the example broke, each with the example's steps and trace.
    counterexamples: dict[str, Counterexample] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    trace: list[Event] = field(default_factory=list)
    exercised: set[str] = field(default_factory=set)


def replay(
    model_cls: type[Model],
    implementation: Implementation,
    blob: str,
    *,
    hypothesis_version: str | None = None,
    budgets: Budgets | None = None,
) -> ReplayOutcome:
    """Run the one example ``blob`` encodes against ``implementation``; never raises for it.

    ``blob`` is a ``@reproduce_failure`` blob as reports print it. It is checked before
    Hypothesis sees it (at most :data:`MAX_BLOB_CHARS` characters, inflating to at most
    :data:`MAX_INFLATED_BYTES`, a sequence of choices), and ``hypothesis_version`` (the
    version the report names, if known) must be this one. The example is faithful when it
    consumed exactly the blob's choices, each of the kind and range its draw expected.
    """
    problem = _blob_problem(blob, hypothesis_version)
    if problem is not None:
        return ReplayOutcome(ReplayStatus.INVALID, problem)
    blob = blob.strip()
    pattern = str(model_cls.pattern)
    ran: dict[str, Any] = {}

    def body(data: st.DataObject) -> None:
        ran["started"] = True
        ran["outcome"] = run_example(model_cls, implementation, data, budgets)
        ran["data"] = getattr(data, "conjecture_data", None)

    test: Any = given(st.data())(body)
    test = settings(
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        # Hypothesis prints the draws of a replayed example; the outcome carries its steps.
        verbosity=Verbosity.quiet,
        print_blob=False,
    )(test)
    test = hypothesis.reproduce_failure(hypothesis.__version__, blob.encode())(test)
    try:
        test()
    except DidNotReproduce:
        pass  # what Hypothesis says whenever the example did not fail: judged below
    except InvalidArgument as exc:
        if "started" in ran:
            return ReplayOutcome(ReplayStatus.ERROR, f"harness error while replaying: {exc}"[:300])
        # Hypothesis could not decode the blob; its message quotes all of it, ours a little.
        return ReplayOutcome(
            ReplayStatus.INVALID,
            f"Hypothesis {hypothesis.__version__} cannot decode the blob {_quote(blob)}",
        )
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        if "outcome" not in ran:
            return ReplayOutcome(
                ReplayStatus.ERROR,
                f"harness error while replaying: {type(exc).__name__}: {exc}"[:300],
            )
    outcome: ExampleOutcome | None = ran.get("outcome")
    if outcome is None:
        return ReplayOutcome(
            ReplayStatus.DIVERGED,
            f"the example needed more choices than the blob holds: it did not run as recorded "
            f"on the {pattern} model (the implementation behaves differently now, or the blob "
            "is from another pattern or another version of poolcheck); nothing to conclude",
        )
    found = {
        v.rule_id: Counterexample(
            rule_id=v.rule_id,
            message=v.message,
            steps=outcome.steps,
            trace=outcome.events,
            evidence=list(v.events),
            blob=blob,
        )
        for v in outcome.violations
    }
    drift = _drift(ran.get("data"), _choice_count(blob))
    result = ReplayOutcome(
        ReplayStatus.PASSED,
        "the example passed: it ran as recorded and broke no rule (fixed)",
        counterexamples=found,
        steps=outcome.steps,
        trace=outcome.events,
        exercised=outcome.exercised,
    )
    if found:
        result.status = ReplayStatus.REPRODUCED
        result.message = f"the example broke {', '.join(sorted(found))}" + (
            f" (it did not run exactly as recorded: {drift})" if drift else ""
        )
    elif drift:
        result.status = ReplayStatus.DIVERGED
        result.message = (
            f"the example did not run as recorded on the {pattern} model ({drift}) and broke "
            "no rule in the steps it ran: the implementation behaves differently now, or the "
            "blob is from another pattern or another version of poolcheck; nothing to conclude"
        )
    return result


def _quote(blob: str) -> str:
    """At most :data:`_QUOTE_CHARS` characters of ``blob``, for a message."""
    if len(blob) <= _QUOTE_CHARS:
        return repr(blob)
    return f"{blob[:_QUOTE_CHARS]!r}... ({len(blob)} characters)"


def _inflate(blob: str) -> bytes | str:
    """The serialized choices ``blob`` holds, or why it holds none (a short message).

    Hypothesis's encoding: base64 of a marker byte, 0 (raw) or 1 (zlib), and the choices.
    """
    if len(blob) > MAX_BLOB_CHARS:
        return (
            f"the blob is {len(blob)} characters long; a replay blob has at most {MAX_BLOB_CHARS}"
        )
    try:
        raw = base64.b64decode(blob.strip(), validate=True)
    except ValueError:  # binascii.Error, and non-ASCII text
        return f"the blob {_quote(blob)} is not base64"
    marker, payload = raw[:1], raw[1:]
    if marker == b"\0":
        return payload
    if marker != b"\1":
        return (
            f"the blob {_quote(blob)} is not a Hypothesis replay blob (it starts with {marker!r})"
        )
    inflater = zlib.decompressobj()
    try:
        # Bounded: a small blob that inflates to gigabytes is refused at the limit.
        data = inflater.decompress(payload, MAX_INFLATED_BYTES + 1)
    except zlib.error:
        return f"the blob {_quote(blob)} holds corrupt compressed data"
    if len(data) > MAX_INFLATED_BYTES:
        return f"the blob {_quote(blob)} inflates to more than {MAX_INFLATED_BYTES} bytes"
    if not inflater.eof:
        return f"the blob {_quote(blob)} holds truncated compressed data"
    return data


def _choices(data: bytes) -> tuple[object, ...] | None:
    try:
        from hypothesis.database import choices_from_bytes
    except ImportError:  # an older Hypothesis: its own decoder judges the blob
        return ()
    return choices_from_bytes(data)


def _blob_problem(blob: str, hypothesis_version: str | None) -> str | None:
    """Why ``blob`` cannot be replayed here, or None when it decodes to choices."""
    if hypothesis_version is not None and hypothesis_version != hypothesis.__version__:
        return (
            f"the blob was recorded with Hypothesis {hypothesis_version}; this is "
            f"Hypothesis {hypothesis.__version__}, which cannot replay it"
        )
    data = _inflate(blob)
    if isinstance(data, str):
        return data
    if _choices(data) is None:
        return (
            f"the blob {_quote(blob)} does not hold a sequence of choices (corrupt, or "
            f"from another version of Hypothesis than {hypothesis.__version__})"
        )
    return None


def _choice_count(blob: str) -> int | None:
    data = _inflate(blob)
    choices = None if isinstance(data, str) else _choices(data)
    return len(choices) if choices else None


def _drift(data: Any, recorded: int | None) -> str | None:
    """How a replayed example left its recording, or None when it followed it exactly.

    Reads Hypothesis's record of the run (``misaligned_at``, ``nodes``) where it has one.
    """
    if data is None:
        return None
    misaligned = getattr(data, "misaligned_at", None)
    if misaligned is not None:
        return f"choice {misaligned[0] + 1} did not fit its draw"
    used = len(getattr(data, "nodes", ()))
    if recorded is not None and used < recorded:
        return f"it used {used} of the blob's {recorded} choices"
    return None
