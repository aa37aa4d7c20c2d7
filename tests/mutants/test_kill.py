"""The kill test: the CLI catches every mutant with its declared rules, and not the reference.

Each case is one ``poolcheck check --impl tests.mutants.M:F --pattern P --profile ci`` run in a
fresh process, the command line a user types; the verdicts come from its conformance.json.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from harness.rules import RULES
from tests.mutants._base import REGISTRY, Mutant, mutant
from tests.mutants.catalog import REFERENCE_SPEC, catalog, check

MUTANTS = catalog()


@pytest.mark.parametrize("case", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_is_killed_with_its_declared_rules(case: Mutant, tmp_path: Path) -> None:
    run = check(case.spec, case.pattern, tmp_path)
    assert run.exit_code == 1, f"exit {run.exit_code}: {run.stderr[-2000:]}"
    missing = [rule_id for rule_id in case.rules if run.verdicts.get(rule_id) != "fail"]
    assert not missing, f"{case.bug} -- not flagged: {missing}; flagged: {run.flagged}"


@pytest.mark.parametrize("pattern", sorted({m.pattern for m in MUTANTS}))
def test_reference_is_not_flagged_on_the_same_command_line(pattern: str, tmp_path: Path) -> None:
    run = check(REFERENCE_SPEC, pattern, tmp_path)
    assert run.flagged == []
    assert run.exit_code == 0, f"exit {run.exit_code}: {run.stderr[-2000:]}"
    assert "pass" in run.verdicts.values()


def test_every_rule_has_at_least_two_mutants() -> None:
    counts = Counter(rule_id for m in MUTANTS for rule_id in m.rules)
    thin = {rule_id: counts[rule_id] for rule_id in RULES if counts[rule_id] < 2}
    assert not thin, f"rules with fewer than two mutants: {thin}"


def test_every_mutant_names_its_bug_and_a_runnable_pattern() -> None:
    for case in MUTANTS:
        assert case.bug, case.spec
        assert not case.bug.startswith(tuple(RULES)), f"{case.spec}: the bug, not the rule"
        for rule_id in case.rules:
            assert RULES[rule_id].pattern in (None, case.pattern), (case.spec, rule_id)


def test_registering_a_mutant_checks_its_rules_and_its_docstring() -> None:
    with pytest.raises(KeyError, match="NO-SUCH-RULE"):
        mutant("NO-SUCH-RULE")

    def undocumented() -> None:
        pass

    with pytest.raises(ValueError, match="docstring"):
        mutant("QUEUE-FIFO")(undocumented)

    def two_patterns() -> None:
        """Claims rules of two patterns, so no one model run can show both."""

    with pytest.raises(ValueError, match="mixes patterns"):
        mutant("QUEUE-FIFO", "POOL-DRAIN")(two_patterns)
    assert all("two_patterns" not in spec for spec in REGISTRY)
