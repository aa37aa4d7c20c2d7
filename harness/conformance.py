"""From model searches to per-rule verdicts: the conformance result of one implementation.

A rule's verdict combines every model that checks it:

* ``not-applicable`` when the implementation lacks the rule's capability or every factory
  of its pattern (never counted as a pass);
* ``fail`` when some model found a counterexample (the minimal one is kept with its replay
  command);
* ``pass`` when a complete search (its whole example budget, nothing new failing) judged
  it: some of that search's examples exercised it and none broke it;
* ``unknown`` when nothing exercised it, no search ran its whole budget, the search was
  stopped, the harness itself failed while searching, or the user set the rule aside
  (``ignore``: never a pass, never a fail, and it does not fail the gate).

A search that finds a counterexample is repeated with the rules found so far set aside (see
:func:`harness.search.engine.search_model`), so one rule's failure hides no other rule.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.backends import BACKEND_NAMES, backend_for
from harness.checking import Verdict
from harness.contract import Implementation
from harness.drivers import patterns
from harness.events import Event
from harness.plugin import ConfigError
from harness.rules import RULES, Pattern, Rule, rules_for
from harness.search.engine import Counterexample, Profile, SearchOutcome, search_model
from harness.search.models.registry import model_for

REPORT_FORMAT_VERSION = 1
#: The reason an ignored rule gives (``poolcheck check --ignore RULE``).
IGNORED_REASON = "ignored by --ignore"


@dataclass
class PatternRun:
    """One model's searches: size, speed, how far they got, and whether the harness failed."""

    pattern: str
    applicable: bool
    #: Examples run by every search of the pattern together (their cost).
    examples: int = 0
    seconds: float = 0.0
    exercised: list[str] = field(default_factory=list)
    failures: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: A failure of poolcheck itself while searching: its rules become unknown.
    error: str | None = None
    #: Why the search was stopped before its budget ran out (the implementation did not
    #: yield): the rules it had not failed become unknown, never pass.
    stopped: str | None = None
    #: Examples of the complete search that exercised each rule: what a pass rests on.
    judged: dict[str, int] = field(default_factory=dict)
    #: Whether a search ran its whole budget with nothing new failing.
    complete: bool = False
    #: How many searches ran (one more after each that found a new rule failing).
    searches: int = 0
    #: Rules set aside from the start (``--ignore``): reported unknown, never searched for.
    ignored: list[str] = field(default_factory=list)
    #: Optional methods the implementation's objects did not have: their rules are n/a.
    lacking: list[str] = field(default_factory=list)

    @property
    def examples_per_second(self) -> float:
        """Examples run per wall-clock second."""
        return self.examples / self.seconds if self.seconds > 0 else 0.0


@dataclass
class RuleResult:
    """One rule's verdict for one implementation.

    ``examples``: for a pass, the examples of complete searches that exercised the rule;
    otherwise every example the searches ran.
    """

    rule: Rule
    verdict: Verdict
    examples: int = 0
    reason: str = ""
    counterexample: dict[str, Any] | None = None
    #: The user set this rule aside (``--ignore``): unknown, and it does not fail the gate.
    ignored: bool = False


def replay_command(spec: str, pattern: str, blob: str | None) -> str | None:
    """The one command that replays a counterexample exactly."""
    if blob is None:
        return None
    return shlex.join(["poolcheck", "replay", "--impl", spec, "--pattern", pattern, "--blob", blob])


def counterexample_record(spec: str, pattern: str, found: Counterexample) -> dict[str, Any]:
    """A counterexample as JSON-ready data, with its replay command and trace."""
    return {
        "rule": found.rule_id,
        "message": found.message,
        "steps": found.steps,
        "evidence": [event_record(e) for e in found.evidence],
        "trace": [event_record(e) for e in found.trace],
        "blob": found.blob,
        "hypothesis_version": found.hypothesis_version,
        "replay": replay_command(spec, pattern, found.blob),
    }


def event_record(event: Event) -> dict[str, Any]:
    """An event as a plain dict (the JSON Lines record without the version)."""
    record: dict[str, Any] = {"t": event.t, "kind": event.kind}
    if event.id is not None:
        record["id"] = event.id
    if event.data:
        record["data"] = {
            k: v if isinstance(v, str | int | float | bool | None | list | dict) else repr(v)
            for k, v in event.data.items()
        }
    return record


def ignored_rules(rule_ids: Iterable[str]) -> frozenset[str]:
    """The rule IDs of ``--ignore``, checked: an unknown ID is a :class:`ConfigError`."""
    ids = frozenset(rule_ids)
    for rule_id in sorted(ids):
        if rule_id not in RULES:
            raise ConfigError(f"--ignore: unknown rule ID {rule_id!r} (see poolcheck rules)")
    return ids


def run_pattern(
    implementation: Implementation,
    pattern: Pattern,
    profile: Profile,
    progress: Callable[[], None] | None = None,
    *,
    ignore: frozenset[str] = frozenset(),
    on_search: Callable[[PatternRun], None] | None = None,
) -> PatternRun:
    """Search one pattern's model against the implementation.

    ``progress`` is called at every example (and shrink step), for a watchdog. Rules in
    ``ignore`` are set aside: never searched for, reported unknown. ``on_search`` gets the run
    so far after each search that found a new failure (so a search stopped later still
    reports what the earlier ones found).
    """
    model = model_for(pattern)
    if not model.applicable(implementation):
        return PatternRun(pattern=str(pattern), applicable=False, ignored=sorted(ignore))
    # A declared deviation is set aside like --ignore, so its failure hides no other rule.
    ignore = ignore | frozenset(implementation.deviations)
    started = time.perf_counter()

    def as_run(outcome: SearchOutcome) -> PatternRun:
        return PatternRun(
            pattern=str(pattern),
            applicable=True,
            examples=outcome.examples,
            seconds=time.perf_counter() - started,
            exercised=sorted(outcome.exercised),
            failures={
                rule_id: counterexample_record(implementation.spec, str(pattern), found)
                for rule_id, found in outcome.failures.items()
            },
            error=outcome.error,
            judged=dict(sorted(outcome.judged.items())),
            complete=outcome.complete,
            searches=outcome.searches,
            ignored=sorted(outcome.ignored),
            lacking=sorted(outcome.lacking),
        )

    outcome = search_model(
        model,
        implementation,
        profile,
        ignore=ignore,
        progress=progress,
        on_search=None if on_search is None else lambda partial: on_search(as_run(partial)),
    )
    return as_run(outcome)


def verdicts(implementation: Implementation, runs: list[PatternRun]) -> list[RuleResult]:
    """Combine pattern runs into one verdict per rule of the catalog."""
    by_pattern = {run.pattern: run for run in runs}
    # What the backend cannot judge or drive (nothing for a source that is no backend).
    backend = (
        backend_for(implementation.backend) if implementation.backend in BACKEND_NAMES else None
    )
    waived = backend.waived if backend else {}
    unsupported = backend.unsupported if backend else {}
    results = []
    for rule in RULES.values():
        # The runs of the patterns whose models check the rule (a general rule about some
        # factories only, CANCEL-PROPAGATES, is not checked by the batch model).
        relevant = [
            by_pattern[str(p)] for p in patterns() if str(p) in by_pattern and rule in rules_for(p)
        ]
        if not relevant:
            continue  # its pattern was not selected for this run
        ran = [run for run in relevant if run.applicable]
        if not ran:
            reason = "the implementation provides no factory for this pattern"
            pattern = rule.pattern
            if pattern is not None and implementation.factories_for(pattern):
                reason = unsupported.get(pattern, reason)
            results.append(RuleResult(rule, Verdict.NOT_APPLICABLE, reason=reason))
            continue
        if rule.capability is not None and not implementation.has(rule.capability):
            results.append(
                RuleResult(
                    rule,
                    Verdict.NOT_APPLICABLE,
                    reason=f"capability {rule.capability!r} not declared",
                )
            )
            continue
        if rule.factories and not any(name in implementation.factories for name in rule.factories):
            results.append(
                RuleResult(
                    rule,
                    Verdict.NOT_APPLICABLE,
                    reason=f"only {' or '.join(rule.factories)} can break it; none provided",
                )
            )
            continue
        if rule.id in implementation.deviations:
            reason = f"declared deviation: {implementation.deviations[rule.id]}"
            results.append(RuleResult(rule, Verdict.NOT_APPLICABLE, reason=reason))
            continue
        if rule.id in waived:
            reason = f"not judged on the {implementation.backend} backend: {waived[rule.id]}"
            results.append(RuleResult(rule, Verdict.NOT_APPLICABLE, reason=reason))
            continue
        missing = [m for m in rule.methods if any(m in run.lacking for run in ran)]
        if missing:
            reason = f"the implementation's objects have no {' or '.join(missing)}()"
            results.append(RuleResult(rule, Verdict.NOT_APPLICABLE, reason=reason))
            continue
        examples = sum(run.examples for run in ran)
        if any(rule.id in run.ignored for run in ran):
            results.append(
                RuleResult(rule, Verdict.UNKNOWN, examples, reason=IGNORED_REASON, ignored=True)
            )
            continue
        failed = [run for run in ran if rule.id in run.failures]
        if failed:
            results.append(
                RuleResult(rule, Verdict.FAIL, examples, counterexample=failed[0].failures[rule.id])
            )
            continue
        stopped = [run for run in ran if run.stopped]
        errors = [run for run in ran if run.error]
        incomplete = [run for run in ran if not run.complete]
        judged = sum(run.judged.get(rule.id, 0) for run in ran)
        if stopped:
            results.append(
                RuleResult(
                    rule,
                    Verdict.UNKNOWN,
                    examples,
                    reason=f"the {stopped[0].pattern} search was stopped: {stopped[0].stopped}",
                )
            )
        elif errors:
            results.append(
                RuleResult(
                    rule,
                    Verdict.UNKNOWN,
                    examples,
                    reason=f"harness error in {errors[0].pattern}: {errors[0].error}",
                )
            )
        elif incomplete:
            run = incomplete[0]
            results.append(
                RuleResult(
                    rule,
                    Verdict.UNKNOWN,
                    examples,
                    reason=(
                        f"no search ran its full budget: each of the {run.searches} searches "
                        f"of {run.pattern} found a new rule failing"
                    ),
                )
            )
        elif judged:
            results.append(RuleResult(rule, Verdict.PASS, judged))
        else:
            results.append(
                RuleResult(
                    rule,
                    Verdict.UNKNOWN,
                    examples,
                    reason=(
                        "no example exercised this rule"
                        if not any(rule.id in run.exercised for run in ran)
                        else "only examples of searches cut short by a failure exercised it"
                    ),
                )
            )
    return results


def exit_code(results: list[RuleResult]) -> int:
    """0 when every required rule passes and nothing fails; 1 otherwise.

    A rule the user set aside (``--ignore``) counts neither way.
    """
    for result in results:
        if result.ignored:
            continue
        if result.verdict is Verdict.FAIL:
            return 1
        if result.rule.tier == "required" and result.verdict is Verdict.UNKNOWN:
            return 1
    return 0
