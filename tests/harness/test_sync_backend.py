"""The sync backend: blocking retriers and limiters are judged on exact virtual time.

A correct sync retrier and a correct sync token bucket pass every rule they exercise, timing
rules included; broken ones fail the timing rule they break. A blocking call that never
returns (a sleep loop, a lock nobody releases, a spin on ``time.sleep(0)``) becomes NO-HANG,
never a hung harness. Cancellation rules are not applicable, with the reason.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.backends import backend_for
from harness.backends import sync_run as sync_module
from harness.backends.base import Runtime
from harness.guards import Budgets
from harness.plugin import ConfigError, load_implementation
from harness.rules import Pattern
from harness.search.model import Model, run_example
from harness.search.models.rate import RateModel
from harness.search.models.retry import RetryModel


def search(model: type[Model], spec: str, examples: int) -> tuple[set[str], set[str]]:
    """(violated, exercised) rule IDs over ``examples`` derandomized examples of ``model``."""
    implementation = load_implementation(spec)
    violated: set[str] = set()
    exercised: set[str] = set()

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        outcome = run_example(model, implementation, data)
        violated.update(v.rule_id for v in outcome.violations)
        exercised.update(outcome.exercised)

    run()
    return violated, exercised


# -- a sync retrier ----------------------------------------------------------------------------
class SyncRetrier:
    """Retries a blocking ``fn`` with capped exponential backoff, waiting with ``time.sleep``."""

    stretch = 1.0

    def __init__(
        self,
        *,
        max_attempts: int,
        base: float,
        factor: float,
        cap: float,
        jitter: str,
        seed: int,
        retryable: Callable[[Exception], bool],
    ) -> None:
        self.max_attempts, self.base, self.factor, self.cap = max_attempts, base, factor, cap
        self.jitter, self.rng, self.retryable = jitter, random.Random(seed), retryable

    def bounds(self, attempt: int) -> tuple[float, float]:
        delay = min(self.cap, self.base * self.factor ** (attempt - 1))
        if self.jitter == "none":
            return delay, delay
        return (0.0, delay) if self.jitter == "full" else (delay / 2, delay)

    def call(self, fn: Callable[[], Any]) -> Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except Exception as exc:
                if attempt >= self.max_attempts or not self.retryable(exc):
                    raise
                low, high = self.bounds(attempt)
                time.sleep(min(high, max(low, self.rng.uniform(low, high))) * self.stretch)


class SlowRetrier(SyncRetrier):
    """Broken: waits one and a half times the delay it declares."""

    stretch = 1.5


#: These retriers are about the sync backend, not the boundaries: they take neither
#: max_attempts=0 (refused) nor a long schedule (their float power overflows).
SHORT = {"max_attempts": {"min": 1, "max": 4}}


def retrier() -> dict[str, Any]:
    return {
        "name": "sync-retrier",
        "backend": "sync",
        "factories": {"retrier": SyncRetrier},
        "supports": SHORT,
    }


def slow_retrier() -> dict[str, Any]:
    return {
        "name": "slow-retrier",
        "backend": "sync",
        "factories": {"retrier": SlowRetrier},
        "supports": SHORT,
    }


def test_a_correct_sync_retrier_passes_with_its_backoff_judged() -> None:
    violated, exercised = search(RetryModel, f"{__name__}:retrier", 60)
    assert not violated
    assert {"RETRY-BACKOFF", "RETRY-MAX-ATTEMPTS", "RETRY-LAST-ERROR"} <= exercised
    assert "RETRY-CANCEL" not in exercised  # not applicable here


def test_a_sync_retrier_that_waits_too_long_fails_backoff() -> None:
    violated, _ = search(RetryModel, f"{__name__}:slow_retrier", 60)
    assert violated == {"RETRY-BACKOFF"}


# -- a sync token bucket -------------------------------------------------------------------------
class SyncBucket:
    """``burst`` tokens refilled at ``rate``; ``acquire`` sleeps until its tokens are there."""

    overfill = False
    oversleep = 1.0

    def __init__(self, *, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = float(burst), time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        tokens = self.tokens + (now - self.stamp) * self.rate
        self.tokens = tokens if self.overfill else min(self.burst, tokens)
        self.stamp = now

    def try_acquire(self) -> bool:
        self._refill()
        if self.tokens < 1 - 1e-9:
            return False
        self.tokens -= 1
        return True

    def acquire(self) -> None:
        self._refill()
        while self.tokens < 1 - 1e-9:
            time.sleep((1 - self.tokens) / self.rate * self.oversleep)
            self._refill()
        self.tokens -= 1


class OverfullBucket(SyncBucket):
    """Broken: refills past its burst."""

    overfill = True


class SleepyBucket(SyncBucket):
    """Broken: sleeps twice as long as its tokens need."""

    oversleep = 2.0


def bucket_of(cls: type[SyncBucket]) -> Callable[[], dict[str, Any]]:
    return lambda: {"name": cls.__name__, "backend": "sync", "factories": {"token_bucket": cls}}


bucket, overfull_bucket, sleepy_bucket = map(bucket_of, (SyncBucket, OverfullBucket, SleepyBucket))


def test_a_correct_sync_token_bucket_passes_with_its_timing_judged() -> None:
    violated, exercised = search(RateModel, f"{__name__}:bucket", 80)
    assert not violated
    assert {"RATE-BOUND", "RATE-NO-OVERTHROTTLE"} <= exercised


def test_a_sync_bucket_that_refills_past_its_burst_fails_the_bound() -> None:
    violated, _ = search(RateModel, f"{__name__}:overfull_bucket", 80)
    assert "RATE-BOUND" in violated
    assert violated <= {"RATE-BOUND", "RATE-NO-OVERTHROTTLE"}


def test_a_sync_bucket_that_oversleeps_fails_no_overthrottle() -> None:
    violated, _ = search(RateModel, f"{__name__}:sleepy_bucket", 80)
    assert violated == {"RATE-NO-OVERTHROTTLE"}


# -- blocking forever is NO-HANG -----------------------------------------------------------------
class SleepsForever(SyncBucket):
    def acquire(self) -> None:
        while True:
            time.sleep(0.5)


class LockedForever(SyncBucket):
    def acquire(self) -> None:
        lock = threading.Lock()
        lock.acquire()
        lock.acquire()  # nobody will ever release it


class SpinsOnSleepZero(SyncBucket):
    def acquire(self) -> None:
        while True:
            time.sleep(0)


sleeps_forever, locked_forever, spins = map(
    bucket_of, (SleepsForever, LockedForever, SpinsOnSleepZero)
)


@pytest.mark.parametrize("spec", ["sleeps_forever", "locked_forever", "spins"])
def test_a_blocking_call_that_never_returns_becomes_no_hang(
    spec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_module, "STUCK_SECONDS", 0.2)
    monkeypatch.setattr(sync_module, "STUCK_SECONDS_AGAIN", 0.05)
    started = time.monotonic()
    violated, _ = search(RateModel, f"{__name__}:{spec}", 4)
    assert "NO-HANG" in violated
    assert time.monotonic() - started < 30


def test_time_sleep_passes_virtual_time_at_once_and_exactly() -> None:
    seen: list[float] = []

    async def main(runtime: Runtime) -> None:
        assert isinstance(runtime, sync_module.SyncRuntime)
        # A lambda of this module: the implementation's side (harness code sleeps for real).
        await runtime.run_blocking(lambda: time.sleep(1 / 3))
        seen.append(runtime.now())
        await runtime.run_blocking(lambda: time.sleep(7.25))
        seen.append(runtime.now())

    started = time.monotonic()
    assert backend_for("sync").run(main, Budgets(), seed=0) is None
    assert seen == [1 / 3, 1 / 3 + 7.25]
    assert time.monotonic() - started < 1.0  # no real sleep
    assert type(time.sleep).__name__ == "builtin_function_or_method"  # the real one, restored


def test_the_alarm_gives_back_the_previous_handler_and_timer() -> None:
    def previous(signum: int, frame: object) -> None:
        raise AssertionError("the previous alarm fired during the test")

    old = signal.signal(signal.SIGALRM, previous)
    signal.setitimer(signal.ITIMER_REAL, 50.0)
    try:

        async def main(runtime: Runtime) -> None:
            assert isinstance(runtime, sync_module.SyncRuntime)
            await runtime.run_blocking(lambda: time.sleep(1.0))

        assert backend_for("sync").run(main, Budgets(), seed=0) is None
        assert signal.getsignal(signal.SIGALRM) is previous
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 40.0 < left <= 50.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# -- what the backend does not judge -------------------------------------------------------------
def test_cancellation_rules_and_other_patterns_are_not_applicable_with_a_reason() -> None:
    backend = backend_for("sync")
    assert "cannot be cancelled" in backend.waived["RETRY-CANCEL"]
    assert "cannot be cancelled" in backend.waived["RATE-CANCEL-NO-LOSS"]
    assert not {"RETRY-BACKOFF", "RATE-BOUND", "RATE-NO-OVERTHROTTLE"} & backend.waived.keys()
    assert Pattern.QUEUE in backend.unsupported
    assert Pattern.RETRY not in backend.unsupported
    assert Pattern.RATE not in backend.unsupported


def unbridged_sync() -> dict[str, Any]:
    return {**bucket(), "clock_bridge": False}


def test_the_sync_backend_cannot_run_without_the_clock_bridge() -> None:
    with pytest.raises(ConfigError, match="clock_bridge"):
        load_implementation(f"{__name__}:unbridged_sync")
