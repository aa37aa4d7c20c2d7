"""``asyncio.TaskGroup`` as poolcheck's first-error group (backend ``asyncio``).

    poolcheck check --impl harness.adapters.asyncio_taskgroup:implementation

Used as its users use it: ``async with asyncio.TaskGroup() as tg: tg.create_task(coro)``. The
only mapping is the contract's ``start_soon(fn)``, which is ``create_task(fn())``.

``asyncio.TaskGroup`` documents that it raises an ``ExceptionGroup`` of every error its tasks
raised (the first one included) rather than the bare first error, once every task has been
cancelled and has finished; the adapter passes that through unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


class TaskGroup(asyncio.TaskGroup):
    """``asyncio.TaskGroup`` with the contract's ``start_soon``."""

    def start_soon(self, fn: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Run ``fn()`` as a task of the group (``create_task`` takes a coroutine)."""
        self.create_task(fn())


def implementation() -> dict[str, Any]:
    """The declaration of ``asyncio.TaskGroup`` for poolcheck."""
    return {
        "name": "asyncio-taskgroup",
        "backend": "asyncio",
        "capabilities": [],
        "factories": {"first_error_group": TaskGroup},
    }
