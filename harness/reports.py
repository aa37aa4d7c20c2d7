"""Conformance reports: JSON for machines, Markdown for people (and CI step summaries), JUnit XML.

Every file is written atomically: to a temporary file in the same directory, flushed, then
renamed over the target, so a crash or Ctrl-C never leaves a half-written report.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hypothesis
import trio

from harness.backends import backend_note
from harness.checking import Verdict
from harness.conformance import REPORT_FORMAT_VERSION, PatternRun, RuleResult, exit_code
from harness.contract import Implementation
from harness.plugin import ConfigError
from harness.rules import RULES

_ICON = {
    Verdict.PASS: "✅ pass",
    Verdict.FAIL: "❌ FAIL",
    Verdict.NOT_APPLICABLE: "➖ n/a",
    Verdict.UNKNOWN: "❔ unknown",
}


@dataclass
class ImplementationResult:
    """Everything one implementation's conformance run produced."""

    implementation: Implementation
    runs: list[PatternRun]
    results: list[RuleResult]

    @property
    def exit_code(self) -> int:
        """0 if it conforms, 1 otherwise."""
        return exit_code(self.results)


def prepare_report_dir(path: Path) -> None:
    """Make sure reports can be written to ``path`` before any work starts.

    A report directory that is a file, is not writable, or is on a read-only filesystem is a
    configuration error found in a second, not after the whole search.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".poolcheck-probe-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"--report-dir {path}: cannot write reports there ({reason})") from None


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename; never leaves a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); a report is meant to be read (CI artifacts).
        os.chmod(temp, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def to_json(
    results: list[ImplementationResult], profile: str, wall_seconds: float
) -> dict[str, Any]:
    """The versioned machine-readable report."""
    return {
        "version": REPORT_FORMAT_VERSION,
        "tool": "poolcheck",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "profile": profile,
        "wall_seconds": round(wall_seconds, 3),
        "environment": {
            "python": platform.python_version(),
            "trio": trio.__version__,
            "hypothesis": hypothesis.__version__,
        },
        "exit_code": max((r.exit_code for r in results), default=0),
        "implementations": [
            {
                "spec": r.implementation.spec,
                "name": r.implementation.name,
                "backend": r.implementation.backend,
                "backend_note": backend_note(r.implementation.backend),
                "capabilities": sorted(r.implementation.capabilities),
                # Boundary values the declaration's ``supports`` left out: never drawn.
                "excluded": r.implementation.excluded(),
                "exit_code": r.exit_code,
                "summary": dict(Counter(str(x.verdict) for x in r.results)),
                "patterns": [
                    {
                        "pattern": run.pattern,
                        "applicable": run.applicable,
                        "examples": run.examples,
                        "seconds": round(run.seconds, 3),
                        "examples_per_second": round(run.examples_per_second, 1),
                        "error": run.error,
                        "stopped": run.stopped,
                    }
                    for run in r.runs
                ],
                "rules": [
                    {
                        "id": x.rule.id,
                        "pattern": str(x.rule.pattern) if x.rule.pattern else None,
                        "section": x.rule.section,
                        "kind": str(x.rule.kind),
                        "tier": x.rule.tier,
                        "capability": x.rule.capability,
                        "statement": x.rule.statement,
                        "verdict": str(x.verdict),
                        "examples": x.examples,
                        "reason": x.reason,
                        "counterexample": x.counterexample,
                    }
                    for x in r.results
                ],
            }
            for r in results
        ],
    }


def drawn_params(counterexample: dict[str, Any]) -> str:
    """The parameters the counterexample's example drew (its ``params`` event), as one line."""
    trace = counterexample.get("trace") or []
    if not trace or trace[0].get("kind") != "params":
        return ""
    params = {k: v for k, v in trace[0].get("data", {}).items() if k != "pattern"}
    return ", ".join(f"{key}={value!r}" for key, value in params.items())


def implementation_output(counterexample: dict[str, Any]) -> str:
    """What the implementation printed or logged during the counterexample's example."""
    for event in reversed(counterexample.get("trace") or []):
        if event.get("kind") == "output":
            return str(event.get("data", {}).get("text", ""))
    return ""


def to_markdown(results: list[ImplementationResult], profile: str, wall_seconds: float) -> str:
    """A table a person reads at a glance: one row per rule, one column per implementation."""
    ok = all(r.exit_code == 0 for r in results)
    lines = [
        f"# poolcheck conformance: {'PASS' if ok else 'FAIL'}",
        "",
        f"Profile `{profile}`, {wall_seconds:.1f} s wall, "
        f"trio {trio.__version__}, hypothesis {hypothesis.__version__}.",
        "",
    ]
    # How a backend's verdicts were obtained (a real clock's tolerances), one line each.
    notes = [(r.implementation.name, backend_note(r.implementation.backend)) for r in results]
    # Boundary values an implementation's declared ranges left out: never drawn for it.
    notes += [
        (r.implementation.name, f"not drawn, by its declared ranges: {', '.join(left)}")
        for r in results
        if (left := r.implementation.excluded())
    ]
    lines += [f"Note on `{name}`: {note}." for name, note in notes if note]
    lines += [""] if any(note for _, note in notes) else []
    header = (
        "| Rule | Pattern | Kind | Tier | "
        + " | ".join(f"`{r.implementation.name}`" for r in results)
        + " |"
    )
    lines += [header, "|" + "---|" * (4 + len(results))]
    # Rows by rule ID, so implementations that were judged on different rules still line up.
    by_rule = [{x.rule.id: x for x in r.results} for r in results]
    for rule in RULES.values():
        if not any(rule.id in verdicts for verdicts in by_rule):
            continue
        cells = []
        for verdicts in by_rule:
            x = verdicts.get(rule.id)
            cell = "" if x is None else _ICON[x.verdict]
            if x is not None and x.verdict is Verdict.PASS:
                cell += f" ({x.examples})"
            cells.append(cell)
        tier = rule.tier + (f" ({rule.capability})" if rule.capability else "")
        lines.append(
            f"| {rule.id} | {rule.pattern or 'all'} | {rule.kind} | {tier} | "
            + " | ".join(cells)
            + " |"
        )
    for r in results:
        failures = [x for x in r.results if x.verdict is Verdict.FAIL and x.counterexample]
        unknown = [x for x in r.results if x.verdict is Verdict.UNKNOWN]
        if failures or unknown:
            lines += ["", f"## `{r.implementation.name}`: what failed"]
        for x in failures:
            assert x.counterexample is not None
            ce = x.counterexample
            lines += [
                "",
                f"### {x.rule.id}: {ce['message']}",
                "",
                f"> {x.rule.statement}",
                "",
                *([f"Parameters: `{drawn_params(ce)}`", ""] if drawn_params(ce) else []),
                "Minimal steps:",
                "",
                "```",
            ]
            lines += [f"{i}. {s}" for i, s in enumerate(ce["steps"], start=1)]
            lines += ["```", "", "Offending events:", "", "```"]
            lines += [json.dumps(e) for e in ce["evidence"]]
            lines += ["```"]
            printed = implementation_output(ce)
            if printed:
                lines += ["", "What the implementation printed or logged:", "", "```"]
                lines += [printed.rstrip("\n"), "```"]
            if ce.get("replay"):
                lines += ["", f"Replay: `{ce['replay']}`"]
        for x in unknown:
            lines += ["", f"- {x.rule.id} unknown: {x.reason}"]
        skipped: dict[str, list[str]] = {}
        for x in r.results:
            if x.verdict is Verdict.NOT_APPLICABLE:
                skipped.setdefault(x.reason or "no reason given", []).append(x.rule.id)
        if skipped:
            lines += ["", f"## `{r.implementation.name}`: not applicable, and why", ""]
            lines += [f"- {', '.join(ids)}: {reason}" for reason, ids in skipped.items()]
    lines += [
        "",
        "## Models",
        "",
        "| Implementation | Pattern | Examples | Seconds | Examples/s |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        for run in r.runs:
            if run.applicable:
                lines.append(
                    f"| `{r.implementation.name}` | {run.pattern} | {run.examples} | "
                    f"{run.seconds:.2f} | {run.examples_per_second:.0f} |"
                )
            else:
                lines.append(f"| `{r.implementation.name}` | {run.pattern} | n/a | | |")
    return "\n".join(lines) + "\n"


def to_junit(results: list[ImplementationResult], wall_seconds: float) -> str:
    """JUnit XML: a testsuite per implementation, a testcase per rule."""
    suites = ET.Element("testsuites", name="poolcheck", time=f"{wall_seconds:.3f}")
    for r in results:
        counts = Counter(x.verdict for x in r.results)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"poolcheck[{r.implementation.name}]",
            tests=str(len(r.results)),
            failures=str(counts[Verdict.FAIL]),
            errors=str(counts[Verdict.UNKNOWN]),
            skipped=str(counts[Verdict.NOT_APPLICABLE]),
        )
        for x in r.results:
            case = ET.SubElement(
                suite, "testcase", classname=f"poolcheck.{x.rule.pattern or 'all'}", name=x.rule.id
            )
            if x.verdict is Verdict.FAIL and x.counterexample:
                ce = x.counterexample
                failure = ET.SubElement(case, "failure", message=ce["message"])
                failure.text = "\n".join([*ce["steps"], "", ce.get("replay") or ""])
            elif x.verdict is Verdict.UNKNOWN:
                ET.SubElement(case, "error", message=x.reason)
            elif x.verdict is Verdict.NOT_APPLICABLE:
                ET.SubElement(case, "skipped", message=x.reason)
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


def write_reports(
    report_dir: Path, results: list[ImplementationResult], profile: str, wall_seconds: float
) -> list[Path]:
    """Write conformance.json, conformance.md and conformance.junit.xml; return their paths."""
    paths = [
        report_dir / "conformance.json",
        report_dir / "conformance.md",
        report_dir / "conformance.junit.xml",
    ]
    texts = [
        json.dumps(to_json(results, profile, wall_seconds), indent=2) + "\n",
        to_markdown(results, profile, wall_seconds),
        to_junit(results, wall_seconds),
    ]
    for path, text in zip(paths, texts, strict=True):
        write_atomically(path, text)
    return paths
