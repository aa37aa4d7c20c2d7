"""Soak: correct implementations through >= 100,000 random examples (``nox -s soak``).

By default the reference (100,000 examples across every model) and each correct example of
``examples/`` (:data:`EXAMPLES`: asyncio, a thread pool on the real clock, a token bucket), each
through the models its factories provide. They all conform, so any rule flagged here is a
false alarm: a harness bug to fix. Each run draws a fresh seed and prints it first;
``python -m tests.soak --seed N`` repeats that run example for example (every chunk's
Hypothesis seed derives from it, and each example seeds trio's scheduler from its own data).
Chunks of every search are spread over the cores.

Usage: ``python -m tests.soak [--seed N] [--examples 100000] [--chunk 2500] [--jobs N]
[--impl MODULE:CALLABLE]``: ``--impl`` soaks that one implementation alone, with
``--examples`` examples. Exit 0 when nothing was flagged, 1 on any flag or harness error.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

from harness.drivers import patterns
from harness.plugin import load_implementation
from harness.rules import Pattern
from harness.search.engine import Profile, search_model
from harness.search.models.registry import model_for

#: The correct examples soaked beside the reference, with their share of examples. The thread
#: pool runs on the real clock (about 40 ms an example), so it gets fewer.
EXAMPLES: dict[str, int] = {
    "examples.asyncio_impl:implementation": 20_000,
    "examples.tiny_bucket:implementation": 5_000,
    "examples.thread_pool:implementation": 3_000,
}
REFERENCE = "reference.plugin:implementation"


@dataclass
class ChunkResult:
    """One chunk of one model's search."""

    spec: str
    pattern: str
    index: int
    seed: int
    examples: int
    seconds: float
    failures: dict[str, str]
    error: str | None


def chunk_seed(master: int, pattern: str, index: int) -> int:
    """The Hypothesis seed of one chunk, derived from the printed master seed."""
    digest = hashlib.sha256(f"{master}:{pattern}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def run_chunk(spec: str, pattern: str, index: int, seed: int, examples: int) -> ChunkResult:
    """Search one chunk (in a worker process)."""
    implementation = load_implementation(spec)
    started = time.perf_counter()
    outcome = search_model(
        model_for(Pattern(pattern)),
        implementation,
        Profile("soak", max_examples=examples, derandomize=False),
        seed=seed,
    )
    return ChunkResult(
        spec=spec,
        pattern=pattern,
        index=index,
        seed=seed,
        examples=outcome.examples,
        seconds=time.perf_counter() - started,
        failures={rule: found.render() for rule, found in outcome.failures.items()},
        error=outcome.error,
    )


def plan(spec: str, examples: int, chunk: int) -> list[tuple[str, str, int, int]]:
    """The chunks that soak ``spec`` with ``examples`` examples: (spec, pattern, index, size).

    Only the models the implementation's factories provide; the examples are shared among them.
    """
    implementation = load_implementation(spec)
    names = [str(p) for p in patterns() if model_for(p).applicable(implementation)]
    per_model = -(-examples // len(names))
    size = min(chunk, per_model)
    chunks = -(-per_model // size)
    return [(spec, name, i, size) for i in range(chunks) for name in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=2_500)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--impl", default=None)
    args = parser.parse_args(argv)
    master = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    print(f"soak seed {master} (repeat with: python -m tests.soak --seed {master})", flush=True)
    budgets = {args.impl: args.examples} if args.impl else {REFERENCE: args.examples, **EXAMPLES}
    tasks = [t for spec, n in budgets.items() for t in plan(spec, n, args.chunk)]
    started = time.perf_counter()
    results: list[ChunkResult] = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [
            pool.submit(run_chunk, spec, name, i, chunk_seed(master, f"{spec}:{name}", i), size)
            for spec, name, i, size in tasks
        ]
        for future in as_completed(futures):
            result = future.result()
            results.append(result)
            flag = "FLAGGED" if result.failures or result.error else "ok"
            print(
                f"  {result.spec:<40} {result.pattern:<12} chunk {result.index}: "
                f"{result.examples} examples in {result.seconds:.0f}s {flag}",
                flush=True,
            )
    wall = time.perf_counter() - started
    total = sum(r.examples for r in results)
    bad = [r for r in results if r.failures or r.error]
    print(f"\nsoak seed {master}: {total} examples in {wall:.0f}s, {len(bad)} chunk(s) flagged")
    for spec in budgets:
        for name in sorted({r.pattern for r in results if r.spec == spec}):
            count = sum(r.examples for r in results if r.spec == spec and r.pattern == name)
            print(f"  {spec:<40} {name:<12} {count} examples")
    for r in bad:
        print(f"\nFALSE ALARM on {r.spec}, {r.pattern} chunk {r.index} (hypothesis seed {r.seed}):")
        for text in r.failures.values():
            print(text)
        if r.error:
            print(f"harness error: {r.error}")
    short = [
        spec
        for spec, n in budgets.items()
        if sum(r.examples for r in results if r.spec == spec) < n
    ]
    if short:
        print(f"fewer examples ran than asked for: {', '.join(short)}", file=sys.stderr)
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
