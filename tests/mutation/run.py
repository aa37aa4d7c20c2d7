"""Mutation testing of ``reference/``: ``python -m tests.mutation.run`` (``nox -s mutation``).

Runs ``mutmut run`` (configured by ``[tool.mutmut]`` in pyproject.toml: it mutates the reference
and runs ``tests/mutation``, the harness's models, against each mutant), then reads mutmut's
verdicts and writes ``reports/mutation.md``: the raw score, the score with equivalent and
unobservable survivors set aside, and every survivor with its diff and its explanation from
``equivalent.toml`` (known gaps are explained but still count as survivors).

Exit status: 0 when the score without the set-aside survivors is at least 90% and no survivor is
unexplained; 1 otherwise; 2 when mutmut itself could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import io
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness.reports import write_atomically

ROOT = Path(__file__).resolve().parents[2]
EXPLANATIONS = Path(__file__).with_name("equivalent.toml")
REPORT = ROOT / "reports" / "mutation.md"
TARGET = 0.90
#: mutmut's verdicts that mean the test suite noticed the mutant. A timeout is a mutant that
#: made a model run past mutmut's CPU budget (a busy loop the virtual clock cannot interrupt).
DETECTED = frozenset({"killed", "timeout", "segfault", "caught by type check"})
NOT_REACHED = "no tests"
#: Explanation kinds: ``equivalent`` (the same behaviour through the plug-in) and
#: ``unobservable`` (a change only in what the contract does not expose) are set aside in the
#: score; a ``gap`` (visible through the contract, but no model or rule looks) names the change
#: that would kill it and still counts as a survivor.
SET_ASIDE = ("equivalent", "unobservable")
GAP = "gap"
KINDS = (*SET_ASIDE, GAP)


@dataclass(frozen=True)
class Explanation:
    """Why one survivor (or every mutant of one unreachable function) is not a harness gap."""

    kind: str
    reason: str
    change: str | None = None


@dataclass
class Survivor:
    """A mutant no model noticed: its diff and, if the checked-in file has one, why."""

    name: str
    status: str
    diff: str
    explanation: Explanation | None = None
    stale: str | None = None


@dataclass
class Tally:
    """Verdict counts and the survivors, ready to render."""

    statuses: Counter[str] = field(default_factory=Counter)
    survivors: list[Survivor] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Every mutant mutmut generated."""
        return sum(self.statuses.values())

    @property
    def detected(self) -> int:
        """Mutants some model noticed."""
        return sum(n for status, n in self.statuses.items() if status in DETECTED)

    def explained(self, *kinds: str) -> list[Survivor]:
        """Survivors with a current explanation of one of ``kinds``."""
        return [
            s
            for s in self.survivors
            if s.explanation is not None and s.stale is None and s.explanation.kind in kinds
        ]

    @property
    def set_aside(self) -> list[Survivor]:
        """Survivors that are no harness gap: equivalent, or invisible through the contract."""
        return self.explained(*SET_ASIDE)

    @property
    def unexplained(self) -> list[Survivor]:
        """Survivors without one (or whose explanation no longer matches the mutant)."""
        return [s for s in self.survivors if s.explanation is None or s.stale is not None]

    def score(self, *, set_aside: int = 0) -> float:
        """Detected over all mutants, less ``set_aside`` explained survivors."""
        judged = self.total - set_aside
        return self.detected / judged if judged else 1.0


def mutmut_command() -> list[str]:
    """The ``mutmut`` console script beside this interpreter (``python -m mutmut`` misbehaves)."""
    script = Path(sys.executable).with_name("mutmut")
    return [str(script)] if script.exists() else ["mutmut"]


def run_mutmut(max_children: int, fresh: bool) -> float:
    """Run every mutant; returns the wall time in seconds."""
    if fresh:
        # A fresh copy: mutmut's cache would keep verdicts reached with older checkers.
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    started = time.monotonic()
    command = [*mutmut_command(), "run", "--max-children", str(max_children)]
    completed = subprocess.run(command, cwd=ROOT, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` exited {completed.returncode}")
    return time.monotonic() - started


def mutmut_output(*args: str) -> str:
    """Run a mutmut CLI command in this process (one import for hundreds of ``show`` calls)."""
    from mutmut.__main__ import cli

    buffer = io.StringIO()
    with contextlib.chdir(ROOT), contextlib.redirect_stdout(buffer):
        cli.main(list(args), standalone_mode=False)
    return buffer.getvalue()


def verdicts() -> dict[str, str]:
    """Every mutant's verdict, from ``mutmut results --all true``."""
    found: dict[str, str] = {}
    for line in mutmut_output("results", "--all", "true").splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and name:
            found[name] = status
    return found


def diff_of(name: str) -> str:
    """The mutant's diff against the reference, from ``mutmut show``."""
    lines = mutmut_output("show", name).splitlines()
    return "\n".join(line for line in lines if not line.startswith("# "))


def changed_lines(diff: str) -> str:
    """The mutated lines of a diff, stripped: what an explanation's ``change`` must equal."""
    added = [
        line[1:].strip()
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    return "\n".join(added)


def function_of(name: str) -> str:
    """The mangled function a mutant belongs to (``module.xǁClassǁmethod``)."""
    return name.rpartition("__mutmut_")[0]


def load_explanations() -> tuple[dict[str, Explanation], dict[str, Explanation]]:
    """The checked-in explanations: per mutant, and per function no model reaches (glob).

    An entry either names a shared reason (``reason = "message"``, from ``[reasons]``) or
    carries its own ``kind`` and ``text``; a mutant's entry also records its ``change``.
    """
    data = tomllib.loads(EXPLANATIONS.read_text(encoding="utf-8"))
    reasons = data.get("reasons", {})

    def explanation(entry: dict[str, str]) -> Explanation:
        shared = reasons[entry["reason"]] if "reason" in entry else entry
        if shared["kind"] not in KINDS:
            raise ValueError(f"{EXPLANATIONS.name}: unknown kind {shared['kind']!r}")
        return Explanation(shared["kind"], shared["text"], entry.get("change"))

    def table(name: str) -> dict[str, Explanation]:
        return {key: explanation(entry) for key, entry in data.get(name, {}).items()}

    return table("mutants"), table("functions")


def tally(found: dict[str, str]) -> Tally:
    """Count the verdicts and attach an explanation (or a staleness note) to each survivor."""
    by_mutant, by_function = load_explanations()
    result = Tally(statuses=Counter(found.values()))
    for name, status in sorted(found.items()):
        if status in DETECTED:
            continue
        if status == NOT_REACHED:
            function = function_of(name)
            reason = next(
                (e for pattern, e in by_function.items() if fnmatch.fnmatchcase(function, pattern)),
                None,
            )
            result.survivors.append(Survivor(name, status, "", reason))
            continue
        diff = diff_of(name)
        survivor = Survivor(name, status, diff, by_mutant.get(name))
        if survivor.explanation is not None and survivor.explanation.change != changed_lines(diff):
            survivor.stale = "the explanation's `change` no longer matches this mutant"
        result.survivors.append(survivor)
    return result


def percent(value: float) -> str:
    """A score as a percentage with one decimal."""
    return f"{100 * value:.1f}%"


def render(result: Tally, seconds: float | None, max_children: int) -> str:
    """The report as Markdown."""
    set_aside, gaps = result.set_aside, result.explained(GAP)
    kinds = Counter(s.explanation.kind for s in set_aside if s.explanation is not None)
    not_reached = sum(1 for s in result.survivors if s.status == NOT_REACHED)
    reached = result.total - not_reached
    lines = [
        "# Mutation testing of `reference/`",
        "",
        "mutmut mutates the reference; the test suite is `tests/mutation`: every harness model",
        "searching the reference through the plug-in path at the `ci` profile",
        "(`python -m tests.mutation.run`, `nox -s mutation`). Explanations of survivors live in",
        "`tests/mutation/equivalent.toml`.",
        "",
        "| | |",
        "|---|---|",
        f"| mutants | {result.total} |",
        *(f"| {status} | {n} |" for status, n in sorted(result.statuses.items())),
        f"| **raw score** (detected / all) | **{percent(result.score())}** |",
        f"| score over the mutants a model reaches | "
        f"{percent(result.detected / reached) if reached else '-'} ({reached} mutants) |",
        f"| survivors set aside | {len(set_aside)} "
        f"({', '.join(f'{k}: {n}' for k, n in sorted(kinds.items())) or 'none'}) |",
        f"| **score without them** | **{percent(result.score(set_aside=len(set_aside)))}** |",
        f"| target | {percent(TARGET)} |",
        f"| known gaps (explained, still counted as survivors) | {len(gaps)} |",
        f"| unexplained survivors | {len(result.unexplained)} |",
    ]
    if seconds is not None:
        per_mutant = seconds * max_children / reached if reached else 0.0
        lines.append(
            f"| run time | {seconds / 60:.1f} min on {max_children} workers "
            f"(~{per_mutant:.1f} worker-seconds per mutant a model reaches) |"
        )
    sections = [
        ("Unexplained survivors", result.unexplained),
        ("Known gaps", gaps),
        ("Set aside: equivalent or unobservable through the contract", set_aside),
    ]
    for title, survivors in sections:
        lines += ["", f"## {title} ({len(survivors)})", ""]
        lines += [_entry(s) for s in survivors] or ["None."]
    return "\n".join(lines) + "\n"


def _entry(survivor: Survivor) -> str:
    parts = [f"### `{survivor.name}` ({survivor.status})", ""]
    if survivor.explanation is not None:
        parts += [f"*{survivor.explanation.kind}*: {survivor.explanation.reason}", ""]
    if survivor.stale is not None:
        parts += [f"**stale**: {survivor.stale}", ""]
    if survivor.diff:
        parts += ["```diff", survivor.diff, "```", ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Run mutmut, write the report, and return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tests.mutation.run", description=__doc__)
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--reuse", action="store_true", help="keep mutmut's cached verdicts")
    parser.add_argument("--report-only", action="store_true", help="report the last run")
    args = parser.parse_args(argv)
    seconds: float | None = None
    try:
        if not args.report_only:
            seconds = run_mutmut(args.max_children, fresh=not args.reuse)
        found = verdicts()
    except (RuntimeError, OSError) as exc:
        print(f"mutation: {exc}", file=sys.stderr)
        return 2
    if not found:
        print("mutation: mutmut reported no mutants (run without --report-only)", file=sys.stderr)
        return 2
    result = tally(found)
    write_atomically(REPORT, render(result, seconds, args.max_children))
    without = result.score(set_aside=len(result.set_aside))
    print(
        f"mutation: raw {percent(result.score())}, without set-aside survivors "
        f"{percent(without)} (target {percent(TARGET)}), "
        f"{len(result.unexplained)} unexplained; report: {REPORT.relative_to(ROOT)}"
    )
    return 0 if without >= TARGET and not result.unexplained else 1


if __name__ == "__main__":
    raise SystemExit(main())
