"""``poolcheck stress``: run built-in or user scenarios, write reports, gate on a baseline.

Exit codes follow :mod:`harness.cli`: 0 every rule passed (and no regression), 1 a rule failed
or the baseline gate tripped, 2 bad input (raised as :class:`~harness.plugin.ConfigError`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from harness.contract import Implementation
from harness.plugin import ConfigError, load_implementation
from harness.reports import prepare_report_dir, write_atomically
from harness.stress.report import headline_latency, write_reports, write_summary
from harness.stress.runner import StressResult, run_scenario, stopped_result, why_not_runnable
from harness.stress.scenario import Scenario, catalog, load_scenario
from harness.watchdog import STALL_SECONDS, Watched

REFERENCE_SPEC: Final = "reference.plugin:implementation"
#: Relative slack of the baseline gate: throughput may fall and p99 may rise this much.
DEFAULT_TOLERANCE: Final = 0.10
BASELINE_VERSION: Final = 1


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``stress`` on the ``poolcheck`` command line."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "stress", help="run stress scenarios (load, faults, cancellation) checked by the rules"
    )
    parser.add_argument(
        "scenarios", nargs="*", metavar="SCENARIO-OR-NAME", help="a catalog name or a TOML file"
    )
    parser.add_argument("--all", action="store_true", help="run the whole built-in catalog")
    parser.add_argument("--list", action="store_true", help="list the built-in catalog")
    parser.add_argument(
        "--impl", default=None, help="MODULE:CALLABLE (default: the scenario's, or the reference)"
    )
    parser.add_argument("--report-dir", default=Path("reports/stress"), type=Path)
    parser.add_argument(
        "--baseline", type=Path, help="fail when throughput or p99 regress against this file"
    )
    parser.add_argument(
        "--save-baseline", type=Path, help="write this run's throughput and p99 as a baseline"
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help=f"baseline tolerance as a fraction (default: the file's, else {DEFAULT_TOLERANCE})",
    )
    parser.add_argument(
        "--stall-seconds",
        type=float,
        default=STALL_SECONDS,
        help="wall-clock seconds a run may record no event before it is stopped as NO-HANG",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the requested scenarios; return the exit code."""
    if args.list:
        for name, path in catalog().items():
            print(f"{name:32} {load_scenario(str(path)).description}")
        return 0
    names = list(catalog()) if args.all else list(args.scenarios)
    if not names:
        raise ConfigError("stress: name a scenario (or a TOML file), or pass --all")
    if args.tolerance is not None and not 0 <= args.tolerance < 10:
        raise ConfigError("--tolerance must be a fraction between 0 and 10, e.g. 0.1")
    scenarios = [load_scenario(name) for name in names]
    prepare_report_dir(args.report_dir)
    baseline = _read_baseline(args.baseline) if args.baseline else None
    exit_code, rows, saved = 0, [], {}
    skipped = 0
    for scenario in scenarios:
        spec = args.impl or scenario.implementation or REFERENCE_SPEC
        implementation = load_implementation(spec)
        reason = why_not_runnable(scenario, implementation)
        if reason is not None and args.all:
            # The catalog covers every pattern; an implementation is run on those it provides.
            print(f"stress {scenario.name}: not-applicable ({reason})")
            skipped += 1
            continue
        if reason is not None:
            raise ConfigError(f"scenario {scenario.name!r}: {reason}")
        row = _watched(scenario, implementation, baseline, args)
        if row["failed"] or row["regressed"]:
            exit_code = 1
        saved[scenario.name] = row.pop("saved")
        rows.append(row)
    if not rows:
        raise ConfigError(f"stress: none of the {skipped} scenarios applies to this implementation")
    if len(rows) > 1:
        print(f"summary: {write_summary(args.report_dir, rows)}")
    if args.save_baseline:
        _save_baseline(args.save_baseline, saved, args.tolerance)
    return exit_code


def _watched(
    scenario: Scenario,
    implementation: Implementation,
    baseline: dict[str, Any] | None,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Run one scenario in a watched child; a run that stops making progress is NO-HANG."""
    watched = Watched(
        lambda messenger: messenger.send(
            _run_one(scenario, implementation, baseline, args, messenger.tick)
        ),
        name=f"poolcheck-stress-{scenario.name}",
    )
    try:
        state, messages = watched.wait(args.stall_seconds)
    finally:
        watched.kill()
    if messages:
        row: dict[str, Any] = messages[-1]
        return row
    if state == "stalled":
        message = (
            f"the implementation did not yield for {args.stall_seconds:g} s of wall-clock time "
            "(a busy loop, or a blocking call on the event loop's thread); the run was stopped"
        )
    else:
        message = f"the run's process ended without a result (exit code {watched.exitcode})"
    result = stopped_result(scenario, implementation, message, time.monotonic() - watched.started)
    return _finish(result, None, args)


def _run_one(
    scenario: Scenario,
    implementation: Implementation,
    baseline: dict[str, Any] | None,
    args: argparse.Namespace,
    heartbeat: Callable[[], None],
) -> dict[str, Any]:
    """The child's work: run, compare with the baseline, write and print; the summary row."""
    with _progress(scenario.name, scenario.jobs) as progress:
        result = run_scenario(scenario, implementation, progress=progress, heartbeat=heartbeat)
    gate = _compare(result, baseline, args.tolerance) if baseline is not None else None
    return _finish(result, gate, args)


def _finish(
    result: StressResult, gate: dict[str, Any] | None, args: argparse.Namespace
) -> dict[str, Any]:
    """Write and print one run's reports; its row of the summary (and its baseline figures)."""
    paths = write_reports(args.report_dir, result, gate)
    failed = [rule.rule_id for rule in result.rules if str(rule.verdict) == "fail"]
    regressed = bool(gate and gate["regressed"])
    _print_result(result, failed, gate, paths[-1])
    throughput, p99 = _figures(result)
    return {
        "name": result.scenario.name,
        "pattern": str(result.scenario.pattern),
        "verdict": ("FAIL" if failed else "pass") + (" (regressed)" if regressed else ""),
        "failed": failed,
        "regressed": regressed,
        "throughput": f"{throughput:,.1f}" if throughput is not None else "-",
        "p99": f"{p99:.4g}" if p99 is not None else "-",
        "events": result.events,
        "wall": result.wall_seconds,
        "saved": {"throughput": throughput, "p99_seconds": p99},
    }


def _print_result(
    result: StressResult, failed: list[str], gate: dict[str, Any] | None, html: Path
) -> None:
    verdict = "FAIL " + ", ".join(failed) if failed else "pass"
    throughput, p99 = _figures(result)
    figures = f"{throughput:,.1f}/vs" if throughput is not None else "-"
    if p99 is not None:
        figures += f", p99 {p99:.4g}s"
    print(
        f"stress {result.scenario.name}: {verdict} ({result.events:,} events, "
        f"{result.virtual_seconds:.6g} virtual s, {result.wall_seconds:.1f}s wall; {figures})"
    )
    for rule in result.rules:
        if str(rule.verdict) == "fail":
            print(f"  FAIL {rule.rule_id}: {rule.first[0]['message']}")
            for line in rule.first[0]["events"][:3]:
                print(f"       {line}")
    if gate and gate["regressed"]:
        print("  REGRESSED: " + "; ".join(gate["problems"]))
    print(f"  report: {html}")


def _figures(result: StressResult) -> tuple[float | None, float | None]:
    throughput = result.metrics.get("throughput_per_virtual_second")
    headline = headline_latency(result.metrics)
    return throughput, (headline[1]["p99"] if headline else None)


# -- the baseline gate ---------------------------------------------------------------------


def _read_baseline(path: Path) -> dict[str, Any]:
    """A baseline file (``--save-baseline``) or a stress JSON report, as {name: figures}."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--baseline {path}: cannot read ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--baseline {path}: not JSON ({exc})") from None
    if isinstance(raw, dict) and raw.get("kind") == "stress":
        # A previous run's report stands for its own scenario.
        result = raw.get("metrics", {})
        headline = headline_latency(result)
        return {
            "tolerance": None,
            "scenarios": {
                raw["scenario"]["name"]: {
                    "throughput": result.get("throughput_per_virtual_second"),
                    "p99_seconds": headline[1]["p99"] if headline else None,
                }
            },
        }
    if (
        not isinstance(raw, dict)
        or raw.get("version") != BASELINE_VERSION
        or not isinstance(raw.get("scenarios"), dict)
    ):
        raise ConfigError(
            f"--baseline {path}: expected a stress report or a baseline file "
            f'{{"version": {BASELINE_VERSION}, "scenarios": {{...}}}}'
        )
    for name, figures in raw["scenarios"].items():
        if not isinstance(figures, dict) or not all(
            figures.get(key) is None or _is_number(figures.get(key))
            for key in ("throughput", "p99_seconds")
        ):
            raise ConfigError(f"--baseline {path}: scenario {name!r} needs numeric figures")
    tolerance = raw.get("tolerance")
    if tolerance is not None and not _is_number(tolerance):
        raise ConfigError(f"--baseline {path}: 'tolerance' must be a number")
    return {"tolerance": tolerance, "scenarios": raw["scenarios"]}


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _compare(
    result: StressResult, baseline: dict[str, Any], tolerance: float | None
) -> dict[str, Any] | None:
    """Throughput may drop and p99 may rise by at most ``tolerance`` (relative)."""
    base = baseline["scenarios"].get(result.scenario.name)
    if base is None:
        return None
    slack = tolerance if tolerance is not None else baseline["tolerance"]
    slack = DEFAULT_TOLERANCE if slack is None else float(slack)
    throughput, p99 = _figures(result)
    problems = []
    base_throughput = base.get("throughput")
    if (
        base_throughput is not None
        and throughput is not None
        and throughput < base_throughput * (1 - slack)
    ):
        problems.append(
            f"throughput {throughput:.4g}/vs is below the baseline's {base_throughput:.4g} "
            f"by more than {slack:.0%}"
        )
    base_p99 = base.get("p99_seconds")
    if base_p99 is not None and p99 is not None and p99 > base_p99 * (1 + slack):
        problems.append(
            f"p99 {p99:.4g}s is above the baseline's {base_p99:.4g}s by more than {slack:.0%}"
        )
    return {
        "tolerance": slack,
        "throughput": throughput,
        "base_throughput": base_throughput,
        "p99": p99,
        "base_p99": base_p99,
        "regressed": bool(problems),
        "problems": problems,
    }


def _save_baseline(path: Path, figures: dict[str, Any], tolerance: float | None) -> None:
    document = {
        "version": BASELINE_VERSION,
        "tolerance": DEFAULT_TOLERANCE if tolerance is None else tolerance,
        "scenarios": figures,
    }
    write_atomically(path, json.dumps(document, indent=2) + "\n")
    print(f"baseline: {path}")


# -- progress ------------------------------------------------------------------------------


@contextmanager
def _progress(name: str, total: int | None) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on an interactive terminal; nothing under CI or when piped."""
    if os.environ.get("CI") or not sys.stderr.isatty() or total is None or total < 10_000:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        f"[bold]{name}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task(name, total=total)

        def advance(done: int) -> None:
            bar.update(task, completed=done)

        yield advance
