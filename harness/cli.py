"""The ``poolcheck`` command line.

Exit codes: 0 every required rule passes; 1 a rule failed (or a required one is unknown);
2 usage or configuration error (one line on stderr, never a traceback); 3 an internal error of
poolcheck itself (also one line).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from harness import offline
from harness.checking import Verdict
from harness.conformance import verdicts
from harness.contract import Implementation
from harness.drivers import patterns
from harness.plugin import ConfigError, load_implementation
from harness.reports import ImplementationResult, write_reports
from harness.rules import RULES, Pattern
from harness.search.engine import PROFILES, search_model
from harness.search.models.registry import model_for
from harness.search.parallel import run_patterns
from harness.stress import cli as stress_cli

EXIT_OK, EXIT_VIOLATION, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
REFERENCE_SPEC = "reference.plugin:implementation"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"poolcheck: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="poolcheck", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("rules", help="print the rule catalog")

    check = sub.add_parser("check", help="check an implementation against every rule")
    check.add_argument(
        "--impl",
        action="append",
        default=[],
        help="MODULE:CALLABLE (default: the reference); repeat for a conformance matrix",
    )
    check.add_argument(
        "--pattern", action="append", default=[], choices=[str(p) for p in patterns()]
    )
    check.add_argument("--profile", default=_default_profile(), choices=sorted(PROFILES))
    check.add_argument("--report-dir", default="reports", type=Path)
    check.add_argument(
        "--jobs", default="auto", help="searches run at once, one process each (a number, or auto)"
    )

    replay = sub.add_parser("replay", help="replay one counterexample exactly")
    replay.add_argument("--impl", default=REFERENCE_SPEC, help="MODULE:CALLABLE")
    replay.add_argument("--pattern", required=True, choices=[str(p) for p in patterns()])
    replay.add_argument("--blob", required=True, help="the blob from the report")
    offline.add_parser(sub)
    stress_cli.add_parser(sub)
    return parser


def _default_profile() -> str:
    return "ci" if os.environ.get("CI") else "dev"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = _parser().parse_args(argv)
    # Like `python -m`, find the user's modules in the current directory.
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        if args.command == "rules":
            return _rules()
        if args.command == "check":
            return _check(args)
        if args.command == "check-trace":
            return offline.run(args)
        if args.command == "stress":
            return stress_cli.run(args)
        return _replay(args)
    except ConfigError as exc:
        print(f"poolcheck: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("poolcheck: interrupted", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        print(f"poolcheck: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL


def _rules() -> int:
    width = max(len(rule_id) for rule_id in RULES)
    for rule in RULES.values():
        tier = rule.tier + (f"({rule.capability})" if rule.capability else "")
        print(
            f"{rule.id:<{width}}  {rule.pattern or 'all':<11} {rule.section:<5} "
            f"{rule.kind:<8} {tier:<22} {rule.statement}"
        )
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    specs = list(dict.fromkeys(args.impl or [REFERENCE_SPEC]))
    # Every declaration is validated before any search starts: a typo fails in a second.
    implementations = [load_implementation(spec) for spec in specs]
    started = time.perf_counter()
    results = [_check_one(implementation, args) for implementation in implementations]
    wall = time.perf_counter() - started
    paths = write_reports(args.report_dir, results, args.profile, wall)
    for result in results:
        _print_summary(result)
    print("reports: " + ", ".join(str(p) for p in paths))
    return max(result.exit_code for result in results)


def _check_one(implementation: Implementation, args: argparse.Namespace) -> ImplementationResult:
    """Search every selected pattern of one implementation in processes of its own."""
    selected = [p for p in patterns() if not args.pattern or str(p) in args.pattern]
    runs = run_patterns(implementation, selected, PROFILES[args.profile], _jobs(args.jobs))
    return ImplementationResult(implementation, runs, verdicts(implementation, runs))


def _jobs(value: str) -> int:
    if value == "auto":
        return os.cpu_count() or 1
    try:
        jobs = int(value)
    except ValueError:
        raise ConfigError(f"--jobs must be a whole number or 'auto', not {value!r}") from None
    if jobs < 0:
        raise ConfigError(f"--jobs must not be negative, not {jobs}")
    return max(1, jobs)


def _print_summary(result: ImplementationResult) -> None:
    searched = sum(run.seconds for run in result.runs)
    counts = {v: sum(1 for x in result.results if x.verdict is v) for v in Verdict}
    print(
        f"\npoolcheck: {result.implementation.name}: "
        + ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        + f" ({searched:.1f}s of model search)"
    )
    for x in result.results:
        if x.verdict is Verdict.FAIL and x.counterexample:
            print(f"  FAIL {x.rule.id}: {x.counterexample['message']}")
            if x.counterexample.get("replay"):
                print(f"       replay: {x.counterexample['replay']}")
        elif x.verdict is Verdict.FAIL:
            print(f"  FAIL {x.rule.id}")
        elif x.verdict is Verdict.UNKNOWN:
            print(f"  UNKNOWN {x.rule.id}: {x.reason}")


def _replay(args: argparse.Namespace) -> int:
    implementation = load_implementation(args.impl)
    model = model_for(Pattern(args.pattern))
    outcome = search_model(model, implementation, PROFILES["ci"], replay_blob=args.blob)
    if outcome.error:
        print(
            f"poolcheck: replay did not reproduce a rule violation: {outcome.error}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not outcome.failures:
        print("poolcheck: the example passed: nothing to replay (fixed, or a different version)")
        return EXIT_OK
    for found in outcome.failures.values():
        print(found.render())
        print("trace:")
        for event in found.trace:
            print("  " + event.to_json())
    return EXIT_VIOLATION


if __name__ == "__main__":
    raise SystemExit(main())
