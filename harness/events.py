"""The one event type of poolcheck traces, and its JSON Lines form.

A trace is a sequence of :class:`Event` in the order they happened, each stamped with the
virtual time at which the harness observed it. Models record traces while they drive an
implementation; programs in other languages write the same thing as JSON Lines, one object
per line, and the same checkers read both.

Line format (version 1)::

    {"v": 1, "t": 0.25, "kind": "put_ok", "id": 3, "data": {"len": 2}}

``id`` names the subject of the event (a job, an item, a waiter, an attempt number, a key) and
may be omitted; ``data`` carries small, kind-specific fields and may be omitted. The JSON
Schema of a line is ``harness/schema/trace-v1.schema.json``; ``docs/trace-format.md`` lists the
event kinds of each pattern and the ordering conventions.

A reader of untrusted input must stay bounded whatever it is given: a line is at most
:data:`MAX_LINE_BYTES` long (:func:`read_lines` reads a stream in pieces of at most that size,
so ``/dev/zero`` cannot exhaust memory) and nests at most :data:`MAX_NESTING` levels of
arrays and objects (deeper JSON would exhaust the decoder's recursion). Either excess is a
:class:`TraceFormatError` naming the line, like any other malformed line.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import IO, Any, Final

TRACE_FORMAT_VERSION: Final = 1
#: The longest line a trace may hold, in bytes (newline excluded): 1 MiB.
MAX_LINE_BYTES: Final = 1 << 20
#: The deepest nesting of arrays and objects in a line, the record object itself included.
MAX_NESTING: Final = 64

#: Scalar values allowed as ids and data fields: they must survive a JSON round trip.
Scalar = str | int | float | bool | None


def as_scalar(value: object) -> Scalar:
    """``value`` itself when it is a JSON scalar, else its ``repr`` (ids of foreign objects)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Event:
    """Something observed at virtual time ``t``: ``kind`` says what, ``id`` about whom."""

    t: float
    kind: str
    id: Scalar = None
    data: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def get(self, key: str, default: Any = None) -> Any:
        """Return ``data[key]``, or ``default`` when the event does not carry it."""
        return self.data.get(key, default)

    def to_json(self) -> str:
        """Serialise as one JSON Lines record (no trailing newline)."""
        record: dict[str, Any] = {"v": TRACE_FORMAT_VERSION, "t": self.t, "kind": self.kind}
        if self.id is not None:
            record["id"] = self.id
        if self.data:
            record["data"] = dict(self.data)
        return json.dumps(record, separators=(",", ":"), default=repr)

    def describe(self) -> str:
        """A short human-readable rendering for reports: ``t=0.250 put_ok id=3 len=2``."""
        parts = [f"t={self.t:.6g}", self.kind]
        if self.id is not None:
            parts.append(f"id={self.id!r}")
        parts.extend(f"{key}={value!r}" for key, value in self.data.items())
        return " ".join(parts)


class TraceFormatError(ValueError):
    """A trace line that is not a valid version-1 event; ``line`` is 1-based."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity, which JSON (and the JSON Schema) does not.
    raise ValueError(f"{name} is not a JSON value")


# One decoder for every line: json.loads with an option would build a new one per call.
_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant)


# A string (escapes included) or one bracket: what the nesting scan has to look at.
_STRING_OR_BRACKET: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def too_deep(text: str, limit: int = MAX_NESTING) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` in ``text`` (strings ignored)."""
    if text.count("[") + text.count("{") <= limit:
        return False  # too few brackets to go deeper: no scan (the common case)
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


def event_from_json(text: str, line: int = 0) -> Event:
    """Parse one JSON Lines record; raise :class:`TraceFormatError` naming ``line``."""
    if len(text) > MAX_LINE_BYTES:
        body = text.removesuffix("\n").removesuffix("\r")
        if len(body.encode("utf-8", "surrogatepass")) > MAX_LINE_BYTES:
            raise TraceFormatError(line, f"line longer than {MAX_LINE_BYTES} bytes")
    if too_deep(text):
        raise TraceFormatError(line, f"JSON nested deeper than {MAX_NESTING} levels")
    try:
        record = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise TraceFormatError(line, f"not JSON ({exc.msg})") from None
    except ValueError as exc:
        raise TraceFormatError(line, f"not JSON ({exc})") from None
    except RecursionError:
        # The scan above bounds the depth; this is for a caller already deep in its stack.
        raise TraceFormatError(line, "JSON nested too deeply to decode") from None
    if not isinstance(record, dict):
        raise TraceFormatError(line, "a record must be a JSON object")
    version = record.get("v", TRACE_FORMAT_VERSION)
    if isinstance(version, bool) or version != TRACE_FORMAT_VERSION:
        raise TraceFormatError(line, f"unsupported trace version {version!r}")
    t = record.get("t")
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
        raise TraceFormatError(line, "'t' must be a finite number")
    kind = record.get("kind")
    if not isinstance(kind, str) or not kind:
        raise TraceFormatError(line, "'kind' must be a non-empty string")
    ident = record.get("id")
    if ident is not None and not isinstance(ident, str | int | float | bool):
        raise TraceFormatError(line, "'id' must be a string, number or boolean")
    data = record.get("data", {})
    if not isinstance(data, dict):
        raise TraceFormatError(line, "'data' must be an object")
    unknown = set(record) - {"v", "t", "kind", "id", "data"}
    if unknown:
        raise TraceFormatError(line, f"unknown field(s) {sorted(unknown)}")
    return Event(float(t), kind, ident, data or _EMPTY)


def read_jsonl(lines: Iterable[str]) -> Iterator[Event]:
    """Parse JSON Lines lazily (blank lines skipped), so huge traces stream in flat memory."""
    for _, event in read_jsonl_numbered(lines):
        yield event


def read_lines(stream: IO[bytes], limit: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """The lines of a binary ``stream`` (newline kept), each read with a bounded ``readline``.

    A line longer than ``limit`` bytes (its newline not counted) raises
    :class:`TraceFormatError` after at most ``limit + 1`` bytes of it were read, so an
    endless line (``/dev/zero``) costs one line's memory, not the machine's.
    """
    number = 0
    while True:
        chunk = stream.readline(limit + 1)
        if not chunk:
            return
        number += 1
        if len(chunk) > limit and not (len(chunk) == limit + 1 and chunk.endswith(b"\n")):
            raise TraceFormatError(number, f"line longer than {limit} bytes")
        yield chunk


def read_jsonl_numbered(lines: Iterable[str]) -> Iterator[tuple[int, Event]]:
    """Like :func:`read_jsonl`, pairing each event with its 1-based line number."""
    for number, text in enumerate(lines, start=1):
        if text.strip():
            yield number, event_from_json(text, number)


def write_jsonl(events: Iterable[Event], out: IO[str]) -> int:
    """Write ``events`` as JSON Lines to ``out``; return how many were written."""
    count = 0
    for event in events:
        out.write(event.to_json())
        out.write("\n")
        count += 1
    return count
