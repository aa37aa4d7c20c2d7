"""The retry model: draws a retrier's schedule, then scripted calls, some of them cancelled.

Each example draws a schedule (``max_attempts``, ``base``, ``factor``, ``cap``, ``jitter``,
``seed``) for its one retrier: a short one, or one at a boundary (``max_attempts`` 0, thousands of
attempts, zero delays; see :data:`_SHAPES`). A ``call`` operation draws a script, one step per
attempt (how long the attempt sleeps in virtual time, then whether it succeeds, fails with a
retryable error or fails with a non-retryable one); ``call_cancelled`` also draws how the caller
cancels the call (natively for the backend: before it starts, or at a drawn instant, once,
twice at once, or again while the retrier handles the first). :mod:`harness.drivers.retry`
makes the calls and records the events.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Final

from hypothesis import strategies as st

from harness.contract import Implementation
from harness.drivers.host import CANCEL_HOWS
from harness.drivers.retry import RetryDriver
from harness.rules import Pattern
from harness.search.model import Model, Session

#: Attempt durations: a coarse grid, so attempts and backoffs rarely end together.
_DURATIONS = (0.0, 0.1, 0.2, 0.5)
#: Offsets (from the call's start) at which a caller may cancel: off the duration grid.
_CANCEL_AT = (0.013, 0.137, 0.31, 0.77, 1.29, 2.43)
#: How a caller cancels (``CANCEL_HOWS``); ``once``, during an attempt or a backoff, the most
#: often.
_HOWS = ("once", "once", *CANCEL_HOWS)
_STEP = st.tuples(
    st.sampled_from(_DURATIONS),
    st.sampled_from(["retry", "retry", "retry", "ok", "fatal"]),
)

# -- boundary values (docs/patterns/retry.md, "Boundary values") ------------------------------
#: The shape of an example's schedule: mostly short; sometimes max_attempts=0 (which must be
#: refused) or thousands of attempts (a long schedule: free on virtual time, but each attempt
#: still costs the search about 50 us). Ordinary first, so a failing example shrinks to it.
_SHAPES: Final = ("short",) * 16 + ("zero", "zero", "long")
#: A short schedule's attempts, bases and caps; 0 (no delay at all) is the last of each, and a
#: cap below the base is common.
_SHORT_ATTEMPTS: Final = (1, 2, 3, 4)
_BASES: Final = (0.05, 0.1, 0.25, 0.5, 0.0)
_CAPS: Final = (0.1, 0.3, 0.6, 2.0, 0.0)
#: A long schedule's attempts: past the overflow of ``3.0**(n-1)`` (n = 647) and of
#: ``2.0**(n-1)`` (n = 1025), and (more rarely) far past both.
_LONG_ATTEMPTS: Final = (700, 1100, 700, 1100, 5000)
#: A long schedule's bases and caps keep thousands of delays inside the call deadline: no
#: delay, the smallest float (its ``factor**(n-1)`` overflows while the delay does not), 1e-4 s.
_LONG_BASES: Final = (0.0, 5e-324, 1e-4)
_LONG_CAPS: Final = (0.0, 0.001, 0.005)
#: Scripts up to this length are drawn step by step. A longer one (a long schedule's) is a
#: drawn first step, a run of :data:`_LONG_STEP`, then the drawn last attempt and overrun step,
#: for an example's first call; a later call of the example ends (ok or fatal) within its
#: first few attempts, so one long call per example is what a long schedule costs.
_DRAWN_SCRIPT: Final = 8
#: The middle of a long script: quick retryable failures, each moving virtual time on (so no
#: instant piles up thousands of steps) and keeping the call going to its last attempt.
_LONG_STEP: Final = (0.001, "retry")


class _Script(list[tuple[float, str]]):
    """A script whose ``repr`` stays one short line however long: runs are counted."""

    def __repr__(self) -> str:
        parts: list[str] = []
        for step, run in itertools.groupby(self):
            count = len(list(run))
            parts += [f"{count} x {step!r}"] if count > 2 else [repr(step)] * count
        return f"[{', '.join(parts)}]"


#: How a later call of a long schedule ends: within its first attempts, never by retrying.
_ENDING = st.tuples(st.sampled_from(_DURATIONS), st.sampled_from(["ok", "fatal"]))


def draw_script(session: Session, length: int, *, first: bool) -> list[tuple[float, str]]:
    """A call's script of ``length`` steps (one per attempt, one for an overrun); see above."""
    if length <= _DRAWN_SCRIPT:
        return session.draw(st.lists(_STEP, min_size=length, max_size=length), label="script")
    if not first:
        head = session.draw(st.lists(_STEP, max_size=2), label="script head")
        end = session.draw(_ENDING, label="script end")
        return _Script([*head, end, *[_LONG_STEP] * (length - len(head) - 1)])
    start = session.draw(_STEP, label="first step")
    last = session.draw(st.tuples(_STEP, _STEP), label="last steps")
    return _Script([start, *[_LONG_STEP] * (length - 3), *last])


class RetryModel(Model):
    """Drives ``retrier``: scripted calls, some cancelled during an attempt or a backoff."""

    pattern: ClassVar[Pattern] = Pattern.RETRY
    max_steps: ClassVar[int] = 8
    overlapping: ClassVar[frozenset[str]] = frozenset({"call", "call_cancelled"})
    driver: RetryDriver

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.calls = itertools.count()

    @classmethod
    def draw_params(cls, data: st.DataObject, implementation: Implementation) -> dict[str, Any]:
        """Draw a schedule: mostly short with its cap often reached; sometimes at a boundary.

        The boundaries (``docs/patterns/retry.md``): ``max_attempts`` 0, a long schedule of
        thousands of attempts, ``base`` or ``cap`` 0, a cap below the base. Values outside the
        implementation's declared ``supports`` ranges are never drawn.
        """
        supported = implementation.supported
        long_attempts = [n for n in _LONG_ATTEMPTS if supported("max_attempts", n)]
        # Its own schedule need not honour the cap: thousands of its delays must all be 0.
        own = implementation.has("own_schedule")
        long_bases = tuple(b for b in _LONG_BASES if supported("base", b) and not (own and b))
        long_caps = tuple(c for c in _LONG_CAPS if supported("cap", c))
        drawable = {
            "short": True,
            "zero": supported("max_attempts", 0),
            "long": bool(long_attempts and long_bases and long_caps),
        }
        shape = data.draw(
            st.sampled_from([shape for shape in _SHAPES if drawable[shape]]), label="schedule"
        )
        bases = tuple(b for b in _BASES if supported("base", b))
        caps = tuple(c for c in _CAPS if supported("cap", c))
        if shape == "long":
            max_attempts = data.draw(st.sampled_from(long_attempts), label="max_attempts")
            bases, caps = long_bases, long_caps
        elif shape == "zero":
            max_attempts = 0
        else:
            max_attempts = data.draw(st.sampled_from(_SHORT_ATTEMPTS), label="max_attempts")
        params: dict[str, Any] = {
            "pattern": "retry",
            "factory": "retrier",
            "max_attempts": max_attempts,
            "base": data.draw(st.sampled_from(bases), label="base"),
            "factor": data.draw(st.sampled_from([1.0, 2.0, 3.0]), label="factor"),
            "cap": data.draw(st.sampled_from(caps), label="cap"),
            "jitter": data.draw(st.sampled_from(["none", "full", "equal"]), label="jitter"),
            "seed": data.draw(st.integers(0, 2**16), label="seed"),
        }
        if implementation.has("own_schedule"):
            params["own_schedule"] = True
        return params

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """List the operations: calls (plain and cancelled) and the passing of time."""
        return {"call": self.call, "call_cancelled": self.call_cancelled, "advance": self.advance}

    async def call(self) -> None:
        """Make a call that runs to its end."""
        await self._call(cancel=False)

    async def call_cancelled(self) -> None:
        """Make a call whose caller cancels it at a drawn instant."""
        await self._call(cancel=True)

    async def _call(self, *, cancel: bool) -> None:
        session = self.session
        number = next(self.calls)
        # One step more than allowed: a retrier that overruns still has a script to follow.
        length = self.driver.max_attempts + 1
        script = draw_script(session, length, first=number == 0)
        how = session.draw(st.sampled_from(_HOWS), label="how") if cancel else "once"
        cancel_at = None
        if cancel and how != "entry":
            cancel_at = session.draw(st.sampled_from(_CANCEL_AT), label="cancel_at")
        shown = {"entry": " cancelled at its entry", "once": ""}.get(how, f" ({how})")
        if cancel_at is not None:
            shown = f" cancel_at={cancel_at}{shown}"
        session.step(f"call #{number} script={script}{shown}")
        await self.driver.call(number, script, cancel_at, how)
