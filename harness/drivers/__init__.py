"""One driver per pattern, the one place that lists them: performs operations, records events.

Both ways of choosing operations use these: the search's models (:mod:`harness.search.models`)
and the stress workloads (:mod:`harness.stress.workloads`).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from harness.checkers.general import GuardChecker
from harness.checking import Checker
from harness.drivers.base import Driver
from harness.drivers.host import Host, StepFailed
from harness.rules import Pattern

__all__ = [
    "Driver",
    "Host",
    "StepFailed",
    "checkers_for",
    "component",
    "driver_for",
    "patterns",
]


def component(package: str, pattern: Pattern, role: str) -> Any:
    """The class playing ``role`` for ``pattern`` in ``package``, imported on first use.

    Module ``<package>.<pattern>``, class ``<Pattern><role>``: ``harness.drivers.queue``
    holds ``QueueDriver``. The one place that maps patterns to driver, model and workload.
    """
    module = importlib.import_module(f"{package}.{pattern}")
    return getattr(module, f"{str(pattern).capitalize()}{role}")


def driver_for(pattern: Pattern) -> type[Driver]:
    """The driver class of ``pattern``."""
    driver: type[Driver] = component(__name__, pattern, "Driver")
    return driver


def patterns() -> list[Pattern]:
    """Every pattern, in catalog order."""
    return list(Pattern)


def checkers_for(pattern: Pattern, params: Mapping[str, Any]) -> list[Checker]:
    """The checkers that judge a run of ``pattern``: the driver's own, then the guards."""
    return [*driver_for(pattern).make_checkers(params), GuardChecker(params)]
