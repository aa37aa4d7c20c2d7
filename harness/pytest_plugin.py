"""pytest plug-in: runs the conformance models for ``--poolcheck-impl`` and saves their runs.

Each test process (the main one, or each pytest-xdist worker) writes one JSON file per pattern
into ``--poolcheck-parts``; ``poolcheck check`` merges them into the reports once pytest ends.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from harness.conformance import PatternRun, run_pattern
from harness.contract import Implementation
from harness.plugin import ConfigError, load_implementation
from harness.reports import write_atomically
from harness.rules import Pattern
from harness.search import PROFILES


class ConformanceContext:
    """What a conformance test needs: the implementation, the profile, where runs go."""

    def __init__(
        self, implementation: Implementation, profile: str, parts: Path | None, selected: list[str]
    ) -> None:
        self.implementation = implementation
        self.profile = PROFILES[profile]
        self.parts = parts
        self._selected = set(selected)

    def selected(self, pattern: Pattern) -> bool:
        """Whether ``--poolcheck-pattern`` (default: all) includes ``pattern``."""
        return not self._selected or str(pattern) in self._selected

    def run(self, pattern: Pattern) -> PatternRun:
        """Search the pattern's model and save the run for the report."""
        result = run_pattern(self.implementation, pattern, self.profile)
        if self.parts is not None:
            write_atomically(self.parts / f"{pattern}.json", json.dumps(asdict(result)))
        return result


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``--poolcheck-*`` options."""
    group = parser.getgroup("poolcheck")
    group.addoption(
        "--poolcheck-impl", default=None, help="MODULE:CALLABLE declaring the implementation"
    )
    group.addoption("--poolcheck-profile", default="dev", choices=sorted(PROFILES))
    group.addoption("--poolcheck-parts", default=None, help="directory for per-pattern results")
    group.addoption("--poolcheck-pattern", action="append", default=[], help="only these patterns")


@pytest.fixture(scope="session")
def poolcheck(request: pytest.FixtureRequest) -> ConformanceContext:
    """The conformance context built from the command line."""
    spec = request.config.getoption("--poolcheck-impl")
    if not spec:
        pytest.skip("no --poolcheck-impl given")
    try:
        implementation = load_implementation(spec)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    parts = request.config.getoption("--poolcheck-parts")
    return ConformanceContext(
        implementation,
        request.config.getoption("--poolcheck-profile"),
        Path(parts) if parts else None,
        request.config.getoption("--poolcheck-pattern"),
    )
