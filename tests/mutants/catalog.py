"""Finding every mutant and running one through the user's entry point, ``poolcheck check``.

Shared by the kill test and the report, so both judge a mutant by the same command line.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.mutants._base import REGISTRY, Mutant

REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE_SPEC = "reference.plugin:implementation"
#: Modules of this package that hold no mutants.
_NOT_MUTANTS = frozenset({"catalog", "report"})


def catalog() -> list[Mutant]:
    """Every registered mutant, sorted by spec (importing each mutant module registers it)."""
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if not info.name.startswith(("_", "test_")) and info.name not in _NOT_MUTANTS:
            importlib.import_module(f"{__package__}.{info.name}")
    return sorted(REGISTRY.values(), key=lambda m: m.spec)


@dataclass(frozen=True, slots=True)
class CheckRun:
    """What one ``poolcheck check`` run showed: exit code, verdict per rule, wall time."""

    exit_code: int
    verdicts: dict[str, str]
    seconds: float
    stderr: str

    @property
    def flagged(self) -> list[str]:
        """The rule IDs that failed, in catalog order."""
        return [rule_id for rule_id, verdict in self.verdicts.items() if verdict == "fail"]


def check(spec: str, pattern: str, report_dir: Path, profile: str = "ci") -> CheckRun:
    """Run ``poolcheck check`` on one implementation and pattern, in a fresh process."""
    command = [
        sys.executable,
        "-m",
        "harness.cli",
        "check",
        "--impl",
        spec,
        "--pattern",
        pattern,
        "--profile",
        profile,
        "--jobs",
        "1",
        "--report-dir",
        str(report_dir),
    ]
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=900
    )
    seconds = time.perf_counter() - started
    report = report_dir / "conformance.json"
    verdicts: dict[str, str] = {}
    if report.exists():
        data = json.loads(report.read_text(encoding="utf-8"))
        for implementation in data["implementations"]:
            verdicts.update({r["id"]: r["verdict"] for r in implementation["rules"]})
    return CheckRun(done.returncode, verdicts, seconds, done.stderr.strip())
