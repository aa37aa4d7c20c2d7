"""The clock bridge walks ``sys.modules`` again whenever it changed since the last run.

A run that imports nothing reuses the last walk (``harness.backends.clock``); these tests show
that a module imported, replaced or swapped between two runs is still found: the captured
``monotonic`` of a module that appeared after the first run reads the virtual clock in the
second, and is the real function again after it. (Each fails when the walk is redone only
when the number of modules changes, or never.)
"""

from __future__ import annotations

import sys
import time
import types
from collections.abc import Iterator

import pytest

from harness.backends import backend_for
from harness.backends.base import Runtime
from harness.backends.clock import MONOTONIC_BASE
from harness.guards import Budgets

NAME = "poolcheck_test_walk"
OTHER = "poolcheck_test_walk_other"


def capturing_module(name: str) -> types.ModuleType:
    """A module that did ``from time import monotonic`` (with the real function)."""
    module = types.ModuleType(name)
    module.monotonic = time.monotonic  # type: ignore[attr-defined]
    return module


def reading_after_one_second(module: types.ModuleType | None = None) -> float | None:
    """What ``module.monotonic()`` returns one virtual second into a trio run (no module: a
    run that reads nothing, so that the bridge walks the modules as they are now)."""
    seen: list[float] = []

    async def body(runtime: Runtime) -> None:
        await runtime.sleep(1.0)
        if module is not None:
            seen.append(module.monotonic())

    assert backend_for("trio").run(body, Budgets(), seed=0) is None
    return seen[0] if seen else None


def is_real(module: types.ModuleType) -> bool:
    return module.monotonic is time.monotonic


@pytest.fixture(autouse=True)
def clean_modules() -> Iterator[None]:
    yield
    for name in (NAME, OTHER):
        sys.modules.pop(name, None)


def test_a_module_imported_after_a_run_is_bridged_in_the_next() -> None:
    reading_after_one_second()  # a walk without the module
    module = capturing_module(NAME)
    sys.modules[NAME] = module
    assert reading_after_one_second(module) == MONOTONIC_BASE + 1.0
    assert is_real(module)


def test_a_module_replaced_under_the_same_name_is_bridged() -> None:
    sys.modules[NAME] = capturing_module(NAME)
    reading_after_one_second(sys.modules[NAME])  # the walk sees the first module object
    replacement = capturing_module(NAME)
    sys.modules[NAME] = replacement  # as many modules as before: only the object changed
    assert reading_after_one_second(replacement) == MONOTONIC_BASE + 1.0
    assert is_real(replacement)


def test_a_module_swapped_for_another_of_another_name_is_bridged() -> None:
    sys.modules[NAME] = types.ModuleType(NAME)
    reading_after_one_second()
    del sys.modules[NAME]
    module = capturing_module(OTHER)
    sys.modules[OTHER] = module  # one module out, one in: the count is the same
    assert reading_after_one_second(module) == MONOTONIC_BASE + 1.0
    assert is_real(module)
