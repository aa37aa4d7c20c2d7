"""The rate-limiting adapters through ``poolcheck check --pattern rate --profile quick``.

One check per library (skipped when it is not installed), asserting the verdicts the
ecosystem matrix records for its release: what passes, what its declaration makes
not-applicable (with the library's documented reason), and the FAIL that a finding script in
``docs/findings/`` shows without poolcheck. The libraries read ``time.monotonic()``, so these
checks rely on the clock bridge: on a frozen clock the buckets never refill, and the passes
below turn into FAILs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def check(spec: str, report_dir: Path) -> tuple[int, dict[str, dict[str, Any]], str]:
    """``poolcheck check --pattern rate`` on ``spec``: exit code, rules by ID, and output."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "check",
            "--impl",
            spec,
            "--pattern",
            "rate",
            "--profile",
            "quick",
            "--jobs",
            "1",
            "--report-dir",
            str(report_dir),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    assert (report_dir / "conformance.json").exists(), output
    report = json.loads((report_dir / "conformance.json").read_text())
    (implementation,) = report["implementations"]
    return done.returncode, {rule["id"]: rule for rule in implementation["rules"]}, output


def verdicts(rules: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Rule ID -> verdict, for the rate rules and the guards."""
    wanted = ("RATE-", "NO-HANG", "NO-CRASH", "NO-LEAK")
    return {rid: rule["verdict"] for rid, rule in rules.items() if rid.startswith(wanted)}


def reason(rule: dict[str, Any]) -> str:
    """A not-applicable rule's reason (as the JSON report gives it)."""
    return str(rule.get("reason") or "")


GUARDS = {"NO-HANG": "pass", "NO-CRASH": "pass", "NO-LEAK": "pass"}


def test_token_bucket_is_a_shedding_gate_that_passes_its_rules(tmp_path: Path) -> None:
    pytest.importorskip("token_bucket")
    code, rules, out = check("harness.adapters.token_bucket:implementation", tmp_path)
    assert verdicts(rules) == {
        "RATE-BOUND": "pass",
        "RATE-SHED-ONLY-WHEN-EMPTY": "pass",
        "RATE-NO-OVERTHROTTLE": "not-applicable",  # a gate never waits
        "RATE-CANCEL-NO-LOSS": "not-applicable",
        **GUARDS,
    }, out
    assert code == 0, out


def test_limiter_keeps_its_bound_but_lets_later_callers_overtake(tmp_path: Path) -> None:
    # The FAIL is docs/findings/limiter_no_waiting_line.py: no waiting line.
    pytest.importorskip("limiter")
    code, rules, out = check("harness.adapters.limiter:implementation", tmp_path)
    assert verdicts(rules) == {
        "RATE-BOUND": "pass",
        "RATE-NO-OVERTHROTTLE": "fail",
        "RATE-CANCEL-NO-LOSS": "pass",
        "RATE-SHED-ONLY-WHEN-EMPTY": "not-applicable",
        **GUARDS,
    }, out
    assert "not FIFO" in rules["RATE-NO-OVERTHROTTLE"]["counterexample"]["message"], out
    assert code == 1, out


def test_limiter_blocking_form_keeps_its_bound_on_virtual_time(tmp_path: Path) -> None:
    # `with limiter:` sleeps with time.sleep; the sync backend passes that time at once. Its
    # blocking calls run one at a time, so only a lone waiter's timeliness is judged.
    pytest.importorskip("limiter")
    code, rules, out = check("harness.adapters.limiter:sync_implementation", tmp_path)
    assert verdicts(rules) == {
        "RATE-BOUND": "pass",
        "RATE-NO-OVERTHROTTLE": "pass",
        "RATE-CANCEL-NO-LOSS": "not-applicable",  # a blocking call cannot be cancelled
        "RATE-SHED-ONLY-WHEN-EMPTY": "not-applicable",
        **GUARDS,
    }, out
    assert rules["RATE-BOUND"]["examples"] >= 100, out
    assert code == 0, out


@pytest.mark.parametrize(
    ("module", "library"), [("asyncio_throttle", "asyncio_throttle"), ("throttler", "throttler")]
)
def test_a_sliding_window_keeps_its_bound_and_declares_it_is_no_bucket(
    module: str, library: str, tmp_path: Path
) -> None:
    pytest.importorskip(library)
    code, rules, out = check(f"harness.adapters.{module}:implementation", tmp_path)
    assert verdicts(rules) == {
        "RATE-BOUND": "pass",
        "RATE-NO-OVERTHROTTLE": "not-applicable",
        "RATE-CANCEL-NO-LOSS": "pass",
        "RATE-SHED-ONLY-WHEN-EMPTY": "not-applicable",
        **GUARDS,
    }, out
    assert "sliding-window" in reason(rules["RATE-NO-OVERTHROTTLE"]), out
    assert code == 0, out
