"""poolcheck: check job-queue, worker-pool, limiter and retry implementations against rules.

Exit codes: 0 every required rule passes; 1 a rule failed (or a required one is unknown);
2 usage or configuration error, or nothing to check (one line on stderr, never a traceback);
3 an internal error of poolcheck itself (one line, with where its traceback was written);
130 interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import hypothesis.configuration

from harness import offline
from harness.checking import Verdict
from harness.conformance import PatternRun, ignored_rules, verdicts
from harness.contract import Implementation
from harness.drivers import patterns
from harness.plugin import ConfigError, load_implementation
from harness.reports import (
    ImplementationResult,
    drawn_params,
    implementation_output,
    prepare_report_dir,
    write_atomically,
    write_reports,
)
from harness.rules import RULES, Pattern
from harness.search.engine import PROFILES, ReplayStatus, replay
from harness.search.models.registry import model_for
from harness.search.parallel import run_patterns
from harness.stress import cli as stress_cli
from harness.watchdog import STALL_SECONDS

EXIT_OK, EXIT_VIOLATION, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
REFERENCE_SPEC = "reference.plugin:implementation"
EXIT_CODES = """exit codes:
  0    every required rule passed
  1    a rule failed (or a required rule stayed unknown)
  2    usage or configuration error, or nothing to check (one line on stderr)
  3    internal error of poolcheck (one line naming the file that holds the traceback)
  130  interrupted (Ctrl-C or SIGTERM)"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"poolcheck: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    formatting = {"epilog": EXIT_CODES, "formatter_class": argparse.RawDescriptionHelpFormatter}
    parser = _Parser(
        prog="poolcheck",
        description=__doc__.splitlines()[0] if __doc__ else None,
        **formatting,  # type: ignore[arg-type]
    )
    parser.add_argument("--version", action="version", version=f"poolcheck {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("rules", help="print the rule catalog", **formatting)  # type: ignore[arg-type]

    check = sub.add_parser(
        "check",
        help="check an implementation against every rule",
        **formatting,  # type: ignore[arg-type]
    )
    check.add_argument(
        "--impl",
        action="append",
        default=[],
        help="MODULE:CALLABLE (default: the reference); repeat for a conformance matrix",
    )
    check.add_argument(
        "--pattern",
        action="append",
        default=[],
        choices=[str(p) for p in patterns()],
        help="only this pattern (repeatable; default: every pattern)",
    )
    check.add_argument(
        "--profile",
        default=_default_profile(),
        choices=sorted(PROFILES),
        help="examples per search: "
        + ", ".join(f"{p.name} {p.max_examples}" for p in PROFILES.values())
        + " (ci is derandomized, and the default under CI=true)",
    )
    check.add_argument(
        "--report-dir",
        default="reports",
        type=Path,
        help="where conformance.{json,md,junit.xml} go (checked before any search)",
    )
    check.add_argument(
        "--jobs", default="auto", help="searches run at once, one process each (a number, or auto)"
    )
    check.add_argument(
        "--stall-seconds",
        type=float,
        default=STALL_SECONDS,
        help="wall-clock seconds a search may finish no example before it is stopped as NO-HANG",
    )
    check.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="RULE",
        help="set RULE aside to look past a known failure (repeatable): it is reported unknown, "
        "never pass or fail, and does not fail the gate",
    )

    replay = sub.add_parser(
        "replay",
        help="replay one counterexample exactly",
        **formatting,  # type: ignore[arg-type]
    )
    replay.add_argument("--impl", default=REFERENCE_SPEC, help="MODULE:CALLABLE")
    replay.add_argument(
        "--pattern", required=True, choices=[str(p) for p in patterns()], help="the pattern"
    )
    replay.add_argument("--blob", required=True, help="the blob from the report")
    offline.add_parser(sub)
    stress_cli.add_parser(sub)
    return parser


def keep_hypothesis_files_in(report_dir: Path) -> None:
    """Hypothesis's own files (its constants cache) go under the report directory.

    The example database is off (every search sets ``database=None``); without this,
    Hypothesis would still create ``.hypothesis/`` in the working directory.
    ``HYPOTHESIS_STORAGE_DIRECTORY``, when set, wins.
    """
    if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        hypothesis.configuration.set_hypothesis_home_dir(report_dir / ".hypothesis")


def _version() -> str:
    try:
        return importlib.metadata.version("poolcheck")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _default_profile() -> str:
    return "ci" if os.environ.get("CI") else "dev"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    # Like `python -m`, find the user's modules in the current directory.
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    previous = _terminate_as_interrupt()
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"poolcheck: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("poolcheck: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BaseExceptionGroup as group:
        # An event loop interrupted by Ctrl-C may wrap the KeyboardInterrupt in a group.
        if group.subgroup(KeyboardInterrupt) is not None:
            print("poolcheck: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        return _internal_error(group, args)
    except Exception as exc:
        return _internal_error(exc, args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _terminate_as_interrupt() -> Any:
    """SIGTERM stops poolcheck as Ctrl-C does (children killed, one line, exit 130)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: object) -> None:
        # Raising here could land inside an event loop's machinery; SIGINT is delivered the
        # way each loop expects (trio and asyncio install their own Ctrl-C handling).
        os.kill(os.getpid(), signal.SIGINT)

    return signal.signal(signal.SIGTERM, interrupt)


def _internal_error(exc: BaseException, args: argparse.Namespace) -> int:
    """One line naming the bug and the file that holds its traceback."""
    text = "".join(traceback.format_exception(exc))
    folder = getattr(args, "report_dir", None) or Path(tempfile.gettempdir())
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        where = Path(folder) / "poolcheck-internal-error.txt"
        write_atomically(where, text)
        hint = f" (traceback in {where}; please report it)"
    except OSError:
        hint = ""
    print(f"poolcheck: internal error: {type(exc).__name__}: {exc}{hint}"[:1000], file=sys.stderr)
    return EXIT_INTERNAL


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "rules":
        return _rules()
    if args.command == "check":
        return _check(args)
    if args.command == "check-trace":
        return offline.run(args)
    if args.command == "stress":
        return stress_cli.run(args)
    return _replay(args)


def _rules() -> int:
    width = max(len(rule_id) for rule_id in RULES)
    for rule in RULES.values():
        tier = rule.tier + (f"({rule.capability})" if rule.capability else "")
        print(
            f"{rule.id:<{width}}  {rule.pattern or 'all':<11} {rule.section:<5} "
            f"{rule.kind:<8} {tier:<24} {rule.statement}"
        )
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    specs = list(dict.fromkeys(args.impl or [REFERENCE_SPEC]))
    # Every declaration is validated before any search starts: a typo fails in a second.
    implementations = [load_implementation(spec) for spec in specs]
    args.ignore = ignored_rules(args.ignore)
    prepare_report_dir(args.report_dir)
    keep_hypothesis_files_in(args.report_dir)
    started = time.perf_counter()
    results = [_check_one(implementation, args) for implementation in implementations]
    wall = time.perf_counter() - started
    paths = write_reports(args.report_dir, results, args.profile, wall)
    for result in results:
        _print_summary(result)
    print("reports: " + ", ".join(str(p) for p in paths))
    unchecked = [r for r in results if all(x.verdict is Verdict.NOT_APPLICABLE for x in r.results)]
    if unchecked:
        names = ", ".join(r.implementation.name for r in unchecked)
        raise ConfigError(
            f"nothing was checked for {names}: every selected rule is not-applicable "
            "(see the reasons in the report); select a pattern it provides"
        )
    return max(result.exit_code for result in results)


def _check_one(implementation: Implementation, args: argparse.Namespace) -> ImplementationResult:
    """Search every selected pattern of one implementation in processes of its own."""
    selected = [p for p in patterns() if not args.pattern or str(p) in args.pattern]
    with _progress(implementation.name, len(selected)) as done:
        runs = run_patterns(
            implementation,
            selected,
            PROFILES[args.profile],
            _jobs(args.jobs),
            ignore=args.ignore,
            stall_seconds=args.stall_seconds,
            on_done=done,
        )
    return ImplementationResult(implementation, runs, verdicts(implementation, runs))


@contextlib.contextmanager
def _progress(name: str, total: int) -> Iterator[Callable[[PatternRun], None]]:
    """A progress bar of searched patterns on a terminal; nothing when output is captured."""
    if not sys.stderr.isatty():
        yield lambda run: None
        return
    from rich.progress import Progress

    # No refresh thread: the searches are forked from this process, and a fork taken while
    # another thread holds a lock can deadlock the child.
    with Progress(transient=True, auto_refresh=False) as progress:
        task = progress.add_task(f"searching {name}", total=total)
        progress.refresh()

        def done(run: PatternRun) -> None:
            progress.update(task, advance=1, description=f"searched {run.pattern} ({name})")
            progress.refresh()

        yield done


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
    excluded = result.implementation.excluded()
    if excluded:
        print(f"  note: not drawn, by its declared ranges: {', '.join(excluded)}")
    skipped: list[str] = []
    for index, x in enumerate(result.results):
        if x.verdict is Verdict.NOT_APPLICABLE:
            # Neighbours skipped for the same reason (a pattern not provided) share one line.
            skipped.append(x.rule.id)
            after = result.results[index + 1] if index + 1 < len(result.results) else None
            if after is None or after.verdict is not x.verdict or after.reason != x.reason:
                print(f"  n/a  {', '.join(skipped)}: {x.reason}")
                skipped = []
        elif x.verdict is Verdict.PASS:
            print(f"  pass {x.rule.id} ({x.examples:,} examples)")
        elif x.verdict is Verdict.FAIL and x.counterexample:
            print(f"  FAIL {x.rule.id}: {x.counterexample['message']}")
            params = drawn_params(x.counterexample)
            if params:
                print(f"       params: {params}")
            for number, step in enumerate(x.counterexample.get("steps", []), start=1):
                print(f"       {number}. {step}")
            printed = implementation_output(x.counterexample).splitlines()
            if printed:
                more = f" (+{len(printed) - 1} lines in the report)" if len(printed) > 1 else ""
                print(f"       it printed: {printed[0][:200]}{more}")
            if x.counterexample.get("replay"):
                print(f"       replay: {x.counterexample['replay']}")
        elif x.verdict is Verdict.FAIL:
            print(f"  FAIL {x.rule.id}")
        elif x.verdict is Verdict.UNKNOWN:
            print(f"  UNKNOWN {x.rule.id}: {x.reason}")


def _replay(args: argparse.Namespace) -> int:
    """Replay one blob: 1 reproduced, 0 the example passed (fixed), 2 cannot be replayed."""
    implementation = load_implementation(args.impl)
    outcome = replay(model_for(Pattern(args.pattern)), implementation, args.blob)
    if outcome.status is ReplayStatus.PASSED:
        print(f"poolcheck: {outcome.message}")
        return EXIT_OK
    if outcome.status is ReplayStatus.REPRODUCED:
        for found in outcome.counterexamples.values():
            print(found.render())
        print("trace:")
        for event in outcome.trace:
            print("  " + event.to_json())
        return EXIT_VIOLATION
    if outcome.status is ReplayStatus.ERROR:
        print(f"poolcheck: internal error: {outcome.message}", file=sys.stderr)
        return EXIT_INTERNAL
    print(f"poolcheck: error: {outcome.message}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
