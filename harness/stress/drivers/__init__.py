"""One driver per pattern: offers a scenario's load and records the model's event vocabulary."""

from __future__ import annotations

import importlib
from typing import Final

from harness.rules import Pattern
from harness.stress.drivers.base import Driver

_DRIVERS: Final[dict[Pattern, str]] = {
    Pattern.QUEUE: "harness.stress.drivers.queue:QueueDriver",
    Pattern.POOL: "harness.stress.drivers.pool:PoolDriver",
    Pattern.GROUP: "harness.stress.drivers.group:GroupDriver",
    Pattern.RETRY: "harness.stress.drivers.retry:RetryDriver",
    Pattern.IDEMPOTENCY: "harness.stress.drivers.idempotency:IdempotencyDriver",
    Pattern.ORDERING: "harness.stress.drivers.ordering:OrderingDriver",
    Pattern.RATE: "harness.stress.drivers.rate:RateDriver",
    Pattern.BATCH: "harness.stress.drivers.batch:BatchDriver",
}


def driver_for(pattern: Pattern) -> type[Driver]:
    """The driver class of ``pattern`` (imported on first use)."""
    module_name, _, class_name = _DRIVERS[pattern].partition(":")
    driver: type[Driver] = getattr(importlib.import_module(module_name), class_name)
    return driver
