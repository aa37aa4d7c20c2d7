"""The rule catalog: every invariant poolcheck checks, with a stable ID.

This module is the single registry. A rule's ID never changes meaning once published; a rule
that stops being checked is retired, never reused. Optional rules name the capability an
implementation must declare for them to apply (as in the Reactive Streams TCK); for an
implementation without it the verdict is ``not-applicable``, never a silent pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Kind(StrEnum):
    """Safety: nothing bad ever happens. Liveness: something good eventually happens."""

    SAFETY = "safety"
    LIVENESS = "liveness"


class Pattern(StrEnum):
    """The guide's patterns; each has one model and a plug-in factory."""

    QUEUE = "queue"
    POOL = "pool"
    GROUP = "group"
    RETRY = "retry"
    IDEMPOTENCY = "idempotency"
    ORDERING = "ordering"
    RATE = "rate"
    BATCH = "batch"
    CONCURRENCY = "concurrency"


@dataclass(frozen=True, slots=True)
class Rule:
    """One named invariant: ``capability`` is None for a required rule."""

    id: str
    pattern: Pattern | None
    section: str
    kind: Kind
    statement: str
    capability: str | None = None
    #: The factories whose objects this rule is about (empty: every factory of the pattern);
    #: an implementation that provides none of them gets ``not-applicable``.
    factories: tuple[str, ...] = ()
    #: Optional methods the rule cannot be judged without (an object that lacks one makes the
    #: rule not-applicable, with that reason); the core methods are in contract.PRODUCTS.
    methods: tuple[str, ...] = ()

    @property
    def tier(self) -> str:
        """``required``, or ``optional`` when the rule depends on a capability."""
        return "required" if self.capability is None else "optional"


S, L = Kind.SAFETY, Kind.LIVENESS
P = Pattern

_CATALOG: Final[tuple[Rule, ...]] = (
    Rule(
        "QUEUE-BOUND",
        P.QUEUE,
        "§2",
        S,
        "A bounded or dropping queue never holds more items than its capacity.",
        factories=("bounded_queue", "dropping_queue"),
    ),
    Rule(
        "QUEUE-BACKPRESSURE",
        P.QUEUE,
        "§2",
        L,
        "A blocking put waits only while the queue is full and completes as soon as there is "
        "room; a non-blocking put refuses only when full; a waiting get completes as soon as "
        "an item is there.",
    ),
    Rule(
        "QUEUE-DROP-POLICY",
        P.QUEUE,
        "§2",
        S,
        "A dropping queue drops only when full: drop-newest refuses the offer, drop-oldest "
        "evicts the head, and every drop is counted.",
        "drop_policy",
        factories=("dropping_queue",),
    ),
    Rule(
        "QUEUE-CONSERVATION",
        P.QUEUE,
        "§2",
        S,
        "Every item taken out was put in, exactly once; nothing accepted is lost, even when "
        "a put or a get is cancelled.",
    ),
    Rule("QUEUE-FIFO", P.QUEUE, "§2", S, "Items come out in the order they were accepted."),
    Rule(
        "QUEUE-CLOSE",
        P.QUEUE,
        "§7.1",
        S,
        "After close, puts fail; gets drain what remains, then report the end, every time.",
        methods=("close",),
    ),
    Rule(
        "QUEUE-FIFO-WAITERS",
        P.QUEUE,
        "§2",
        S,
        "Blocked putters and blocked getters are served in the order they began to wait, and "
        "a non-blocking put or get never takes the room or the item a blocked one waits for.",
        "fifo_waiters",
        factories=("bounded_queue", "unbounded_queue"),
    ),
    Rule(
        "POOL-EXACTLY-ONCE",
        P.POOL,
        "§3",
        S,
        "Each accepted job yields exactly one outcome carrying its identity (and, when ok, "
        "the handler's return value; when failed, its error), and runs at most once.",
    ),
    Rule(
        "POOL-RESULTS-CLOSED-ONCE",
        P.POOL,
        "§7.2",
        S,
        "Results end exactly once: after the last result, when no job is running any more.",
    ),
    Rule(
        "POOL-CONCURRENCY",
        P.POOL,
        "§3",
        S,
        "Never more than N jobs run at once, and N run whenever N jobs are waiting.",
    ),
    Rule(
        "POOL-NO-LEAK",
        P.POOL,
        "§7.3",
        S,
        "After cancel or completion nothing the implementation started is alive, and no "
        "job starts after cancel.",
    ),
    Rule(
        "POOL-CANCEL-PROMPT",
        P.POOL,
        "§4",
        L,
        "Cancelling the pool returns without waiting for running jobs to finish on their own.",
        methods=("cancel",),
    ),
    Rule(
        "POOL-TIMEOUT",
        P.POOL,
        "§4",
        S,
        "A job that outlives the per-job timeout is stopped at the timeout and reported as "
        "timed out.",
        "job_timeout",
    ),
    Rule(
        "POOL-DRAIN",
        P.POOL,
        "§4",
        L,
        "After the input is closed every queued job still runs and results then end.",
    ),
    Rule(
        "POOL-BACKPRESSURE",
        P.POOL,
        "§3",
        S,
        "Accepted jobs that have not started never exceed jobs_buffer beyond what free workers "
        "are taking: submit waits and submit_nowait refuses while the jobs buffer is full, and "
        "only then.",
    ),
    Rule(
        "GROUP-FIRST-ERROR",
        P.GROUP,
        "§8",
        S,
        "The first error cancels the other tasks and is the error raised; success waits "
        "for every task.",
    ),
    Rule(
        "RETRY-MAX-ATTEMPTS",
        P.RETRY,
        "§5",
        S,
        "At most max_attempts attempts, none after a success or a non-retryable error.",
    ),
    Rule(
        "RETRY-BACKOFF",
        P.RETRY,
        "§5",
        S,
        "Each delay between attempts lies inside the declared schedule's bounds, jitter included.",
    ),
    Rule(
        "RETRY-CANCEL",
        P.RETRY,
        "§5",
        S,
        "Cancellation during an attempt or a backoff propagates and stops retrying.",
    ),
    Rule(
        "RETRY-LAST-ERROR",
        P.RETRY,
        "§5",
        S,
        "When attempts are exhausted the error of the last attempt is raised.",
    ),
    Rule(
        "IDEMPOTENT-EFFECT",
        P.IDEMPOTENCY,
        "§5",
        S,
        "Each natural key's side effect is applied exactly once however often it is "
        "delivered or retried, and a failed effect can be applied again.",
    ),
    Rule(
        "ORDER-RESTORED",
        P.ORDERING,
        "§5",
        S,
        "Output is strictly increasing with no gap or duplicate, each item is emitted as "
        "soon as its predecessors arrived, and the window stays bounded.",
    ),
    Rule(
        "RATE-BOUND",
        P.RATE,
        "§6",
        S,
        "Admissions in every window of length T are at most burst + rate*T; a leaky bucket "
        "spaces admissions at least its interval apart.",
    ),
    Rule(
        "RATE-NO-OVERTHROTTLE",
        P.RATE,
        "§6",
        L,
        "A waiter is admitted as soon as the algorithm has the tokens for it, in FIFO order; "
        "no waiter starves.",
        factories=("token_bucket", "leaky_bucket"),
    ),
    Rule(
        "RATE-SHED-ONLY-WHEN-EMPTY",
        P.RATE,
        "§6",
        S,
        "A shedding gate rejects work only when no token is available.",
        factories=("shedding_gate",),
    ),
    Rule(
        "RATE-CANCEL-NO-LOSS",
        P.RATE,
        "§6",
        S,
        "A cancelled acquire consumes no token and does not hold up the waiters behind it.",
        factories=("token_bucket", "leaky_bucket"),
    ),
    Rule(
        "BATCH-BOUNDS",
        P.BATCH,
        "§9",
        S,
        "Every batch holds between 1 and N items, in order, none lost or repeated, and is "
        "flushed no later than T after its first item.",
    ),
    Rule(
        "CONC-BOUND",
        P.CONCURRENCY,
        "§3",
        S,
        "Never more than limit tasks hold a slot of a concurrency limiter at once.",
    ),
    Rule(
        "CONC-CANCEL-NO-LEAK",
        P.CONCURRENCY,
        "§3",
        S,
        "A task cancelled while waiting for a slot takes none; a task cancelled while "
        "holding one returns it.",
    ),
    Rule(
        "CONC-FIFO",
        P.CONCURRENCY,
        "§3",
        S,
        "No slot is granted while a task that began waiting earlier still waits.",
        "fifo",
    ),
    Rule(
        "CONC-RELEASE-BY-HOLDER",
        P.CONCURRENCY,
        "§3",
        S,
        "Only a holder's release frees a slot: release() by a task that holds none (it may "
        "raise) never lets more than limit tasks hold at once.",
        "strict_release",
        methods=("release",),
    ),
    Rule(
        "CONC-NO-IDLE-WAIT",
        P.CONCURRENCY,
        "§3",
        L,
        "No task still waits for a slot, once everything has settled, while a slot is free.",
    ),
    Rule(
        "METRICS-CONSISTENT",
        None,
        "§8",
        S,
        "The implementation's counters agree with what the trace shows happened.",
        "metrics",
    ),
    Rule(
        "CANCEL-PROPAGATES",
        None,
        "§4",
        S,
        "A call its caller cancels ends by the next settled instant, and once the cancellation "
        "has reached it, not by returning as if it had not been cancelled: it lets the "
        "cancellation out.",
        # The objects with a call the models cancel (a dropping queue and a shedding gate are
        # driven only with calls that never wait).
        factories=(
            "unbounded_queue",
            "bounded_queue",
            "worker_pool",
            "first_error_group",
            "retrier",
            "idempotent_sink",
            "reorderer",
            "token_bucket",
            "leaky_bucket",
            "concurrency_limiter",
        ),
    ),
    Rule(
        "NO-HANG",
        None,
        "§7",
        L,
        "Every call into the implementation returns or blocks only where the pattern says it "
        "may; nothing hangs past its deadline.",
    ),
    Rule(
        "NO-LEAK",
        None,
        "§7.3",
        S,
        "After the run is torn down, no task the implementation started is still alive.",
    ),
    Rule("NO-CRASH", None, "§7", S, "No unexpected exception escapes the implementation."),
)

RULES: Final[dict[str, Rule]] = {rule.id: rule for rule in _CATALOG}


def rule(rule_id: str) -> Rule:
    """Return the rule ``rule_id``; a KeyError names the unknown ID."""
    try:
        return RULES[rule_id]
    except KeyError:
        raise KeyError(f"unknown rule ID {rule_id!r}") from None


def rules_for(pattern: Pattern) -> list[Rule]:
    """The rules a model of ``pattern`` checks: its own plus the pattern-independent ones.

    A pattern-independent rule about some factories only (``Rule.factories``) is checked by
    the models of their patterns alone.
    """
    from harness.contract import FACTORIES  # the contract is built on this module

    def checks(rule: Rule) -> bool:
        if rule.pattern is not None or not rule.factories:
            return rule.pattern in (pattern, None)
        return any(FACTORIES[name][0] is pattern for name in rule.factories)

    return [r for r in _CATALOG if checks(r)]
