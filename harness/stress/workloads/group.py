"""Stress workload of ``first_error_group``: groups of many tasks, a few of which fail.

Each producer runs groups of ``load.tasks`` tasks one after another through the
:class:`~harness.drivers.group.GroupDriver`; every task sleeps a drawn duration and raises
with probability ``failure_rate``, so a group's first error must cancel the rest at that
instant and be the error the group raises. The metrics fold the driver's events: every task
is offered when its group begins and completes (ok, failed or cancelled) when it ends; service
is a task's ``task_begin`` to ``task_end``, end to end a group's ``group_begin`` to
``group_end``, and a group that did not end ``ok`` counts as one of ``errors``.
"""

from __future__ import annotations

import itertools
from typing import ClassVar

from harness.drivers.group import GroupDriver, Task
from harness.events import Event, Scalar
from harness.plugin import ConfigError
from harness.rules import Pattern
from harness.stress.scenario import Scenario
from harness.stress.workloads.base import COMMON, Context, Workload

_OUTCOME = {"ok": "completed", "raise": "failed", "cancelled": "cancelled"}


class GroupWorkload(Workload):
    """Runs groups of ``load.tasks`` tasks until the run is long enough."""

    pattern: ClassVar[Pattern] = Pattern.GROUP
    honours: ClassVar[frozenset[str]] = COMMON | {"failure_rate", "tasks"}
    driver: GroupDriver

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.groups = itertools.count(1)
        self.group_began: dict[Scalar, float] = {}
        self.task_began: dict[Scalar, float] = {}

    @classmethod
    def validate(cls, scenario: Scenario) -> None:
        """A group needs a task count."""
        super().validate(scenario)
        if scenario.load.tasks < 1:
            raise ConfigError(f"scenario {scenario.name!r}: load.tasks must be at least 1")

    # -- the load ------------------------------------------------------------------------
    async def producer(self, number: int) -> None:
        """Run one group after another at the scenario's pace."""
        ctx = self.ctx
        pace = ctx.pacer(number)
        while True:
            await pace()
            tasks: list[Task] = []
            for _ in range(ctx.load.tasks):
                job = ctx.next_job()
                if job is None:
                    break
                duration = ctx.duration()
                script = "raise" if ctx.chance(ctx.load.failure_rate) else "ok"
                tasks.append((job, duration, script))
            if not tasks:
                return
            await self.driver.run_group(next(self.groups), tasks)

    async def run(self) -> None:
        """Run the producers' groups."""
        await self.driver.setup()
        await self.produce()

    # -- what it measures ------------------------------------------------------------------
    def measure(self, event: Event) -> None:
        """Offers, task outcomes, service and group latencies, from the group's events."""
        kind = event.kind
        metrics = self.metrics
        if kind == "task_end":
            began = self.task_began.pop(event.id, None)
            outcome = event.get("outcome")
            metrics.completed(event.t, _OUTCOME.get(str(outcome), "unknown_outcome"))
            if outcome == "ok" and began is not None:
                metrics.latency("service", event.t - began)
        elif kind == "task_begin":
            self.task_began[event.id] = event.t
        elif kind == "group_begin":
            self.group_began[event.id] = event.t
            for _ in range(int(event.get("tasks", 0))):
                metrics.offered(event.t)
        elif kind == "group_end":
            began = self.group_began.pop(event.id, None)
            if began is not None:
                metrics.latency("end_to_end", event.t - began)
            if event.get("outcome") != "ok":
                metrics.count("errors")
