"""Work that must not hang poolcheck: run it in a forked child, watch its progress, kill it.

Why processes, not threads or signals: Python cannot interrupt a thread, and a signal-based
deadline only runs when the interpreter gets control back, which code in a busy loop inside a
C call, or one that swallows the exception, never gives. A process can always be killed. The
child bumps a shared counter whenever it makes progress (an example searched, a thousand
events recorded); the parent kills a child whose counter stands still for ``stall_seconds``
of wall-clock time and reports that as the implementation's NO-HANG.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import time
from collections.abc import Callable
from typing import Any, Final, Literal

__all__ = ["STALL_SECONDS", "Messenger", "Watched"]

#: Wall-clock seconds a child may go without progress before it is stopped.
STALL_SECONDS: Final = 25.0

State = Literal["running", "exited", "stalled"]


class Messenger:
    """What the child's work gets: a progress tick and a way to send results home."""

    def __init__(self, send: multiprocessing.connection.Connection, progress: Any) -> None:
        self._send = send
        self._progress = progress

    def tick(self) -> None:
        """The work moved on: the watchdog's heartbeat."""
        self._progress.value += 1

    def send(self, message: Any) -> None:
        """Send one picklable message to the parent."""
        self._send.send(message)


class Watched:
    """``work(messenger)`` running in a forked child process, watched by the parent."""

    def __init__(self, work: Callable[[Messenger], None], name: str) -> None:
        context = multiprocessing.get_context("fork")
        self.receive, send = context.Pipe(duplex=False)
        self.progress = context.Value("q", 0, lock=False)
        self.process = context.Process(
            target=_child, args=(work, send, self.progress), name=name, daemon=True
        )
        self.process.start()
        send.close()
        self.seen = -1
        self.started = self.last_progress = time.monotonic()

    @property
    def ticks(self) -> int:
        """How many times the child has reported progress."""
        return max(0, int(self.progress.value))

    def poll(self, stall_seconds: float = STALL_SECONDS) -> tuple[State, list[Any]]:
        """The messages that arrived, and whether the child runs, has exited, or stalled.

        A stalled child is killed before this returns.
        """
        messages: list[Any] = []
        while self.receive.poll():
            try:
                messages.append(self.receive.recv())
            except EOFError:
                break
        if not self.process.is_alive():
            self.process.join(timeout=5)
            return "exited", messages
        now = time.monotonic()
        if self.progress.value != self.seen:
            self.seen = self.progress.value
            self.last_progress = now
        elif now - self.last_progress > stall_seconds:
            self.kill()
            return "stalled", messages
        return "running", messages

    def wait(
        self, stall_seconds: float = STALL_SECONDS, poll_seconds: float = 0.05
    ) -> tuple[State, list[Any]]:
        """Poll until the child exits or stalls; every message it sent, in order."""
        received: list[Any] = []
        while True:
            state, messages = self.poll(stall_seconds)
            received += messages
            if state != "running":
                return state, received
            time.sleep(poll_seconds)

    def kill(self) -> None:
        """Stop the child now, however stuck it is."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)

    @property
    def exitcode(self) -> int | None:
        """The child's exit code once it ended."""
        code: int | None = self.process.exitcode
        return code


def _child(
    work: Callable[[Messenger], None],
    send: multiprocessing.connection.Connection,
    progress: Any,
) -> None:
    code = 0
    try:
        work(Messenger(send, progress))
    except BaseException:  # the parent sees the exit code; the work reports its own errors
        code = 1
    finally:
        send.close()
        # A forked child must not run the parent's atexit handlers or flush its buffers twice.
        os._exit(code)
