"""The group model: blocks of scripted tasks run in a ``first_error_group``.

A ``run_group`` operation draws two to four tasks, each with a virtual duration and a script:
return normally, raise when its time is up, or return normally but raise from its cleanup if
it is cancelled (a sibling's error that is a mere consequence of the first one). Durations come
from a grid with near neighbours (1.0 and 1.001), so two errors land at the same or close
instants. The block's body only starts the tasks; the operation awaits the whole block. Every
exception a task raises is a fresh object with a unique name, so the checker can tell which one
the group raised.

Some blocks are cancelled from outside at a drawn instant (``group_cancel``).

Events recorded: ``group_begin`` (id: group number, ``tasks``); ``task_begin`` (id: task
number, ``group``); ``task_end`` (id: task number, ``group``, ``outcome`` ok / raise /
cancelled, ``error``); ``group_end`` (id: group number, ``outcome`` ok / error /
exception_group, ``error``). See :mod:`harness.checkers.group`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import anyio
from hypothesis import strategies as st

from harness.checkers.group import GroupChecker
from harness.checking import Checker
from harness.contract import Implementation
from harness.rules import Pattern
from harness.search.model import Model, StepFailed

_DURATIONS = (0.0, 0.1, 0.5, 1.0, 1.001, 2.0)
_TASK = st.tuples(
    st.sampled_from(_DURATIONS),
    st.sampled_from(["ok", "ok", "raise", "raise", "raise_if_cancelled"]),
)


#: When the caller cancels the block from outside (mostly never).
_CANCEL_AT = st.sampled_from([None, None, None, 0.0, 0.5, 1.0, 1.001])


class TaskError(Exception):
    """An error a scripted task raises; ``name`` is unique to this one object."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class GroupModel(Model):
    """Drives ``first_error_group`` with blocks of scripted tasks."""

    pattern: ClassVar[Pattern] = Pattern.GROUP
    factories: ClassVar[tuple[str, ...]] = ("first_error_group",)
    max_steps: ClassVar[int] = 4

    @classmethod
    def draw_params(cls, data: st.DataObject, implementation: Implementation) -> dict[str, Any]:
        """Nothing to choose but the factory."""
        return {"pattern": "group", "factory": "first_error_group"}

    @classmethod
    def make_checkers(cls, params: dict[str, Any]) -> list[Checker]:
        """One checker decides the rule."""
        return [GroupChecker(params)]

    def __init__(self, session: Any) -> None:
        super().__init__(session)
        self.groups = itertools.count()
        self.tasks = itertools.count()

    async def setup(self, params: dict[str, Any]) -> None:
        """Each operation builds its own group; nothing to set up."""

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Group blocks and the passing of time."""
        return {"run_group": self.run_group, "advance": self.advance}

    def _task(
        self, group: int, number: int, duration: float, script: str, raised: dict[str, TaskError]
    ) -> Callable[[], Awaitable[None]]:
        session = self.session

        def fail(name: str) -> TaskError:
            session.record("task_end", number, group=group, outcome="raise", error=name)
            error = raised[name] = TaskError(name)
            return error

        async def task() -> None:
            session.record("task_begin", number, group=group)
            try:
                await session.sleep(duration)
            except anyio.get_cancelled_exc_class():
                if script == "raise_if_cancelled":
                    raise fail(f"g{group}t{number}!cleanup") from None
                session.record("task_end", number, group=group, outcome="cancelled", error=None)
                raise
            if script == "raise":
                raise fail(f"g{group}t{number}!")
            session.record("task_end", number, group=group, outcome="ok", error=None)

        task.__qualname__ = f"task#{number}"
        return task

    async def run_group(self) -> None:
        """Open a group, start the drawn tasks in it, and await the block's end."""
        session = self.session
        group = next(self.groups)
        scripts = session.draw(st.lists(_TASK, min_size=2, max_size=4), label="tasks")
        cancel_at = session.draw(_CANCEL_AT, label="cancel_at")
        shown = "" if cancel_at is None else f" cancel_at={cancel_at}"
        session.step(f"group #{group} tasks={scripts}{shown}")
        numbers = [next(self.tasks) for _ in scripts]
        raised: dict[str, TaskError] = {}

        tasks = [
            self._task(group, number, duration, script, raised)
            for number, (duration, script) in zip(numbers, scripts, strict=True)
        ]
        factory = self.session.factory("first_error_group")
        made = session.call_sync("first_error_group()", factory)

        async def run() -> tuple[str, str | None]:
            try:
                async with made:
                    for task in tasks:
                        made.start_soon(task)
            except TaskError as exc:
                return "error", exc.name if raised.get(exc.name) is exc else "foreign"
            except BaseExceptionGroup as exc:
                if (
                    exc.subgroup(anyio.get_cancelled_exc_class()) is not None
                    and exc.subgroup(Exception) is None
                ):
                    raise
                return "exception_group", repr(exc)[:200]
            return "ok", None

        # The caller's own scope around the block, cancelled at ``cancel_at`` if drawn.
        outer = anyio.CancelScope()
        done = False

        async def canceller() -> None:
            assert cancel_at is not None
            await session.sleep(cancel_at)
            if not done:
                session.record("group_cancel", group)
                outer.cancel()

        session.record("group_begin", group, tasks=len(tasks))
        ended: tuple[str, str | None] = ("cancelled", None)
        async with anyio.create_task_group() as helpers:
            if cancel_at is not None:
                helpers.start_soon(canceller)
            try:
                with outer:
                    ended = await session.call(f"group #{group}", run)
            except anyio.get_cancelled_exc_class():
                if anyio.current_effective_deadline() == -math.inf:
                    raise
                session.record("crash", f"group #{group}", error="stray cancellation")
                raise StepFailed("group") from None
            finally:
                done = True
                helpers.cancel_scope.cancel()
        session.record("group_end", group, outcome=ended[0], error=ended[1])
