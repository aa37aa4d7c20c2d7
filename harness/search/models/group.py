"""The group model: draws blocks of scripted tasks for a ``first_error_group``.

A ``run_group`` operation draws two to four tasks, each with a virtual duration and a script
(see :mod:`harness.drivers.group`, which runs them): return normally, raise when its time is
up, return normally but raise from its cleanup if it is cancelled, or return normally but take
a while (shielded) to clean up if it is cancelled. Durations come from a grid with near
neighbours (1.0 and 1.001), so two errors land at the same or close instants.
Some blocks are cancelled from outside (``group_cancel``), natively for the backend and in a
drawn way (``CANCEL_HOWS``): before the block starts, or at a drawn instant, once, twice at
once, or again while the block handles the first.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from hypothesis import strategies as st

from harness.contract import Implementation
from harness.drivers.group import GroupDriver
from harness.drivers.host import CANCEL_HOWS
from harness.rules import Pattern
from harness.search.model import Model, Session

_DURATIONS = (0.0, 0.1, 0.5, 1.0, 1.001, 2.0)
_TASK = st.tuples(
    st.sampled_from(_DURATIONS),
    st.sampled_from(["ok", "ok", "raise", "raise", "raise_if_cancelled", "slow_cleanup"]),
)
#: When the caller cancels the block from outside (mostly never).
_CANCEL_AT = st.sampled_from([None, None, None, 0.0, 0.5, 1.0, 1.001])


class GroupModel(Model):
    """Drives ``first_error_group`` with blocks of scripted tasks."""

    pattern: ClassVar[Pattern] = Pattern.GROUP
    max_steps: ClassVar[int] = 4
    overlapping: ClassVar[frozenset[str]] = frozenset({"run_group"})
    driver: GroupDriver

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.groups = itertools.count()
        self.tasks = itertools.count()

    @classmethod
    def draw_params(cls, data: st.DataObject, implementation: Implementation) -> dict[str, Any]:
        """Nothing to choose but the factory."""
        return {"pattern": "group", "factory": "first_error_group"}

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Group blocks and the passing of time."""
        return {"run_group": self.run_group, "advance": self.advance}

    async def run_group(self) -> None:
        """Run one block of drawn tasks, perhaps cancelled from outside, to its end."""
        session = self.session
        group = next(self.groups)
        scripts = session.draw(st.lists(_TASK, min_size=2, max_size=4), label="tasks")
        cancel_at = session.draw(_CANCEL_AT, label="cancel_at")
        how, shown = "once", ""
        if cancel_at is not None:
            how = session.draw(st.sampled_from(CANCEL_HOWS), label="how")
            if how == "entry":
                cancel_at, shown = None, " cancelled at its entry"
            else:
                shown = f" cancel_at={cancel_at}" + ("" if how == "once" else f" ({how})")
        session.step(f"group #{group} tasks={scripts}{shown}")
        tasks = [(next(self.tasks), duration, script) for duration, script in scripts]
        await self.driver.run_group(group, tasks, cancel_at, how)
