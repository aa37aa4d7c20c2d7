"""The clock bridge: during a run on virtual time, the ``time`` module reads the run's clock.

A library that keeps its own timestamps with ``time.monotonic()``, ``time.perf_counter()`` or
``time.time()`` instead of its event loop's clock would see time stand still while the run's
virtual clock jumps, and fail rate rules it keeps on a real machine. While a run is bridged:

* ``time.monotonic()`` and ``time.perf_counter()`` return :data:`MONOTONIC_BASE` plus the run's
  virtual time in seconds, read afresh at every call (continuous, never frozen);
  ``time.time()`` returns :data:`WALL_EPOCH` plus the same; the ``_ns`` forms agree;
* on the sync backend, ``time.sleep`` called on the run's thread advances the virtual clock
  at once and exactly (the backend supplies how, :mod:`harness.backends.sync_run`).

The functions are replaced in the ``time`` module and wherever a module captured them
(``from time import monotonic``), found by identity in the loaded modules' globals. The
replacements look at their caller: code of the harness itself (its guards, the watchdog,
stall detection), of trio, anyio, asyncio, looptime, Hypothesis, pytest and the standard
library's threading, queue, selectors, socket, logging and process modules keeps reading the
real clock, so every real-time guard stays real and no event loop's own clock is touched. The
bundled adapters (``harness.adapters``) are the implementation's side: they are bridged. The
readings of bridged callers are counted (:meth:`ClockBridge.readings`), so a failing rate
verdict can say that the implementation's clock never moved.

Everything is restored exactly when the run ends, aborted or not: the ``time`` module's
attributes get back the objects they held, and every module global that was replaced (or that
captured a replacement while the run went on) gets back the real function. A replacement
captured somewhere else (a default argument, a closure) still works after the run: outside a
bridged run it calls the real function.

What cannot be bridged, and reads the real clock: a C extension that reads the clock itself;
a reference captured before the run where the bridge cannot see it (a default argument
``def f(clock=time.monotonic)``, a closure, a ``functools.partial``, an object's attribute);
``datetime.now()``, ``time.localtime()`` and the other calendar functions;
``time.clock_gettime()``, ``time.thread_time()`` and ``time.process_time()``; and, on the sync
backend, a thread of the implementation's own (only the run's thread has virtual sleeps).

Why not a maintained library: both were tried (``pip install`` into a scratch environment).
time-machine (3.6) patches at the C level, so captured references are covered, but it mocks
neither ``monotonic`` nor ``perf_counter`` any more (3.0 dropped monotonic), has no way to spare
the harness's own guards, and moves only to destinations it is given. freezegun (1.5) mocks
both and finds captured references, but keeps time as a ``datetime``: one microsecond of
resolution, so ``tick(1/3)`` moves ``monotonic()`` by 0.33333301544189453, not 1/3, and a move
of a nanosecond is lost, while the checkers' tolerance is 1e-7 s; it follows no clock of ours
(it moves when told), and each start scans every module (about 7 ms in a small process) where
this bridge scans only modules it has not seen, and walks ``sys.modules`` only when it changed
since the last run. The patcher here is small: six functions, one module scan cached between
runs, one frame look-up per call.

Float resolution, stated honestly: :data:`MONOTONIC_BASE` is small enough that the guards'
one-tick nudge (1e-12 s) still moves ``monotonic()``; ``time.time()`` near :data:`WALL_EPOCH`
has the resolution of a real one (about 2.4e-7 s), coarser than the checkers' 1e-7 s tolerance
on "admitted late": a limiter that keeps ``time.time()`` timestamps can be that much late.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, Final

__all__ = [
    "MONOTONIC_BASE",
    "WALL_EPOCH",
    "ClockBridge",
    "active",
    "bridged",
    "reads_real_time",
]

#: What ``time.monotonic()`` and ``time.perf_counter()`` return when the run's virtual time is
#: 0: a machine up for 17 minutes, so a library that starts its timestamps at 0.0 ("long ago")
#: behaves as on a real machine. A power of two small enough that the float grid there
#: (2.3e-13 s) is finer than the guards' nudge of one tick (1e-12 s).
MONOTONIC_BASE: Final = 1024.0
#: What ``time.time()`` returns when the run's virtual time is 0: 2023-11-14 22:13:20 UTC.
WALL_EPOCH: Final = 1_700_000_000.0
_NS: Final = 1_000_000_000
_MONOTONIC_BASE_NS: Final = int(MONOTONIC_BASE) * _NS
_WALL_EPOCH_NS: Final = int(WALL_EPOCH) * _NS

#: The clock functions the bridge replaces (``sleep`` is replaced only when a backend says how).
_NAMES: Final = (
    "monotonic",
    "monotonic_ns",
    "perf_counter",
    "perf_counter_ns",
    "time",
    "time_ns",
    "sleep",
)
#: The real functions, as this module found them at import.
_REAL: Final[dict[str, Callable[..., Any]]] = {name: getattr(time, name) for name in _NAMES}
_REAL_IDS: Final[dict[int, str]] = {id(fn): name for name, fn in _REAL.items()}
_real_monotonic = _REAL["monotonic"]
_real_monotonic_ns = _REAL["monotonic_ns"]
_real_perf_counter = _REAL["perf_counter"]
_real_perf_counter_ns = _REAL["perf_counter_ns"]
_real_time = _REAL["time"]
_real_time_ns = _REAL["time_ns"]
_real_sleep = _REAL["sleep"]

#: Top-level packages whose code keeps the real clock: the harness (its guards, watchdog and
#: stall detection), the event loops and their clocks, the test machinery, the standard
#: library's real waits (a ``Condition.wait(timeout)`` blocks for real, so it counts for real),
#: and logging (a record's timestamp is nobody's timekeeping: not counted as a reading).
_REAL_TIME_PACKAGES: Final = frozenset(
    {
        "harness",
        "trio",
        "anyio",
        "asyncio",
        "looptime",
        "sniffio",
        "outcome",
        "hypothesis",
        "_hypothesis_pytestplugin",
        "_pytest",
        "pytest",
        "pluggy",
        "xdist",
        "execnet",
        "pytest_timeout",
        "coverage",
        "threading",
        "_threading_local",
        "queue",
        "selectors",
        "socket",
        "ssl",
        "subprocess",
        "multiprocessing",
        "concurrent",
        "logging",
        "time",
    }
)
#: Inside the harness, the bundled adapters are the implementation's side: bridged.
_BRIDGED_HARNESS: Final = "harness.adapters"
_REAL_TIME_CACHE: dict[str, bool] = {}


def reads_real_time(module_name: str) -> bool:
    """Whether code of module ``module_name`` reads the real clock during a bridged run."""
    known = _REAL_TIME_CACHE.get(module_name)
    if known is None:
        top = module_name.partition(".")[0]
        adapters = module_name == _BRIDGED_HARNESS or module_name.startswith(_BRIDGED_HARNESS + ".")
        known = _REAL_TIME_CACHE[module_name] = top in _REAL_TIME_PACKAGES and not adapters
    return known


class ClockBridge:
    """One run's bridge: where virtual time comes from, how a sleep passes it, what was read.

    ``source`` returns the run's virtual time in seconds (from 0 at the start of the run), from
    any thread, without raising. ``sleep``, when given, replaces ``time.sleep`` on the thread
    ``thread`` (the run's): it must let that many virtual seconds pass.
    """

    def __init__(
        self,
        source: Callable[[], float],
        sleep: Callable[[float], None] | None = None,
        thread: int | None = None,
    ) -> None:
        self.source = source
        self.sleeper = sleep
        self.thread = thread
        #: Whether the ``time`` functions are replaced now (False once switched off).
        self.on = False
        #: Whether the run was bridged at its end (a declaration may switch it off).
        self.bridged = True
        self.reads = 0
        self.low = float("inf")
        self.high = float("-inf")
        self._saved: dict[str, Any] = {}
        self._patched: list[tuple[ModuleType, str, Callable[..., Any]]] = []
        #: ``sys.modules`` as :meth:`start` found it: what :meth:`stop` tells new modules by.
        self._modules_before: dict[str, ModuleType] = {}
        self._previous: ClockBridge | None = None

    # -- what the replacements call ---------------------------------------------------------
    def read(self) -> float:
        """The run's virtual time, counted as a reading of the implementation's."""
        now = self.source()
        self.reads += 1
        if now < self.low:
            self.low = now
        if now > self.high:
            self.high = now
        return now

    def readings(self) -> dict[str, Any]:
        """What the implementation read: the ``clock`` event's data.

        ``bridged`` (False: the declaration switched the bridge off, nothing was counted),
        ``reads`` (how many bridged readings), ``span`` (how far they moved, in seconds),
        ``last`` (the virtual time of the last one, or None) and ``loop_clock`` (whether the
        implementation has an event loop whose clock it may read instead: False on sync).
        """
        loop_clock = self.sleeper is None
        if not self.bridged or not self.reads:
            data: dict[str, Any] = {"bridged": self.bridged, "reads": 0, "span": 0.0}
            return {**data, "last": None, "loop_clock": loop_clock}
        span = self.high - self.low
        data = {"bridged": True, "reads": self.reads, "span": span, "last": self.high}
        return {**data, "loop_clock": loop_clock}

    # -- patching ----------------------------------------------------------------------------
    def start(self) -> None:
        """Replace the clock functions for this run (until :meth:`stop`)."""
        global _ACTIVE
        if self.on:
            return
        self._previous = _ACTIVE
        _ACTIVE = self
        self.on = True
        names = _NAMES if self.sleeper is not None else _NAMES[:-1]
        self._saved = {name: getattr(time, name) for name in names}
        for name in names:
            setattr(time, name, _FAKES[name])
        wanted = set(names)
        self._patched = []
        captured, self._modules_before = _captured_references()
        for module, attr, real in captured:
            if _REAL_IDS[id(real)] in wanted and vars(module).get(attr) is real:
                setattr(module, attr, _FAKES[_REAL_IDS[id(real)]])
                self._patched.append((module, attr, real))

    def stop(self) -> None:
        """Put back exactly what :meth:`start` replaced (idempotent)."""
        global _ACTIVE
        if not self.on:
            return
        self.on = False
        for name, original in self._saved.items():
            setattr(time, name, original)
        for module, attr, real in self._patched:
            if id(vars(module).get(attr)) in _FAKE_IDS:
                setattr(module, attr, real)
        # A module imported during the run may have captured a replacement: give it the real one.
        before = self._modules_before
        imported = [] if _unchanged(before) else [n for n in list(sys.modules) if n not in before]
        for name in imported:
            new = sys.modules.get(name)
            if not isinstance(new, ModuleType):
                continue
            with contextlib.suppress(Exception):
                for attr, value in list(vars(new).items()):
                    fake_name = _FAKE_IDS.get(id(value))
                    if fake_name is not None:
                        setattr(new, attr, _REAL[fake_name])
        self._modules_before = {}
        self._patched = []
        _ACTIVE = self._previous
        self._previous = None

    def switch_off(self) -> None:
        """The declaration does not want the bridge: restore now, count nothing."""
        self.stop()
        self.bridged = False


_ACTIVE: ClockBridge | None = None


def active() -> ClockBridge | None:
    """The bridge of the run going on, or None."""
    return _ACTIVE


@contextlib.contextmanager
def bridged(
    source: Callable[[], float],
    sleep: Callable[[float], None] | None = None,
    thread: int | None = None,
) -> Iterator[ClockBridge]:
    """A :class:`ClockBridge` started for the block and stopped however it is left."""
    bridge = ClockBridge(source, sleep, thread)
    bridge.start()
    try:
        yield bridge
    finally:
        bridge.stop()


# -- finding captured references ------------------------------------------------------------
#: Per module name: the module object scanned, and its globals that held a real clock function.
_SCANNED: dict[str, tuple[ModuleType, tuple[str, ...]]] = {}
#: ``sys.modules`` as the last walk of it saw it (a copy), and the modules of that walk whose
#: globals held a real clock function, with those globals' names.
_WALKED: dict[str, ModuleType] = {}
_HOLDERS: list[tuple[ModuleType, tuple[str, ...]]] = []


def _captured_references() -> tuple[
    list[tuple[ModuleType, str, Callable[..., Any]]], dict[str, ModuleType]
]:
    """Every ``(module, global name, real function)`` of a bridged module, and ``sys.modules``.

    A module is scanned once, the first time a run sees it; the result is cached by name (and
    scanned again if the name now holds another module object, a reload). ``sys.modules`` is
    walked again only when it changed since the last walk (a module imported, removed or
    replaced): most runs import nothing, and the walk would cost them more than the rest of
    the bridge. The second value is the copy of ``sys.modules`` taken then (do not change it).
    """
    global _WALKED, _HOLDERS
    if not _unchanged(_WALKED):
        walked = dict(sys.modules)
        holders: list[tuple[ModuleType, tuple[str, ...]]] = []
        for name, module in walked.items():
            known = _SCANNED.get(name)
            if known is None or known[0] is not module:
                known = _SCANNED[name] = (module, _scan(name, module))
            if known[1]:
                holders.append(known)
        _WALKED, _HOLDERS = walked, holders
    found = []
    for module, attrs in _HOLDERS:
        for attr in attrs:
            real = vars(module).get(attr)
            if real is not None and id(real) in _REAL_IDS:
                found.append((module, attr, real))
    return found, _WALKED


def _unchanged(walked: dict[str, ModuleType]) -> bool:
    """Whether ``sys.modules`` holds exactly ``walked``'s names, each the same object.

    One comparison in C: the dictionaries' equality compares values by identity first, and a
    module has no equality of its own. An exotic entry whose ``__eq__`` raises counts as a
    change (the walk then looks at everything again).
    """
    try:
        return sys.modules == walked
    except Exception:
        return False


def _scan(name: str, module: object) -> tuple[str, ...]:
    if not isinstance(module, ModuleType) or reads_real_time(name):
        return ()
    try:
        items = list(vars(module).items())
    except Exception:  # an exotic module object: nothing we can patch
        return ()
    return tuple(
        attr
        for attr, value in items
        if id(value) in _REAL_IDS and value is _REAL[_REAL_IDS[id(value)]]
    )


# -- the replacements -------------------------------------------------------------------------
def _caller_bridge() -> ClockBridge | None:
    """The active bridge if the code that called the replacement is bridged, else None."""
    bridge = _ACTIVE
    if bridge is None:
        return None
    # Frame 0 is this function, 1 the replacement, 2 whoever called the replacement.
    try:
        caller = sys._getframe(2).f_globals.get("__name__", "")
    except ValueError:  # called from C with no Python caller: nobody to spare
        return bridge
    if isinstance(caller, str) and reads_real_time(caller):
        return None
    return bridge


def monotonic() -> float:
    """``time.monotonic()`` on the run's virtual clock (the real one outside a run)."""
    bridge = _caller_bridge()
    if bridge is None:
        return float(_real_monotonic())
    return MONOTONIC_BASE + bridge.read()


def monotonic_ns() -> int:
    """``time.monotonic_ns()`` on the run's virtual clock."""
    bridge = _caller_bridge()
    if bridge is None:
        return int(_real_monotonic_ns())
    return _MONOTONIC_BASE_NS + round(bridge.read() * _NS)


def perf_counter() -> float:
    """``time.perf_counter()`` on the run's virtual clock (the same as ``monotonic``)."""
    bridge = _caller_bridge()
    if bridge is None:
        return float(_real_perf_counter())
    return MONOTONIC_BASE + bridge.read()


def perf_counter_ns() -> int:
    """``time.perf_counter_ns()`` on the run's virtual clock."""
    bridge = _caller_bridge()
    if bridge is None:
        return int(_real_perf_counter_ns())
    return _MONOTONIC_BASE_NS + round(bridge.read() * _NS)


def time_() -> float:
    """``time.time()``: :data:`WALL_EPOCH` plus the run's virtual time."""
    bridge = _caller_bridge()
    if bridge is None:
        return float(_real_time())
    return WALL_EPOCH + bridge.read()


def time_ns() -> int:
    """``time.time_ns()``: :data:`WALL_EPOCH` plus the run's virtual time, in nanoseconds."""
    bridge = _caller_bridge()
    if bridge is None:
        return int(_real_time_ns())
    return _WALL_EPOCH_NS + round(bridge.read() * _NS)


def sleep(seconds: float) -> None:
    """``time.sleep`` that passes virtual time on the run's thread (sync backend only)."""
    bridge = _caller_bridge()
    if bridge is None or bridge.sleeper is None or threading.get_ident() != bridge.thread:
        _real_sleep(seconds)
        return
    bridge.sleeper(seconds)


time_.__name__ = time_.__qualname__ = "time"
_FAKES: Final[dict[str, Callable[..., Any]]] = {
    "monotonic": monotonic,
    "monotonic_ns": monotonic_ns,
    "perf_counter": perf_counter,
    "perf_counter_ns": perf_counter_ns,
    "time": time_,
    "time_ns": time_ns,
    "sleep": sleep,
}
_FAKE_IDS: Final[dict[int, str]] = {id(fake): name for name, fake in _FAKES.items()}
