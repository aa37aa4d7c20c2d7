"""Soak: the reference through >= 100,000 random examples across every model (``nox -s soak``).

The reference conforms, so any rule flagged here is a false alarm: a harness bug to fix. Each
run draws a fresh seed and prints it first; ``python -m tests.soak --seed N`` repeats that run
example for example (every chunk's Hypothesis seed derives from it, and each example seeds
trio's scheduler from its own data). Chunks of one model's search are spread over the cores.

Usage: ``python -m tests.soak [--seed N] [--examples 100000] [--chunk 2500] [--jobs N]
[--impl MODULE:CALLABLE]``. Exit 0 when nothing was flagged, 1 on any flag or harness error.
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


@dataclass
class ChunkResult:
    """One chunk of one model's search."""

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
        pattern=pattern,
        index=index,
        seed=seed,
        examples=outcome.examples,
        seconds=time.perf_counter() - started,
        failures={rule: found.render() for rule, found in outcome.failures.items()},
        error=outcome.error,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=2_500)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--impl", default="reference.plugin:implementation")
    args = parser.parse_args(argv)
    master = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    print(f"soak seed {master} (repeat with: python -m tests.soak --seed {master})", flush=True)
    names = [str(p) for p in patterns()]
    chunks_per_model = -(-args.examples // (args.chunk * len(names)))
    tasks = [(name, i) for i in range(chunks_per_model) for name in names]
    started = time.perf_counter()
    results: list[ChunkResult] = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [
            pool.submit(run_chunk, args.impl, name, i, chunk_seed(master, name, i), args.chunk)
            for name, i in tasks
        ]
        for future in as_completed(futures):
            result = future.result()
            results.append(result)
            flag = "FLAGGED" if result.failures or result.error else "ok"
            print(
                f"  {result.pattern:<12} chunk {result.index}: {result.examples} examples "
                f"in {result.seconds:.0f}s {flag}",
                flush=True,
            )
    wall = time.perf_counter() - started
    total = sum(r.examples for r in results)
    bad = [r for r in results if r.failures or r.error]
    print(f"\nsoak seed {master}: {total} examples in {wall:.0f}s, {len(bad)} chunk(s) flagged")
    for name in names:
        count = sum(r.examples for r in results if r.pattern == name)
        print(f"  {name:<12} {count} examples")
    for r in bad:
        print(f"\nFALSE ALARM in {r.pattern} chunk {r.index} (hypothesis seed {r.seed}):")
        for text in r.failures.values():
            print(text)
        if r.error:
            print(f"harness error: {r.error}")
    if total < args.examples:
        print(f"only {total} examples ran (< {args.examples})", file=sys.stderr)
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
