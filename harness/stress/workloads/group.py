"""Stress driver of ``first_error_group``: groups of many tasks, a few of which fail.

Events are those of :mod:`harness.checkers.group` (``group_begin``, ``task_begin``,
``task_end``, ``group_end``). Each producer runs groups of ``load.tasks`` tasks one after
another; every task sleeps a drawn duration and raises with probability ``failure_rate``, so
a group's first error must cancel the rest at that instant and be the error the group raises.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Awaitable, Callable
from typing import ClassVar

import trio

from harness.plugin import ConfigError
from harness.rules import Pattern
from harness.stress.runner import Context, StepFailed
from harness.stress.scenario import Scenario
from harness.stress.workloads.base import COMMON, Driver


class TaskError(Exception):
    """What a task drawn to fail raises; ``name`` is unique per exception object."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class GroupDriver(Driver):
    """Runs groups of ``load.tasks`` tasks until the run is long enough."""

    pattern: ClassVar[Pattern] = Pattern.GROUP
    honours: ClassVar[frozenset[str]] = COMMON | {"failure_rate", "tasks"}

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.groups = itertools.count(1)
        self.running = 0

    @classmethod
    def validate(cls, scenario: Scenario) -> None:
        """A group needs a task count."""
        super().validate(scenario)
        if scenario.load.tasks < 1:
            raise ConfigError(f"scenario {scenario.name!r}: load.tasks must be at least 1")

    def _task(
        self, group: int, number: int, duration: float, raises: bool, raised: dict[str, TaskError]
    ) -> Callable[[], Awaitable[None]]:
        record = self.record
        metrics = self.ctx.metrics

        async def task() -> None:
            record("task_begin", number, group=group)
            try:
                await trio.sleep(duration)
            except trio.Cancelled:
                record("task_end", number, group=group, outcome="cancelled", error=None)
                metrics.completed(trio.current_time(), "cancelled")
                raise
            if raises:
                name = f"g{group}t{number}!"
                record("task_end", number, group=group, outcome="raise", error=name)
                metrics.completed(trio.current_time(), "failed")
                error = raised[name] = TaskError(name)
                raise error
            record("task_end", number, group=group, outcome="ok", error=None)
            metrics.completed(trio.current_time())
            metrics.latency("service", duration)

        return task

    async def producer(self, number: int) -> None:
        """Run one group after another."""
        ctx = self.ctx
        pace = ctx.pacer(number)
        while True:
            await pace()
            numbers = []
            for _ in range(ctx.load.tasks):
                job = ctx.next_job()
                if job is None:
                    break
                numbers.append(job)
            if not numbers:
                return
            await self._group(numbers)

    async def _group(self, numbers: list[int]) -> None:
        ctx = self.ctx
        group = next(self.groups)
        raised: dict[str, TaskError] = {}
        tasks = [
            self._task(group, n, ctx.duration(), ctx.chance(ctx.load.failure_rate), raised)
            for n in numbers
        ]
        made = ctx.call_sync(
            "first_error_group()", ctx.implementation.factories["first_error_group"]
        )

        async def run() -> tuple[str, str | None]:
            try:
                async with made:
                    for task in tasks:
                        made.start_soon(task)
            except TaskError as exc:
                return "error", exc.name if raised.get(exc.name) is exc else "foreign"
            except BaseExceptionGroup as exc:
                if exc.subgroup(trio.Cancelled) is not None and exc.subgroup(Exception) is None:
                    raise
                return "exception_group", repr(exc)[:200]
            return "ok", None

        started = trio.current_time()
        for _ in tasks:
            ctx.metrics.offered(started)
        self.record("group_begin", group, tasks=len(tasks))
        outcome, error = await ctx.call(f"group #{group}", run)
        self.record("group_end", group, outcome=outcome, error=error)
        ctx.metrics.latency("end_to_end", trio.current_time() - started)
        if outcome != "ok":
            ctx.metrics.count("errors")

    async def run(self, nursery: trio.Nursery) -> None:
        """Run the producers' groups."""
        async with trio.open_nursery() as producers:
            for number in range(self.ctx.load.producers):
                producers.start_soon(self._guard, number, name=f"producer-{number}")

    async def _guard(self, number: int) -> None:
        with contextlib.suppress(StepFailed):  # already recorded
            await self.producer(number)
