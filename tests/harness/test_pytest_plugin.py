"""The pytest plug-in seen from a user's suite, and the CLI's conformance matrix."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.rules import RULES, Pattern

ROOT = Path(__file__).resolve().parents[2]
MUTANT = "tests.mutants.queue:lifo"
QUEUE_ITEMS = {r.id for r in RULES.values() if r.pattern in (Pattern.QUEUE, None)}


def run_user_suite(tmp_path: Path, spec: str, *extra: str) -> tuple[int, dict[str, str]]:
    """Run pytest on an empty user test file with the plug-in; return exit code and outcomes."""
    (tmp_path / "test_nothing.py").write_text("def test_users_own() -> None:\n    pass\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:looptime_plugin",
            "-rA",
            "-q",
            "--rootdir",
            str(tmp_path),
            "--poolcheck-impl",
            spec,
            "--poolcheck-pattern",
            "queue",
            "--poolcheck-profile",
            "quick",
            *extra,
            str(tmp_path / "test_nothing.py"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    outcomes = {
        m.group(2): m.group(1)
        for m in re.finditer(
            r"^(PASSED|FAILED|SKIPPED|ERROR) \S*?poolcheck-queue::([\w-]+)", proc.stdout, re.M
        )
    }
    skipped = re.findall(r"^SKIPPED \[\d+\] .*?: ([\w-]+) not applicable", proc.stdout, re.M)
    outcomes.update(dict.fromkeys(skipped, "SKIPPED"))
    return proc.returncode, outcomes


def test_reference_shows_one_passing_test_per_rule(tmp_path: Path) -> None:
    code, outcomes = run_user_suite(tmp_path, "reference.plugin:implementation")
    assert code == 0
    assert outcomes == dict.fromkeys(QUEUE_ITEMS, "PASSED")


def test_missing_capability_is_skipped_not_passed(tmp_path: Path) -> None:
    code, outcomes = run_user_suite(
        tmp_path, "tests.harness.plugin_declarations:without_drop_policy"
    )
    assert code == 0
    assert outcomes["QUEUE-DROP-POLICY"] == "SKIPPED"
    assert outcomes["QUEUE-FIFO"] == "PASSED"


def test_broken_queue_fails_its_rule_only(tmp_path: Path) -> None:
    code, outcomes = run_user_suite(tmp_path, MUTANT)
    assert code == 1
    assert outcomes["QUEUE-FIFO"] == "FAILED"
    assert outcomes["QUEUE-BOUND"] == "PASSED"


def test_bad_impl_is_a_usage_error(tmp_path: Path) -> None:
    code, outcomes = run_user_suite(tmp_path, "no_such_module_xyz:f")
    assert code == pytest.ExitCode.USAGE_ERROR
    assert outcomes == {}


def test_cli_matrix_has_a_column_per_implementation(tmp_path: Path) -> None:
    code = main(
        [
            "check",
            "--impl",
            "reference.plugin:implementation",
            "--impl",
            MUTANT,
            "--pattern",
            "queue",
            "--profile",
            "quick",
            "--jobs",
            "1",
            "--report-dir",
            str(tmp_path),
        ]
    )
    assert code == 1
    report = json.loads((tmp_path / "conformance.json").read_text())
    by_spec = {
        impl["spec"]: {r["id"]: r["verdict"] for r in impl["rules"]}
        for impl in report["implementations"]
    }
    assert by_spec["reference.plugin:implementation"]["QUEUE-FIFO"] == "pass"
    assert by_spec[MUTANT]["QUEUE-FIFO"] == "fail"
    header = next(
        line for line in (tmp_path / "conformance.md").read_text().splitlines() if "| Rule" in line
    )
    assert header.count("|") == 7  # rule, pattern, kind, tier + two implementations


def test_cli_matrix_validates_every_impl_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "check",
            "--impl",
            "reference.plugin:implementation",
            "--impl",
            "nope_xyz:f",
            "--report-dir",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert not (tmp_path / "conformance.json").exists()
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_the_readme_command_works_from_a_users_project(tmp_path: Path) -> None:
    # A user's project: their adapter module beside their tests, nothing on PYTHONPATH, the
    # plain command the README gives, run from the project's directory.
    (tmp_path / "mylib").mkdir()
    (tmp_path / "mylib" / "__init__.py").write_text("")
    (tmp_path / "mylib" / "adapter.py").write_text(
        "from examples.tiny_bucket import implementation\n"
    )
    (tmp_path / "test_mine.py").write_text("def test_users_own() -> None:\n    pass\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    # The examples package lives in this repository; a user's adapter would import its own
    # library instead, so only the repository is made importable, not the user's folder.
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [
            # The console script, not ``python -m pytest`` (which would add the cwd itself).
            str(Path(sys.executable).parent / "pytest"),
            "-p",
            "no:cacheprovider",
            "-q",
            "--poolcheck-impl",
            "mylib.adapter:implementation",
            "--poolcheck-pattern",
            "rate",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "passed" in proc.stdout


def test_a_busy_loop_fails_no_hang_in_a_users_suite_instead_of_hanging_it(tmp_path: Path) -> None:
    code, outcomes = run_user_suite(
        tmp_path,
        "tests.harness.test_owned_search:spinning_queue",
        "--poolcheck-stall-seconds",
        "2",
    )
    assert code == 1
    assert outcomes["NO-HANG"] == "FAILED"
    assert "PASSED" not in {outcomes.get(rule) for rule in ("QUEUE-FIFO", "QUEUE-BOUND")}
