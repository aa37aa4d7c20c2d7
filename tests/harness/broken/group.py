"""Deliberately broken first-error groups, each with the realistic bug named in its docstring.

Loaded through the plug-in path: ``tests.harness.broken.group:keeps_last_error``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import trio

from reference.errgroup import FirstErrorGroup
from reference.plugin import implementation as reference_implementation


def _with(**factories: Callable[..., Any]) -> Any:
    declaration = reference_implementation()
    return {
        "name": "broken",
        "backend": "trio",
        "capabilities": declaration.capabilities,
        "factories": {**declaration.factories, **factories},
        "closed_errors": declaration.closed_errors,
        "counters": declaration.counters,
    }


class KeepsLastError(FirstErrorGroup):
    """``self.error = exc`` for every failure: a sibling's cleanup error replaces the first."""

    def _fail(self, exc: Exception) -> None:
        first = self.first is None
        self.first = exc
        if first:
            self.cancel_scope.cancel()


class NoCancel(FirstErrorGroup):
    """Records the first error but never cancels: the siblings run to their natural end."""

    def _fail(self, exc: Exception) -> None:
        if self.first is None:
            self.first = exc


class ShieldedTasks(FirstErrorGroup):
    """Shields each task "so it can finish cleanly": the cancel reaches none of them."""

    def start_soon(self, fn: Callable[..., Awaitable[object]], *args: object) -> None:
        async def shielded() -> None:
            with trio.CancelScope(shield=True):
                await fn(*args)

        super().start_soon(shielded)


class CancelsOnSuccess(FirstErrorGroup):
    """Cancels the scope on every exit, error or not: a clean block kills running tasks."""

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self.cancel_scope.cancel()
        return await super().__aexit__(exc_type, exc, tb)


def keeps_last_error() -> Any:
    """GROUP-FIRST-ERROR: raises a later error."""
    return _with(first_error_group=KeepsLastError)


def no_cancel() -> Any:
    """GROUP-FIRST-ERROR: siblings keep running after the first error."""
    return _with(first_error_group=NoCancel)


def shielded_tasks() -> Any:
    """GROUP-FIRST-ERROR: siblings finish naturally despite the cancel."""
    return _with(first_error_group=ShieldedTasks)


def cancels_on_success() -> Any:
    """GROUP-FIRST-ERROR: returns without waiting for every task."""
    return _with(first_error_group=CancelsOnSuccess)
