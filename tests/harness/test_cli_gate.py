"""The command line as a CI gate: usage, version, exit codes, interrupts, where files go."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]


def poolcheck(*args: str, cwd: Path = ROOT) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_bare_poolcheck_prints_usage_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: poolcheck")
    assert "130  interrupted" in err


def test_version_and_help_list_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("poolcheck ")
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    out = capsys.readouterr().out
    for line in ("0    every required rule passed", "3    internal error", "--report-dir"):
        assert line in out


def test_nothing_to_check_is_not_a_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "check",
            "--impl",
            "examples.thread_pool:implementation",
            "--pattern",
            "queue",
            "--report-dir",
            str(tmp_path),
        ]
    )
    assert code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "nothing was checked" in line


def test_an_unwritable_report_dir_fails_before_any_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    started = time.perf_counter()
    assert main(["check", "--report-dir", str(blocker)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "--report-dir" in line
    assert "cannot write reports there" in line
    # Not a timing assertion on the code under test: the whole search takes far longer, so a
    # check made after it would show here as minutes, not a fraction of a second.
    assert time.perf_counter() - started < 30


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_stress_run_exits_130_without_a_traceback(
    tmp_path: Path, signum: signal.Signals
) -> None:
    process = poolcheck(
        "stress", "rate-token-bucket-hour", "--report-dir", str(tmp_path / "stress")
    )
    time.sleep(3)  # a real process must be running before it can be interrupted
    process.send_signal(signum)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines() == ["poolcheck: interrupted"]


def test_an_interrupted_check_exits_130_and_leaves_no_search_running(tmp_path: Path) -> None:
    process = poolcheck("check", "--profile", "thorough", "--report-dir", str(tmp_path / "r"))
    time.sleep(4)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    found = subprocess.run(["pgrep", "-f", "poolcheck-search"], capture_output=True, text=True)
    assert found.stdout.strip() == ""


def test_hypothesis_writes_nothing_in_the_working_directory(tmp_path: Path) -> None:
    process = poolcheck(
        "check",
        "--pattern",
        "rate",
        "--profile",
        "quick",
        "--report-dir",
        str(tmp_path / "r"),
        cwd=tmp_path,
    )
    _out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert not (tmp_path / ".hypothesis").exists()
    assert (tmp_path / "r" / ".hypothesis").exists()


WRONG = "examples.wrong_token_bucket:implementation"


def _blob_of_rate_bound(tmp_path: Path) -> str:
    args = ["check", "--impl", WRONG, "--pattern", "rate", "--profile", "quick"]
    assert main([*args, "--report-dir", str(tmp_path)]) == 1
    report = json.loads((tmp_path / "conformance.json").read_text())
    [rule] = [r for r in report["implementations"][0]["rules"] if r["id"] == "RATE-BOUND"]
    blob: str = rule["counterexample"]["blob"]
    return blob


def test_replay_says_reproduced_fixed_or_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blob = _blob_of_rate_bound(tmp_path)
    capsys.readouterr()
    assert main(["replay", "--impl", WRONG, "--pattern", "rate", "--blob", blob]) == 1
    assert "RATE-BOUND" in capsys.readouterr().out
    # The reference is the bucket with the bug fixed: the same example now passes.
    reference = "reference.plugin:implementation"
    assert main(["replay", "--impl", reference, "--pattern", "rate", "--blob", blob]) == 0
    assert main(["replay", "--impl", WRONG, "--pattern", "rate", "--blob", "x" * 5000]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert len(line) < 300


def test_ignore_looks_past_a_known_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["check", "--impl", WRONG, "--pattern", "rate", "--profile", "quick"]
    args += ["--report-dir", str(tmp_path)]
    assert main([*args, "--ignore", "RATE-BOUND"]) == 0
    assert "RATE-BOUND: ignored by --ignore" in capsys.readouterr().out
    assert main([*args, "--ignore", "RATE-BOUNDS"]) == 2


class _SpinningPut:
    """A bounded queue whose ``put`` never returns and never yields."""

    def __init__(self, *, capacity: int) -> None:
        from reference.queues import BoundedQueue

        self.inner: Any = BoundedQueue(capacity)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __len__(self) -> int:
        return len(self.inner)

    async def put(self, item: Any) -> None:
        while True:
            pass


def spinning_put_queue() -> dict[str, Any]:
    from reference.plugin import implementation

    declaration = implementation()
    return {
        "name": "spinning-put",
        "backend": "trio",
        "factories": {"bounded_queue": _SpinningPut},
        "closed_errors": declaration.closed_errors,
    }


def test_a_busy_loop_under_stress_is_no_hang_with_the_report_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = f"{__name__}:spinning_put_queue"
    args = ["stress", "queue-backpressure", "--impl", spec, "--stall-seconds", "2"]
    assert main([*args, "--report-dir", str(tmp_path)]) == 1
    assert "FAIL NO-HANG: the implementation did not yield" in capsys.readouterr().out
    report = json.loads((tmp_path / "queue-backpressure.json").read_text())
    verdicts = {rule["id"]: rule["verdict"] for rule in report["rules"]}
    assert verdicts["NO-HANG"] == "fail"
    assert verdicts["QUEUE-FIFO"] == "unknown"
