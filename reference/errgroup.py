"""Cancel siblings on the first error, like Go's errgroup (guide §8).

The guide's best practice "cancel on first error when appropriate (errgroup)" maps onto a
trio nursery almost directly: a nursery already cancels the remaining tasks when one fails.
What it does differently is the error it raises: a nursery collects every failure into an
``ExceptionGroup``, while Go's ``errgroup.Wait`` returns just the first error. Since the
siblings' later errors are usually mere consequences of being cancelled, the first one is the
one worth reporting; :class:`FirstErrorGroup` re-raises it, unwrapped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import trio


def _only_cancelled(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_cancelled(inner) for inner in exc.exceptions)
    return isinstance(exc, trio.Cancelled)


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


class FirstErrorGroup:
    """A nursery that cancels everything at the first error and re-raises that error itself.

    Use as ``async with FirstErrorGroup() as g: g.start_soon(fn, *args)``. The block's own
    body counts as one of the tasks: an error raised there also cancels the others. Errors
    raised after the first one are dropped. When leaving the block, every task has exited.
    A cancellation from outside propagates unchanged when no task failed.
    """

    def __init__(self) -> None:
        self._manager: Any = None
        self._nursery: trio.Nursery | None = None
        self.first: Exception | None = None

    @property
    def cancel_scope(self) -> trio.CancelScope:
        """The cancel scope around the block and its tasks (cancel it to stop them all)."""
        assert self._nursery is not None, "use FirstErrorGroup in an async with block"
        return self._nursery.cancel_scope

    def _fail(self, exc: Exception) -> None:
        if self.first is None:
            self.first = exc
            self.cancel_scope.cancel()

    def start_soon(self, fn: Callable[..., Awaitable[object]], *args: object) -> None:
        """Start ``fn(*args)`` as a task of the group."""
        assert self._nursery is not None, "use FirstErrorGroup in an async with block"

        async def guarded() -> None:
            # Catch only Exception: Cancelled and KeyboardInterrupt must reach the nursery.
            try:
                await fn(*args)
            except Exception as exc:
                self._fail(exc)

        self._nursery.start_soon(guarded, name=getattr(fn, "__qualname__", None))

    async def __aenter__(self) -> FirstErrorGroup:
        self._manager = trio.open_nursery()
        self._nursery = await self._manager.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if isinstance(exc, Exception):
            self._fail(exc)
            # We report the error ourselves below; the nursery only has to wind down.
            exc_type, exc, tb = None, None, None
        try:
            suppressed: bool = await self._manager.__aexit__(exc_type, exc, tb)
        except BaseException as leftover:
            if not _only_cancelled(leftover):
                raise  # KeyboardInterrupt and friends win over everything
            if self.first is None:
                # An outer cancellation: let one plain Cancelled through, not a group of them.
                raise exc if isinstance(exc, trio.Cancelled) else _first_leaf(leftover) from None
            # Beside a recorded error, Cancelled is debris; the first error is what we report.
            suppressed = True
        if self.first is not None:
            first = self.first
            raise first
        return suppressed


async def first_error(*fns: Callable[[], Awaitable[object]]) -> None:
    """Run ``fns`` concurrently; if one raises, cancel the rest and raise its error."""
    async with FirstErrorGroup() as group:
        for fn in fns:
            group.start_soon(fn)
