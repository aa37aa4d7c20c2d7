"""The plug-in contract: what an implementation under test declares and provides.

An implementation is named on the command line as ``module:callable``. Calling it returns a
declaration (an object with these attributes, or a mapping with these keys):

``name``
    a short label for reports.
``backend``
    ``"trio"`` (driven in ``trio.run`` on trio's virtual clock), ``"asyncio"`` (driven in an
    asyncio loop on looptime's virtual clock), ``"sync"`` (below) or ``"threads"`` (blocking
    methods, the handler called in the implementation's own threads; driven on the real clock
    through an async facade, worker pool only). See :mod:`harness.backends`. For ``threads``,
    each factory returns an object with the Protocol's methods as plain blocking functions:
    ``with pool:`` instead of ``async with``, a blocking ``submit``, and ``results`` a plain
    iterable.
    ``"sync"`` is for blocking retriers and rate limiters on virtual time: ``call(fn)`` calls a
    blocking ``fn`` and waits with ``time.sleep``, ``acquire()`` blocks, ``try_acquire()`` does
    not; ``time.sleep`` passes virtual time at once (see :mod:`harness.backends.sync_run`).
``capabilities``
    the optional features it has (see :data:`CAPABILITIES`); rules that need a missing one are
    reported not-applicable.
``factories``
    a mapping from factory name (see :data:`FACTORIES`) to a constructor. Each constructor
    takes the keyword arguments listed there and returns an object with the methods of the
    matching Protocol below. A pattern whose factories are all absent is not-applicable.
``closed_errors`` (optional)
    the exception types its queue/pool raise when used after close (default:
    :data:`DEFAULT_CLOSED_ERRORS`).
``would_block_errors`` (optional)
    the exception types its ``*_nowait`` methods raise when they would block (default:
    :data:`DEFAULT_WOULD_BLOCK_ERRORS`).
``end_errors`` (optional)
    the exception types that mean "no more items" from a queue's ``get`` or a stream's
    ``receive`` (default: :data:`DEFAULT_END_ERRORS`); an async iterator's end
    (``StopAsyncIteration``) always counts.
``deviations`` (optional)
    ``{rule ID: reason}``: the guide's semantics that the implementation departs from on
    purpose, as its documentation says (a sliding-window limiter is no token bucket, a retrier
    that stops at a time budget). Each such rule is reported not-applicable with the reason;
    it is never a pass. The guard rules (NO-HANG, NO-LEAK, NO-CRASH) cannot be waived.
``clock_bridge`` (optional)
    ``True`` by default: on the virtual-time backends (``trio``, ``asyncio``, ``sync``),
    ``time.monotonic()``, ``time.perf_counter()`` and ``time.time()`` (and their ``_ns``
    forms) read the run's virtual clock while it runs (:mod:`harness.backends.clock`).
    ``False`` leaves the ``time`` module alone (not allowed on ``sync``, whose sleeps are the
    clock).
``counters`` (optional)
    a function reading an object's metric counters as ``{name: int}`` (capability
    ``metrics``); the names are those of ``reference.instrumentation``: ``jobs_submitted``,
    ``jobs_completed``, ``jobs_failed``, ``jobs_timed_out``, ``jobs_cancelled``, ``drops``,
    ``retries``, ``rejections``, ``admissions``.
``supports`` (optional)
    ``{parameter: {"min": x, "max": y}}``: the range of a parameter the implementation can
    take, where the contract's domain is wider (see :data:`SUPPORTABLE`). A bound is a number
    or the name of another parameter of the same run (``{"weight": {"max": "burst"}}``). The
    models never draw a value outside it, and the report lists what was left out; the
    ordinary values every implementation takes (:data:`SUPPORTABLE`) cannot be left out.

The reference implementation declares itself the same way, in ``reference/plugin.py``.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import AsyncIterable, Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Protocol

import anyio
import trio

from harness.rules import Pattern

#: Factory name -> (pattern, keyword arguments it is called with).
FACTORIES: Final[dict[str, tuple[Pattern, tuple[str, ...]]]] = {
    "unbounded_queue": (Pattern.QUEUE, ()),
    "bounded_queue": (Pattern.QUEUE, ("capacity",)),
    "dropping_queue": (Pattern.QUEUE, ("capacity", "policy")),
    "worker_pool": (
        Pattern.POOL,
        ("handler", "workers", "jobs_buffer", "results_buffer", "job_timeout"),
    ),
    "first_error_group": (Pattern.GROUP, ()),
    "retrier": (
        Pattern.RETRY,
        ("max_attempts", "base", "factor", "cap", "jitter", "seed", "retryable"),
    ),
    "idempotent_sink": (Pattern.IDEMPOTENCY, ("effect",)),
    "reorderer": (Pattern.ORDERING, ("window",)),
    "token_bucket": (Pattern.RATE, ("rate", "burst")),
    "leaky_bucket": (Pattern.RATE, ("interval",)),
    "shedding_gate": (Pattern.RATE, ("rate", "burst")),
    "batcher": (Pattern.BATCH, ("max_size", "max_age")),
    "concurrency_limiter": (Pattern.CONCURRENCY, ("limit",)),
}

#: What each factory makes, for messages, and the methods every example calls on it. An object
#: without them is no such thing at all: the factory's fault, told as soon as it returns.
PRODUCTS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "unbounded_queue": ("a queue", ("get",)),
    "bounded_queue": ("a queue", ("get",)),
    "dropping_queue": ("a queue", ("get",)),
    "worker_pool": ("a pool", ("submit",)),
    "first_error_group": ("a group", ("start_soon",)),
    "retrier": ("a retrier", ("call",)),
    "idempotent_sink": ("a sink", ("apply",)),
    "reorderer": ("a reorderer", ("put", "get")),
    "token_bucket": ("a limiter", ("acquire",)),
    "leaky_bucket": ("a limiter", ("acquire",)),
    "shedding_gate": ("a gate", ("try_admit",)),
    "batcher": ("a batcher", ("put",)),
    # Either form will do (acquire/release or async with): the driver checks for one of them.
    "concurrency_limiter": ("a concurrency limiter", ()),
}


def not_a_product(factory_name: str, made: object) -> str | None:
    """Why ``made`` cannot be what factory ``factory_name`` promises, or None if it may be.

    Only a first check (None, or an object without the pattern's core methods); a missing
    method used later is found when it is called.
    """
    noun, core = PRODUCTS.get(factory_name, ("an object", ()))
    if made is None:
        return f"returned None, not {noun}"
    missing = [name for name in core if not callable(getattr(made, name, None))]
    if missing:
        return f"returned {made!r:.60}, not {noun} (no {', '.join(missing)})"
    return None


#: Optional features a declaration may list, and what each means.
CAPABILITIES: Final[dict[str, str]] = {
    "drop_policy": "dropping_queue supports policy='newest' and policy='oldest'",
    "job_timeout": "worker_pool honours job_timeout (seconds, or None)",
    "weighted_acquire": "token_bucket.acquire/try_acquire take a weight",
    "metrics": "the declaration's counters() reads the objects' counters",
    "fifo": "concurrency_limiter grants slots in the order its tasks began to wait",
    "fifo_waiters": (
        "bounded_queue/unbounded_queue serve blocked putters and getters in the order they began "
        "to wait; put_nowait/get_nowait never overtake them"
    ),
    "own_schedule": (
        "retrier keeps its own backoff schedule (it cannot take the guide's factor, cap or "
        "jitter): its delays are held to its bounds(), not to the guide's schedule"
    ),
    "strict_release": (
        "concurrency_limiter.release() by a task holding no slot creates no slot (it may raise)"
    ),
}

#: A bound of a supported range: a number, or the name of another parameter of the run.
Bound = float | str

#: The parameters whose boundary values the models draw, each with the ordinary range every
#: implementation must take (a declared ``supports`` range may leave out only what lies
#: outside it). The boundary values themselves, and what each means, are on the pattern's
#: page in ``docs/patterns/``: ``max_attempts`` 0 (refused) and thousands (a long schedule),
#: ``base`` and ``cap`` 0 (no delay), ``job_timeout`` 0 (a deadline at the job's start), a
#: ``weight`` above ``burst`` (refused).
SUPPORTABLE: Final[dict[str, tuple[Bound, Bound]]] = {
    "max_attempts": (1, 4),
    "base": (0.05, 0.5),
    "cap": (0.1, 2.0),
    "job_timeout": (0.75, 1.5),
    "weight": (1, "burst"),
}

#: The backends a declaration may name (see :mod:`harness.backends`).
BACKENDS: Final = frozenset({"trio", "asyncio", "threads", "sync"})

#: Raised by a queue or pool used after close, unless the declaration says otherwise.
DEFAULT_CLOSED_ERRORS: Final[tuple[type[BaseException], ...]] = (
    trio.ClosedResourceError,
    anyio.ClosedResourceError,
)
#: Raised by a result stream whose receive side was closed or broken under its reader.
STREAM_CLOSED_ERRORS: Final[tuple[type[BaseException], ...]] = (
    trio.ClosedResourceError,
    trio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
)
#: Raised by ``*_nowait`` when the call would block, unless the declaration says otherwise.
DEFAULT_WOULD_BLOCK_ERRORS: Final[tuple[type[BaseException], ...]] = (
    trio.WouldBlock,
    anyio.WouldBlock,
    asyncio.QueueFull,
    asyncio.QueueEmpty,
    queue.Full,
    queue.Empty,
)
#: Raised by ``get``/``receive`` at the end of the items, unless the declaration says otherwise.
DEFAULT_END_ERRORS: Final[tuple[type[BaseException], ...]] = (
    trio.EndOfChannel,
    anyio.EndOfStream,
    StopAsyncIteration,
)


@dataclass(frozen=True, slots=True)
class Implementation:
    """A validated declaration of one implementation under test."""

    spec: str
    name: str
    backend: str
    capabilities: frozenset[str]
    factories: Mapping[str, Callable[..., Any]]
    closed_errors: tuple[type[BaseException], ...] = DEFAULT_CLOSED_ERRORS
    would_block_errors: tuple[type[BaseException], ...] = DEFAULT_WOULD_BLOCK_ERRORS
    end_errors: tuple[type[BaseException], ...] = DEFAULT_END_ERRORS
    counters: Callable[[Any], Mapping[str, int]] | None = None
    #: Whether the ``time`` module's clocks read the run's virtual clock (the clock bridge).
    clock_bridge: bool = True
    #: Rules the implementation departs from on purpose, each with the documented reason.
    deviations: Mapping[str, str] = field(default_factory=dict)
    #: Declared supported ranges: parameter -> {"min": bound, "max": bound} (see ``supports``).
    supports: Mapping[str, Mapping[str, Bound]] = field(default_factory=dict)

    def has(self, capability: str) -> bool:
        """Whether the implementation declares ``capability``."""
        return capability in self.capabilities

    def supported(
        self, name: str, value: float | None, params: Mapping[str, Any] | None = None
    ) -> bool:
        """Whether ``value`` of parameter ``name`` lies in the declared range (None always does).

        A bound naming another parameter is read from ``params``; one ``params`` lacks does not
        limit anything.
        """
        declared = self.supports.get(name)
        if declared is None or value is None:
            return True
        for key, outside in (("min", float.__lt__), ("max", float.__gt__)):
            bound = declared.get(key)
            if isinstance(bound, str):
                bound = (params or {}).get(bound)
            if bound is not None and outside(float(value), float(bound)):
                return False
        return True

    def excluded(self) -> list[str]:
        """What the declared ranges leave out, one phrase per bound: ``max_attempts < 1``."""
        phrases = []
        for name, declared in sorted(self.supports.items()):
            if "min" in declared:
                phrases.append(f"{name} < {declared['min']}")
            if "max" in declared:
                phrases.append(f"{name} > {declared['max']}")
        return phrases

    def factories_for(self, pattern: Pattern) -> dict[str, Callable[..., Any]]:
        """The factories this implementation provides for ``pattern``."""
        return {
            name: make
            for name, make in self.factories.items()
            if FACTORIES.get(name, (None,))[0] is pattern
        }

    def read_counters(self, obj: object) -> Mapping[str, int] | None:
        """The counters of ``obj``, or None without the ``metrics`` capability."""
        if self.counters is None or not self.has("metrics"):
            return None
        return self.counters(obj)


class AsyncContext(Protocol):
    """An object used as ``async with obj:`` (a pool, a group, a batcher)."""

    async def __aenter__(self) -> Any:
        """Start (workers, flusher) or open."""

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Wait for what was started (or its cancellation); may raise the first error."""


class QueueUnderTest(Protocol):
    """Queue contract: a would-block error from *_nowait, an end error once drained.

    The error types are the declaration's ``would_block_errors`` and ``end_errors``.
    """

    async def put(self, item: Any) -> None:
        """Enqueue, blocking while full (bounded); never blocks when dropping or unbounded."""

    def put_nowait(self, item: Any) -> None:
        """Enqueue or raise a would-block error when full."""

    async def get(self) -> Any:
        """Dequeue the head, waiting while empty; an end error once closed and drained."""

    def get_nowait(self) -> Any:
        """Dequeue the head or raise a would-block error; an end error when drained."""

    def close(self) -> None:
        """Refuse further puts; remaining items can still be taken."""

    def __len__(self) -> int:
        """Items held now."""


class DroppingQueueUnderTest(QueueUnderTest, Protocol):
    """A queue that sheds load when full instead of blocking."""

    def offer(self, item: Any) -> bool:
        """Enqueue without blocking; False when the item itself was dropped."""


class ResultUnderTest(Protocol):
    """One job's outcome: ``status`` is ok, error, timeout or cancelled."""

    id: Hashable
    status: str


class PoolUnderTest(AsyncContext, Protocol):
    """Worker pool contract, used as ``async with pool:``.

    Entering starts the workers; leaving waits for the drain or the cancellation.

    ``results`` yields each job's result and ends once the pool is done; a ``receive``
    method raising an end error is used when present (a trio or anyio receive stream).
    """

    results: AsyncIterable[Any]
    undelivered: list[Any]

    async def submit(self, job_id: Hashable, payload: Any) -> None:
        """Queue a job, blocking while the jobs buffer is full."""

    def submit_nowait(self, job_id: Hashable, payload: Any) -> None:
        """Queue a job or raise a would-block error."""

    def close(self) -> None:
        """No more jobs: drain and then end the results."""

    def cancel(self) -> None:
        """Stop now: no job starts afterwards."""


class GroupUnderTest(AsyncContext, Protocol):
    """First-error group contract, used as ``async with group:``.

    Leaving waits for every task and raises the first error.
    """

    def start_soon(self, fn: Callable[[], Awaitable[object]]) -> None:
        """Run ``fn`` in the group."""


class RetrierUnderTest(Protocol):
    """Retry contract: ``call`` runs ``fn`` with retries; ``bounds`` exposes the schedule."""

    async def call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Call ``fn`` until success, a non-retryable error, or attempts run out."""

    def bounds(self, attempt: int) -> tuple[float, float]:
        """Inclusive bounds of the delay after failed attempt number ``attempt`` (from 1)."""


class SinkUnderTest(Protocol):
    """Idempotent sink contract."""

    async def apply(self, key: Hashable, value: Any) -> bool:
        """Apply the effect for ``key`` unless already applied; True if it ran now."""


class ReordererUnderTest(Protocol):
    """Reorder stage contract."""

    async def put(self, seq: int, item: Any) -> None:
        """Hand in item ``seq``; blocks while it lies beyond the window."""

    async def get(self) -> tuple[int, Any]:
        """The next item in sequence order."""

    def close(self) -> None:
        """No more items."""


class LimiterUnderTest(Protocol):
    """Token or leaky bucket contract."""

    async def acquire(self, weight: int = 1) -> None:
        """Wait (FIFO) until admitted."""

    def try_acquire(self, weight: int = 1) -> bool:
        """Admit now or refuse."""


class GateUnderTest(Protocol):
    """Load-shedding gate contract."""

    def try_admit(self, weight: int = 1) -> bool:
        """Admit now or reject (never waits)."""


class ConcurrencyLimiterUnderTest(Protocol):
    """Concurrency-limiter contract: ``acquire``/``release``, or ``async with limiter:``.

    The driver uses ``acquire`` and ``release`` when the object has both, else ``__aenter__``
    and ``__aexit__``; ``release`` and ``__aexit__`` may be sync or async. The task that
    acquired is the one that releases.
    """

    async def acquire(self) -> Any:
        """Wait until a slot is free and take it."""

    def release(self) -> Any:
        """Return the calling task's slot (sync or async)."""

    async def __aenter__(self) -> Any:
        """Acquire a slot for the block."""

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Return the slot, however the block ends."""


class BatcherUnderTest(AsyncContext, Protocol):
    """Batcher contract, used as ``async with batcher:``.

    Batches come out of ``batches``, read like a pool's ``results``.
    """

    batches: AsyncIterable[list[Any]]

    async def put(self, item: Any) -> None:
        """Add an item to the current batch."""

    def close(self) -> None:
        """Flush what remains and end ``batches``."""


def _public_names(*protocols: type) -> frozenset[str]:
    """Every method and attribute the protocols (and their bases) name, protocol dunders too."""
    dunders = {"__aenter__", "__aexit__", "__enter__", "__exit__", "__len__", "__aiter__"}
    names: set[str] = set(dunders)
    for protocol in protocols:
        for klass in protocol.__mro__:
            if klass is object or klass is Protocol:
                continue
            names.update(getattr(klass, "__annotations__", {}))
            names.update(name for name in vars(klass) if not name.startswith("_"))
    return frozenset(names)


#: The names the harness may look up on an object a factory made. A missing one is the
#: implementation's fault (a method it never wrote); any other missing name is poolcheck's bug.
CONTRACT_NAMES: Final[frozenset[str]] = _public_names(
    DroppingQueueUnderTest,
    ResultUnderTest,
    PoolUnderTest,
    GroupUnderTest,
    RetrierUnderTest,
    SinkUnderTest,
    ReordererUnderTest,
    LimiterUnderTest,
    GateUnderTest,
    BatcherUnderTest,
    ConcurrencyLimiterUnderTest,
)
