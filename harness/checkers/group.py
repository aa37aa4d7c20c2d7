"""GROUP-FIRST-ERROR: the first error wins, cancels the rest at once; success waits for all.

Event kinds read (the group driver writes them):

``group_begin`` (id: group number; ``tasks``)
    a group block opens and will start ``tasks`` tasks.
``task_begin`` (id: task number; ``group``)
    a task's function was entered.
``task_end`` (id: task number; ``group``, ``outcome``, ``error``)
    the task returned (``ok``), raised the exception named ``error`` (``raise``; names are
    unique per exception object) or was interrupted by ``Cancelled`` (``cancelled``).
``task_cleanup`` (id: task number; ``group``, ``seconds``)
    the cancellation reached the task, which now cleans up for ``seconds`` (shielded) before
    its ``task_end`` (``cancelled``).
``group_cancel`` (id: group number)
    the caller cancelled a scope around the group's block (an outer cancellation).
``group_end`` (id: group number; ``outcome``, ``error``)
    the block exited: ``ok``, ``error`` (raised the task exception named ``error``, or
    ``"foreign"`` for any other exception object), ``exception_group`` (raised an
    ``ExceptionGroup``; ``leaves`` names each exception in it, ``"foreign"`` for one no task
    of the group raised) or ``cancelled`` (the outer cancellation came out).

The first ``task_end`` with outcome ``raise`` in a group is its first error, at instant
``t0``. From then on no task of the group may begin, end or raise after ``t0`` (they are
cancelled at that very instant; several tasks may still finish *at* ``t0``), but for the end of
a cleanup that began by ``t0`` (``task_cleanup``), and the group must raise exactly that
exception, either bare or, by the convention of ``asyncio.TaskGroup`` and trio's nurseries,
inside an ``ExceptionGroup``: then the first error must be one of its leaves and every leaf
must be an error a task of this group raised (no foreign exception, no cancellation but the one
of a scope the caller cancelled, which trio puts beside them); a leaf raised after ``t0`` is
already a violation above. Without an error, every one of
``tasks`` tasks must have begun and returned normally before the group exits. The group never
exits while a task runs or cleans up, and no task event may follow its group's end. An outer
cancellation at ``tc`` stops every task at ``tc`` too (cleanups may go on). After a first error
or an outer cancellation the block exits at the instant its last task ended (``t0`` or ``tc``
when no task takes time to clean up): with the cancellation (``cancelled``), or with a first
error raised at or before ``tc``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.checking import EPSILON, Checker
from harness.events import Event, Scalar


@dataclass(slots=True)
class _Group:
    """What the checker remembers about one open group."""

    begin: Event | None = None
    tasks: int = 0
    running: set[Scalar] = field(default_factory=set)
    #: Tasks the cancellation reached that are still cleaning up.
    cleaning: set[Scalar] = field(default_factory=set)
    #: When a task of the group last ended.
    last_end: float = 0.0
    ok: int = 0
    cancelled: Event | None = None
    first_error: Event | None = None
    outer_cancel: Event | None = None
    #: The names of every error a task of this group raised.
    raised: set[str] = field(default_factory=set)


class GroupChecker(Checker):
    """Folds task and group events per group."""

    rules = ("GROUP-FIRST-ERROR",)

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.groups: dict[Scalar, _Group] = {}
        self.closed: set[Scalar] = set()

    def on_group_begin(self, event: Event) -> None:
        """Open the group's state."""
        self.groups[event.id] = _Group(begin=event, tasks=int(event.get("tasks", 0)))

    def _task_event(self, event: Event, cleaned: bool = False) -> _Group | None:
        """Check a task event: its group is open and no first error is long past.

        ``cleaned``: the event ends a cleanup that began in time, however long it took.
        """
        ident = event.get("group")
        if ident in self.closed:
            self.violate(
                "GROUP-FIRST-ERROR",
                f"task {event.id!r} of group {ident!r} is still running after the group exited",
                event,
            )
            return None
        group = self.groups.get(ident)
        if group is None:
            group = self.groups[ident] = _Group()
        if cleaned:
            return group
        first = group.first_error
        if first is not None and event.t > first.t + EPSILON:
            self.violate(
                "GROUP-FIRST-ERROR",
                f"task {event.id!r} of group {ident!r} was still running "
                f"{event.t - first.t:.6g}s after the first error (task {first.id!r}); it "
                f"should have been cancelled at once",
                first,
                event,
            )
        outer = group.outer_cancel
        if outer is not None and event.t > outer.t + EPSILON:
            self.violate(
                "GROUP-FIRST-ERROR",
                f"task {event.id!r} of group {ident!r} was still running "
                f"{event.t - outer.t:.6g}s after the group was cancelled from outside",
                outer,
                event,
            )
        return group

    def on_group_cancel(self, event: Event) -> None:
        """The caller cancelled the group's block: everything in it must stop now."""
        group = self.groups.get(event.id)
        if group is not None and group.outer_cancel is None:
            group.outer_cancel = event

    def on_task_begin(self, event: Event) -> None:
        """Note a task as running."""
        group = self._task_event(event)
        if group is not None:
            group.running.add(event.id)

    def on_task_cleanup(self, event: Event) -> None:
        """The cancellation reached a task in time; its cleanup may take a while."""
        group = self._task_event(event)
        if group is not None:
            group.running.discard(event.id)
            group.cleaning.add(event.id)

    def on_task_end(self, event: Event) -> None:
        """Close a task; the first to raise becomes the group's error."""
        known = self.groups.get(event.get("group"))
        group = self._task_event(event, cleaned=known is not None and event.id in known.cleaning)
        if group is None:
            return
        group.running.discard(event.id)
        group.cleaning.discard(event.id)
        group.last_end = max(group.last_end, event.t)
        outcome = event.get("outcome")
        if outcome == "ok":
            group.ok += 1
        elif outcome == "raise":
            group.raised.add(str(event.get("error")))
            if group.first_error is None:
                group.first_error = event
        elif outcome == "cancelled" and group.cancelled is None:
            group.cancelled = event

    def on_idle(self, event: Event) -> None:
        """Check that, settled after a first error, no task of that group is still running."""
        for ident, group in self.groups.items():
            first = group.first_error or group.outer_cancel
            if first is not None and group.running and event.t > first.t + EPSILON:
                self.violate(
                    "GROUP-FIRST-ERROR",
                    f"group {ident!r}: task(s) {sorted(map(str, group.running))} still running "
                    f"after the first error or the outer cancellation",
                    first,
                    event,
                )
                group.running.clear()

    def _check_prompt_exit(self, event: Event, group: _Group) -> None:
        """After a first error or an outer cancellation, exit once the last task ended."""
        stops = [e for e in (group.first_error, group.outer_cancel) if e is not None]
        if not stops:
            return
        stop = min(stops, key=lambda e: e.t)
        due = max(stop.t, group.last_end)
        if event.t > due + EPSILON:
            why = (
                "its first error" if stop is group.first_error else "it was cancelled from outside"
            )
            self.violate(
                "GROUP-FIRST-ERROR",
                f"group {event.id!r} exited {event.t - due:.6g}s after {why} and the end of "
                "its last task",
                stop,
                event,
            )

    def _check_leaves(self, event: Event, group: _Group, first: Event) -> None:
        """An ``ExceptionGroup`` must hold the first error and only errors of its tasks."""
        leaves = [str(leaf) for leaf in event.get("leaves") or []]
        wanted = first.get("error")
        foreign = [leaf for leaf in leaves if leaf not in group.raised]
        if wanted not in leaves or foreign:
            why = (
                f"not its first error {wanted!r} (task {first.id!r})"
                if wanted not in leaves
                else f"{len(foreign)} exception(s) no task of the group raised"
            )
            self.violate(
                "GROUP-FIRST-ERROR",
                f"group {event.id!r} raised an ExceptionGroup of {leaves!r}: {why}",
                first,
                event,
            )

    def on_group_end(self, event: Event) -> None:
        """Check the group raised its first error, or returned once every task returned."""
        group = self.groups.pop(event.id, None) or _Group()
        self.closed.add(event.id)
        self.exercise("GROUP-FIRST-ERROR")
        outcome, error = event.get("outcome"), event.get("error")
        if group.running:
            self.violate(
                "GROUP-FIRST-ERROR",
                f"group {event.id!r} exited while task(s) {sorted(map(str, group.running))} "
                f"were still running",
                event,
            )
        if group.cleaning:
            self.violate(
                "GROUP-FIRST-ERROR",
                f"group {event.id!r} exited while cancelled task(s) "
                f"{sorted(map(str, group.cleaning))} were still cleaning up: leaving waits for "
                "every task, the cancelled ones included",
                event,
            )
        self._check_prompt_exit(event, group)
        outer = group.outer_cancel
        first = group.first_error
        if outcome == "cancelled" and outer is not None and (first is None or first.t >= outer.t):
            return  # the caller's cancellation came first: it may be what leaves the block
        if first is not None:
            if outcome == "exception_group":
                self._check_leaves(event, group, first)
                return
            if outcome != "error" or error != first.get("error"):
                got = f"raised {error!r}" if outcome == "error" else f"ended with {outcome!r}"
                self.violate(
                    "GROUP-FIRST-ERROR",
                    f"group {event.id!r} {got}, not its first error {first.get('error')!r} "
                    f"(task {first.id!r})",
                    first,
                    event,
                )
            return
        if outcome != "ok":
            self.violate(
                "GROUP-FIRST-ERROR",
                f"group {event.id!r} ended with {outcome!r} ({error!r}) though no task failed",
                event,
            )
        elif group.ok < group.tasks:
            evidence = [e for e in (group.cancelled, event) if e is not None]
            self.violate(
                "GROUP-FIRST-ERROR",
                f"group {event.id!r} returned after {group.ok} of {group.tasks} tasks "
                f"returned, with no error to stop the others",
                *evidence,
            )
