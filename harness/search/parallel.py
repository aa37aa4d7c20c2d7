"""``poolcheck check``'s own searches: one child process per pattern, watched and collected.

Each pattern's model is searched once, in a child process forked for it, and the child sends
its :class:`~harness.conformance.PatternRun` back through a pipe; the parent alone decides the
verdicts, so a result never depends on which process wrote it last. Up to ``jobs`` children
run at once.

Why processes, not threads or signals: Python cannot interrupt a thread, and a signal-based
deadline only runs when the interpreter gets control back, which code in a busy loop inside a
C call, or one that swallows the exception, never gives. A process can always be killed. So
the parent watches each child's progress (a shared counter the search bumps at every example
and shrink step) and kills a child that makes none for :data:`STALL_SECONDS`: the
implementation did not yield (a busy loop, a blocking call on the event loop's thread), which
is a NO-HANG verdict for that pattern, the report is still written, and the pattern's other
rules are ``unknown`` with the reason. A pattern is searched again after each search that finds
a new rule failing (:func:`~harness.search.engine.search_model`); the child sends the run so far
after each of those, so a child stopped or lost later still reports the failures found before.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any, Final

from harness.conformance import PatternRun, run_pattern
from harness.contract import Implementation
from harness.rules import Pattern
from harness.search.engine import Profile

__all__ = ["STALL_SECONDS", "run_patterns"]

#: Wall-clock seconds a search may go without finishing an example before it is stopped.
STALL_SECONDS: Final = 25.0
#: How often the parent looks at its children.
_POLL_SECONDS: Final = 0.05
#: A child that sent nothing and exited: the search itself crashed (a poolcheck bug, or the
#: implementation ended the process).
_NO_RESULT: Final = "the search process ended without a result (exit code {code})"


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
    context = multiprocessing.get_context("fork")
    waiting = list(patterns)
    running: list[_Child] = []
    done: dict[Pattern, PatternRun] = {}
    try:
        while waiting or running:
            while waiting and len(running) < max(1, jobs):
                running.append(
                    _Child.start(context, implementation, waiting.pop(0), profile, ignore)
                )
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
    """One pattern's search in a forked process, with its progress counter and result pipe."""

    def __init__(
        self,
        pattern: Pattern,
        process: Any,
        receive: multiprocessing.connection.Connection,
        progress: Any,
        ignore: frozenset[str],
    ) -> None:
        self.pattern = pattern
        self.process = process
        self.receive = receive
        self.progress = progress
        self.ignore = ignore
        #: The run as of the child's last finished search, until its final run arrives.
        self.partial: PatternRun | None = None
        self.seen = -1
        self.last_progress = time.monotonic()
        self.started = time.monotonic()

    @classmethod
    def start(
        cls,
        context: Any,
        implementation: Implementation,
        pattern: Pattern,
        profile: Profile,
        ignore: frozenset[str],
    ) -> _Child:
        receive, send = context.Pipe(duplex=False)
        progress = context.Value("q", 0, lock=False)
        process = context.Process(
            target=_search,
            args=(implementation, pattern, profile, send, progress, ignore),
            name=f"poolcheck-search-{pattern}",
            daemon=True,
        )
        process.start()
        send.close()
        return cls(pattern, process, receive, progress, ignore)

    def poll(self, stall_seconds: float) -> PatternRun | None:
        """The run once it is over (finished, crashed or stopped), else None."""
        while self.receive.poll():
            try:
                final, fields = self.receive.recv()
            except EOFError:
                return self._lost()
            if not final:
                self.partial = PatternRun(**fields)
                continue
            self.process.join(timeout=5)
            return PatternRun(**fields)
        if not self.process.is_alive():
            return self._lost()
        now = time.monotonic()
        if self.progress.value != self.seen:
            self.seen = self.progress.value
            self.last_progress = now
        elif now - self.last_progress > stall_seconds:
            self.kill()
            return self._stalled(stall_seconds, now)
        return None

    def kill(self) -> None:
        """Stop the child now, however stuck it is."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)

    def _lost(self) -> PatternRun:
        self.process.join(timeout=5)
        return self._after_partial(
            PatternRun(
                pattern=str(self.pattern),
                applicable=True,
                seconds=time.monotonic() - self.started,
                error=_NO_RESULT.format(code=self.process.exitcode),
                ignored=sorted(self.ignore),
            )
        )

    def _after_partial(self, run: PatternRun) -> PatternRun:
        """``run`` with the failures the child's finished searches had found before it ended."""
        if self.partial is None:
            return run
        return replace(
            run,
            exercised=sorted(set(run.exercised) | set(self.partial.exercised)),
            # A failure found by a finished search has its minimal steps and replay blob.
            failures={**run.failures, **self.partial.failures},
            searches=self.partial.searches + 1,
        )

    def _stalled(self, stall_seconds: float, now: float) -> PatternRun:
        message = (
            f"the implementation did not yield for {stall_seconds:g} s of wall-clock time "
            "(a busy loop, or a blocking call on the event loop's thread); the search was "
            f"stopped after {self.seen + 1} example(s)"
        )
        return self._after_partial(
            PatternRun(
                pattern=str(self.pattern),
                applicable=True,
                examples=max(0, self.seen),
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
    send: multiprocessing.connection.Connection,
    progress: Any,
    ignore: frozenset[str],
) -> None:
    """The child's body: search, send the run, exit without running the parent's cleanups.

    Each message is ``(final, fields)``: the run so far after a search that found a new
    failure (``final`` false), then the whole run once.
    """

    def tick() -> None:
        progress.value += 1

    def partial(run: PatternRun) -> None:
        send.send((False, asdict(run)))

    code = 0
    try:
        run = run_pattern(implementation, pattern, profile, tick, ignore=ignore, on_search=partial)
        send.send((True, asdict(run)))
    except BaseException as exc:  # the parent must hear of every ending, whatever it was
        code = 1
        send.send(
            (
                True,
                asdict(
                    PatternRun(
                        pattern=str(pattern),
                        applicable=True,
                        error=f"{type(exc).__name__}: {exc}"[:500],
                        ignored=sorted(ignore),
                    )
                ),
            )
        )
    finally:
        send.close()
        # A forked child must not run the parent's atexit handlers or flush its buffers twice.
        os._exit(code)
