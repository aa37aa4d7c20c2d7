"""The first-error-group driver: blocks of scripted tasks, some cancelled from outside.

Each block makes its own ``first_error_group``, starts its tasks in the block's body and awaits
the block. The harness supplies the tasks: a task records ``task_begin``, sleeps its duration
in model time, then follows its script: ``ok`` returns, ``raise`` raises when its time is up,
``raise_if_cancelled`` returns normally but raises from its cleanup if it is cancelled (a
sibling's error that is a mere consequence of the first one). Every exception a task raises is
a fresh :class:`TaskError` with a unique name, so the checker can tell which one the group
raised. The caller may cancel a block from outside (its own cancel scope around the block) at
an offset from the block's start.

Events (see :mod:`harness.checkers.group`): ``group_begin`` (id: group number, ``tasks``);
``task_begin`` (id: task number, ``group``); ``task_end`` (id: task number, ``group``,
``outcome`` ok / raise / cancelled, ``error``); ``group_cancel`` (id: group number);
``group_end`` (id: group number, ``outcome`` ok / error / exception_group / cancelled,
``error``); plus the shared ``hang``/``crash``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar

import anyio

from harness.checkers.group import GroupChecker
from harness.checking import Checker
from harness.drivers.base import Driver
from harness.drivers.host import CallerScope, Host, exception_leaves
from harness.rules import Pattern

__all__ = ["SCRIPTS", "GroupDriver", "Task", "TaskError"]

#: What a task does when its time is up (or when it is cancelled first).
SCRIPTS = ("ok", "raise", "raise_if_cancelled")
#: One task of a block: its number, its duration in model seconds, its script.
Task = tuple[int, float, str]


class TaskError(Exception):
    """An error a scripted task raises; ``name`` is unique to this one object."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class GroupDriver(Driver):
    """Blocks of ``first_error_group``: the harness's tasks, each block's outcome."""

    pattern: ClassVar[Pattern] = Pattern.GROUP
    factories: ClassVar[tuple[str, ...]] = ("first_error_group",)

    def __init__(self, host: Host, params: Mapping[str, Any]) -> None:
        super().__init__(host, params)
        self.make: Callable[..., Any] | None = None

    @classmethod
    def make_checkers(cls, params: Mapping[str, Any]) -> list[Checker]:
        """One checker decides the rule."""
        return [GroupChecker(params)]

    async def setup(self) -> None:
        """Look the factory up; each block makes its own group."""
        self.make = self.host.factory("first_error_group")

    def _task(
        self, group: int, task: Task, raised: dict[str, TaskError]
    ) -> Callable[[], Awaitable[None]]:
        """The body of one scripted task; what it raises is kept in ``raised`` by name."""
        number, duration, script = task
        record = self.record

        def fail(name: str) -> TaskError:
            record("task_end", number, group=group, outcome="raise", error=name)
            error = raised[name] = TaskError(name)
            return error

        async def body() -> None:
            record("task_begin", number, group=group)
            try:
                await self.host.sleep(duration)
            except anyio.get_cancelled_exc_class():
                if script == "raise_if_cancelled":
                    raise fail(f"g{group}t{number}!cleanup") from None
                record("task_end", number, group=group, outcome="cancelled", error=None)
                raise
            if script == "raise":
                raise fail(f"g{group}t{number}!")
            record("task_end", number, group=group, outcome="ok", error=None)

        # A leaked task is reported by its name: make it say which one it is.
        body.__qualname__ = f"task#{number}"
        return body

    # -- operations --------------------------------------------------------------------------
    async def run_group(
        self, group: int, tasks: Sequence[Task], cancel_at: float | None = None
    ) -> str:
        """Run block ``group``: make a group, start ``tasks`` in its body, await the block.

        ``cancel_at``, when given, is the offset from the block's start at which the caller
        cancels it from outside. Returns the block's outcome: ``ok``, ``error``,
        ``exception_group`` or ``cancelled``.
        """
        assert self.make is not None, "run_group() before setup()"
        raised: dict[str, TaskError] = {}
        bodies = [self._task(group, task, raised) for task in tasks]
        made = self.host.call_sync("first_error_group()", self.make)

        def name(exc: BaseException) -> str:
            # Only the very exception object a task of this group raised counts as its error.
            ours = isinstance(exc, TaskError) and raised.get(exc.name) is exc
            return exc.name if ours else "foreign"  # type: ignore[attr-defined]

        async def run() -> tuple[str, str | None, list[str] | None]:
            try:
                async with made:
                    for body in bodies:
                        made.start_soon(body)
            except TaskError as exc:
                return "error", name(exc), None
            except BaseExceptionGroup as exc:
                cancelled, errors = exc.split(anyio.get_cancelled_exc_class())
                if errors is None:
                    raise
                # The ecosystem's convention (asyncio.TaskGroup, trio nurseries): the group's
                # errors wrapped in an ExceptionGroup; the checker reads its leaves. Inside a
                # scope the caller cancelled, trio adds that scope's Cancelled beside them (the
                # scope's exit strips it): only a cancellation nobody asked for is foreign.
                leaves = [name(leaf) for leaf in exception_leaves(errors)]
                if cancelled is not None and not self.host.cancelled_by_harness():
                    leaves.append("foreign")
                return "exception_group", repr(exc)[:200], leaves
            return "ok", None, None

        outer = CallerScope(self.host, "group_cancel", group)
        if cancel_at is not None:
            outer.cancel_after(cancel_at)
        self.record("group_begin", group, tasks=len(bodies))
        ended = await outer.call(f"group #{group}", run)
        outcome, error, leaves = ended if ended is not None else ("cancelled", None, None)
        more = {} if leaves is None else {"leaves": leaves}
        self.record("group_end", group, outcome=outcome, error=error, **more)
        return outcome
