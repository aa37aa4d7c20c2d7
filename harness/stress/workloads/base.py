"""The workload interface: a scenario's load, issued as operations on the pattern's driver.

A workload is the stress side's way of choosing operations, as a model is the search's: it
never touches the implementation itself. Its producers (and consumers, cancellers) call the
pattern's :class:`~harness.drivers.Driver`, which performs each operation and records its
events; the workload measures the run by folding those same events (:meth:`Workload.measure`)
into the run's :class:`~harness.stress.metrics.Metrics`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import fields
from typing import Any, ClassVar

import anyio
import anyio.lowlevel

from harness.drivers import Host, driver_for
from harness.drivers.host import guarded
from harness.events import Event
from harness.plugin import ConfigError
from harness.rules import Pattern
from harness.stress.metrics import Metrics
from harness.stress.scenario import Load, Scenario

__all__ = ["COMMON", "Context", "Workload"]

#: Load keys every workload honours.
COMMON: frozenset[str] = frozenset({"producers", "rate", "burst", "duration", "deadline"})


class Context:
    """What a workload gets: the scenario, the host, the metrics, the run's random draws."""

    def __init__(
        self,
        scenario: Scenario,
        host: Host,
        metrics: Metrics,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.scenario = scenario
        self.load = scenario.load
        self.params = dict(scenario.params)
        self.host = host
        self.metrics = metrics
        self.rng = random.Random(scenario.seed)
        self.progress = progress
        self.issued = 0
        self.cancel_event = anyio.Event()
        self.cancel_job: int | None = None
        self.cancel_time: float | None = None
        fraction = scenario.load.cancel_at
        if fraction == "random":
            fraction = self.rng.uniform(0.2, 0.8)
        if isinstance(fraction, float):
            if scenario.jobs is not None:
                self.cancel_job = max(1, math.ceil(fraction * scenario.jobs))
            else:
                assert scenario.seconds is not None
                self.cancel_time = fraction * scenario.seconds

    # -- the run's length --------------------------------------------------------------------
    def next_job(self) -> int | None:
        """The next job number, or None once the run is long enough (or cancelled)."""
        if self.cancel_event.is_set():
            return None
        seconds = self.scenario.seconds
        if seconds is not None and self.host.now() >= seconds:
            return None
        if self.scenario.jobs is not None and self.issued >= self.scenario.jobs:
            return None
        self.issued += 1
        if self.cancel_job is not None and self.issued > self.cancel_job:
            self.cancel_event.set()
            return None
        if self.progress is not None and self.issued % 1024 == 0:
            self.progress(self.issued)
        return self.issued

    async def cancel_timer(self) -> None:
        """Set ``cancel_event`` at the scenario's cancel instant (time-based runs)."""
        if self.cancel_time is not None:
            await self.sleep_until(self.cancel_time)
            self.cancel_event.set()

    async def sleep_until(self, instant: float) -> None:
        """Sleep until the run's clock reads ``instant`` model seconds."""
        await self.host.sleep(max(0.0, instant - self.host.now()))

    # -- the load's shape -----------------------------------------------------------------
    def duration(self) -> float:
        """Draw one job duration."""
        d = self.load.duration
        if d.dist == "fixed":
            return d.value
        if d.dist == "uniform":
            return self.rng.uniform(d.low, d.high)
        return self.rng.expovariate(1.0 / d.mean) if d.mean > 0 else 0.0

    def chance(self, p: float) -> bool:
        """True with probability ``p``."""
        return p > 0 and self.rng.random() < p

    def pacer(self, producer: int) -> Callable[[], Awaitable[None]]:
        """An ``await pace()`` for producer number ``producer``: Poisson, bursts or flat out."""
        load = self.load
        share = load.producers
        if load.burst is not None:
            burst = load.burst
            per_tick = burst.size // share + (1 if producer < burst.size % share else 0)
            state = {"left": per_tick, "tick": 0}

            async def burst_pace() -> None:
                while state["left"] == 0:
                    state["tick"] += 1
                    state["left"] = per_tick
                    await self.sleep_until(state["tick"] * burst.every)
                state["left"] -= 1
                await anyio.lowlevel.checkpoint()

            return burst_pace
        if load.rate is not None:
            each = load.rate / share

            async def poisson_pace() -> None:
                await self.host.sleep(self.rng.expovariate(each))

            return poisson_pace
        return anyio.lowlevel.checkpoint


class Workload:
    """Base of the workloads; ``honours`` lists the load keys this pattern's workload uses."""

    pattern: ClassVar[Pattern]
    honours: ClassVar[frozenset[str]] = COMMON

    def __init__(self, context: Context) -> None:
        self.ctx = context
        self.metrics = context.metrics
        self.driver: Any = driver_for(self.pattern)(context.host, context.params)

    @classmethod
    def validate(cls, scenario: Scenario) -> None:
        """Refuse load keys this pattern would silently ignore."""
        default = Load()
        for spec in fields(Load):
            if spec.name in cls.honours:
                continue
            if getattr(scenario.load, spec.name) != getattr(default, spec.name):
                raise ConfigError(
                    f"scenario {scenario.name!r}: load.{spec.name} is not used by "
                    f"pattern {scenario.pattern} (it uses: {', '.join(sorted(cls.honours))})"
                )

    async def run(self) -> None:
        """Build the object through the driver, offer the whole load, tear the object down."""
        raise NotImplementedError

    async def produce(
        self,
        on_cancel: Callable[[], Awaitable[None] | None] | None = None,
        *,
        stop_producers: bool = False,
    ) -> None:
        """Run the scenario's ``producers`` copies of :meth:`producer` until each returns.

        At the scenario's cancel point, ``on_cancel`` runs (and, with ``stop_producers``, the
        producers are cancelled too, wherever they wait).
        """
        async with anyio.create_task_group() as load:
            producers = anyio.CancelScope()

            async def canceller() -> None:
                await self.ctx.cancel_event.wait()
                outcome = on_cancel() if on_cancel is not None else None
                if outcome is not None:
                    await outcome
                if stop_producers:
                    producers.cancel()

            if on_cancel is not None or stop_producers:
                load.start_soon(canceller, name="canceller")
            with producers:
                async with anyio.create_task_group() as group:
                    for number in range(self.ctx.load.producers):
                        group.start_soon(guarded(self.producer), number, name=f"producer-{number}")
            load.cancel_scope.cancel()

    async def producer(self, number: int) -> None:
        """Producer ``number``: at the scenario's pace, :meth:`offer` each job until the end."""
        pace = self.ctx.pacer(number)
        while True:
            await pace()
            job = self.ctx.next_job()
            if job is None or not await self.offer(job, number):
                return

    async def offer(self, job: int, producer: int) -> bool:
        """Offer job number ``job`` through the driver; False stops this producer for good."""
        raise NotImplementedError

    def measure(self, event: Event) -> None:
        """Fold one recorded event into the metrics (latencies, outcomes, gauges)."""

    async def observe(self, counters: bool) -> None:
        """At a settled instant: the driver's gauges (and counters when ``counters``)."""
        await self.driver.observe(counters)

    def workers(self) -> int | None:
        """How many workers the object has (for utilization), if that means anything."""
        return None
