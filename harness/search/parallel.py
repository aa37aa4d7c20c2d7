"""``poolcheck check``'s own searches: one child process per pattern, watched and collected.

Each pattern's model is searched once, in a child process forked for it, and the child sends
its :class:`~harness.conformance.PatternRun` back through a pipe; the parent alone decides the
verdicts, so a result never depends on which process wrote it last. Up to ``jobs`` children
run at once.

Each child is :class:`~harness.watchdog.Watched`: the search ticks at every example and shrink
step, and a child that makes no progress for :data:`~harness.watchdog.STALL_SECONDS` is
killed: the implementation did not yield (a busy loop, a blocking call on the event loop's
thread), which is a NO-HANG verdict for that pattern, the report is still written, and the
pattern's other rules are ``unknown`` with the reason. A pattern is searched again after each
search that finds a new rule failing (:func:`~harness.search.engine.search_model`); the child
sends the run so far after each of those, so a child stopped or lost later still reports the
failures found before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Final

from harness.conformance import PatternRun, run_pattern
from harness.contract import Implementation
from harness.rules import Pattern
from harness.search.engine import Profile
from harness.watchdog import STALL_SECONDS, Messenger, Watched

__all__ = ["STALL_SECONDS", "run_patterns"]

#: How often the parent looks at its children.
_POLL_SECONDS: Final = 0.05
#: A child that sent nothing and exited: the search itself crashed (a poolcheck bug, or the
#: implementation ended the process).
_NO_RESULT: Final = "the search process ended without a result (exit code {code})"
_KILLED: Final = (
    "the search process was killed by signal {signal} (out of memory, or stopped from outside)"
)


def run_patterns(
    implementation: Implementation,
    patterns: list[Pattern],
    profile: Profile,
    jobs: int,
    *,
    stall_seconds: float = STALL_SECONDS,
    on_done: Callable[[PatternRun], None] | None = None,
    ignore: frozenset[str] = frozenset(),
) -> list[PatternRun]:
    """Search each pattern in a child process, ``jobs`` at a time; the runs in input order.

    Rules in ``ignore`` are set aside (see :func:`~harness.conformance.run_pattern`).
    """
    waiting = list(patterns)
    running: list[_Child] = []
    done: dict[Pattern, PatternRun] = {}
    try:
        while waiting or running:
            while waiting and len(running) < max(1, jobs):
                running.append(_Child(implementation, waiting.pop(0), profile, ignore))
            time.sleep(_POLL_SECONDS)
            for child in list(running):
                run = child.poll(stall_seconds)
                if run is not None:
                    running.remove(child)
                    done[child.pattern] = run
                    if on_done is not None:
                        on_done(run)
    finally:
        for child in running:
            child.kill()
    return [done[pattern] for pattern in patterns]


class _Child:
    """One pattern's search in a watched child process."""

    def __init__(
        self,
        implementation: Implementation,
        pattern: Pattern,
        profile: Profile,
        ignore: frozenset[str],
    ) -> None:
        self.pattern = pattern
        self.ignore = ignore
        #: The run as of the child's last finished search, until its final run arrives.
        self.partial: PatternRun | None = None
        self.watched = Watched(
            lambda messenger: _search(implementation, pattern, profile, messenger, ignore),
            name=f"poolcheck-search-{pattern}",
        )
        self.started = time.monotonic()

    def poll(self, stall_seconds: float) -> PatternRun | None:
        """The run once it is over (finished, crashed or stopped), else None."""
        state, messages = self.watched.poll(stall_seconds)
        for final, fields in messages:
            if final:
                self.watched.kill()
                return PatternRun(**fields)
            self.partial = PatternRun(**fields)
        if state == "exited":
            return self._lost()
        if state == "stalled":
            return self._stalled(stall_seconds, time.monotonic())
        return None

    def kill(self) -> None:
        """Stop the child now, however stuck it is."""
        self.watched.kill()

    def _lost(self) -> PatternRun:
        code = self.watched.exitcode
        run = PatternRun(
            pattern=str(self.pattern),
            applicable=True,
            seconds=time.monotonic() - self.started,
            ignored=sorted(self.ignore),
        )
        if code is not None and code < 0:
            # Killed from outside (the kernel's out-of-memory killer, most often, when the
            # implementation allocates without bound): not poolcheck's bug, and not a verdict.
            run.stopped = _KILLED.format(signal=-code)
        else:
            run.error = _NO_RESULT.format(code=code)
        return self._after_partial(run)

    def _after_partial(self, run: PatternRun) -> PatternRun:
        """``run`` with the failures the child's finished searches had found before it ended."""
        if self.partial is None:
            return run
        return replace(
            run,
            exercised=sorted(set(run.exercised) | set(self.partial.exercised)),
            lacking=sorted(set(run.lacking) | set(self.partial.lacking)),
            # A failure found by a finished search has its minimal steps and replay blob.
            failures={**run.failures, **self.partial.failures},
            searches=self.partial.searches + 1,
        )

    def _stalled(self, stall_seconds: float, now: float) -> PatternRun:
        message = (
            f"the implementation did not yield for {stall_seconds:g} s of wall-clock time "
            "(a busy loop, or a blocking call on the event loop's thread); the search was "
            f"stopped after {self.watched.ticks} example(s)"
        )
        return self._after_partial(
            PatternRun(
                pattern=str(self.pattern),
                applicable=True,
                examples=self.watched.ticks,
                seconds=now - self.started,
                ignored=sorted(self.ignore),
                failures={
                    "NO-HANG": {
                        "rule": "NO-HANG",
                        "message": message,
                        "steps": [],
                        "evidence": [],
                        "trace": [],
                        "blob": None,
                        "replay": None,
                    }
                },
                stopped=message,
            )
        )


def _search(
    implementation: Implementation,
    pattern: Pattern,
    profile: Profile,
    messenger: Messenger,
    ignore: frozenset[str],
) -> None:
    """The child's work: search, and send ``(final, run fields)`` home.

    The run so far is sent after each search that found a new failure (``final`` false), then
    the whole run once.
    """
    try:
        run = run_pattern(
            implementation,
            pattern,
            profile,
            messenger.tick,
            ignore=ignore,
            on_search=lambda partial: messenger.send((False, asdict(partial))),
        )
    except BaseException as exc:  # the parent must hear of every ending, whatever it was
        run = PatternRun(
            pattern=str(pattern),
            applicable=True,
            error=f"{type(exc).__name__}: {exc}"[:500],
            ignored=sorted(ignore),
        )
    messenger.send((True, asdict(run)))
