"""One driver per pattern, the one place that lists them: performs operations, records events.

Both ways of choosing operations use these: the search's models (:mod:`harness.search.models`)
and the stress workloads (:mod:`harness.stress.workloads`).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Final

from harness.checkers.general import GuardChecker
from harness.checking import Checker
from harness.drivers.base import Driver
from harness.drivers.host import Host, StepFailed
from harness.rules import Pattern

__all__ = ["Driver", "Host", "StepFailed", "checkers_for", "driver_for", "patterns"]

_DRIVERS: Final[dict[Pattern, str]] = {
    Pattern.QUEUE: "harness.drivers.queue:QueueDriver",
    Pattern.POOL: "harness.drivers.pool:PoolDriver",
    Pattern.GROUP: "harness.drivers.group:GroupDriver",
    Pattern.RETRY: "harness.drivers.retry:RetryDriver",
    Pattern.IDEMPOTENCY: "harness.drivers.idempotency:IdempotencyDriver",
    Pattern.ORDERING: "harness.drivers.ordering:OrderingDriver",
    Pattern.RATE: "harness.drivers.rate:RateDriver",
    Pattern.BATCH: "harness.drivers.batch:BatchDriver",
}


def driver_for(pattern: Pattern) -> type[Driver]:
    """The driver class of ``pattern`` (imported on first use)."""
    module_name, _, class_name = _DRIVERS[pattern].partition(":")
    driver: type[Driver] = getattr(importlib.import_module(module_name), class_name)
    return driver


def patterns() -> list[Pattern]:
    """Every pattern that has a driver, in catalog order."""
    return list(_DRIVERS)


def checkers_for(pattern: Pattern, params: Mapping[str, Any]) -> list[Checker]:
    """The checkers that judge a run of ``pattern``: the driver's own, then the guards."""
    return [*driver_for(pattern).make_checkers(params), GuardChecker(params)]
