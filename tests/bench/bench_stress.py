"""Stress-scale benchmark: 1,000,000 jobs through a pool with every checker on, per backend.

Run as ``python -m tests.bench.bench_stress [--jobs N] [--backend trio|asyncio ...]``. Not a
test: it uses the real clock. For each backend (the trio reference's pool, and the asyncio
example's pool on looptime's virtual clock) the scenario runs in a fresh process (so peak RSS
is its own) with the pool's checkers (PoolChecker, PoolMetricsChecker, GuardChecker) folding
every event, the folds timed; then, unless ``--no-compare``, again with checking off. It
reports peak RSS (``resource.getrusage``), wall time, jobs per second and the checkers' share
of the run time, both as timed folds / wall and as ``(on - off) / on`` in CPU time; the
targets are peak RSS <= 150 MB and a checker share <= 25 % on every backend.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import time
from typing import Any

from harness.plugin import load_implementation
from harness.stress.runner import run_scenario
from harness.stress.scenario import parse

#: The pool measured on each backend.
IMPLEMENTATIONS: dict[str, str] = {
    "trio": "reference.plugin:implementation",
    "asyncio": "examples.asyncio_impl:implementation",
}
TARGET_RSS_MB = 150.0
TARGET_CHECKER_SHARE = 0.25

SCENARIO: dict[str, Any] = {
    "name": "bench-pool",
    "description": "the reference pool, flat out, with failures and per-job timeouts",
    "pattern": "pool",
    "seed": 1,
    "params": {"workers": 8, "jobs_buffer": 64, "results_buffer": 64, "job_timeout": 0.01},
    "load": {
        "producers": 4,
        "duration": {"dist": "fixed", "value": 0.002},
        "failure_rate": 0.01,
    },
    "run": {"jobs": 1_000_000},
}


def one(backend: str, jobs: int, check: bool) -> dict[str, Any]:
    """One run in this process: wall time, peak RSS, the rules' verdicts."""
    scenario = dataclasses.replace(parse(SCENARIO), jobs=jobs)
    implementation = load_implementation(IMPLEMENTATIONS[backend])
    started, cpu_started = time.perf_counter(), time.process_time()
    result = run_scenario(scenario, implementation, check=check, timed=check)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return {
        "check": check,
        "jobs": jobs,
        "events": result.events,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "jobs_per_second": jobs / wall,
        "peak_rss_mb": peak_kb / 1024,
        "completed": result.metrics["counters"].get("completed", 0),
        "finished": sum(
            result.metrics["counters"].get(outcome, 0)
            for outcome in ("completed", "failed", "timed_out", "cancelled")
        ),
        "checker_seconds": result.checker_seconds,
        "failed_rules": [r.rule_id for r in result.rules if str(r.verdict) == "fail"],
        "verdicts": {r.rule_id: str(r.verdict) for r in result.rules},
    }


def _child(backend: str, jobs: int, check: bool) -> dict[str, Any]:
    flag = "--checkers-on" if check else "--checkers-off"
    command = ["--jobs", str(jobs), "--backend", backend, flag]
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.bench_stress", *command],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=SCENARIO["run"]["jobs"])
    parser.add_argument(
        "--no-compare", action="store_true", help="skip the checkers-off run (timed share only)"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--checkers-on", action="store_true", help="one run in this process")
    mode.add_argument("--checkers-off", action="store_true", help="one run in this process")
    parser.add_argument(
        "--backend", action="append", choices=list(IMPLEMENTATIONS), help="default: every one"
    )
    args = parser.parse_args()
    backends = args.backend or list(IMPLEMENTATIONS)
    if args.checkers_on or args.checkers_off:
        print(json.dumps(one(backends[0], args.jobs, check=args.checkers_on)))
        return 0
    ok = True
    for backend in backends:
        ok = _bench(backend, args.jobs, compare=not args.no_compare) and ok
    print("all within targets" if ok else "OUTSIDE TARGETS")
    return 0 if ok else 1


def _bench(backend: str, jobs: int, compare: bool) -> bool:
    on = _child(backend, jobs, check=True)
    timed_share = on["checker_seconds"] / on["wall_seconds"]
    print(
        f"stress bench [{backend}]: {jobs:,} jobs through {IMPLEMENTATIONS[backend]}, "
        f"{on['events']:,} events"
    )
    print(
        f"  checkers on : {on['wall_seconds']:8.1f} s  {on['jobs_per_second']:9,.0f} jobs/s  "
        f"peak RSS {on['peak_rss_mb']:6.1f} MB  CPU {on['cpu_seconds']:.1f} s  "
        f"(checkers' folds: {on['checker_seconds']:.1f} s)"
    )
    shares = [timed_share]
    if compare:
        off = _child(backend, jobs, check=False)
        # CPU time, not wall time: the machine may be shared, and the two runs are sequential.
        shares.append(max(0.0, (on["cpu_seconds"] - off["cpu_seconds"]) / on["cpu_seconds"]))
        print(
            f"  checkers off: {off['wall_seconds']:8.1f} s  {off['jobs_per_second']:9,.0f} jobs/s  "
            f"peak RSS {off['peak_rss_mb']:6.1f} MB  CPU {off['cpu_seconds']:.1f} s"
        )
        print(f"  checker share, on vs off (CPU time): {shares[-1]:.1%}")
    print(f"  checker share, timed folds: {timed_share:.1%} (target <= {TARGET_CHECKER_SHARE:.0%})")
    print(
        f"  peak RSS with checkers: {on['peak_rss_mb']:.1f} MB (target <= {TARGET_RSS_MB:.0f} MB)"
    )
    print(f"  verdicts: {on['verdicts']}")
    ok = (
        on["peak_rss_mb"] <= TARGET_RSS_MB
        and max(shares) <= TARGET_CHECKER_SHARE
        and not on["failed_rules"]
        and on["finished"] == jobs
    )
    print("  within targets" if ok else "  OUTSIDE TARGETS")
    return bool(ok)


if __name__ == "__main__":
    raise SystemExit(main())
