"""Stress scenarios as data: a small TOML file, validated strictly into a :class:`Scenario`.

A scenario names the pattern, optionally the implementation, the pattern's parameters (the
same ones the conformance models record in their ``params`` event), the load shape and the
run length::

    description = "producers faster than consumers against a bounded queue"
    pattern = "queue"
    seed = 7

    [params]
    factory = "bounded_queue"
    capacity = 16

    [load]
    producers = 8
    consumers = 2
    rate = 400.0                                   # offered items per virtual second
    duration = { dist = "exponential", mean = 0.01 }

    [run]
    jobs = 20000

Anything unknown, mistyped, out of range or impossible is a
:class:`~harness.plugin.ConfigError` naming the file and the key, so the command prints one
line and exits 2. Every field has a range (``docs/stress.md`` lists them): the pattern's
parameters share :data:`harness.params.PARAMS` with ``check-trace``; the load and the run
are bounded here, and so are the combinations no run could honour (a timed run offering more
jobs than a run may have, a job count that would take longer than the longest run, a line of
rate-limiter waiters that cannot drain within the deadline).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from harness.backends import BACKEND_NAMES
from harness.params import (
    MAX_CONCURRENT,
    MAX_RATE,
    MAX_RUN_SECONDS,
    MAX_SEED,
    MAX_SIZE,
    MAX_TIME,
    MAX_TOTAL,
    MIN_RATE,
    MIN_TIME,
    SCENARIO_EXTRAS,
    ParamError,
    check_value,
    factories_of,
    show,
    takes,
)
from harness.plugin import ConfigError
from harness.rules import Pattern

CATALOG_DIR: Final = Path(__file__).resolve().parent / "scenarios"
DISTRIBUTIONS: Final = ("fixed", "uniform", "exponential")

_TOP_KEYS: Final = {
    "name",
    "description",
    "pattern",
    "implementation",
    "backend",
    "seed",
    "params",
    "load",
    "run",
}
_LOAD_KEYS: Final = {
    "producers",
    "consumers",
    "rate",
    "burst",
    "duration",
    "failure_rate",
    "retry_rate",
    "duplicate_rate",
    "cancel_at",
    "deadline",
    "keys",
    "tasks",
}


@dataclass(frozen=True, slots=True)
class Duration:
    """A job (or effect, or attempt) duration distribution in virtual seconds."""

    dist: str = "fixed"
    value: float = 0.0
    low: float = 0.0
    high: float = 0.0
    mean: float = 0.0

    @property
    def average(self) -> float:
        """The distribution's mean."""
        if self.dist == "fixed":
            return self.value
        if self.dist == "uniform":
            return (self.low + self.high) / 2
        return self.mean


@dataclass(frozen=True, slots=True)
class Burst:
    """``size`` arrivals at once, every ``every`` virtual seconds."""

    size: int
    every: float


@dataclass(frozen=True, slots=True)
class Load:
    """The load shape: who offers what, how fast, how it fails, when it is cancelled."""

    producers: int = 1
    consumers: int = 1
    rate: float | None = None
    burst: Burst | None = None
    duration: Duration = field(default_factory=Duration)
    failure_rate: float = 0.0
    retry_rate: float = 0.0
    duplicate_rate: float = 0.0
    #: Fraction of the run (0..1) at which the run is cancelled, ``"random"``, or None.
    cancel_at: float | str | None = None
    #: Virtual seconds one await into the implementation may take before it is a hang.
    deadline: float = 60.0
    keys: int = 0
    tasks: int = 0

    @property
    def pace(self) -> float | None:
        """Jobs offered per virtual second by ``rate`` or ``burst``; None when flat out."""
        if self.rate is not None:
            return self.rate
        if self.burst is not None:
            return self.burst.size / self.burst.every
        return None


@dataclass(frozen=True, slots=True)
class Scenario:
    """One validated stress scenario."""

    name: str
    description: str
    pattern: Pattern
    params: Mapping[str, Any]
    load: Load
    jobs: int | None
    seconds: float | None
    seed: int
    implementation: str | None = None
    #: The backend the scenario is written for, if it names one (the implementation's must match).
    backend: str | None = None
    source: str = ""

    @property
    def factory(self) -> str:
        """The factory the scenario drives."""
        return str(self.params["factory"])

    @property
    def span(self) -> float | None:
        """The virtual seconds the run should last: ``seconds``, or ``jobs`` at the offered pace.

        None for a job count offered flat out (its length is the implementation's to decide).
        A run's overall budget must cover this, or a slow but correct run reads as a hang.
        """
        if self.seconds is not None:
            return self.seconds
        pace = self.load.pace
        return None if pace is None or self.jobs is None else self.jobs / pace

    def length(self) -> str:
        """The run length as a person reads it."""
        if self.jobs is not None:
            return f"{self.jobs:,} jobs"
        return f"{self.seconds:g} virtual s"


def catalog() -> dict[str, Path]:
    """The built-in scenarios by name."""
    return {path.stem: path for path in sorted(CATALOG_DIR.glob("*.toml"))}


def resolve(name_or_path: str) -> Path:
    """A catalog name or a path to a TOML file; anything else is a ConfigError."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ConfigError(f"scenario file {name_or_path!r} does not exist")
        return path
    known = catalog()
    if name_or_path not in known:
        raise ConfigError(
            f"unknown scenario {name_or_path!r} (built-in: {', '.join(known) or 'none'})"
        )
    return known[name_or_path]


def load_scenario(name_or_path: str) -> Scenario:
    """Read and validate a scenario by catalog name or file path."""
    path = resolve(name_or_path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    try:
        return parse(raw, default_name=path.stem, source=str(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def parse(raw: Mapping[str, Any], default_name: str = "scenario", source: str = "") -> Scenario:
    """Validate a scenario's TOML table; every problem is a one-line ConfigError."""
    _no_unknown(raw, _TOP_KEYS, "")
    name = _str(raw, "name", default_name)
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"name {name!r} must be letters, digits, '-' and '_' only")
    pattern_name = _str(raw, "pattern", None)
    try:
        pattern = Pattern(pattern_name)
    except ValueError:
        known = ", ".join(str(p) for p in Pattern)
        raise ConfigError(f"pattern {pattern_name!r} is not one of: {known}") from None
    backend = raw.get("backend")
    if backend is not None and backend not in BACKEND_NAMES:
        raise ConfigError(f"backend must be one of {sorted(BACKEND_NAMES)}, not {backend!r}")
    implementation = raw.get("implementation")
    if implementation is not None and not isinstance(implementation, str):
        raise ConfigError("implementation must be a string MODULE:CALLABLE")
    seed = _int(raw, "seed", 0, low=0, high=MAX_SEED)
    params = _params(pattern, _table(raw, "params"))
    load = _load(_table(raw, "load"))
    run = _table(raw, "run")
    _no_unknown(run, {"jobs", "seconds"}, "run.")
    if ("jobs" in run) == ("seconds" in run):
        raise ConfigError("[run] needs exactly one of 'jobs' or 'seconds'")
    jobs = _int(run, "jobs", None, low=1, high=MAX_TOTAL, where="run.") if "jobs" in run else None
    seconds = _float(run, "seconds", None, low=0.0, high=MAX_RUN_SECONDS, where="run.", strict=True)
    _check_length(load, jobs, seconds)
    _check_limiter_line(pattern, params, load)
    return Scenario(
        name=name,
        description=_str(raw, "description", ""),
        pattern=pattern,
        params=params,
        load=load,
        jobs=jobs,
        seconds=seconds,
        seed=seed,
        implementation=implementation,
        backend=backend,
        source=source,
    )


# -- sections ------------------------------------------------------------------------------


def _params(pattern: Pattern, raw: Mapping[str, Any]) -> dict[str, Any]:
    factories = factories_of(pattern)
    factory = raw.get("factory", factories[0] if len(factories) == 1 else None)
    if factory not in factories:
        raise ConfigError(f"params.factory must be one of {factories} for pattern {pattern}")
    allowed = {"factory", *takes(factory, pattern, SCENARIO_EXTRAS)}
    _no_unknown(raw, allowed, "params.")
    params: dict[str, Any] = {"pattern": str(pattern), "factory": factory}
    for key, value in raw.items():
        if key == "factory":
            continue
        try:
            params[key] = check_value(key, value, where="params.", run=True)
        except ParamError as exc:
            raise ConfigError(str(exc)) from None
    required = set(allowed) - {"factory", "job_timeout", "policy", "keys", "seed"}
    missing = sorted(required - params.keys())
    if missing:
        raise ConfigError(f"params for {factory} are missing {missing}")
    if factory == "worker_pool":
        params.setdefault("job_timeout", None)
    if factory == "dropping_queue":
        params.setdefault("policy", "newest")
    if factory == "retrier":
        params.setdefault("seed", 0)
    return params


def _load(raw: Mapping[str, Any]) -> Load:
    _no_unknown(raw, _LOAD_KEYS, "load.")
    w = "load."
    burst = None
    if "burst" in raw:
        table = _table(raw, "burst", where=w)
        _no_unknown(table, {"size", "every"}, "load.burst.")
        burst = Burst(
            size=_int(table, "size", None, low=1, high=MAX_SIZE, where="load.burst."),
            every=_float(table, "every", None, low=MIN_TIME, high=MAX_TIME, where="load.burst."),
        )
    if burst is not None and "rate" in raw:
        raise ConfigError("load: give either 'rate' or 'burst', not both")
    cancel_at: float | str | None = raw.get("cancel_at")
    if isinstance(cancel_at, str):
        if cancel_at != "random":
            raise ConfigError("load.cancel_at must be a fraction in (0, 1] or 'random'")
    elif cancel_at is not None:
        cancel_at = _float(raw, "cancel_at", None, low=0.0, high=1.0, where=w, strict=True)
    return Load(
        producers=_int(raw, "producers", 1, low=1, high=MAX_CONCURRENT, where=w),
        consumers=_int(raw, "consumers", 1, low=1, high=MAX_CONCURRENT, where=w),
        rate=_float(raw, "rate", None, low=MIN_RATE, high=MAX_RATE, where=w),
        burst=burst,
        duration=_duration(raw.get("duration", 0.0)),
        failure_rate=_float(raw, "failure_rate", 0.0, low=0.0, high=1.0, where=w),
        retry_rate=_float(raw, "retry_rate", 0.0, low=0.0, high=1.0, where=w),
        duplicate_rate=_float(raw, "duplicate_rate", 0.0, low=0.0, high=1.0, where=w),
        cancel_at=cancel_at,
        deadline=_float(raw, "deadline", 60.0, low=MIN_TIME, high=MAX_TIME, where=w),
        keys=_int(raw, "keys", 0, low=0, high=MAX_TOTAL, where=w),
        tasks=_int(raw, "tasks", 0, low=0, high=MAX_CONCURRENT, where=w),
    )


def _duration(raw: Any) -> Duration:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = _float({"duration": raw}, "duration", None, low=0.0, high=MAX_TIME, where="load.")
        return Duration("fixed", value=value)
    if not isinstance(raw, dict):
        raise ConfigError("load.duration must be a number or a table with 'dist'")
    w = "load.duration."
    dist = _str(raw, "dist", "fixed", where=w)
    keys = {"fixed": {"value"}, "uniform": {"low", "high"}, "exponential": {"mean"}}.get(dist)
    if keys is None:
        raise ConfigError(f"load.duration.dist must be one of {list(DISTRIBUTIONS)}")
    _no_unknown(raw, {"dist", *keys}, w)
    values = {key: _float(raw, key, None, low=0.0, high=MAX_TIME, where=w) for key in keys}
    if dist == "uniform" and values["low"] > values["high"]:
        raise ConfigError("load.duration: low must not exceed high")
    return Duration(dist, **values)


# -- combinations ----------------------------------------------------------------------------


def _check_length(load: Load, jobs: int | None, seconds: float | None) -> None:
    """Refuse a run whose pace would offer too many jobs, or take too long to offer them."""
    pace = load.pace
    if pace is None:
        return
    source = "load.rate" if load.rate is not None else "load.burst"
    if seconds is not None and pace * seconds > MAX_TOTAL:
        raise ConfigError(
            f"run.seconds: {seconds:g} virtual s at {source} {pace:g}/s offers about "
            f"{pace * seconds:.3g} jobs, more than the {MAX_TOTAL:,} a run may have"
        )
    if jobs is not None and jobs / pace > MAX_RUN_SECONDS:
        raise ConfigError(
            f"run.jobs: {jobs:,} jobs at {source} {pace:g}/s take about {jobs / pace:.3g} "
            f"virtual s, more than the {MAX_RUN_SECONDS:g} a run may last"
        )


def _check_limiter_line(pattern: Pattern, params: Mapping[str, Any], load: Load) -> None:
    """Refuse a limiter so slow that a correct one keeps a waiter past the call deadline.

    All producers but the prober wait in ``acquire``, one token each, so the last in line
    waits about ``producers`` tokens' time; longer than ``load.deadline`` would be reported
    as the implementation's NO-HANG although it is the scenario's doing.
    """
    if pattern is not Pattern.RATE or params["factory"] == "shedding_gate":
        return
    if params["factory"] == "leaky_bucket":
        per_token, source = float(params["interval"]), f"params.interval {params['interval']:g} s"
    else:
        per_token, source = 1.0 / float(params["rate"]), f"params.rate {params['rate']:g}/s"
    wait = load.producers * per_token
    if wait > load.deadline:
        raise ConfigError(
            f"load.deadline {load.deadline:g} s is shorter than the last of load.producers "
            f"{load.producers} waiters in line waits at {source} (about {wait:.3g} s); "
            "raise load.deadline, or lower load.producers"
        )


# -- typed readers -------------------------------------------------------------------------


def _no_unknown(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown key {where}{unknown[0]} (allowed: {', '.join(sorted(allowed))})"
        )


def _table(raw: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}{key} must be a table")
    return value


def _str(raw: Mapping[str, Any], key: str, default: str | None, where: str = "") -> str:
    value = raw.get(key, default)
    if value is None:
        raise ConfigError(f"missing key {where}{key}")
    if not isinstance(value, str):
        raise ConfigError(f"{where}{key} must be a string, not {type(value).__name__}")
    return value


def _int(
    raw: Mapping[str, Any],
    key: str,
    default: Any,
    low: int,
    high: int | None = None,
    where: str = "",
) -> Any:
    value = raw.get(key, default)
    if value is None:
        if key in raw or default is None:
            raise ConfigError(f"missing key {where}{key}")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}{key} must be an integer, not {type(value).__name__}")
    if value < low:
        raise ConfigError(f"{where}{key} must be at least {low:,}, not {show(value)}")
    if high is not None and value > high:
        raise ConfigError(f"{where}{key} must be at most {high:,}, not {show(value)}")
    return value


def _float(
    raw: Mapping[str, Any],
    key: str,
    default: Any,
    low: float,
    high: float | None = None,
    where: str = "",
    strict: bool = False,
) -> Any:
    if key not in raw:
        return default
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}{key} must be a number, not {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{where}{key} must be finite")
    if low > 0 and value <= 0:
        # Say what is wrong first: a positive quantity, before how small it may be.
        raise ConfigError(f"{where}{key} must be greater than 0, not {value:g}")
    if value < low or (strict and value == low):
        bound = f"greater than {low:g}" if strict else f"at least {low:g}"
        raise ConfigError(f"{where}{key} must be {bound}, not {value:g}")
    if high is not None and value > high:
        raise ConfigError(f"{where}{key} must be at most {high:g}, not {value:g}")
    return value
