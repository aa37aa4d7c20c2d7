"""``python -m tests.mutants.report``: run every mutant through the CLI, write reports/mutants.md.

Each mutant is checked exactly as a user would check it (``poolcheck check --pattern P
--profile ci``), two at a time; the time to kill is the wall time of that run. The report
gives the kill rate, the median and maximum time to kill, and one row per mutant. Exit status:
0 when every mutant is killed with its declared rules and the reference is not flagged, 1
otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.reports import write_atomically
from harness.rules import RULES
from tests.mutants._base import Mutant
from tests.mutants.catalog import REFERENCE_SPEC, REPO_ROOT, CheckRun, catalog, check


@dataclass(frozen=True, slots=True)
class Outcome:
    """One mutant's run, judged."""

    mutant: Mutant
    run: CheckRun

    @property
    def killed(self) -> bool:
        """Caught: the run failed and flagged every rule the mutant declares."""
        return self.run.exit_code == 1 and set(self.mutant.rules) <= set(self.run.flagged)


def run_all(mutants: Sequence[Mutant], jobs: int) -> tuple[list[Outcome], dict[str, CheckRun]]:
    """Check every mutant, and the reference on each pattern they use, ``jobs`` at a time."""
    patterns = sorted({m.pattern for m in mutants})
    with tempfile.TemporaryDirectory(prefix="poolcheck-mutants-") as scratch:
        root = Path(scratch)

        def run(index: int, spec: str, pattern: str) -> CheckRun:
            return check(spec, pattern, root / str(index))

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            refs = {p: pool.submit(run, -i - 1, REFERENCE_SPEC, p) for i, p in enumerate(patterns)}
            runs = [pool.submit(run, i, m.spec, m.pattern) for i, m in enumerate(mutants)]
            outcomes = [Outcome(m, r.result()) for m, r in zip(mutants, runs, strict=True)]
            references = {p: f.result() for p, f in refs.items()}
    return outcomes, references


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(outcomes: Sequence[Outcome], references: dict[str, CheckRun]) -> str:
    """The report: kill rate, time to kill (median and max), one row per mutant."""
    killed = [o for o in outcomes if o.killed]
    times = [o.run.seconds for o in killed]
    rate = len(killed) / len(outcomes) if outcomes else 0.0
    false_alarms = {p: r for p, r in references.items() if r.exit_code != 0 or r.flagged}
    lines = [
        f"# Mutant kill report: {len(killed)}/{len(outcomes)} killed ({rate:.0%})",
        "",
        "Each mutant was checked through the CLI, as a user would: `poolcheck check --impl "
        "tests.mutants.MODULE:FUNCTION --pattern P --profile ci --jobs 1`. Time to kill is the "
        "wall time of that run (process start, import, search, reports).",
        "",
        f"- mutants: {len(outcomes)}, killed: {len(killed)}, survived: "
        f"{len(outcomes) - len(killed)}",
        f"- kill rate: {rate:.1%}",
    ]
    if times:
        lines += [
            f"- time to kill: median {statistics.median(times):.2f} s, max {max(times):.2f} s",
        ]
    lines += [
        "- reference on the same command line: "
        + (
            "not flagged on any pattern"
            if not false_alarms
            else "FLAGGED on "
            + ", ".join(f"{p} (exit {r.exit_code}, {r.flagged})" for p, r in false_alarms.items())
        ),
        "",
        "| Mutant | Bug | Declared rules | Rules flagged | Killed | Seconds |",
        "|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        flagged = ", ".join(o.run.flagged) or f"none (exit {o.run.exit_code})"
        lines.append(
            f"| `{o.mutant.name}` | {_cell(o.mutant.bug)} | {', '.join(o.mutant.rules)} | "
            f"{flagged} | {'yes' if o.killed else '**no**'} | {o.run.seconds:.2f} |"
        )
    lines += ["", "## Mutants per rule", "", "| Rule | Mutants | Killed |", "|---|---|---|"]
    for rule_id in RULES:
        declaring = [o for o in outcomes if rule_id in o.mutant.rules]
        lines.append(f"| {rule_id} | {len(declaring)} | {sum(1 for o in declaring if o.killed)} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the catalog (or the mutants whose name contains a filter) and write the report."""
    parser = argparse.ArgumentParser(prog="python -m tests.mutants.report", description=__doc__)
    parser.add_argument("filters", nargs="*", help="only mutants whose name contains one")
    parser.add_argument("--jobs", type=int, default=2, help="mutants checked at once")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "mutants.md")
    args = parser.parse_args(argv)
    mutants = [m for m in catalog() if not args.filters or any(f in m.name for f in args.filters)]
    if not mutants:
        print("no mutant matches", file=sys.stderr)
        return 2
    outcomes, references = run_all(mutants, args.jobs)
    write_atomically(args.out, to_markdown(outcomes, references))
    survivors = [o for o in outcomes if not o.killed]
    for o in survivors:
        print(
            f"SURVIVED {o.mutant.name}: declared {list(o.mutant.rules)}, flagged "
            f"{o.run.flagged}, exit {o.run.exit_code} {o.run.stderr[-300:]}",
            file=sys.stderr,
        )
    flagged_refs = [p for p, r in references.items() if r.exit_code != 0 or r.flagged]
    for p in flagged_refs:
        print(f"FALSE ALARM: the reference is flagged on {p}", file=sys.stderr)
    killed = len(outcomes) - len(survivors)
    print(f"{killed}/{len(outcomes)} mutants killed; report: {args.out}")
    return 1 if survivors or flagged_refs else 0


if __name__ == "__main__":
    raise SystemExit(main())
