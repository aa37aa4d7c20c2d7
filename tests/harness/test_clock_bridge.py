"""The clock bridge: ``time.monotonic()`` & co. read the run's virtual clock, and only then.

A limiter that keeps its timestamps with the ``time`` module passes when correct and fails
when broken, on the trio, asyncio and sync backends alike; the bridge follows the virtual clock
continuously, spares the harness's own code, is restored exactly after every run (aborted ones
too), can be switched off by a declaration, and a failed rate verdict says when the
implementation's clock readings never moved.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import types
from collections.abc import Awaitable, Callable
from time import monotonic  # captured: the bridge must reach this reference too
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.backends import backend_for
from harness.backends.base import Runtime
from harness.backends.clock import MONOTONIC_BASE, WALL_EPOCH, reads_real_time
from harness.checkers.rate import RateChecker
from harness.checking import TraceChecker, Violation
from harness.events import Event
from harness.guards import Budgets
from harness.plugin import ConfigError, load_implementation
from harness.search.model import run_example
from harness.search.models.rate import RateModel

CLOCKS = ("monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "time", "time_ns")


def search(spec: str, examples: int) -> tuple[set[str], set[str], list[Violation]]:
    """(violated, exercised, violations) over ``examples`` derandomized rate examples."""
    implementation = load_implementation(spec)
    violated: set[str] = set()
    exercised: set[str] = set()
    violations: list[Violation] = []

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        outcome = run_example(RateModel, implementation, data)
        violated.update(v.rule_id for v in outcome.violations)
        exercised.update(outcome.exercised)
        violations.extend(outcome.violations)

    run()
    return violated, exercised, violations


# -- limiters that keep their timestamps with the time module ----------------------------------
class Bucket:
    """A FIFO token bucket timed by the ``time`` module; subclasses say how they wait."""

    overfill = False

    def __init__(self, *, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = float(burst), self.now()

    def now(self) -> float:
        return time.monotonic()

    def refill(self) -> None:
        now = self.now()
        tokens = self.tokens + (now - self.stamp) * self.rate
        self.tokens = tokens if self.overfill else min(self.burst, tokens)
        self.stamp = now


class TrioBucket(Bucket):
    """Reads ``time.monotonic()``; waits in a ``trio.Lock`` line with ``trio.sleep``."""

    def __init__(self, *, rate: float, burst: int) -> None:
        super().__init__(rate=rate, burst=burst)
        self.line = trio.Lock()

    def try_acquire(self) -> bool:
        self.refill()
        if self.line.locked() or self.tokens < 1 - 1e-9:
            return False
        self.tokens -= 1
        return True

    async def acquire(self) -> None:
        async with self.line:
            self.refill()
            while self.tokens < 1 - 1e-9:
                await trio.sleep((1 - self.tokens) / self.rate)
                self.refill()
            self.tokens -= 1


class AsyncioBucket(Bucket):
    """Reads ``monotonic()`` imported from ``time``; waits in an ``asyncio.Lock`` line."""

    def __init__(self, *, rate: float, burst: int) -> None:
        super().__init__(rate=rate, burst=burst)
        self.line = asyncio.Lock()

    def now(self) -> float:
        return monotonic()

    def try_acquire(self) -> bool:
        self.refill()
        if self.line.locked() or self.tokens < 1 - 1e-9:
            return False
        self.tokens -= 1
        return True

    async def acquire(self) -> None:
        async with self.line:
            self.refill()
            while self.tokens < 1 - 1e-9:
                await asyncio.sleep((1 - self.tokens) / self.rate)
                self.refill()
            self.tokens -= 1


class SyncBucket(Bucket):
    """Reads ``time.perf_counter()``; ``acquire`` blocks in ``time.sleep``."""

    def now(self) -> float:
        return time.perf_counter()

    def try_acquire(self) -> bool:
        self.refill()
        if self.tokens < 1 - 1e-9:
            return False
        self.tokens -= 1
        return True

    def acquire(self) -> None:
        self.refill()
        while self.tokens < 1 - 1e-9:
            time.sleep((1 - self.tokens) / self.rate)
            self.refill()
        self.tokens -= 1


class OverfullTrioBucket(TrioBucket):
    overfill = True


class OverfullAsyncioBucket(AsyncioBucket):
    overfill = True


class OverfullSyncBucket(SyncBucket):
    overfill = True


def declare(backend: str, cls: type[Bucket], **extra: Any) -> Callable[[], dict[str, Any]]:
    def implementation() -> dict[str, Any]:
        return {
            "name": cls.__name__,
            "backend": backend,
            "factories": {"token_bucket": cls},
            **extra,
        }

    return implementation


trio_bucket = declare("trio", TrioBucket)
asyncio_bucket = declare("asyncio", AsyncioBucket)
sync_bucket = declare("sync", SyncBucket)
overfull_trio = declare("trio", OverfullTrioBucket)
overfull_asyncio = declare("asyncio", OverfullAsyncioBucket)
overfull_sync = declare("sync", OverfullSyncBucket)
unbridged_trio = declare("trio", TrioBucket, clock_bridge=False)


@pytest.mark.parametrize("spec", ["trio_bucket", "asyncio_bucket", "sync_bucket"])
def test_a_correct_limiter_on_the_time_module_passes(spec: str) -> None:
    violated, exercised, _ = search(f"{__name__}:{spec}", 60)
    assert not violated
    assert {"RATE-BOUND", "RATE-NO-OVERTHROTTLE"} <= exercised


@pytest.mark.parametrize("spec", ["overfull_trio", "overfull_asyncio", "overfull_sync"])
def test_a_limiter_on_the_time_module_that_refills_past_its_burst_fails(spec: str) -> None:
    violated, _, _ = search(f"{__name__}:{spec}", 80)
    assert "RATE-BOUND" in violated
    assert not violated & {"NO-HANG", "NO-CRASH"}


def test_a_declaration_can_switch_the_bridge_off_and_the_message_says_so() -> None:
    violated, _, violations = search(f"{__name__}:unbridged_trio", 40)
    assert "RATE-NO-OVERTHROTTLE" in violated  # its clock stands still: it over-throttles
    messages = [v.message for v in violations if v.rule_id.startswith("RATE-")]
    assert messages
    assert all("the clock bridge was off" in message for message in messages)


def test_clock_bridge_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError, match="'clock_bridge' must be True or False"):
        load_implementation(f"{__name__}:strange_bridge")
    assert load_implementation(f"{__name__}:trio_bucket").clock_bridge is True
    assert load_implementation(f"{__name__}:unbridged_trio").clock_bridge is False


strange_bridge = declare("trio", TrioBucket, clock_bridge="yes")


# -- a clock the bridge cannot reach: the message says the readings never moved --------------
class StuckClockBucket(TrioBucket):
    """Reads the bridged clock once, then keeps time with a reference captured at import."""

    def __init__(self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.clock = clock  # a default argument: beyond the bridge's reach
        self.created = time.monotonic()
        super().__init__(rate=rate, burst=burst)

    def now(self) -> float:
        return self.clock()


stuck_clock = declare("trio", StuckClockBucket)


def test_a_failed_rate_verdict_says_the_implementations_clock_never_moved() -> None:
    violated, _, violations = search(f"{__name__}:stuck_clock", 40)
    assert "RATE-NO-OVERTHROTTLE" in violated
    messages = [v.message for v in violations if v.rule_id == "RATE-NO-OVERTHROTTLE"]
    assert any("read the clock once and it never moved" in message for message in messages)


def ev(t: float, kind: str, ident: Any = None, **data: Any) -> Event:
    return Event(t, kind, ident, data)


def late_admission(*clock: Event) -> list[Violation]:
    params = {"pattern": "rate", "factory": "token_bucket", "rate": 1.0, "burst": 1}
    trace = [
        ev(0.0, "params", **params),
        ev(0.0, "created"),
        ev(0.0, "admit", "p0", weight=1, via="try_acquire"),
        ev(0.0, "acquire", 1, weight=1),
        ev(0.0, "idle"),
        ev(3.0, "admit", 1, weight=1, via="acquire"),  # due at t=1
        ev(3.0, "idle"),
        *clock,
        ev(3.0, "end"),
    ]
    checker = TraceChecker([RateChecker(params)])
    checker.feed_all(trace)
    return checker.violations()


def test_the_clock_hint_is_given_only_when_the_readings_explain_nothing_moved() -> None:
    def message(**data: Any) -> str:
        [violation] = late_admission(ev(3.0, "clock", **data))
        assert violation.rule_id == "RATE-NO-OVERTHROTTLE"
        return violation.message

    moved = message(bridged=True, reads=12, span=3.0, last=3.0, loop_clock=True)
    assert "clock" not in moved
    frozen = message(bridged=True, reads=12, span=0.0, last=0.0, loop_clock=True)
    assert frozen.endswith(
        "the implementation read the clock 12 times and it never moved: "
        "is all its timekeeping bridged? (docs/backends.md: what the clock "
        "bridge cannot reach)"
    )
    # Read only at the very end: nothing was missed.
    assert "never moved" not in message(bridged=True, reads=2, span=0.0, last=3.0)
    assert "clock bridge was off" in message(bridged=False, reads=0, span=0.0, last=None)
    assert "read no clock" in message(bridged=True, reads=0, span=0.0, loop_clock=False)
    assert "read no clock" not in message(bridged=True, reads=0, span=0.0, loop_clock=True)


# -- the bridge itself ---------------------------------------------------------------------------
def real_clocks() -> bool:
    """Whether every clock function in ``time`` and this module's capture is the real one."""
    functions = [getattr(time, name) for name in (*CLOCKS, "sleep")]
    captured = globals()["monotonic"]
    return all(type(fn).__name__ == "builtin_function_or_method" for fn in [*functions, captured])


def run_on(backend: str, body: Callable[[Runtime], Awaitable[None]], **budgets: Any) -> str | None:
    return backend_for(backend).run(body, Budgets(**budgets), seed=0)


async def pause(runtime: Runtime, seconds: float) -> None:
    if backend_for_runtime(runtime) == "sync":
        await runtime.run_blocking(lambda: time.sleep(seconds))  # type: ignore[attr-defined]
    else:
        await runtime.sleep(seconds)


def backend_for_runtime(runtime: Runtime) -> str:
    return "sync" if hasattr(runtime, "run_blocking") else "other"


@pytest.mark.parametrize("backend", ["trio", "asyncio", "sync"])
def test_the_time_module_follows_the_virtual_clock_and_is_restored_after(backend: str) -> None:
    seen: dict[str, Any] = {}

    async def body(runtime: Runtime) -> None:
        seen["replaced"] = not real_clocks()
        seen["start"] = (runtime.now(), time.monotonic(), monotonic(), time.time())
        await pause(runtime, 1 / 3)
        now = runtime.now()
        seen["after"] = {name: getattr(time, name)() for name in CLOCKS}
        seen["after"]["captured"] = monotonic()
        seen["now"] = now

    assert run_on(backend, body) is None
    assert seen["replaced"]
    t0, mono0, captured0, wall0 = seen["start"]
    assert t0 == 0.0
    assert (mono0, captured0, wall0) == (MONOTONIC_BASE, MONOTONIC_BASE, WALL_EPOCH)
    after, now = seen["after"], seen["now"]
    assert now == pytest.approx(1 / 3, abs=1e-11)
    assert after["monotonic"] == after["perf_counter"] == after["captured"] == MONOTONIC_BASE + now
    assert after["time"] == WALL_EPOCH + now
    assert after["monotonic_ns"] == after["perf_counter_ns"] == 1024 * 10**9 + round(now * 1e9)
    assert after["time_ns"] == 1_700_000_000 * 10**9 + round(now * 1e9)
    assert real_clocks()


def test_the_bridge_is_restored_after_an_aborted_run() -> None:
    replaced: list[bool] = []

    async def spin(runtime: Runtime) -> None:
        replaced.append(not real_clocks())
        while True:  # a livelock: the guard aborts the run
            await trio.lowlevel.checkpoint()

    reason = run_on("trio", spin, max_steps_between_idle=2_000)
    assert reason is not None
    assert "livelock" in reason
    assert replaced == [True]
    assert real_clocks()


def test_a_module_that_captures_a_clock_during_the_run_gets_the_real_one_back() -> None:
    name = "poolcheck_test_late_import"

    async def body(runtime: Runtime) -> None:
        module = types.ModuleType(name)
        sys.modules[name] = module
        exec("from time import monotonic, perf_counter", vars(module))
        await runtime.sleep(1.0)
        assert module.monotonic() == MONOTONIC_BASE + 1.0

    try:
        assert run_on("trio", body) is None
        module = sys.modules[name]
        assert type(module.monotonic).__name__ == "builtin_function_or_method"
        assert type(module.perf_counter).__name__ == "builtin_function_or_method"
    finally:
        sys.modules.pop(name, None)


def test_the_harness_and_the_event_loops_keep_the_real_clock() -> None:
    readings: dict[str, float] = {}

    async def body(runtime: Runtime) -> None:
        await runtime.sleep(100.0)
        as_harness = {"__name__": "harness.guards", "time": time}
        as_adapter = {"__name__": "harness.adapters.somelib", "time": time}
        readings["harness"] = eval("time.monotonic()", as_harness)
        readings["adapter"] = eval("time.monotonic()", as_adapter)
        readings["mine"] = time.monotonic()
        readings["threading"] = threading._time()  # type: ignore[attr-defined]

    real_before = time.monotonic()
    assert run_on("trio", body) is None
    real_after = time.monotonic()
    assert real_before <= readings["harness"] <= real_after
    assert real_before <= readings["threading"] <= real_after
    assert readings["adapter"] == readings["mine"] == MONOTONIC_BASE + 100.0
    for module in ("harness.guards", "harness.watchdog", "trio._core._run", "asyncio.base_events"):
        assert reads_real_time(module)
    assert not reads_real_time("harness.adapters.limiter")
    assert not reads_real_time(__name__)
