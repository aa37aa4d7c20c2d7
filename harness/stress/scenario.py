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

Anything unknown, mistyped or impossible is a :class:`~harness.plugin.ConfigError` naming
the file and the key, so the command prints one line and exits 2.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from harness.backends import BACKEND_NAMES
from harness.contract import FACTORIES
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
#: Extra parameters a pattern's checkers read beyond its factories' keyword arguments.
_EXTRA_PARAMS: Final[dict[Pattern, set[str]]] = {Pattern.IDEMPOTENCY: {"keys"}}


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
    seed = _int(raw, "seed", 0, low=0)
    params = _params(pattern, _table(raw, "params"))
    load = _load(_table(raw, "load"))
    run = _table(raw, "run")
    _no_unknown(run, {"jobs", "seconds"}, "run.")
    if ("jobs" in run) == ("seconds" in run):
        raise ConfigError("[run] needs exactly one of 'jobs' or 'seconds'")
    jobs = _int(run, "jobs", None, low=1, where="run.") if "jobs" in run else None
    seconds = _float(run, "seconds", None, low=0.0, where="run.", strict=True)
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
    factories = [name for name, (p, _) in FACTORIES.items() if p is pattern]
    factory = raw.get("factory", factories[0] if len(factories) == 1 else None)
    if factory not in factories:
        raise ConfigError(f"params.factory must be one of {factories} for pattern {pattern}")
    allowed = {"factory", *FACTORIES[factory][1], *_EXTRA_PARAMS.get(pattern, set())}
    allowed.discard("handler")
    allowed.discard("effect")
    allowed.discard("retryable")
    _no_unknown(raw, allowed, "params.")
    params: dict[str, Any] = {"pattern": str(pattern), "factory": factory}
    for key, value in raw.items():
        if key == "factory":
            continue
        params[key] = _param_value(key, value)
    required = set(allowed) - {"factory", "job_timeout", "policy", "keys", "seed"}
    missing = sorted(required - params.keys())
    if missing:
        raise ConfigError(f"params for {factory} are missing {missing}")
    if factory == "worker_pool":
        params.setdefault("job_timeout", None)
    if factory == "dropping_queue":
        params.setdefault("policy", "newest")
        if params["policy"] not in ("newest", "oldest"):
            raise ConfigError("params.policy must be 'newest' or 'oldest'")
    if factory == "retrier":
        params.setdefault("seed", 0)
        if params["jitter"] not in ("none", "full", "equal"):
            raise ConfigError("params.jitter must be 'none', 'full' or 'equal'")
    return params


_INT_PARAMS: Final = {
    "capacity": 1,
    "workers": 1,
    "jobs_buffer": 0,
    "results_buffer": 0,
    "max_attempts": 1,
    "window": 1,
    "max_size": 1,
    "burst": 1,
    "keys": 1,
    "seed": 0,
}
_POSITIVE_FLOATS: Final = {"rate", "interval", "max_age", "job_timeout"}
_NON_NEGATIVE_FLOATS: Final = {"base", "cap"}


def _param_value(key: str, value: Any) -> Any:
    where = "params."
    if key in _INT_PARAMS:
        return _int({key: value}, key, None, low=_INT_PARAMS[key], where=where)
    if key in _POSITIVE_FLOATS:
        return _float({key: value}, key, None, low=0.0, where=where, strict=True)
    if key in _NON_NEGATIVE_FLOATS:
        return _float({key: value}, key, None, low=0.0, where=where)
    if key == "factor":
        return _float({key: value}, key, None, low=1.0, where=where)
    return _str({key: value}, key, None, where=where)


def _load(raw: Mapping[str, Any]) -> Load:
    _no_unknown(raw, _LOAD_KEYS, "load.")
    w = "load."
    burst = None
    if "burst" in raw:
        table = _table(raw, "burst", where=w)
        _no_unknown(table, {"size", "every"}, "load.burst.")
        burst = Burst(
            size=_int(table, "size", None, low=1, where="load.burst."),
            every=_float(table, "every", None, low=0.0, where="load.burst.", strict=True),
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
        producers=_int(raw, "producers", 1, low=1, where=w),
        consumers=_int(raw, "consumers", 1, low=1, where=w),
        rate=_float(raw, "rate", None, low=0.0, where=w, strict=True),
        burst=burst,
        duration=_duration(raw.get("duration", 0.0)),
        failure_rate=_float(raw, "failure_rate", 0.0, low=0.0, high=1.0, where=w),
        retry_rate=_float(raw, "retry_rate", 0.0, low=0.0, high=1.0, where=w),
        duplicate_rate=_float(raw, "duplicate_rate", 0.0, low=0.0, high=1.0, where=w),
        cancel_at=cancel_at,
        deadline=_float(raw, "deadline", 60.0, low=0.0, where=w, strict=True),
        keys=_int(raw, "keys", 0, low=0, where=w),
        tasks=_int(raw, "tasks", 0, low=0, where=w),
    )


def _duration(raw: Any) -> Duration:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = _float({"duration": raw}, "duration", None, low=0.0, where="load.")
        return Duration("fixed", value=value)
    if not isinstance(raw, dict):
        raise ConfigError("load.duration must be a number or a table with 'dist'")
    w = "load.duration."
    dist = _str(raw, "dist", "fixed", where=w)
    keys = {"fixed": {"value"}, "uniform": {"low", "high"}, "exponential": {"mean"}}.get(dist)
    if keys is None:
        raise ConfigError(f"load.duration.dist must be one of {list(DISTRIBUTIONS)}")
    _no_unknown(raw, {"dist", *keys}, w)
    values = {key: _float(raw, key, None, low=0.0, where=w) for key in keys}
    if dist == "uniform" and values["low"] > values["high"]:
        raise ConfigError("load.duration: low must not exceed high")
    return Duration(dist, **values)


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


def _int(raw: Mapping[str, Any], key: str, default: Any, low: int, where: str = "") -> Any:
    value = raw.get(key, default)
    if value is None:
        if key in raw or default is None:
            raise ConfigError(f"missing key {where}{key}")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}{key} must be an integer, not {type(value).__name__}")
    if value < low:
        raise ConfigError(f"{where}{key} must be at least {low}, not {value}")
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
    if value < low or (strict and value == low):
        bound = f"greater than {low:g}" if strict else f"at least {low:g}"
        raise ConfigError(f"{where}{key} must be {bound}, not {value:g}")
    if high is not None and value > high:
        raise ConfigError(f"{where}{key} must be at most {high:g}, not {value:g}")
    return value
