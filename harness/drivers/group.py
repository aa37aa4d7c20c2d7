"""The first-error-group driver: blocks of scripted tasks, some cancelled from outside.

Each block makes its own ``first_error_group``, starts its tasks in the block's body and awaits
the block. The harness supplies the tasks: a task records ``task_begin``, sleeps its duration
in model time, then follows its script: ``ok`` returns, ``raise`` raises when its time is up,
``raise_if_cancelled`` returns normally but raises from its cleanup if it is cancelled (a
sibling's error that is a mere consequence of the first one), ``slow_cleanup`` returns normally
but, if it is cancelled, cleans up for :data:`CLEANUP` model seconds that no cancellation cuts
short (closing a connection, flushing a file) before the cancellation goes on: a group that
leaves before its cancelled tasks finished shows only with tasks that take time to finish.
Every exception a task raises is a fresh :class:`TaskError` with a unique name, so the checker
can tell which one the group raised. The caller may cancel a block from outside, natively for
the backend: before it starts, or at an offset from its start (once, twice at once, or again
while the block handles the first).

Events (see :mod:`harness.checkers.group`): ``group_begin`` (id: group number, ``tasks``);
``task_begin`` (id: task number, ``group``); ``task_end`` (id: task number, ``group``,
``outcome`` ok / raise / cancelled, ``error``); ``task_cleanup`` (id: task number, ``group``,
``seconds``: a ``slow_cleanup`` task was cancelled and starts cleaning up); ``group_cancel``
(id: group number); ``group_end`` (id: group number, ``outcome`` ok / error /
exception_group / cancelled, ``error``); plus the shared ``hang``/``crash`` and the caller's
``caller_cancel``/``caller_cancel_end``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar

import anyio

from harness.checkers.group import GroupChecker
from harness.checking import Checker
from harness.drivers.base import Driver
from harness.drivers.host import CallerScope, Host, exception_leaves
from harness.rules import Pattern

__all__ = ["CLEANUP", "SCRIPTS", "GroupDriver", "Task", "TaskError"]

#: What a task does when its time is up (or when it is cancelled first).
SCRIPTS = ("ok", "raise", "raise_if_cancelled", "slow_cleanup")
#: How long a cancelled ``slow_cleanup`` task cleans up, in model seconds: off the durations'
#: grid, so a group that waits for it leaves at an instant nothing else happens.
CLEANUP = 0.25
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
        self, group: int, task: Task, raised: dict[str, TaskError], outer: CallerScope
    ) -> Callable[[], Awaitable[None]]:
        """The body of one scripted task; what it raises is kept in ``raised`` by name.

        A cancellation that reaches it tells ``outer`` (:meth:`CallerScope.arrived`), which
        counts it only when the caller cancelled the block: the block must then let it out.
        """
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
                outer.arrived()
                if script == "raise_if_cancelled":
                    raise fail(f"g{group}t{number}!cleanup") from None
                if script == "slow_cleanup":
                    record("task_cleanup", number, group=group, seconds=CLEANUP)
                    await self._clean_up()
                record("task_end", number, group=group, outcome="cancelled", error=None)
                raise
            if script == "raise":
                raise fail(f"g{group}t{number}!")
            record("task_end", number, group=group, outcome="ok", error=None)

        # A leaked task is reported by its name: make it say which one it is.
        body.__qualname__ = f"task#{number}"
        return body

    async def _clean_up(self) -> None:
        """A cancelled task's cleanup: :data:`CLEANUP` model seconds, whatever is cancelled.

        Shielded, as cleanup code is; a cancellation that still gets through (asyncio's
        ``Task.cancel()`` is no anyio cancellation, so an anyio shield does not hold it off) is
        waited out, so the cleanup takes its full time on every backend.
        """
        until = self.host.now() + CLEANUP
        with anyio.CancelScope(shield=True):
            while (left := until - self.host.now()) > 0:
                with contextlib.suppress(anyio.get_cancelled_exc_class()):
                    await self.host.sleep(left)

    # -- operations --------------------------------------------------------------------------
    async def run_group(
        self,
        group: int,
        tasks: Sequence[Task],
        cancel_at: float | None = None,
        how: str = "once",
    ) -> str:
        """Run block ``group``: make a group, start ``tasks`` in its body, await the block.

        The caller cancels the block from outside natively for the backend
        (:class:`CallerScope`), ``how`` one of ``CANCEL_HOWS``: ``entry`` before the block
        starts, else ``cancel_at`` (when given) model seconds into it. Returns the block's
        outcome: ``ok``, ``error``, ``exception_group`` or ``cancelled``.
        """
        assert self.make is not None, "run_group() before setup()"
        raised: dict[str, TaskError] = {}
        outer = CallerScope(self.host, "group_cancel", group)
        bodies = [self._task(group, task, raised, outer) for task in tasks]
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

        if how == "entry":
            outer.cancel("entry")
        elif cancel_at is not None:
            outer.cancel_after(cancel_at, how)
        self.record("group_begin", group, tasks=len(bodies))
        # A first error (bare or in a group) may come out instead of the cancellation: it is
        # no return. (The block is awaited in one step, so no settled instant falls inside it
        # while cancelled tasks clean up.)
        ended = await outer.call(f"group #{group}", run, returned=lambda end: end[0] == "ok")
        outcome, error, leaves = ended if ended is not None else ("cancelled", None, None)
        more = {} if leaves is None else {"leaves": leaves}
        self.record("group_end", group, outcome=outcome, error=error, **more)
        return outcome
