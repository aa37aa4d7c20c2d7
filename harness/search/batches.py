"""Same-instant batches: two or three operations issued at one instant, with no settle between.

Besides single operations, every model draws ``batch`` steps (:func:`run_batch`): two or three
*parts*, each one of the model's operations, issued at one scheduling instant in the order
drawn, and nothing waits for the system to settle between them: a woken waiter that has not run
yet, a check an implementation made before its last checkpoint, a hand-off still in flight all
meet the next part. The usual settle comes after the whole batch. Between two parts the batch
draws 0 to 3 checkpoints of its own, which let the tasks already running take that many more
scheduling turns first; the scheduler interleaves the rest, seeded from the example (on trio),
so the interleaving replays with it.

**When the next part starts.** A part runs in the harness's own task, as a single operation
does, and the next part starts once it has returned: a non-blocking call has returned, a
blocking one is handed to a helper task (a blocked put, a waiting acquire), a cancellation is
requested. So the calls a model makes itself never overlap, as the checkers expect: they judge
such a call by its result, in the order results are recorded. (A task per part would also cost
a scheduling turn: a task woken by part *k* would then always run before part *k+1*'s helper
task starts, hiding the very races batches are for.) An operation a model lists in
:attr:`~harness.search.model.Model.overlapping` (a retrier's call, a group's block: calls that
take time, judged one by one) runs in a task of its own, and the next part starts as soon as
it has entered the implementation (:func:`entering`, called by the host at each call). The
batch then waits for it to end, as a single operation of the kind waits for its call: no
settled instant falls inside a model's own call, which the checkers of those calls rely on (a
cancelled group block may rightly take time to clean up, for one; a settled instant would find
it "still waiting").

**Replaying.** Every draw of a batch happens at a point that does not depend on timing: the
batch draws only while the part before has finished or is inside a call, and a part draws only
before that. A draw by a part (or a helper task it started) after that point is a poolcheck
bug: the draw order would follow the scheduler, which on the real clock (threads) varies from
run to run. :meth:`Session.draw <harness.search.model.Session.draw>` refuses it loudly.

The step a batch logs is one line listing its parts in order, with the checkpoints between
them: ``t=1 batch[put(3) | +1 checkpoint | cancel get() #1]``. It shrinks as other steps do:
to fewer parts, fewer checkpoints, simpler operations, or to no batch at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Final

import anyio
import anyio.lowlevel
from hypothesis import strategies as st

if TYPE_CHECKING:
    from harness.search.model import Session

__all__ = ["BATCH", "BATCH_EVERY", "Part", "current", "entering", "late_draw", "run_batch"]

#: The operation's name (its weight is 1 unless a model's ``weights`` says otherwise).
BATCH: Final = "batch"
#: A model draws a batch about once in this many steps at most (see ``_operation_names``).
BATCH_EVERY: Final = 8
_SIZE = st.integers(2, 3)
_CHECKPOINTS = st.integers(0, 3)


class Part:
    """One operation of a batch."""

    def __init__(self, batch: _Batch, name: str, overlapping: bool) -> None:
        self.batch = batch
        self.name = name
        self.overlapping = overlapping
        #: What the operation logged (it usually logs one step, or none when it did nothing).
        self.steps: list[str] = []
        #: The batch's own checkpoints between this part and the next.
        self.checkpoints = 0
        #: Set when the next part may start: this one returned, or (overlapping) is in a call.
        self.reached = anyio.Event()
        #: Set when the part returned (or failed, its hang or crash recorded).
        self.done = anyio.Event()

    def end(self) -> None:
        """The part returned (or failed, its hang or crash recorded)."""
        self.reached.set()
        self.done.set()

    def log(self, description: str) -> None:
        """Note a step of this part in its batch's line."""
        self.steps.append(description)
        self.batch.render()


#: The part the current task runs (helper tasks it starts inherit it), or None.
_PART: ContextVar[Part | None] = ContextVar("poolcheck_batch_part", default=None)


def current() -> Part | None:
    """The batch part the current task belongs to, if any."""
    return _PART.get()


def entering() -> None:
    """The host is entering a call into the implementation (or starting a helper task).

    An overlapping part has reached the point where the next part may start. Called from
    :class:`~harness.drivers.host.Host` at every call: one context-variable read otherwise.
    """
    part = _PART.get()
    if part is not None and part.overlapping:
        part.reached.set()


def late_draw() -> str | None:
    """Why a draw now would break replay, or None: see the module's docstring."""
    part = _PART.get()
    if part is None or not part.reached.is_set():
        return None
    return (
        f"poolcheck bug: the batch part {part.name!r} (or a task it started) drew a value after "
        "the next part could start, so the draw order would depend on scheduling"
    )


class _Batch:
    """One batch's parts and its line in the session's steps."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.parts: list[Part] = []
        session.step(BATCH)
        self.index = len(session.steps) - 1
        self.prefix = session.steps[self.index].rpartition(" ")[0]

    def render(self) -> None:
        """Rewrite the batch's line: each part's steps, and the checkpoints between them.

        A part that did nothing (a cancellation with nobody to cancel) logs nothing, as a
        single operation does; the checkpoints around it count towards the next part shown.
        """
        shown: list[str] = []
        waited = 0
        for part in self.parts:
            if part.steps:
                if shown and waited:
                    shown.append(f"+{waited} checkpoint{'s' * (waited > 1)}")
                shown.append("; ".join(part.steps))
                waited = 0
            waited += part.checkpoints
        self.session.steps[self.index] = f"{self.prefix} {BATCH}[{' | '.join(shown)}]"


async def run_batch(
    session: Session,
    operations: Mapping[str, Callable[[], Awaitable[None]]],
    parts: st.SearchStrategy[str],
    overlapping: frozenset[str],
) -> None:
    """Operation ``batch``: draw two or three parts and issue them at this instant.

    ``parts`` draws a part's name from ``operations``; a name in ``overlapping`` runs in a task
    of its own and lets the next part start once it is inside a call; the batch returns once
    every part has. A part that fails (:class:`~harness.drivers.host.StepFailed`) ends the
    example as a single operation does; an overlapping one ends only itself (its hang or crash
    is recorded either way).
    """
    batch = _Batch(session)
    batch.render()
    for k in range(session.draw(_SIZE, label="batch size")):
        if k:
            previous = batch.parts[-1]
            previous.checkpoints = session.draw(_CHECKPOINTS, label="checkpoints")
            batch.render()
            for _ in range(previous.checkpoints):
                await anyio.lowlevel.checkpoint()
        name = session.draw(parts, label="part")
        part = Part(batch, name, name in overlapping)
        batch.parts.append(part)
        if part.overlapping:
            session.spawn(_in_task(part, operations[name]), name=f"batch part {name}")
            await part.reached.wait()
            continue
        # The helper tasks the part starts copy this context, and so belong to the part too.
        token = _PART.set(part)
        try:
            await operations[name]()
        finally:
            _PART.reset(token)
            part.end()
    for part in batch.parts:
        await part.done.wait()


def _in_task(part: Part, operation: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """An overlapping part's task: a failure (its hang or crash recorded) ends only the part."""

    async def run() -> None:
        _PART.set(part)
        try:
            await operation()
        finally:
            part.end()

    return run
