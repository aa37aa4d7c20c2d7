"""Offline traces: check a JSON Lines trace written by any program against the models' checkers.

``poolcheck check-trace FILE.jsonl --pattern P`` reads the file line by line and folds every
event through the same checkers a model of ``P`` uses (:func:`harness.drivers.checkers_for`:
the driver's checkers plus the guard checker), so a trace written by a Go, Rust or asyncio
program gets the verdicts a model run would. Memory stays flat: only the checkers' own state
is kept, never the trace.

The run's parameters come from the trace's first event when it is a ``params`` event (models
write one), overridden or supplied by ``--param key=value``. Both are validated by the one
table of :mod:`harness.params` (names known for the pattern, types, ranges), the options
before the trace is read. A rule the trace never gave anything to check is reported
``unknown``, never ``pass``. Exit codes: 0 no rule violated, 1 a rule violated (with
``--strict``, also a required rule left unknown), 2 bad input: a missing or unreadable file,
a malformed line (``FILE:LINE: reason``, also a line longer than
:data:`~harness.events.MAX_LINE_BYTES` or nested deeper than
:data:`~harness.events.MAX_NESTING`), an unknown pattern, a bad, unknown or missing
parameter. The format is described in ``docs/trace-format.md`` and by the JSON Schema
:data:`SCHEMA_PATH`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from harness.checking import Checker, TraceChecker, Verdict, Violation
from harness.conformance import PatternRun, RuleResult, event_record
from harness.contract import Implementation
from harness.drivers import checkers_for, patterns
from harness.events import Event, TraceFormatError, read_jsonl_numbered, read_lines
from harness.params import ParamError, check_recorded
from harness.reports import ImplementationResult, write_reports
from harness.rules import Pattern, Rule, rules_for

EXIT_OK, EXIT_VIOLATION, EXIT_USAGE = 0, 1, 2

#: The JSON Schema (Draft 2020-12) every line of a version-1 trace satisfies.
SCHEMA_PATH: Final = Path(__file__).resolve().parent / "schema" / "trace-v1.schema.json"


class TraceInputError(Exception):
    """The trace or the options cannot be checked; the message is one line for stderr."""


@dataclass(frozen=True, slots=True, eq=False)
class LocatedEvent(Event):
    """An event read from a trace file, with the 1-based line it came from."""

    line: int = 0


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    """One rule's verdict on one trace, with the violations kept as evidence."""

    rule: Rule
    verdict: Verdict
    reason: str = ""
    violations: tuple[Violation, ...] = ()


@dataclass
class TraceResult:
    """What checking one trace showed."""

    source: str
    pattern: Pattern
    params: dict[str, Any]
    events: int
    ended: bool
    verdicts: list[RuleVerdict]
    violation_count: int = 0
    seconds: float = 0.0
    exercised: set[str] = field(default_factory=set)

    @property
    def failed(self) -> bool:
        """Whether some rule was violated."""
        return any(v.verdict is Verdict.FAIL for v in self.verdicts)

    def unknown_required(self) -> list[RuleVerdict]:
        """Required rules the trace left undecided."""
        return [
            v for v in self.verdicts if v.verdict is Verdict.UNKNOWN and v.rule.tier == "required"
        ]


def parse_param(text: str) -> tuple[str, Any]:
    """Split ``key=value`` into the key and its value (a JSON scalar, else the raw string).

    Raise ValueError when there is no ``=``, the key is empty or the value is not a scalar.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"--param wants key=value, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        return key, raw
    if isinstance(value, dict | list):
        raise ValueError(f"--param {key}: a parameter is a scalar, got {raw!r}")
    return key, value


def _make_checkers(pattern: Pattern, params: Mapping[str, Any]) -> list[Checker]:
    try:
        return checkers_for(pattern, params)
    except KeyError as exc:
        name = exc.args[0] if exc.args else "?"
        raise TraceInputError(
            f"{name}: record it in the trace's first (params) event or pass --param"
        ) from None
    except (TypeError, ValueError) as exc:
        raise TraceInputError(f"bad run parameter: {exc}") from None


def _locate(source: str, numbered: Iterable[tuple[int, Event]]) -> Iterator[LocatedEvent]:
    """Attach line numbers, refusing a trace whose time goes backwards or repeats params."""
    last_t = float("-inf")
    for number, event in numbered:
        if event.t < last_t:
            raise TraceInputError(
                f"{source}:{number}: t goes backwards ({event.t:g} after {last_t:g})"
            )
        last_t = event.t
        yield LocatedEvent(event.t, event.kind, event.id, event.data, number)


def check_lines(
    lines: Iterable[str],
    pattern: Pattern,
    overrides: Mapping[str, Any] | None = None,
    source: str = "<trace>",
) -> TraceResult:
    """Check a trace given as lines; raise :class:`TraceInputError` on bad input."""
    started = time.perf_counter()
    try:
        # The options first: a bad --param is reported whatever the trace holds.
        options = _checked_params(pattern, overrides or {}, "--param ", None)
        events = _locate(source, read_jsonl_numbered(lines))
        first = next(events, None)
        if first is None:
            raise TraceInputError(f"{source}: the trace holds no event")
        params: dict[str, Any] = {}
        if first.kind == "params":
            params.update(first.data)
        params.update(options)
        declared = params.setdefault("pattern", str(pattern))
        if declared != str(pattern):
            raise TraceInputError(
                f"{source}: the trace's params say pattern {declared!r}, not {str(pattern)!r}"
            )
        params = _merged_params(pattern, params, options, f"{source}:{first.line}: params.")
        folder = TraceChecker(_make_checkers(pattern, params))
        count = 0
        ended = False
        if first.kind == "params":
            # The checkers see the parameters they were built with, overrides included.
            first = LocatedEvent(first.t, "params", first.id, params, first.line)
        for event in _chain(first, events):
            count += 1
            if event.kind == "params" and count > 1:
                raise TraceInputError(
                    f"{source}:{event.line}: a params event may only be the first event"
                )
            ended = ended or event.kind == "end"
            try:
                folder.feed(event)
            except Exception as exc:
                # A field of the wrong type, say: the trace is at fault, not the checker.
                raise TraceInputError(
                    f"{source}:{event.line}: cannot check this {event.kind} event "
                    f"({type(exc).__name__}: {exc})"
                ) from None
    except TraceFormatError as exc:
        raise TraceInputError(f"{source}:{exc.line}: {exc.reason}") from None
    return TraceResult(
        source=source,
        pattern=pattern,
        params=params,
        events=count,
        ended=ended,
        verdicts=_verdicts(pattern, folder),
        violation_count=sum(checker.violation_count for checker in folder.checkers),
        seconds=time.perf_counter() - started,
        exercised=folder.exercised(),
    )


def _checked_params(
    pattern: Pattern, params: Mapping[str, Any], where: str, factory: str | None
) -> dict[str, Any]:
    try:
        return check_recorded(pattern, params, where=where, factory=factory)
    except ParamError as exc:
        raise TraceInputError(str(exc)) from None


def _merged_params(
    pattern: Pattern, merged: Mapping[str, Any], options: Mapping[str, Any], where: str
) -> dict[str, Any]:
    """Validate what the params event gave (options win), then the options against its factory.

    Each problem is blamed where it came from: the params event's line, or the ``--param``.
    """
    factory = merged.get("factory")
    recorded = {k: v for k, v in merged.items() if k not in options or k == "pattern"}
    checked = _checked_params(pattern, recorded, where, factory)
    checked.update(_checked_params(pattern, options, "--param ", factory))
    return {name: checked[name] for name in merged}


def _chain(first: LocatedEvent, rest: Iterator[LocatedEvent]) -> Iterator[LocatedEvent]:
    yield first
    yield from rest


#: Offline, poolcheck did not watch the run: these rules pass on the writer's word.
_TRUSTED: Final = {
    "NO-HANG": "the trace records no hang (the writer reports its own)",
    "NO-CRASH": "the trace records no crash (the writer reports its own)",
    "NO-LEAK": "the trace records no leak (the writer reports its own)",
}


def _verdicts(pattern: Pattern, folder: TraceChecker) -> list[RuleVerdict]:
    decided = folder.rule_ids()
    exercised = folder.exercised()
    violations = folder.violations()
    results = []
    for rule in rules_for(pattern):
        broken = tuple(v for v in violations if v.rule_id == rule.id)
        if broken:
            results.append(RuleVerdict(rule, Verdict.FAIL, broken[0].message, broken))
        elif rule.id not in decided:
            results.append(
                RuleVerdict(rule, Verdict.UNKNOWN, f"not checked for the {pattern} pattern")
            )
        elif rule.id in exercised:
            results.append(RuleVerdict(rule, Verdict.PASS, _TRUSTED.get(rule.id, "")))
        else:
            reason = "not exercised by this trace"
            if rule.id.startswith("NO-"):
                reason += " (write a params event first: the guards judge the run it starts)"
            elif rule.capability:
                reason += f" (optional: needs capability {rule.capability!r})"
            results.append(RuleVerdict(rule, Verdict.UNKNOWN, reason))
    return results


def check_trace(
    path: Path, pattern: Pattern, overrides: Mapping[str, Any] | None = None
) -> TraceResult:
    """Check the trace file at ``path`` (``-``: standard input), streaming it.

    Raise :class:`TraceInputError` when it cannot be read or checked.
    """
    if str(path) == "-":
        return check_lines(_decoded(sys.stdin.buffer, "<stdin>"), pattern, overrides, "<stdin>")
    try:
        with path.open("rb") as raw:
            return check_lines(_decoded(raw, str(path)), pattern, overrides, str(path))
    except FileNotFoundError:
        raise TraceInputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise TraceInputError(f"{path}: is a directory, not a trace file") from None
    except OSError as exc:
        raise TraceInputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _decoded(raw: IO[bytes], source: str) -> Iterator[str]:
    # Decoding line by line names the line of a bad byte, which a text-mode read cannot; each
    # line is read with a bounded readline, so an endless one is an error, not a memory leak.
    for number, chunk in enumerate(read_lines(raw), start=1):
        try:
            yield chunk.decode("utf-8")
        except UnicodeDecodeError:
            raise TraceInputError(f"{source}:{number}: not UTF-8 text") from None


# -- command line ----------------------------------------------------------------------------


def _param_arg(text: str) -> tuple[str, Any]:
    try:
        return parse_param(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``check-trace`` on the CLI's subparsers; return its parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check-trace",
        help="check a JSON Lines trace written by any program (docs/trace-format.md)",
        description="Check a JSON Lines trace against the rules of one pattern.",
    )
    parser.add_argument("trace", type=Path, metavar="FILE.jsonl", help="the trace (- for stdin)")
    parser.add_argument("--pattern", required=True, choices=[str(p) for p in patterns()])
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        type=_param_arg,
        metavar="KEY=VALUE",
        help="a run parameter (JSON scalar, else string); overrides the trace's params event",
    )
    parser.add_argument("--report-dir", type=Path, help="also write conformance-style reports")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 also when a required rule is left unknown"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``check-trace``; return the exit code (bad input: one line on stderr, exit 2)."""
    try:
        result = check_trace(args.trace, Pattern(args.pattern), dict(args.param))
    except TraceInputError as exc:
        print(f"poolcheck: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for line in render(result):
        print(line)
    code = exit_code(result, args.strict)
    if args.report_dir is not None:
        try:
            paths = write_trace_reports(args.report_dir, result, args.strict)
        except OSError as exc:
            print(f"poolcheck: error: cannot write reports: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print("reports: " + ", ".join(str(p) for p in paths))
    return code


def exit_code(result: TraceResult, strict: bool = False) -> int:
    """1 when a rule is violated (or, when ``strict``, a required rule unknown); else 0."""
    if result.failed or (strict and result.unknown_required()):
        return EXIT_VIOLATION
    return EXIT_OK


def render(result: TraceResult) -> list[str]:
    """The human-readable verdicts: failures first, with the offending events' lines."""
    shown = ", ".join(f"{k}={json.dumps(v, default=repr)}" for k, v in result.params.items())
    lines = [f"{result.source}: pattern {result.pattern}, {result.events} events; params {shown}"]
    if not result.ended:
        lines.append("  note: no end event: properties judged at the end were not checked")
    width = max(len(v.rule.id) for v in result.verdicts)
    order = {Verdict.FAIL: 0, Verdict.UNKNOWN: 1, Verdict.PASS: 2, Verdict.NOT_APPLICABLE: 3}
    for verdict in sorted(result.verdicts, key=lambda v: order[v.verdict]):
        if verdict.verdict is Verdict.FAIL:
            many = len(verdict.violations)
            lines.append(f"FAIL     {verdict.rule.id} ({many} violation{'s' * (many > 1)}):")
        else:
            label = str(verdict.verdict)
            lines.append(f"{label:<8} {verdict.rule.id:<{width}}  {verdict.reason}".rstrip())
        for violation in verdict.violations:
            lines.append(f"  {violation.rule_id}: {violation.message}")
            for event in violation.events:
                where = f"{result.source}:{event.line}" if isinstance(event, LocatedEvent) else ""
                lines.append(f"    {where}  {event.describe()}")
    counts = {v: sum(1 for x in result.verdicts if x.verdict is v) for v in Verdict}
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    kept = sum(len(v.violations) for v in result.verdicts)
    if result.violation_count > kept:
        summary += f" ({result.violation_count} violations in all, first {kept} shown)"
    lines.append(f"poolcheck check-trace: {summary}")
    return lines


# -- reports ---------------------------------------------------------------------------------


@dataclass
class _TraceReport(ImplementationResult):
    """A trace's verdicts in the shape of a conformance result, with check-trace's exit code."""

    trace_exit_code: int = 0

    @property
    def exit_code(self) -> int:
        """The code ``check-trace`` exits with, so the report agrees with the command."""
        return self.trace_exit_code


def write_trace_reports(report_dir: Path, result: TraceResult, strict: bool = False) -> list[Path]:
    """Write conformance.json/.md/.junit.xml for one trace (atomically, via harness.reports)."""
    source = Implementation(
        spec=f"trace:{result.source}",
        name=Path(result.source).name,
        backend="trace",
        capabilities=frozenset(),
        factories={},
    )
    run = PatternRun(
        pattern=str(result.pattern),
        applicable=True,
        examples=1,
        seconds=result.seconds,
        exercised=sorted(result.exercised),
    )
    rules = [_rule_result(result, verdict) for verdict in result.verdicts]
    report = _TraceReport(source, [run], rules, exit_code(result, strict))
    return write_reports(report_dir, [report], "offline", result.seconds)


def _rule_result(result: TraceResult, verdict: RuleVerdict) -> RuleResult:
    examples = 1 if verdict.rule.id in result.exercised else 0
    if verdict.verdict is not Verdict.FAIL:
        return RuleResult(verdict.rule, verdict.verdict, examples, verdict.reason)
    first = verdict.violations[0]
    evidence = [
        {**event_record(e), "line": e.line} if isinstance(e, LocatedEvent) else event_record(e)
        for e in first.events
    ]
    steps = [
        f"{result.source}:{e.line}: {e.describe()}"
        for e in first.events
        if isinstance(e, LocatedEvent)
    ]
    counterexample = {
        "rule": first.rule_id,
        "message": first.message,
        "steps": steps,
        "evidence": evidence,
        "trace": [],
        "blob": None,
        "hypothesis_version": None,
        "replay": None,
    }
    return RuleResult(verdict.rule, Verdict.FAIL, examples, first.message, counterexample)
