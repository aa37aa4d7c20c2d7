"""pytest plug-in (entry point ``poolcheck``): one test item per rule of the catalog.

A user's own suite runs ``pytest --poolcheck-impl module:factory`` and sees, for every selected
pattern, one item per rule that applies to it (``poolcheck-queue::QUEUE-FIFO``, and the general
rules once per pattern: ``poolcheck-queue::NO-HANG``). The items of one pattern share one model
search (run by the first of them, cached in the process); each item then reports its own rule:
passed, failed with the minimal counterexample, or skipped with the reason it does not apply.
A rule that no example exercised is never passed: it fails when required and is skipped when
optional. Under pytest-xdist use ``--dist loadgroup``: the items of a pattern carry the same
``xdist_group`` so one worker searches each model once.

``poolcheck check`` does not go through pytest: it runs its searches in processes of its own
(:mod:`harness.search.parallel`) and decides every verdict in one place.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.checking import Verdict
from harness.conformance import PatternRun, RuleResult, verdicts
from harness.contract import Implementation
from harness.drivers import patterns
from harness.plugin import ConfigError, load_implementation
from harness.rules import RULES, Pattern, Rule
from harness.search.engine import PROFILES
from harness.search.parallel import run_patterns
from harness.watchdog import STALL_SECONDS

_CONTEXT = pytest.StashKey["ConformanceContext"]()


class ConformanceContext:
    """What the rule items share: the implementation, the profile, and the searches so far."""

    def __init__(
        self,
        implementation: Implementation,
        profile: str,
        selected: list[str],
        stall_seconds: float = STALL_SECONDS,
    ) -> None:
        self.implementation = implementation
        self.profile = PROFILES[profile]
        self.stall_seconds = stall_seconds
        self._selected = set(selected)
        self._runs: dict[Pattern, PatternRun] = {}
        self._verdicts: dict[Pattern, dict[str, RuleResult]] = {}

    def selected(self, pattern: Pattern) -> bool:
        """Whether ``--poolcheck-pattern`` (default: all) includes ``pattern``."""
        return not self._selected or str(pattern) in self._selected

    def run(self, pattern: Pattern) -> PatternRun:
        """Search the pattern's model once per process, in a watched child.

        A busy loop in the implementation becomes NO-HANG instead of hanging the user's suite.
        """
        if pattern not in self._runs:
            [self._runs[pattern]] = run_patterns(
                self.implementation, [pattern], self.profile, 1, stall_seconds=self.stall_seconds
            )
        return self._runs[pattern]

    def verdict(self, pattern: Pattern, rule: Rule) -> RuleResult:
        """The verdict of ``rule`` as decided by ``pattern``'s model."""
        if pattern not in self._verdicts:
            results = verdicts(self.implementation, [self.run(pattern)])
            self._verdicts[pattern] = {x.rule.id: x for x in results}
        return self._verdicts[pattern][rule.id]


def rules_checked_by(pattern: Pattern) -> list[Rule]:
    """The rules a pattern's model decides: its own, then the general ones."""
    return [rule for rule in RULES.values() if rule.pattern in (pattern, None)]


class RuleItem(pytest.Item):
    """One rule of one pattern, judged from the pattern's (shared) model search."""

    def __init__(self, *, pattern: Pattern, rule: Rule, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pattern = pattern
        self.rule = rule
        self.add_marker(pytest.mark.xdist_group(f"poolcheck-{pattern}"))

    def runtest(self) -> None:
        """Fail with the counterexample, skip when not applicable, pass when exercised."""
        context = self.config.stash[_CONTEXT]
        run = context.run(self.pattern)
        if run.error:
            pytest.fail(f"harness error while searching {self.pattern}: {run.error}", False)
        result = context.verdict(self.pattern, self.rule)
        if result.verdict is Verdict.NOT_APPLICABLE:
            pytest.skip(f"{self.rule.id} not applicable: {result.reason}")
        if result.verdict is Verdict.FAIL and result.counterexample:
            pytest.fail(_render_failure(self.rule, result.counterexample), False)
        if result.verdict is Verdict.UNKNOWN:
            if self.rule.tier == "required":
                pytest.fail(f"{self.rule.id} unknown: {result.reason}", False)
            pytest.skip(f"{self.rule.id} (optional) unknown: {result.reason}")

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the item comes from, for pytest's report headers."""
        return self.path, None, f"poolcheck-{self.pattern}::{self.rule.id}"


def _render_failure(rule: Rule, counterexample: dict[str, Any]) -> str:
    steps = "\n".join(f"  {i}. {s}" for i, s in enumerate(counterexample["steps"], start=1))
    evidence = "\n".join(f"  {json.dumps(e)}" for e in counterexample["evidence"])
    return (
        f"{rule.id} violated: {counterexample['message']}\n"
        f"rule: {rule.statement}\nminimal steps:\n{steps}\noffending events:\n{evidence}\n"
        f"replay: {counterexample.get('replay')}"
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``--poolcheck-*`` options."""
    group = parser.getgroup("poolcheck")
    group.addoption(
        "--poolcheck-impl", default=None, help="MODULE:CALLABLE declaring the implementation"
    )
    group.addoption("--poolcheck-profile", default="dev", choices=sorted(PROFILES))
    group.addoption("--poolcheck-pattern", action="append", default=[], help="only these patterns")
    group.addoption(
        "--poolcheck-stall-seconds",
        type=float,
        default=STALL_SECONDS,
        help="wall-clock seconds a search may make no progress before it is NO-HANG",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Load the implementation once; a bad ``--poolcheck-impl`` is a usage error."""
    spec = config.getoption("--poolcheck-impl", default=None)
    if not spec:
        return
    # As ``poolcheck check`` does (and ``python -m pytest`` would): the user's modules are
    # found from the directory pytest was started in.
    here = str(config.invocation_params.dir)
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        implementation = load_implementation(spec)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    selected = config.getoption("--poolcheck-pattern")
    known = {str(p) for p in patterns()}
    unknown = sorted(set(selected) - known)
    if unknown:
        raise pytest.UsageError(f"--poolcheck-pattern: unknown {unknown} (known: {sorted(known)})")
    config.stash[_CONTEXT] = ConformanceContext(
        implementation,
        config.getoption("--poolcheck-profile"),
        selected,
        config.getoption("--poolcheck-stall-seconds"),
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Add the rule items (before ``-k``/``-m`` selection sees them)."""
    context = config.stash.get(_CONTEXT, None)
    if context is None:
        return
    for pattern in patterns():
        if not context.selected(pattern):
            continue
        name = f"poolcheck-{pattern}"
        collector = _PatternCollector.from_parent(session, name=name, nodeid=name)
        for rule in rules_checked_by(pattern):
            items.append(RuleItem.from_parent(collector, name=rule.id, pattern=pattern, rule=rule))


class _PatternCollector(pytest.Collector):
    """The parent node of one pattern's rule items (they are added, not collected)."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []


@pytest.fixture(scope="session")
def poolcheck(request: pytest.FixtureRequest) -> ConformanceContext:
    """The conformance context of ``--poolcheck-impl``, for a user's own tests."""
    context = request.config.stash.get(_CONTEXT, None)
    if context is None:
        pytest.skip("no --poolcheck-impl given")
    return context
