"""Broken first-error groups: the wrong error, no cancel, or no waiting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import trio

from reference.errgroup import FirstErrorGroup
from tests.mutants._base import mutant, reference_with


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


@mutant("GROUP-FIRST-ERROR")
def keeps_last_error() -> Any:
    """An errgroup that raises a later error: every failure overwrites the recorded one."""
    return reference_with(first_error_group=KeepsLastError)


@mutant("GROUP-FIRST-ERROR")
def no_cancel() -> Any:
    """Records the first error but never cancels the siblings."""
    return reference_with(first_error_group=NoCancel)


@mutant("GROUP-FIRST-ERROR")
def shielded_tasks() -> Any:
    """Shields each task so it can finish cleanly: the first error's cancel reaches none."""
    return reference_with(first_error_group=ShieldedTasks)


@mutant("GROUP-FIRST-ERROR")
def cancels_on_success() -> Any:
    """Cancels its scope on every exit: a clean block kills the tasks still running."""
    return reference_with(first_error_group=CancelsOnSuccess)


class SwallowsOuterCancel(FirstErrorGroup):
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        try:
            return await super().__aexit__(exc_type, exc, tb)
        except trio.Cancelled:
            return True  # "a cancelled group just ends": the caller never learns it was stopped


@mutant("GROUP-FIRST-ERROR")
def swallows_outer_cancel() -> Any:
    """Swallows the caller's cancellation: the block returns as if every task had finished."""
    return reference_with(first_error_group=SwallowsOuterCancel)
