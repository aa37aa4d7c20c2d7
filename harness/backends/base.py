"""What a backend gives the harness: a way to run one example, and a runtime inside it.

The models and the :class:`~harness.search.model.Session` are written against anyio, which runs
natively inside ``trio.run`` and inside an asyncio loop. What anyio cannot give them in a
backend-neutral way lives here: the example's clock (model seconds, possibly scaled to real
ones), the "every task is blocked" test that defines a settled instant, the hang guard, the
census of live tasks or threads for the leak rules, and adapting an implementation's objects
to the async contract the models drive.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, ClassVar

import anyio

from harness.backends.clock import ClockBridge
from harness.guards import Budgets
from harness.rules import Pattern


class Runtime(ABC):
    """Per-example services, used from inside the running event loop."""

    #: Backend-clock seconds per model second (1 on virtual time).
    time_scale: float = 1.0
    #: Real seconds of quiet the harness waits for before calling an instant settled (0 on
    #: virtual time, where "every task is blocked" is exact).
    settle_grace: float = 0.0
    #: Whether a call into the code under test can be interrupted (cancelled) mid-way.
    interruptible: bool = True

    @abstractmethod
    def now(self) -> float:
        """The example's time in model seconds (starts near 0)."""

    async def sleep(self, seconds: float) -> None:
        """Let ``seconds`` model seconds pass."""
        await anyio.sleep(seconds * self.time_scale)

    def move_on_after(self, seconds: float) -> anyio.CancelScope:
        """A cancel scope with a deadline ``seconds`` model seconds from now."""
        return anyio.move_on_after(seconds * self.time_scale)

    @abstractmethod
    async def wait_all_tasks_blocked(self) -> None:
        """Return once every other task of the loop waits on something that has not happened."""

    @abstractmethod
    def note_activity(self) -> None:
        """Something happened (an event was recorded): a real-clock backend restarts its grace."""

    @abstractmethod
    def settled(self) -> None:
        """The harness saw the system settle: restart the livelock count."""

    @abstractmethod
    def census(self) -> dict[int, str]:
        """What is alive now that could outlive the example (tasks, threads): id -> name."""

    async def leftovers(self, baseline: Mapping[int, str]) -> list[str]:
        """Names of what is alive now and was not in ``baseline`` (the harness's own excluded)."""
        return [name for key, name in self.census().items() if key not in baseline]

    #: The run's clock bridge (:mod:`harness.backends.clock`), None on the real clock.
    bridge: ClockBridge | None = None

    def bridge_clock(self, on: bool) -> None:
        """Keep the clock bridge for the rest of the run, or switch it off (``on`` False).

        Called once the implementation is known: its declaration may say ``clock_bridge:
        False``. Nothing to do without a bridge.
        """
        if not on and self.bridge is not None:
            self.bridge.switch_off()

    def clock_readings(self) -> dict[str, Any] | None:
        """The ``clock`` event's data (the implementation's own clock readings), or None.

        None on a backend without a bridge (the real clock).
        """
        return None if self.bridge is None else self.bridge.readings()

    def adapt(self, factory_name: str, make: Callable[..., Any]) -> Callable[..., Any]:
        """The factory the models call: ``make`` itself unless the backend needs a facade."""
        return make

    @contextlib.contextmanager
    def background_faults(self, report: Callable[[str, str], None]) -> Iterator[None]:
        """While inside, failures of the implementation's own work go to ``report(who, what)``.

        Failures nobody is told about: a task of its own that raised and was never awaited.
        ``report`` may be called at any moment (a garbage collection), so it only queues.
        Nothing to catch by default: on trio such a task's error reaches its nursery's owner.
        """
        yield

    def cancel_requests(self) -> int:
        """How many cancellation requests the current task holds (asyncio's ``cancelling()``)."""
        return 0

    async def forget_cancel_requests(self, keep: int) -> None:
        """Drop the current task's cancellation requests beyond ``keep``, delivered or not.

        Used once the harness has recorded a cancellation that leaked out of the
        implementation, so the harness's own cancel scopes work again afterwards. Nothing to
        drop by default: only asyncio counts requests.
        """
        del keep


class Backend(ABC):
    """One way of running implementations: trio, asyncio on virtual time, threads."""

    name: ClassVar[str]
    #: Rules this backend cannot judge, with the reason shown in the report.
    waived: ClassVar[Mapping[str, str]] = {}
    #: Patterns this backend cannot drive, with the reason shown in the report.
    unsupported: ClassVar[Mapping[Pattern, str]] = {}
    #: A cap on examples per search (a real-clock backend is slow), or None.
    max_examples: ClassVar[int | None] = None
    #: One line for the report about how the verdicts were obtained (tolerances), or "".
    note: ClassVar[str] = ""

    @abstractmethod
    def run(
        self, main: Callable[[Runtime], Awaitable[None]], budgets: Budgets, seed: int
    ) -> str | None:
        """Run ``main`` to its end; return why the run was aborted, or None if it was not.

        ``seed`` drives the scheduler where the backend can seed it, so an example replays.
        """
