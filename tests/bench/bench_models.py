"""What one search example costs: each model on the reference beside a bare Hypothesis floor.

Run as ``python -m tests.bench.bench_models [--examples N] [--repeat R] [--only P ...]
[--json PATH]`` (``nox -s bench`` runs it). Not a test: it reads the real clock.

The floor is the least a search example can cost: a Hypothesis ``st.data()`` example that
draws 10 small integers and passes them through a trio memory channel (10 sends, 10 receives)
in a bare ``trio.run`` on ``MockClock(autojump_threshold=0)``. Each model then searches the
reference (``reference.plugin:implementation``, trio backend) with the same example budget
(default: the ci profile's) and the same Hypothesis settings (derandomized, so every run draws
the same examples). The table gives each model's milliseconds per example and its ratio to
the floor, all measured in this one run; ``reports/bench_models.json`` keeps them.

Times are CPU seconds of this process (``time.process_time``): the machine may be shared, and
CPU time is what another process's load disturbs least (wall times are in the JSON too). Each
of ``--repeat`` rounds measures the floor and then every model, and each keeps its best round.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.drivers import patterns
from harness.plugin import load_implementation
from harness.search.engine import PROFILES, Profile, _settings, search_model
from harness.search.models.registry import model_for

REFERENCE = "reference.plugin:implementation"
#: The floor's draws and channel round trips per example.
FLOOR_ITEMS = 10


async def _channel_round_trips(items: list[int]) -> int:
    send, receive = trio.open_memory_channel[int](1)
    total = 0
    async with send, receive:
        for item in items:
            await send.send(item)
            total += await receive.receive()
    return total


def floor_search(budget: settings) -> int:
    """Run the floor's search under ``budget``; how many examples ran."""
    ran = 0

    @budget
    @given(st.data())
    def body(data: st.DataObject) -> None:
        nonlocal ran
        items = [data.draw(st.integers(0, 100)) for _ in range(FLOOR_ITEMS)]
        clock = trio.testing.MockClock(autojump_threshold=0)
        assert trio.run(_channel_round_trips, items, clock=clock) == sum(items)
        ran += 1

    body()
    return ran


def _timed(run: Callable[[], int]) -> tuple[float, float, int]:
    """CPU and wall milliseconds per example of one ``run``, and its examples."""
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    examples = run()
    cpu = (time.process_time() - start_cpu) * 1000 / examples
    return cpu, (time.perf_counter() - start_wall) * 1000 / examples, examples


def measure(examples: int, repeat: int, only: list[str] | None = None) -> dict[str, Any]:
    """The floor and every applicable model of the reference, per example, in one run.

    ``repeat`` rounds each measure the floor and then every model; each keeps its best
    round, so a burst of load from elsewhere on the machine spoils one round, not a ratio.
    """
    implementation = load_implementation(REFERENCE)
    profile = Profile("bench", max_examples=examples, derandomize=True)
    budget = _settings(implementation, profile)
    runs: dict[str, Callable[[], int]] = {"floor": lambda: floor_search(budget)}
    for pattern in patterns():
        model_cls = model_for(pattern)
        if (only and str(pattern) not in only) or not model_cls.applicable(implementation):
            continue

        def run(model_cls: Any = model_cls) -> int:
            outcome = search_model(model_cls, implementation, profile)
            if outcome.error is not None or outcome.failures:
                raise AssertionError(f"{model_cls.pattern}: {outcome.error or outcome.failures}")
            return outcome.examples

        runs[str(pattern)] = run
    best: dict[str, dict[str, float]] = {}
    for _ in range(repeat):
        for name, run in runs.items():
            cpu, wall, ran = _timed(run)
            row = best.setdefault(name, {"ms": cpu, "wall_ms": wall, "examples": ran})
            row["ms"], row["wall_ms"] = min(row["ms"], cpu), min(row["wall_ms"], wall)
    floor = best.pop("floor")
    for row in best.values():
        row["ratio"] = row["ms"] / floor["ms"]
    median = statistics.median(row["ms"] for row in best.values()) if best else 0.0
    return {
        "implementation": REFERENCE,
        "backend": implementation.backend,
        "examples": examples,
        "repeat": repeat,
        "clock": "process_time, best of repeat rounds",
        "load_average": list(os.getloadavg()),
        "floor": floor,
        "models": best,
        "median_ms": median,
        "median_ratio": median / floor["ms"],
    }


def render(result: dict[str, Any]) -> str:
    """The comparison as a table: the floor, each model and the median, with ratios."""
    floor = result["floor"]["ms"]
    lines = [
        f"{result['examples']} examples each on {result['implementation']} "
        f"({result['backend']}), CPU ms/example, best of {result['repeat']} "
        f"(load average {result['load_average'][0]:.2f})",
        f"  {'':<14} {'ms/example':>10} {'x floor':>8} {'wall ms':>8}",
        f"  {'floor':<14} {floor:>10.3f} {1.0:>8.2f} {result['floor']['wall_ms']:>8.3f}",
    ]
    for name, row in result["models"].items():
        lines.append(f"  {name:<14} {row['ms']:>10.3f} {row['ratio']:>8.2f} {row['wall_ms']:>8.3f}")
    lines.append(
        f"  {'median model':<14} {result['median_ms']:>10.3f} {result['median_ratio']:>8.2f}"
        "  (target <= 1.5)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Measure, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--examples",
        type=int,
        default=PROFILES["ci"].max_examples,
        help="examples per search (default: the ci profile's)",
    )
    parser.add_argument("--repeat", type=int, default=2, help="rounds; each keeps its best")
    parser.add_argument("--only", nargs="*", help="measure these patterns only")
    parser.add_argument("--json", default="reports/bench_models.json", help="where to write")
    args = parser.parse_args(argv)
    result = measure(args.examples, args.repeat, args.only)
    print(render(result))
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
