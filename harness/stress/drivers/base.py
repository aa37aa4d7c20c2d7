"""The driver interface: build the object under test, offer the load, observe at idle."""

from __future__ import annotations

from dataclasses import fields
from typing import ClassVar

import trio

from harness.plugin import ConfigError
from harness.rules import Pattern
from harness.stress.runner import Context
from harness.stress.scenario import Load, Scenario

#: Load keys every driver honours.
COMMON: frozenset[str] = frozenset({"producers", "rate", "burst", "duration", "deadline"})


class Driver:
    """Base of the drivers; ``honours`` lists the load keys this pattern's driver uses."""

    pattern: ClassVar[Pattern]
    honours: ClassVar[frozenset[str]] = COMMON

    def __init__(self, context: Context) -> None:
        self.ctx = context
        self.record = context.record

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

    async def run(self, nursery: trio.Nursery) -> None:
        """Offer the whole load and tear the object down; helper tasks go in ``nursery``."""
        raise NotImplementedError

    def observe(self, counters: bool) -> None:
        """At a settled instant: record gauges (and the counters when ``counters``)."""

    def workers(self) -> int | None:
        """How many workers the object has (for utilization), if that means anything."""
        return None

    async def wait_for(self, event: trio.Event, what: str, allowance: float = 0.0) -> bool:
        """Wait for ``event`` under the deadline (plus ``allowance``); a hang is recorded."""
        deadline = self.ctx.deadline + allowance
        with trio.move_on_after(deadline):
            await event.wait()
        if not event.is_set():
            self.record("hang", what, deadline=deadline)
            return False
        return True
