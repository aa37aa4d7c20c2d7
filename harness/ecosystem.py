"""The ecosystem matrix: every bundled adapter of a real library through ``poolcheck check``.

    python -m harness.ecosystem [--report-dir reports] [--profile ci] [--jobs N] [NAMES...]

Each adapter of :data:`harness.adapters.ADAPTERS` (or only the NAMES given) is checked by the
real command line, in a process of its own, exactly as a user would check it
(``python -m harness.cli check --impl MODULE:implementation``). Its full reports stay in
``REPORT_DIR/ecosystem/NAME/`` (the counterexamples and replay commands live there); its
``conformance.json`` is read back, and two files are written atomically:

* ``REPORT_DIR/ecosystem.json``: every library's exit code, status and per-rule verdicts;
* ``REPORT_DIR/ecosystem.md``: the matrix, one table per pattern, one row per library that
  provides the pattern, one column per rule: ``pass``, ``FAIL``, ``n/a [k]`` or
  ``unknown [k]`` (note ``k`` under the table gives the reason), and a Findings column linking
  a library's FAILs to the scripts in ``docs/findings/`` whose names start with its name.

A library whose check exits 2 (a configuration error, e.g. the library is not installed) or 3
(an internal error of poolcheck) is shown as such, with poolcheck's one-line message, never
left out. Harness errors are counted in the summary: they must be zero.

Exit codes: 0 no harness or configuration error and every FAIL has a finding script; 1 some
FAIL has no finding script; 2 usage or configuration error (an unknown NAME, or some library's
check exited 2); 3 some library met a harness error; 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import trio

from harness.plugin import ConfigError
from harness.reports import prepare_report_dir, write_atomically
from harness.rules import RULES
from harness.search.engine import PROFILES

EXIT_OK, EXIT_UNEXPLAINED, EXIT_USAGE, EXIT_HARNESS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
ECOSYSTEM_FORMAT_VERSION = 1
#: Wall-clock seconds one library's check may take before it is stopped. A check's searches
#: are already watched (NO-HANG), so running past this is poolcheck's own hang.
DEFAULT_TIMEOUT = 1800.0
#: The verdicts of a conformance report, as the matrix shows them.
PASS, FAIL, NOT_APPLICABLE, UNKNOWN = "pass", "fail", "not-applicable", "unknown"
#: What a library's check ended as.
CONFORMS, VIOLATIONS, CONFIG_ERROR, HARNESS_ERROR, INTERRUPTED = (
    "conforms",
    "does not conform",
    "config error",
    "harness error",
    "interrupted",
)
#: The heading of the pattern-independent rules' table.
SHARED = "all patterns"
#: The patterns of the catalog (a table of another group lists every library).
RULES_BY_PATTERN = frozenset(str(rule.pattern) for rule in RULES.values() if rule.pattern)


class AdapterLike(Protocol):
    """What the ecosystem run reads of a registry entry of :mod:`harness.adapters`."""

    @property
    def name(self) -> str:
        """The short name (``janus``)."""
        ...

    @property
    def module(self) -> str:
        """The adapter's module (``harness.adapters.janus``), whose ``implementation()`` it is."""
        ...

    @property
    def distribution(self) -> str | None:
        """The library's distribution on PyPI (None for the standard library)."""
        ...

    @property
    def extra(self) -> str | None:
        """The extra of poolcheck that installs the library."""
        ...


@dataclass
class Cell:
    """One library's verdict on one rule: the reason for n/a and unknown, the message of a FAIL."""

    verdict: str
    reason: str = ""
    examples: int = 0


@dataclass
class LibraryResult:
    """One library's check: how it ended, its verdicts, its harness errors and findings."""

    name: str
    module: str
    distribution: str | None
    extra: str | None
    version: str
    exit_code: int | None
    seconds: float
    report_dir: Path
    #: What the adapter wraps (``janus.Queue (async side)``), when the registry says.
    summary: str = ""
    #: poolcheck's one-line message when the check exited 2 or 3, or why it was stopped.
    message: str = ""
    implementation: str | None = None
    backend: str | None = None
    cells: dict[str, Cell] = field(default_factory=dict)
    #: The patterns the library provides (their searches ran).
    patterns: list[str] = field(default_factory=list)
    harness_errors: list[str] = field(default_factory=list)
    findings: list[Path] = field(default_factory=list)

    @property
    def status(self) -> str:
        """conforms, does not conform, config error, harness error or interrupted."""
        if self.harness_errors:
            return HARNESS_ERROR
        if self.exit_code == EXIT_USAGE:
            return CONFIG_ERROR
        if self.exit_code == EXIT_INTERRUPTED:
            return INTERRUPTED
        return CONFORMS if self.exit_code == EXIT_OK else VIOLATIONS

    def count(self, verdict: str) -> int:
        """How many rules got ``verdict``."""
        return sum(1 for cell in self.cells.values() if cell.verdict == verdict)

    @property
    def spec(self) -> str:
        """The adapter's ``module:callable``."""
        return f"{self.module}:implementation"


def registry() -> Mapping[str, AdapterLike]:
    """The bundled adapters, by short name (:data:`harness.adapters.ADAPTERS`)."""
    adapters: Mapping[str, AdapterLike] = importlib.import_module("harness.adapters").ADAPTERS
    return adapters


def installed_version(distribution: str | None) -> str:
    """The installed version of ``distribution``; "" for the standard library and trio.

    Those two have no distribution of their own in the registry: their versions are the run's
    (in the report's header).
    """
    if not distribution:
        return ""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def findings_for(name: str, distribution: str | None, findings_dir: Path) -> list[Path]:
    """The finding scripts of a library: ``docs/findings/<name>_*.py`` (or its dist name).

    Dashes, dots and underscores are one separator (``trio-nursery`` finds
    ``trio_nursery_x.py``), and a prefix ends at one: ``wrong`` does not find ``wrongly.py``.
    """
    if not findings_dir.is_dir():
        return []
    prefixes = {_normal(name)} | ({_normal(distribution)} if distribution else set())
    return [
        path
        for path in sorted(findings_dir.glob("*.py"))
        if any(_normal(path.stem) == p or _normal(path.stem).startswith(p + "_") for p in prefixes)
    ]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def impl_argument(adapter: AdapterLike) -> str:
    """What ``--impl`` names the adapter by: its short name when the CLI knows it by that name.

    A bundled adapter goes by its short name, as a user names it (``--impl janus``), so that a
    missing library is reported as such and the replay commands use the short name; any other
    (a test's own registry) by ``MODULE:implementation``.
    """
    bundled = registry().get(adapter.name)
    if bundled is not None and bundled.module == adapter.module:
        return adapter.name
    return f"{adapter.module}:implementation"


def check_command(adapter: AdapterLike, profile: str, report_dir: Path, jobs: str) -> list[str]:
    """The command line that checks one adapter, as a user would run it."""
    return [
        sys.executable,
        "-m",
        "harness.cli",
        "check",
        "--impl",
        impl_argument(adapter),
        "--profile",
        profile,
        "--report-dir",
        str(report_dir),
        "--jobs",
        jobs,
    ]


def run_check(
    command: list[str], log: Path, timeout: float
) -> tuple[int | None, str, float, str | None]:
    """Run one check; return its exit code, its stderr, its seconds and why it was stopped.

    The check runs in a session of its own, so a timeout stops it with every search process
    it started; its output goes to ``log`` as well.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    stopped = None
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(process)
        out, err = process.communicate()
        stopped = f"the check gave no answer in {timeout:g} s of wall-clock time and was stopped"
    except BaseException:
        # Ctrl-C: the check is in its own session and did not see it; stop it as poolcheck
        # stops on SIGTERM (children killed), then let the interrupt through.
        _stop(process)
        raise
    seconds = time.perf_counter() - started
    write_atomically(log, f"$ {' '.join(command)}\n{out}{err}")
    return (None if stopped else process.returncode), err, seconds, stopped


def _stop(process: subprocess.Popen[str]) -> None:
    for signum, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def last_line(text: str) -> str:
    """The last non-empty line of ``text`` (poolcheck's one-line error), or empty."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def collect(
    adapter: AdapterLike,
    exit_code: int | None,
    stderr: str,
    seconds: float,
    report_dir: Path,
    *,
    findings_dir: Path,
    stopped: str | None = None,
) -> LibraryResult:
    """One library's result from its check's exit code, stderr and ``conformance.json``."""
    result = LibraryResult(
        name=adapter.name,
        module=adapter.module,
        distribution=adapter.distribution,
        extra=adapter.extra,
        version=installed_version(adapter.distribution),
        summary=str(getattr(adapter, "summary", "") or ""),
        exit_code=exit_code,
        seconds=seconds,
        report_dir=report_dir,
        findings=findings_for(adapter.name, adapter.distribution, findings_dir),
    )
    if stopped is not None:
        result.message = stopped
        result.harness_errors.append(stopped)
    elif exit_code in (EXIT_USAGE, EXIT_HARNESS):
        result.message = last_line(stderr) or f"exit code {exit_code}, nothing on stderr"
        if exit_code == EXIT_HARNESS:
            result.harness_errors.append(result.message)
    elif exit_code not in (EXIT_OK, 1, EXIT_INTERRUPTED):
        result.message = f"unexpected exit code {exit_code}: {last_line(stderr)}".rstrip(": ")
        result.harness_errors.append(result.message)
    else:
        result.message = "" if exit_code != EXIT_INTERRUPTED else last_line(stderr)
    report = _read_report(report_dir / "conformance.json")
    if isinstance(report, str):
        # Exit 0 or 1 promises a report; without one, poolcheck broke its promise.
        if exit_code in (EXIT_OK, 1) and stopped is None:
            result.harness_errors.append(report)
            result.message = report
        return result
    [entry, *_] = report.get("implementations") or [{}]
    result.implementation = entry.get("name")
    result.backend = entry.get("backend")
    for run in entry.get("patterns", []):
        if run.get("applicable"):
            result.patterns.append(run["pattern"])
        if run.get("error"):
            result.harness_errors.append(f"harness error in {run['pattern']}: {run['error']}")
    for rule in entry.get("rules", []):
        counterexample = rule.get("counterexample") or {}
        reason = counterexample.get("message", "") if rule["verdict"] == FAIL else rule["reason"]
        result.cells[rule["id"]] = Cell(rule["verdict"], reason or "", rule.get("examples", 0))
    return result


def _read_report(path: Path) -> dict[str, Any] | str:
    """The parsed report, or a sentence saying why there is none."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"the check wrote no {path.name}"
    except (OSError, ValueError) as exc:
        return f"{path.name} cannot be read: {exc}"
    if not isinstance(report, dict):
        return f"{path.name} is not a report"
    return report


def check_library(
    adapter: AdapterLike,
    *,
    report_dir: Path,
    profile: str,
    jobs: str,
    timeout: float,
    findings_dir: Path,
) -> LibraryResult:
    """Check one adapter through the command line and read its report back."""
    own = report_dir / "ecosystem" / adapter.name
    own.mkdir(parents=True, exist_ok=True)
    # A report left by an earlier run must not stand in for this one's.
    for stale in ("conformance.json", "conformance.md", "conformance.junit.xml"):
        (own / stale).unlink(missing_ok=True)
    command = check_command(adapter, profile, own, jobs)
    exit_code, stderr, seconds, stopped = run_check(command, own / "poolcheck.log", timeout)
    return collect(
        adapter, exit_code, stderr, seconds, own, findings_dir=findings_dir, stopped=stopped
    )


def rule_columns(results: Sequence[LibraryResult]) -> dict[str, list[str]]:
    """Rule IDs grouped by pattern (catalog order, shared rules last), as the reports hold them."""
    seen = {rule_id for r in results for rule_id in r.cells}
    groups: dict[str, list[str]] = {}
    for rule in RULES.values():
        if rule.id in seen and rule.pattern is not None:
            groups.setdefault(str(rule.pattern), []).append(rule.id)
    shared = [rule.id for rule in RULES.values() if rule.id in seen and rule.pattern is None]
    # A report from a newer catalog than this process's: its rules still get a column.
    extra = sorted(seen - RULES.keys())
    if extra:
        groups.setdefault("other", []).extend(extra)
    if shared:
        groups[SHARED] = shared
    return groups


def fails_without_finding(results: Sequence[LibraryResult]) -> list[tuple[str, str]]:
    """(library, rule) of every FAIL whose library has no finding script."""
    return [
        (r.name, rule_id)
        for r in results
        for rule_id, cell in r.cells.items()
        if cell.verdict == FAIL and not r.findings
    ]


def summary(results: Sequence[LibraryResult]) -> dict[str, int]:
    """Counts over the whole matrix; ``harness_errors`` must be 0."""
    verdicts = Counter(cell.verdict for r in results for cell in r.cells.values())
    return {
        "libraries": len(results),
        "rules": sum(len(ids) for ids in rule_columns(results).values()),
        PASS: verdicts[PASS],
        FAIL: verdicts[FAIL],
        NOT_APPLICABLE: verdicts[NOT_APPLICABLE],
        UNKNOWN: verdicts[UNKNOWN],
        "harness_errors": sum(len(r.harness_errors) for r in results),
        "config_errors": sum(1 for r in results if r.status == CONFIG_ERROR),
        "interrupted": sum(1 for r in results if r.status == INTERRUPTED),
        "fails_without_finding": len(fails_without_finding(results)),
    }


def exit_code(results: Sequence[LibraryResult]) -> int:
    """3 harness error, 2 configuration error, 130 interrupted, 1 unexplained FAIL, else 0."""
    counts = summary(results)
    if counts["harness_errors"]:
        return EXIT_HARNESS
    if counts["config_errors"]:
        return EXIT_USAGE
    if counts["interrupted"]:
        return EXIT_INTERRUPTED
    return EXIT_UNEXPLAINED if counts["fails_without_finding"] else EXIT_OK


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def to_json(
    results: Sequence[LibraryResult], profile: str, wall_seconds: float, report_dir: Path
) -> dict[str, Any]:
    """The machine-readable matrix."""
    return {
        "version": ECOSYSTEM_FORMAT_VERSION,
        "tool": "poolcheck ecosystem",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "profile": profile,
        "wall_seconds": round(wall_seconds, 3),
        "environment": {
            "python": platform.python_version(),
            "trio": trio.__version__,
            "poolcheck": _poolcheck_version(),
        },
        "exit_code": exit_code(results),
        "summary": summary(results),
        "rules": rule_columns(results),
        "libraries": [
            {
                "name": r.name,
                "module": r.module,
                "spec": r.spec,
                "distribution": r.distribution,
                "extra": r.extra,
                "version": r.version,
                "wraps": r.summary,
                "implementation": r.implementation,
                "backend": r.backend,
                "exit_code": r.exit_code,
                "status": r.status,
                "message": r.message,
                "harness_errors": r.harness_errors,
                "seconds": round(r.seconds, 3),
                "report": _relative(r.report_dir / "conformance.md", report_dir),
                "patterns": r.patterns,
                "findings": [_relative(p, report_dir) for p in r.findings],
                "summary": {v: r.count(v) for v in (PASS, FAIL, NOT_APPLICABLE, UNKNOWN)},
                "rules": {
                    rule_id: {"verdict": c.verdict, "reason": c.reason, "examples": c.examples}
                    for rule_id, c in r.cells.items()
                },
            }
            for r in results
        ],
    }


def _poolcheck_version() -> str:
    try:
        return importlib.metadata.version("poolcheck")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _escape(text: str) -> str:
    """``text`` fit for one table cell or list item (no pipe, no line break)."""
    return " ".join(text.split()).replace("|", "\\|")


def _library_table(results: Sequence[LibraryResult], report_dir: Path) -> list[str]:
    lines = [
        "| Library | Wraps | Version | Backend | Exit | Status | pass | FAIL | n/a | unknown |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        report = r.report_dir / "conformance.md"
        name = f"[{r.name}]({_relative(report, report_dir)})" if report.exists() else r.name
        status = r.status if r.status in (CONFORMS, VIOLATIONS) else f"**{r.status.upper()}**"
        exit_text = "-" if r.exit_code is None else str(r.exit_code)
        lines.append(
            f"| {name} | {_escape(r.summary)} | {r.version or 'built in'} | {r.backend or ''} | "
            f"{exit_text} | {status} | {r.count(PASS)} | {r.count(FAIL)} | "
            f"{r.count(NOT_APPLICABLE)} | {r.count(UNKNOWN)} |"
        )
    return lines


def _findings_cell(r: LibraryResult, rule_ids: list[str], report_dir: Path) -> str:
    if not any(r.cells[i].verdict == FAIL for i in rule_ids if i in r.cells):
        return ""
    if not r.findings:
        return "**none**"
    return ", ".join(f"[{p.stem}]({_relative(p, report_dir)})" for p in r.findings)


def _pattern_table(
    pattern: str, rule_ids: list[str], results: Sequence[LibraryResult], report_dir: Path
) -> list[str]:
    # A pattern's table lists the libraries that provide it; the shared one lists every library.
    everyone = pattern not in RULES_BY_PATTERN
    rows = [r for r in results if r.cells and (everyone or pattern in r.patterns)]
    absent = [r.name for r in results if r.cells and r not in rows]
    if not rows:
        return []
    lines = [
        f"## {pattern}",
        "",
        "| Library | " + " | ".join(rule_ids) + " | Findings |",
        "|---|" + "---|" * (len(rule_ids) + 1),
    ]
    notes: dict[str, int] = {}
    for r in rows:
        cells = []
        for rule_id in rule_ids:
            cell = r.cells.get(rule_id)
            if cell is None:
                cells.append("")
            elif cell.verdict == PASS:
                cells.append("pass")
            elif cell.verdict == FAIL:
                cells.append("**FAIL**")
            else:
                short = "n/a" if cell.verdict == NOT_APPLICABLE else "unknown"
                reason = cell.reason or "no reason given"
                number = notes.setdefault(f"{short}: {reason}", len(notes) + 1)
                cells.append(f"{short} [{number}]")
        findings = _findings_cell(r, rule_ids, report_dir)
        lines.append(f"| {r.name} | " + " | ".join(cells) + f" | {findings} |")
    if notes:
        lines += ["", *(f"[{n}] {_escape(text)}  " for text, n in notes.items())]
    if absent:
        lines += ["", f"Not provided by: {', '.join(absent)}."]
    return [*lines, ""]


def to_markdown(
    results: Sequence[LibraryResult], profile: str, wall_seconds: float, report_dir: Path
) -> str:
    """The matrix a person reads at a glance: libraries first, then one table per pattern."""
    counts = summary(results)
    verdict = "clean" if exit_code(results) == EXIT_OK else "NOT CLEAN"
    lines = [
        f"# poolcheck ecosystem matrix: {verdict}",
        "",
        f"{counts['libraries']} libraries x {counts['rules']} rules, profile `{profile}`, "
        f"{wall_seconds:.1f} s wall, Python {platform.python_version()}, "
        f"trio {trio.__version__}, poolcheck {_poolcheck_version()}.",
        "",
        f"**Harness errors: {counts['harness_errors']}** (must be 0); "
        f"configuration errors: {counts['config_errors']}; "
        f"{counts[PASS]} pass, {counts[FAIL]} FAIL "
        f"({counts['fails_without_finding']} without a finding script), "
        f"{counts[NOT_APPLICABLE]} n/a, {counts[UNKNOWN]} unknown.",
        "",
        "## Libraries",
        "",
        *_library_table(results, report_dir),
        "",
    ]
    troubled = [r for r in results if r.status not in (CONFORMS, VIOLATIONS)]
    for r in troubled:
        errors = r.harness_errors or [r.message or "no message"]
        lines += [f"- **{r.name}: {r.status}**: {_escape(e)}" for e in errors]
    if troubled:
        lines.append("")
    unprovided = []
    for pattern, rule_ids in rule_columns(results).items():
        table = _pattern_table(pattern, rule_ids, results, report_dir)
        lines += table
        if not table:
            unprovided.append(pattern)
    if unprovided:
        lines += [f"No library provides: {', '.join(unprovided)}.", ""]
    failing = [r for r in results if r.count(FAIL)]
    if failing:
        lines += ["## FAILs", ""]
    for r in failing:
        where = (
            "findings: " + ", ".join(f"[{p.name}]({_relative(p, report_dir)})" for p in r.findings)
            if r.findings
            else "**no finding script** (a FAIL must be a finding or a declared deviation)"
        )
        lines.append(f"- **{r.name}** ({where}):")
        lines += [
            f"  - {rule_id}: {_escape(cell.reason)}"
            for rule_id, cell in r.cells.items()
            if cell.verdict == FAIL
        ]
    if failing:
        lines.append("")
    return "\n".join(lines)


def write_reports(
    report_dir: Path, results: Sequence[LibraryResult], profile: str, wall_seconds: float
) -> list[Path]:
    """Write ecosystem.json and ecosystem.md atomically; return their paths."""
    paths = [report_dir / "ecosystem.json", report_dir / "ecosystem.md"]
    texts = [
        json.dumps(to_json(results, profile, wall_seconds, report_dir), indent=2) + "\n",
        to_markdown(results, profile, wall_seconds, report_dir),
    ]
    for path, text in zip(paths, texts, strict=True):
        write_atomically(path, text)
    return paths


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.ecosystem",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("names", nargs="*", metavar="NAMES", help="only these adapters")
    parser.add_argument("--report-dir", type=Path, default=Path("reports"))
    parser.add_argument("--profile", default="ci", choices=sorted(PROFILES))
    parser.add_argument("--jobs", default="auto", help="searches at once within one check")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="wall-clock seconds one library's check may take (past it: a harness error)",
    )
    parser.add_argument(
        "--findings-dir",
        type=Path,
        default=Path("docs/findings"),
        help="where the finding scripts are (NAME_*.py)",
    )
    return parser


def main(
    argv: Sequence[str] | None = None, adapters: Mapping[str, AdapterLike] | None = None
) -> int:
    """Check every selected adapter and write the matrix; return the exit code."""
    args = _parser().parse_args(argv)
    try:
        known = registry() if adapters is None else adapters
        unknown = [name for name in args.names if name not in known]
        if unknown:
            raise ConfigError(f"unknown adapters {unknown} (known: {sorted(known)})")
        selected = [known[name] for name in (args.names or known)]
        prepare_report_dir(args.report_dir)
    except ConfigError as exc:
        print(f"poolcheck ecosystem: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    started = time.perf_counter()
    results = []
    try:
        for adapter in selected:
            result = check_library(
                adapter,
                report_dir=args.report_dir,
                profile=args.profile,
                jobs=args.jobs,
                timeout=args.timeout,
                findings_dir=args.findings_dir,
            )
            problem = f": {result.message}" if result.status not in (CONFORMS, VIOLATIONS) else ""
            print(f"{adapter.name}: {result.status} ({result.seconds:.1f} s){problem}", flush=True)
            results.append(result)
    except KeyboardInterrupt:
        print("poolcheck ecosystem: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    paths = write_reports(args.report_dir, results, args.profile, time.perf_counter() - started)
    counts = summary(results)
    print(
        f"{counts['libraries']} libraries: {counts['harness_errors']} harness errors, "
        f"{counts['config_errors']} configuration errors, {counts[FAIL]} FAIL "
        f"({counts['fails_without_finding']} without a finding script)"
    )
    print("reports: " + ", ".join(str(p) for p in paths))
    return exit_code(results)


if __name__ == "__main__":
    raise SystemExit(main())
