"""One workload per pattern: a scenario's load, issued through the pattern's driver."""

from __future__ import annotations

from harness.drivers import component
from harness.rules import Pattern
from harness.stress.workloads.base import Workload


def workload_for(pattern: Pattern) -> type[Workload]:
    """The workload class of ``pattern`` (``harness.stress.workloads.queue:QueueWorkload``)."""
    workload: type[Workload] = component(__name__, pattern, "Workload")
    return workload
