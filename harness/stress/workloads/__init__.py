"""One workload per pattern: a scenario's load, issued through the pattern's driver."""

from __future__ import annotations

import importlib
from typing import Final

from harness.rules import Pattern
from harness.stress.workloads.base import Workload

_WORKLOADS: Final[dict[Pattern, str]] = {
    Pattern.QUEUE: "harness.stress.workloads.queue:QueueWorkload",
    Pattern.POOL: "harness.stress.workloads.pool:PoolWorkload",
    Pattern.GROUP: "harness.stress.workloads.group:GroupWorkload",
    Pattern.RETRY: "harness.stress.workloads.retry:RetryWorkload",
    Pattern.IDEMPOTENCY: "harness.stress.workloads.idempotency:IdempotencyWorkload",
    Pattern.ORDERING: "harness.stress.workloads.ordering:OrderingWorkload",
    Pattern.RATE: "harness.stress.workloads.rate:RateWorkload",
    Pattern.BATCH: "harness.stress.workloads.batch:BatchWorkload",
}


def workload_for(pattern: Pattern) -> type[Workload]:
    """The workload class of ``pattern`` (imported on first use)."""
    module_name, _, class_name = _WORKLOADS[pattern].partition(":")
    workload: type[Workload] = getattr(importlib.import_module(module_name), class_name)
    return workload
