"""Stress reports: versioned JSON, a Markdown summary, and one self-contained HTML page per run.

The HTML page needs no network: its CSS is inline and its plots are PNGs drawn with
matplotlib's Agg backend and embedded as base64 ``data:`` URIs. Every rule's verdict is at the
top; a failed rule shows its first offending events and the events just before them. All files
are written atomically (:func:`harness.reports.write_atomically`).
"""

from __future__ import annotations

import base64
import io
import json
import platform
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import jinja2
import trio

from harness.checking import Verdict
from harness.reports import write_atomically
from harness.rules import RULES
from harness.stress.runner import StressResult

STRESS_REPORT_VERSION: Final = 1
_TEMPLATES: Final = Path(__file__).resolve().parent / "templates"
_ICON: Final = {
    "pass": "✅ pass",
    "fail": "❌ FAIL",
    "not-applicable": "n/a",
    "unknown": "❔ unknown",
}


def headline_latency(metrics: dict[str, Any]) -> tuple[str, dict[str, float]] | None:
    """The latency a person (and the baseline gate) looks at first: end to end if measured."""
    latencies = metrics.get("latency_seconds", {})
    for name in ("end_to_end", "queue_wait", "service"):
        if name in latencies:
            return name, latencies[name]
    return None


def to_json(result: StressResult, baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    """The versioned machine-readable report of one run."""
    scenario = result.scenario
    return {
        "version": STRESS_REPORT_VERSION,
        "tool": "poolcheck",
        "kind": "stress",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": {"python": platform.python_version(), "trio": trio.__version__},
        "scenario": {
            "name": scenario.name,
            "description": scenario.description,
            "pattern": str(scenario.pattern),
            "params": dict(scenario.params),
            "load": asdict(scenario.load),
            "jobs": scenario.jobs,
            "seconds": scenario.seconds,
            "seed": scenario.seed,
            "backend": scenario.backend,
            "source": scenario.source,
        },
        "implementation": {
            "spec": result.implementation.spec,
            "name": result.implementation.name,
            "backend": result.implementation.backend,
            "backend_note": result.backend_note,
        },
        "verdict": "fail" if result.failed else "pass",
        "rules": [
            {
                "id": rule.rule_id,
                "statement": RULES[rule.rule_id].statement,
                "verdict": str(rule.verdict),
                "violations": rule.violations,
                "first": rule.first,
                "context": rule.context,
            }
            for rule in result.rules
        ],
        "events": result.events,
        "virtual_seconds": round(result.virtual_seconds, 6),
        "wall_seconds": round(result.wall_seconds, 3),
        "metrics": result.metrics,
        "baseline": baseline,
    }


def to_markdown(report: dict[str, Any]) -> str:
    """A summary fit for a CI step summary: verdicts first, then the numbers."""
    scenario = report["scenario"]
    verdict = report["verdict"].upper()
    if report.get("baseline") and report["baseline"].get("regressed"):
        verdict += " (regressed against the baseline)"
    lines = [
        f"# poolcheck stress `{scenario['name']}`: {verdict}",
        "",
        *([scenario["description"], ""] if scenario["description"] else []),
        f"Implementation `{report['implementation']['name']}` "
        f"(`{report['implementation']['spec']}`), "
        f"pattern {scenario['pattern']}, {report['events']:,} events over "
        f"{report['virtual_seconds']:.6g} virtual s in {report['wall_seconds']:.2f} s wall.",
        *(
            ["", f"Backend: {report['implementation']['backend_note']}"]
            if report["implementation"].get("backend_note")
            else []
        ),
        "",
        "| Rule | Verdict | Violations |",
        "|---|---|---|",
    ]
    for rule in report["rules"]:
        lines.append(f"| {rule['id']} | {_ICON[rule['verdict']]} | {rule['violations'] or ''} |")
    for rule in report["rules"]:
        if rule["verdict"] != "fail":
            continue
        lines += [
            "",
            f"## {rule['id']}: {rule['first'][0]['message']}",
            "",
            f"> {rule['statement']}",
        ]
        lines += ["", "First offending events:", "", "```"]
        lines += rule["first"][0]["events"]
        lines += ["```"]
        if rule["context"]:
            lines += [
                "",
                "Events up to the first violation:",
                "",
                "```",
                *rule["context"][-12:],
                "```",
            ]
    metrics = report["metrics"]
    lines += ["", "## Metrics", "", "| Metric | Value |", "|---|---|"]
    throughput = metrics.get("throughput_per_virtual_second")
    if throughput is not None:
        lines.append(f"| throughput | {throughput:,.2f} / virtual s |")
    if metrics.get("worker_utilization") is not None:
        lines.append(f"| worker utilization | {metrics['worker_utilization']:.1%} |")
    for name, values in metrics.get("latency_seconds", {}).items():
        lines.append(
            f"| {name} latency p50 / p99 / max | {values['p50']:.4g} / {values['p99']:.4g} / "
            f"{values['max']:.4g} s |"
        )
    for name, value in metrics.get("counters", {}).items():
        lines.append(f"| {name} | {value:,} |")
    baseline = report.get("baseline")
    if baseline:
        lines += ["", "## Baseline", "", _baseline_sentence(baseline)]
    return "\n".join(lines) + "\n"


def _baseline_sentence(baseline: dict[str, Any]) -> str:
    parts = [
        f"tolerance {baseline['tolerance']:.0%}",
        f"throughput {baseline['throughput']:.4g} vs {baseline['base_throughput']:.4g}",
    ]
    if baseline.get("p99") is not None and baseline.get("base_p99") is not None:
        parts.append(f"p99 {baseline['p99']:.4g} s vs {baseline['base_p99']:.4g} s")
    verdict = "REGRESSED: " + "; ".join(baseline["problems"]) if baseline["regressed"] else "ok"
    return f"{verdict} ({', '.join(parts)})"


# -- plots --------------------------------------------------------------------------------


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def plots(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, base64 PNG) for each plot that has data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = report["metrics"]
    series = metrics["series"]
    width = series["bucket_seconds"]
    out: list[tuple[str, str]] = []

    def times(values: list[float]) -> list[float]:
        return [i * width for i in range(len(values))]

    def figure(title: str, ylabel: str) -> tuple[Any, Any]:
        fig, ax = plt.subplots(figsize=(7.5, 2.8))
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("virtual time (s)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        return fig, ax

    if any(series["queue_length"]) or any(series["busy"]):
        fig, ax = figure("Queue length over time", "items")
        for name, label in (("queue_length", "queued"), ("busy", "busy workers")):
            if any(series[name]):
                _band(ax, times(series[name]), series, name, label)
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper right", fontsize=8)
        out.append(("Queue length", _png(fig)))
        plt.close(fig)
    if any(series["completed"]) or any(series["offered"]):
        fig, ax = figure("Throughput", "per virtual second")
        ax.plot(
            times(series["offered"]),
            [v / width for v in series["offered"]],
            label="offered",
            alpha=0.6,
        )
        ax.plot(
            times(series["completed"]), [v / width for v in series["completed"]], label="completed"
        )
        ax.legend(loc="upper right", fontsize=8)
        out.append(("Throughput", _png(fig)))
        plt.close(fig)
    latencies = metrics.get("latency_seconds", {})
    if latencies:
        fig, ax = plt.subplots(figsize=(7.5, 2.8))
        labels = ["p50", "p90", "p99", "p99.9", "max"]
        step = 0.8 / len(latencies)
        for offset, (name, values) in enumerate(latencies.items()):
            xs = [i + offset * step for i in range(len(labels))]
            ax.bar(xs, [values[label] for label in labels], width=step, label=name)
        ax.set_xticks([i + 0.4 - step / 2 for i in range(len(labels))], labels)
        ax.set_ylabel("virtual seconds")
        ax.set_title("Latency percentiles", fontsize=11)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8)
        out.append(("Latency percentiles", _png(fig)))
        plt.close(fig)
    bound = _bound(report)
    if any(series["admitted"]) and bound is not None:
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 4.6), sharex=True)
        xs, total, ys = times(series["admitted"]), 0.0, []
        for value in series["admitted"]:
            total += value
            ys.append(total)
        # A bucket's admissions are plotted at its end, against the bound at that instant.
        ends = [x + width for x in xs]
        top.set_title("Admissions against the rate bound", fontsize=11)
        top.step(ends, ys, where="post", label="admitted (cumulative)")
        top.plot(ends, [bound(x) for x in ends], "--", color="crimson", label="bound")
        top.set_ylabel("admissions")
        top.legend(loc="upper left", fontsize=8)
        top.grid(alpha=0.3)
        # At an hour's scale the two lines coincide: the headroom shows how close they come.
        bottom.plot(ends, [bound(x) - y for x, y in zip(ends, ys, strict=True)], color="tab:green")
        bottom.axhline(0, color="crimson", linestyle="--", linewidth=1)
        bottom.set_ylabel("headroom")
        bottom.set_xlabel("virtual time (s)")
        bottom.grid(alpha=0.3)
        out.append(("Admissions against the bound", _png(fig)))
        plt.close(fig)
    return out


def _band(ax: Any, xs: list[float], series: dict[str, Any], name: str, label: str) -> None:
    """A level over time: its min-max range per bucket as a band, its mean as a line."""
    lows = series.get(f"{name}_min", series[name])
    means = series.get(f"{name}_mean", series[name])
    line = ax.step(xs, means, where="post", label=f"{label} (mean per bucket)")[0]
    ax.fill_between(
        xs,
        lows,
        series[name],
        step="post",
        alpha=0.25,
        color=line.get_color(),
        label=f"{label} (min to max)",
    )


def _bound(report: dict[str, Any]) -> Any:
    params = report["scenario"]["params"]
    if report["scenario"]["pattern"] != "rate":
        return None
    if params["factory"] == "leaky_bucket":
        interval = float(params["interval"])
        return lambda t: 1 + t / interval
    rate, burst = float(params["rate"]), float(params["burst"])
    return lambda t: burst + rate * t


def to_html(report: dict[str, Any]) -> str:
    """One self-contained page: verdicts, failures with their events, plots, numbers."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    template = env.get_template("report.html.j2")
    fails = [rule for rule in report["rules"] if rule["verdict"] == str(Verdict.FAIL)]
    return template.render(
        report=report,
        fails=fails,
        plots=plots(report),
        icon=_ICON,
        baseline_sentence=_baseline_sentence(report["baseline"]) if report["baseline"] else None,
        json_text=json.dumps(
            {k: v for k, v in report.items() if k != "metrics"}, indent=1, default=str
        ),
    )


def write_reports(
    report_dir: Path, result: StressResult, baseline: dict[str, Any] | None = None
) -> list[Path]:
    """Write ``<scenario>.json``, ``.md`` and ``.html`` under ``report_dir``."""
    report = to_json(result, baseline)
    stem = report_dir / result.scenario.name
    paths = [stem.with_suffix(".json"), stem.with_suffix(".md"), stem.with_suffix(".html")]
    texts = [json.dumps(report, indent=2) + "\n", to_markdown(report), to_html(report)]
    for path, text in zip(paths, texts, strict=True):
        write_atomically(path, text)
    return paths


def write_summary(report_dir: Path, rows: list[dict[str, Any]]) -> Path:
    """``summary.md``: one line per scenario of an ``--all`` run."""
    lines = [
        "# poolcheck stress catalog",
        "",
        "| Scenario | Pattern | Verdict | Failed rules | Throughput /vs | p99 (s) | Events "
        "| Wall (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| [{row['name']}]({row['name']}.html) | {row['pattern']} | {row['verdict']} | "
            f"{', '.join(row['failed']) or '-'} | {row['throughput']} | {row['p99']} | "
            f"{row['events']:,} | {row['wall']:.1f} |"
        )
    path = report_dir / "summary.md"
    write_atomically(path, "\n".join(lines) + "\n")
    return path
