"""Checkers of the worker-pool rules (guide §3, §4, §7.2, §7.3) and of the pool's counters.

Trace format (what :class:`harness.drivers.pool.PoolDriver` records; another harness writing
the same events gets the same verdicts). ``id`` is the job id everywhere a job is named.

=================  ==========  ==================================================================
kind               id          data / meaning
=================  ==========  ==================================================================
``params``         --          ``workers``, ``job_timeout`` (seconds or null), ``jobs_buffer``,
                               ``results_buffer``, ``pattern`` = ``"pool"``, ``factory``
``entered``        --          the pool's ``async with`` block was entered (workers started)
``submit``         job         a submit begins: ``duration``, ``raises``, ``blocking``
``accepted``       job         the submit returned: the job is accepted
``submit_closed``  job         the submit was refused because the pool is closed
``submit_full``    job         ``submit_nowait`` raised ``WouldBlock``: not accepted
``submit_cancelled`` job       a blocked submit was cancelled: not accepted
``job_start``      job         the handler began (``duration``, ``raises``)
``job_end``        job         the handler ended: ``outcome`` = ok | error | cancelled; an ok
                               one may give the handler's return value as ``returned``
``result``         job         the reader received a result: ``status``; optionally ``value``
                               (an ok result's value) and ``error`` (an error result's error,
                               null when it carries none)
``results_end``    --          the reader saw the results end (``how``: ``EndOfChannel`` or the
                               error a closed receive side raised)
``close``          --          ``close()`` returned (graceful drain requested)
``cancel``         --          ``cancel()`` returned
``leave``          --          the host leaves the ``async with`` body (``mode``: drain | cancel)
``undelivered``    job         after the block exited: an entry of ``pool.undelivered``
                               (``status``)
``exit``           --          the block has exited (after the ``undelivered`` entries)
``metrics``        --          the pool's counters at a settled instant (one field per counter)
``idle`` ``end``   --          shared: settled instant; run over
``leak``           --          tasks outlived the run (``tasks``, ``count``)
``hang`` ``crash``             shared guard verdicts: the pool checks stop judging after them
=================  ==========  ==================================================================

A harness task records ``accepted`` when its submit returns, which may be after a worker has
already started the job: a ``job_start`` for a job whose submit is pending counts as its
acceptance. Every ``metrics`` event must be taken at a settled instant.

POOL-BACKPRESSURE counts a job as *queued* from its acceptance until its handler starts (or it
gets an outcome without starting). A worker is *free* unless it holds a started job with no
outcome yet; a free worker may have taken a queued job and not yet called the handler, so at
most ``jobs_buffer`` plus the free workers may be queued. That is judged at ``idle``, when
every task has recorded what it did; so is a blocking submit still waiting there while fewer
are queued (it should have been let in). A ``submit_full`` is judged when it happens: it may
refuse only if the queued jobs plus the blocking submits still pending (one may have been let
in and not yet have returned) reach ``jobs_buffer``. None of it is judged once the pool is
closed, cancelled or left, nor when the rule is a declared deviation.

Memory: per open job, plus the ids of the last ``RECENT_LIMIT`` finished jobs (to detect a
duplicate outcome; an older one's duplicate is still caught, as a job never accepted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from harness.checkers import Recent
from harness.checking import EPSILON, Checker, param
from harness.events import Event, Scalar

EXACTLY_ONCE: Final = "POOL-EXACTLY-ONCE"
CLOSED_ONCE: Final = "POOL-RESULTS-CLOSED-ONCE"
CONCURRENCY: Final = "POOL-CONCURRENCY"
NO_LEAK: Final = "POOL-NO-LEAK"
CANCEL_PROMPT: Final = "POOL-CANCEL-PROMPT"
TIMEOUT: Final = "POOL-TIMEOUT"
DRAIN: Final = "POOL-DRAIN"
BACKPRESSURE: Final = "POOL-BACKPRESSURE"
METRICS: Final = "METRICS-CONSISTENT"

STATUSES: Final = frozenset({"ok", "error", "timeout", "cancelled"})


@dataclass(slots=True)
class _Job:
    """What the trace showed of one submitted job so far."""

    duration: float | None = None
    accepted: bool = False
    started_at: float | None = None
    ended: str | None = None
    outcomes: int = 0
    #: What the handler returned, when the trace says (``job_end`` with ``returned``).
    returned: Any = None
    has_returned: bool = False


class PoolChecker(Checker):
    """Folds a pool trace into every POOL-* rule.

    Liveness parts are decided at ``idle``: the reader always reads and every harness task has
    run by then, so a finished job's worker is free, a drained pool has ended its results, and
    a cancelled pool has stopped its jobs.
    """

    rules = (
        EXACTLY_ONCE,
        CLOSED_ONCE,
        CONCURRENCY,
        NO_LEAK,
        CANCEL_PROMPT,
        TIMEOUT,
        DRAIN,
        BACKPRESSURE,
    )

    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        self.workers: int = param(params, "workers", int)
        self.timeout: float | None = param(params, "job_timeout", float, None)
        #: The jobs buffer POOL-BACKPRESSURE holds the pool to (None: not judged).
        self.jobs_buffer: int | None = param(params, "jobs_buffer", int, None)
        if BACKPRESSURE in params.get("deviations", ()):
            self.jobs_buffer = None
        self.submitting: dict[Scalar, Event] = {}  # blocking submits begun, not ended
        self.last_accepted: Event | None = None
        self.jobs: dict[Scalar, _Job] = {}
        #: Finished ids (accepted, outcome given, handler done): a second outcome is a duplicate.
        self.done: Recent[Scalar, None] = Recent()
        self.waiting: set[Scalar] = set()  # accepted, not started, no outcome
        self.running: set[Scalar] = set()  # handler started and not ended
        self.occupied: set[Scalar] = set()  # started, no outcome yet: holds a worker
        self.unresolved: set[Scalar] = set()  # accepted, no outcome yet
        self.entered = False
        self.closed = False
        self.cancelled_at: float | None = None
        self.left_at: float | None = None
        self.exited = False
        self.results_ended = False
        self.final_checked = False
        self.stopped = False
        self._flagged: set[tuple[str, Scalar]] = set()

    # -- helpers -------------------------------------------------------------------------
    @property
    def cancelled(self) -> bool:
        """Whether ``cancel()`` was called."""
        return self.cancelled_at is not None

    def _once(self, rule_id: str, key: Scalar, message: str, *events: Event) -> None:
        # Idle checks see the same stuck state at every idle: report it once.
        if (rule_id, key) not in self._flagged:
            self._flagged.add((rule_id, key))
            self.violate(rule_id, message, *events)

    def _accept(self, ident: Scalar, job: _Job) -> None:
        self.submitting.pop(ident, None)
        if job.accepted:
            return
        job.accepted = True
        if job.outcomes == 0:
            self.unresolved.add(ident)
            if job.started_at is None:
                self.waiting.add(ident)

    def _exceeds(self, job: _Job) -> bool | None:
        """True if the job outlives the timeout, False if it ends within, None if a tie."""
        if self.timeout is None or job.duration is None:
            return False
        if job.duration > self.timeout + EPSILON:
            return True
        if job.duration < self.timeout - EPSILON:
            return False
        return None

    def _maybe_done(self, ident: Scalar, job: _Job) -> None:
        if job.outcomes >= 1 and (job.started_at is None or job.ended is not None):
            del self.jobs[ident]
            self.done.add(ident)

    # -- submission ----------------------------------------------------------------------
    def on_submit(self, event: Event) -> None:
        """A submit begins: remember the job's duration (for the timeout rule)."""
        if self.stopped:
            return
        if event.get("blocking"):
            self.submitting[event.id] = event
        duration = event.get("duration")
        self.jobs.setdefault(event.id, _Job(duration=None if duration is None else float(duration)))

    def on_accepted(self, event: Event) -> None:
        """The job is in the pool."""
        if self.stopped:
            return
        self.last_accepted = event
        job = self.jobs.get(event.id)
        if job is None:
            if event.id in self.done:
                return  # its submit returned after it had already run and been reported
            job = self.jobs[event.id] = _Job()
        self._accept(event.id, job)

    def _refused(self, event: Event) -> None:
        self.submitting.pop(event.id, None)
        if self.stopped:
            return
        job = self.jobs.get(event.id)
        if job is None and event.id not in self.done:
            return
        if job is None or job.started_at is not None or job.outcomes or job.accepted:
            self.violate(
                EXACTLY_ONCE,
                f"job {event.id!r} was refused ({event.kind}) but the pool ran or reported it",
                event,
            )
            return
        del self.jobs[event.id]

    on_submit_closed = _refused
    on_submit_cancelled = _refused

    def on_submit_full(self, event: Event) -> None:
        """``submit_nowait`` refused the job: only a full jobs buffer may refuse it."""
        self.submitting.pop(event.id, None)
        if not self.stopped and self.jobs_buffer is not None and self._accepting:
            self.exercise(BACKPRESSURE)
            queued = len(self.waiting)
            if queued + len(self.submitting) < self.jobs_buffer:
                self.violate(
                    BACKPRESSURE,
                    f"submit_nowait refused job {event.id!r} as full with {queued} accepted "
                    f"job(s) waiting to start and jobs_buffer={self.jobs_buffer}: the buffer "
                    "had room",
                    event,
                )
        self._refused(event)

    @property
    def _accepting(self) -> bool:
        """Whether the pool still takes jobs (neither closed, cancelled nor left)."""
        return not (self.closed or self.cancelled or self.left_at is not None)

    def _judge_buffer(self, event: Event) -> None:
        """At a settled instant: queued jobs fit the buffer, and a submit waits only if full."""
        assert self.jobs_buffer is not None
        queued = len(self.waiting)
        free = max(0, self.workers - len(self.occupied))
        room = self.jobs_buffer + free
        if self.last_accepted is not None or self.submitting:
            # As QUEUE-BOUND: the bound is judged at every settled instant once jobs come in.
            self.exercise(BACKPRESSURE)
        if queued > room:
            evidence = [event] if self.last_accepted is None else [self.last_accepted, event]
            names = ", ".join(sorted(map(repr, self.waiting))[:8])
            self._once(
                BACKPRESSURE,
                "bound",
                f"{queued} accepted job(s) wait to start ({names}) "
                f"with jobs_buffer={self.jobs_buffer} and {free} free worker(s): a submit was "
                "let in while the jobs buffer was full",
                *evidence,
            )
        elif self.submitting and self._accepting and queued < room:
            ident, begin = next(iter(self.submitting.items()))
            self._once(
                BACKPRESSURE,
                f"submit {ident!r}",
                f"submit({ident!r}) still waits with {queued} accepted job(s) waiting to start, "
                f"jobs_buffer={self.jobs_buffer} and {free} free worker(s): the jobs buffer "
                "has room",
                begin,
                event,
            )

    # -- the handler ---------------------------------------------------------------------
    def on_job_start(self, event: Event) -> None:
        """A handler began: at most once per accepted job, never after cancel, at most N."""
        if self.stopped:
            return
        self.exercise(EXACTLY_ONCE)
        self.exercise(CONCURRENCY)
        ident = event.id
        job = self.jobs.get(ident)
        if job is None:
            what = "ran again" if ident in self.done else "was never accepted"
            self.violate(EXACTLY_ONCE, f"job {ident!r} started but {what}", event)
            return
        if self.cancelled:
            self.violate(NO_LEAK, f"job {ident!r} started after cancel()", event)
        elif self.exited:
            self.violate(NO_LEAK, f"job {ident!r} started after the pool's block exited", event)
        elif self.results_ended:
            self.violate(CLOSED_ONCE, f"job {ident!r} started after the results ended", event)
        if job.started_at is not None:
            self.violate(EXACTLY_ONCE, f"job {ident!r} started twice", event)
            return
        if job.duration is None and event.get("duration") is not None:
            job.duration = float(event.get("duration"))
        self._accept(ident, job)
        job.started_at = event.t
        self.waiting.discard(ident)
        self.running.add(ident)
        if job.outcomes == 0:
            self.occupied.add(ident)
        if len(self.running) > self.workers:
            self.violate(
                CONCURRENCY,
                f"{len(self.running)} jobs run at once with {self.workers} worker(s): "
                f"{sorted(map(repr, self.running))}",
                event,
            )

    def on_job_end(self, event: Event) -> None:
        """A handler ended: a job past its timeout must be stopped exactly at the timeout."""
        if self.stopped:
            return
        ident = event.id
        job = self.jobs.get(ident)
        if job is None or job.started_at is None or job.ended is not None:
            return  # the start was already judged
        outcome = str(event.get("outcome"))
        job.ended = outcome
        if outcome == "ok" and "returned" in event.data:
            job.returned, job.has_returned = event.get("returned"), True
        self.running.discard(ident)
        if self.timeout is not None:
            self.exercise(TIMEOUT)
            due = job.started_at + self.timeout
            exceeds = self._exceeds(job)
            if exceeds and outcome != "cancelled":
                self.violate(
                    TIMEOUT,
                    f"job {ident!r} ({job.duration}s) ran past its {self.timeout}s timeout "
                    f"and ended {outcome}",
                    event,
                )
            elif outcome == "cancelled" and event.t > due + EPSILON and exceeds is not None:
                self.violate(
                    TIMEOUT,
                    f"job {ident!r} was stopped at t={event.t:g}, after its timeout at t={due:g}",
                    event,
                )
            elif outcome == "cancelled" and not self.cancelled and event.t < due - EPSILON:
                self.violate(
                    TIMEOUT,
                    f"job {ident!r} was stopped at t={event.t:g}, before its timeout "
                    f"at t={due:g}, and the pool was not cancelled",
                    event,
                )
        self._maybe_done(ident, job)

    # -- outcomes ------------------------------------------------------------------------
    def _outcome(self, event: Event, delivered: bool) -> None:
        self.exercise(EXACTLY_ONCE)
        ident = event.id
        status = str(event.get("status"))
        where = "results" if delivered else "undelivered"
        if ident in self.done:
            self.violate(EXACTLY_ONCE, f"job {ident!r} has a second outcome ({where})", event)
            return
        job = self.jobs.get(ident)
        if job is None or not job.accepted:
            self.violate(EXACTLY_ONCE, f"{where} names job {ident!r}, never accepted", event)
            return
        job.outcomes += 1
        if job.outcomes > 1:
            self.violate(EXACTLY_ONCE, f"job {ident!r} has a second outcome ({where})", event)
            return
        self.unresolved.discard(ident)
        self.waiting.discard(ident)
        self.occupied.discard(ident)
        self._judge_status(event, job, status, where)
        self._judge_payload(event, job, status, where)
        self._maybe_done(ident, job)

    def _judge_payload(self, event: Event, job: _Job, status: str, where: str) -> None:
        """An ok outcome carries what the handler returned; an error one carries an error."""
        if status == "ok" and job.has_returned and "value" in event.data:
            value = event.get("value")
            if value != job.returned:
                self.violate(
                    EXACTLY_ONCE,
                    f"job {event.id!r} reported ok with value {value!r} in {where}, "
                    f"but its handler returned {job.returned!r}",
                    event,
                )
        elif status == "error" and "error" in event.data and event.get("error") is None:
            self.violate(
                EXACTLY_ONCE, f"job {event.id!r} reported error in {where} without its error", event
            )

    def _judge_status(self, event: Event, job: _Job, status: str, where: str) -> None:
        ident = event.id
        if status not in STATUSES:
            self.violate(EXACTLY_ONCE, f"job {ident!r}: unknown status {status!r}", event)
        elif status == "cancelled":
            if not self.cancelled:
                rule = DRAIN if self.closed or self.left_at is not None else EXACTLY_ONCE
                self.violate(
                    rule, f"job {ident!r} reported cancelled, but cancel() was never called", event
                )
            elif job.ended not in (None, "cancelled"):
                self.violate(
                    EXACTLY_ONCE,
                    f"job {ident!r} finished {job.ended} but is reported cancelled in {where}",
                    event,
                )
        elif status == "timeout":
            if self.timeout is None:
                self.violate(
                    EXACTLY_ONCE,
                    f"job {ident!r} reported timed out, but the pool has no job_timeout",
                    event,
                )
                return
            self.exercise(TIMEOUT)
            exceeds = self._exceeds(job)
            if job.started_at is None:
                self.violate(TIMEOUT, f"job {ident!r} reported timed out but never ran", event)
            elif exceeds is False:
                self.violate(
                    TIMEOUT,
                    f"job {ident!r} ({job.duration}s) reported timed out "
                    f"within its {self.timeout}s timeout",
                    event,
                )
            elif exceeds and job.ended != "cancelled":
                state = "still runs" if job.ended is None else f"ended {job.ended}"
                self.violate(
                    TIMEOUT,
                    f"job {ident!r} reported timed out but its handler "
                    f"{state} (not cancelled at the timeout)",
                    event,
                )
        elif (
            job.ended == "cancelled"
            and self.timeout is not None
            and not self.cancelled
            and self._exceeds(job)
        ):
            self.violate(
                TIMEOUT,
                f"job {ident!r} was stopped at its {self.timeout}s timeout "
                f"but is reported {status} in {where}, not timeout",
                event,
            )
        elif job.ended != status:
            state = (
                "never started"
                if job.started_at is None
                else "still runs"
                if job.ended is None
                else f"ended {job.ended}"
            )
            self.violate(
                EXACTLY_ONCE,
                f"job {ident!r} reported {status} in {where}, but its handler {state}",
                event,
            )

    def on_result(self, event: Event) -> None:
        """One outcome through ``results``: never after the end."""
        if self.stopped:
            return
        self.exercise(CLOSED_ONCE)
        if self.results_ended:
            self.violate(CLOSED_ONCE, f"result for job {event.id!r} after the results ended", event)
        self._outcome(event, delivered=True)

    def on_undelivered(self, event: Event) -> None:
        """One outcome through ``undelivered``: only after a cancel."""
        if self.stopped:
            return
        if not self.cancelled:
            self.exercise(DRAIN)
            self.violate(
                DRAIN,
                f"job {event.id!r} is undelivered ({event.get('status')}) after a graceful drain",
                event,
            )
        self._outcome(event, delivered=False)

    def on_results_end(self, event: Event) -> None:
        """Results end once, after close or cancel, with no job running and none to report."""
        if self.stopped:
            return
        self.exercise(CLOSED_ONCE)
        if self.results_ended:
            self.violate(CLOSED_ONCE, "the results ended twice", event)
            return
        self.results_ended = True
        if not (self.closed or self.cancelled or self.left_at is not None):
            self.violate(CLOSED_ONCE, "the results ended while the pool still accepts jobs", event)
        elif self.running:
            self.violate(
                CLOSED_ONCE,
                f"the results ended while job(s) {sorted(map(repr, self.running))} still run",
                event,
            )
        elif not self.cancelled and self.occupied:
            self.violate(
                CLOSED_ONCE,
                f"the results ended before the result of job(s) {sorted(map(repr, self.occupied))}",
                event,
            )

    # -- lifecycle -----------------------------------------------------------------------
    def on_entered(self, event: Event) -> None:
        """The workers are up: the idle checks apply from now on."""
        self.entered = True

    def on_close(self, event: Event) -> None:
        """Graceful drain requested."""
        self.closed = True

    def on_cancel(self, event: Event) -> None:
        """From now on no job may start, and running ones must stop at once."""
        self.exercise(NO_LEAK)
        self.exercise(CANCEL_PROMPT)
        if self.cancelled_at is None:
            self.cancelled_at = event.t

    def on_leave(self, event: Event) -> None:
        """The host leaves the block body."""
        if self.left_at is None:
            self.left_at = event.t

    def on_exit(self, event: Event) -> None:
        """The block exited: nothing may run any more; after a cancel, no time passed."""
        if self.stopped:
            return
        self.exited = True
        self.exercise(NO_LEAK)
        if self.running:
            self.violate(
                NO_LEAK,
                f"the pool's block exited while job(s) {sorted(map(repr, self.running))} still run",
                event,
            )
        if self.cancelled_at is not None:
            self.exercise(CANCEL_PROMPT)
            since = max(self.cancelled_at, self.left_at if self.left_at is not None else 0.0)
            if event.t > since + EPSILON:
                self.violate(
                    CANCEL_PROMPT,
                    f"the block exited {event.t - since:g}s after "
                    "cancel(): it waited for jobs to finish",
                    event,
                )
        elif self.waiting:
            self.exercise(DRAIN)
            self.violate(
                DRAIN,
                f"the block exited without running queued job(s) {sorted(map(repr, self.waiting))}",
                event,
            )

    def on_leak(self, event: Event) -> None:
        """Tasks of the pool outlived the run."""
        if self.stopped:
            return
        self.exercise(NO_LEAK)
        self.violate(
            NO_LEAK,
            f"{event.get('count')} task(s) still alive after the run: {event.get('tasks')}",
            event,
        )

    def on_hang(self, event: Event) -> None:
        """The run is already a failure (NO-HANG): stop judging what follows."""
        self.stopped = True

    on_crash = on_hang
    on_end = on_hang

    # -- settled instants ----------------------------------------------------------------
    def on_idle(self, event: Event) -> None:
        """Decide what must have happened by a settled instant."""
        if self.stopped or not self.entered:
            return
        if self.exited:
            self._final(event)
            return
        if self.jobs_buffer is not None:
            self._judge_buffer(event)
        if self.timeout is not None:
            for ident in self.running:
                job = self.jobs[ident]
                assert job.started_at is not None
                if self._exceeds(job) and event.t > job.started_at + self.timeout + EPSILON:
                    self._once(
                        TIMEOUT,
                        ident,
                        f"job {ident!r} ({job.duration}s) still runs "
                        f"past its {self.timeout}s timeout",
                        event,
                    )
        if self.cancelled:
            self.exercise(CANCEL_PROMPT)
            if self.running:
                self._once(
                    CANCEL_PROMPT,
                    "running",
                    f"job(s) {sorted(map(repr, self.running))} still run after cancel()",
                    event,
                )
            elif self.left_at is not None:
                self._once(CANCEL_PROMPT, "exit", "the block did not exit after cancel()", event)
            elif not self.results_ended:
                self._once(CLOSED_ONCE, "end", "the results did not end after cancel()", event)
            return
        # The reader always reads: a finished job's result has arrived by a settled instant.
        for ident in self.occupied - self.running:
            self._once(
                EXACTLY_ONCE,
                ident,
                f"job {ident!r} finished ({self.jobs[ident].ended}) but its result never arrived",
                event,
            )
        draining = self.closed or self.left_at is not None
        if self.waiting and len(self.occupied) < self.workers:
            ident = min(self.waiting, key=repr)
            message = (
                f"job {ident!r} waits while only {len(self.occupied)} of {self.workers} "
                "worker(s) are busy"
            )
            self._once(DRAIN if draining else CONCURRENCY, ident, message, event)
        if draining:
            self.exercise(DRAIN)
            if not self.waiting and not self.running and not self.results_ended:
                self.exercise(CLOSED_ONCE)
                self._once(
                    CLOSED_ONCE,
                    "end",
                    "the pool was closed and has nothing left to run, but the results did not end",
                    event,
                )

    def _final(self, event: Event) -> None:
        if self.final_checked:
            return
        self.final_checked = True
        self.exercise(EXACTLY_ONCE)
        if self.unresolved:
            missing = sorted(map(repr, self.unresolved))
            self.violate(
                EXACTLY_ONCE,
                f"accepted job(s) {missing} have no outcome, neither in results nor in undelivered",
                event,
            )
        if not self.results_ended:
            self.violate(CLOSED_ONCE, "the pool exited but its results never ended", event)


class PoolMetricsChecker(Checker):
    """METRICS-CONSISTENT for a pool: its counters against what the trace showed.

    ``jobs_submitted`` counts accepted jobs, ``jobs_completed``/``jobs_failed`` the handlers
    that returned/raised, ``jobs_timed_out``/``jobs_cancelled`` the outcomes with that status.
    ``jobs_timed_out`` is compared before any cancel (every outcome so far is in ``results``)
    and after the block exited (``undelivered`` is complete); ``jobs_cancelled`` only after
    the block exited, since cancelled jobs are reported only in ``undelivered``.
    """

    rules = (METRICS,)

    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        self.pending: set[Scalar] = set()  # submitted, not yet accepted or refused
        self.accepted = 0
        self.ends: dict[str, int] = {}
        self.statuses: dict[str, int] = {}
        self.cancelled = False
        self.exited = False
        self.stopped = False

    def on_submit(self, event: Event) -> None:
        """A submit begins."""
        self.pending.add(event.id)

    def _admit(self, event: Event) -> None:
        if event.id in self.pending:
            self.pending.discard(event.id)
            self.accepted += 1

    on_accepted = _admit

    def on_job_start(self, event: Event) -> None:
        """A started job was accepted, even if its submitter has not said so yet."""
        self._admit(event)

    def _refused(self, event: Event) -> None:
        self.pending.discard(event.id)

    on_submit_closed = _refused
    on_submit_full = _refused
    on_submit_cancelled = _refused

    def on_job_end(self, event: Event) -> None:
        """Count handler outcomes."""
        outcome = str(event.get("outcome"))
        self.ends[outcome] = self.ends.get(outcome, 0) + 1

    def _status(self, event: Event) -> None:
        status = str(event.get("status"))
        self.statuses[status] = self.statuses.get(status, 0) + 1

    on_result = _status
    on_undelivered = _status

    def on_cancel(self, event: Event) -> None:
        """From now on outcomes may sit in ``undelivered`` until the block exits."""
        self.cancelled = True

    def on_exit(self, event: Event) -> None:
        """``undelivered`` is complete."""
        self.exited = True

    def on_hang(self, event: Event) -> None:
        """Stop judging a run that already failed."""
        self.stopped = True

    on_crash = on_hang

    def on_metrics(self, event: Event) -> None:
        """Compare each counter with the trace's count at this settled instant."""
        if self.stopped:
            return
        self.exercise(METRICS)
        expected = {
            "jobs_submitted": self.accepted,
            "jobs_completed": self.ends.get("ok", 0),
            "jobs_failed": self.ends.get("error", 0),
        }
        if self.exited or not self.cancelled:
            expected["jobs_timed_out"] = self.statuses.get("timeout", 0)
        if self.exited:
            expected["jobs_cancelled"] = self.statuses.get("cancelled", 0)
        wrong = [
            f"{name}={event.get(name) or 0} (trace shows {want})"
            for name, want in expected.items()
            if (event.get(name) or 0) != want
        ]
        if wrong:
            self.violate(
                METRICS, "pool counters disagree with the trace: " + ", ".join(wrong), event
            )
