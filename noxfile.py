"""Sessions: tests, lint, typecheck (the default); tests_matrix (3.11, 3.12, 3.13), bench,
conformance, ecosystem, mutants, mutation, soak, stress."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True
# A machine without one of the matrix's interpreters skips that run with nox's message.
nox.options.error_on_missing_interpreters = False
#: asyncio's cancellation, TaskGroup and Queue differ between these.
PYTHONS = ["3.11", "3.12", "3.13"]


def _find_pyenv_interpreters() -> None:
    # A pyenv machine answers `python3.12` with a shim that fails unless that version is
    # selected; nox looks interpreters up on PATH, so put the installed ones first, oldest
    # first (so a bare `python3` stays the oldest supported one).
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = [
        str(path.parent)
        for version in PYTHONS
        for path in sorted(root.glob(f"{version}.*/bin/python{version}"))[-1:]
    ]
    if found:
        os.environ["PATH"] = os.pathsep.join([*found, os.environ.get("PATH", "")])


_find_pyenv_interpreters()
PACKAGES = ["reference", "harness"]


@nox.session
def tests(session: nox.Session) -> None:
    """The project's own tests (reference, harness and the bundled adapters' libraries, pinned),
    spread over the cores."""
    session.install("-e", ".[ecosystem]")
    session.run("pytest", "-n", "auto", "-q", *session.posargs)


@nox.session(python=PYTHONS)
def tests_matrix(session: nox.Session) -> None:
    """The project's own tests on every supported interpreter that this machine has."""
    session.install("-e", ".[ecosystem]")
    session.run("pytest", "-n", "auto", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over both packages (the adapters' libraries installed, so their types
    are checked where they have some)."""
    session.install("-e", ".[ecosystem]", "mypy>=1.10")
    session.run("mypy", "--strict", *PACKAGES)


@nox.session
def bench(session: nox.Session) -> None:
    """Throughput of the reference pool beside bare trio, asyncio and threads; each model's
    ms per search example on the reference beside a bare Hypothesis + trio floor, in one run
    (reports/bench_models.json); then the stress-scale run (1,000,000 jobs with every checker
    on: peak RSS and checker share)."""
    session.install("-e", ".")
    session.run("python", "-m", "tests.bench.bench_pool", *session.posargs)
    session.run("python", "-m", "tests.bench.bench_models")
    session.run("python", "-m", "tests.bench.bench_stress")


@nox.session
def conformance(session: nox.Session) -> None:
    """Every model against the reference; writes reports/ (exit 0 pass, 1 fail, 2 usage)."""
    session.install("-e", ".")
    profile = "ci" if "--profile" not in session.posargs else None
    args = ["--profile", profile] if profile else []
    session.run(
        "poolcheck",
        "check",
        "--impl",
        "reference.plugin:implementation",
        "--report-dir",
        "reports",
        *args,
        *session.posargs,
    )


@nox.session
def mutants(session: nox.Session) -> None:
    """Every mutant of tests/mutants through the CLI; writes reports/mutants.md."""
    session.install("-e", ".")
    session.run("python", "-m", "tests.mutants.report", *session.posargs)


@nox.session
def mutation(session: nox.Session) -> None:
    """mutmut over reference/, the harness's models as the test suite (slow)."""
    session.install("-e", ".", "mutmut>=3.2")
    session.run("python", "-m", "tests.mutation.run", *session.posargs)


@nox.session
def soak(session: nox.Session) -> None:
    """The reference (100,000 examples) and the correct examples/; a flag is a harness bug."""
    session.install("-e", ".")
    session.run("python", "-m", "tests.soak", *session.posargs)


@nox.session
def ecosystem(session: nox.Session) -> None:
    """Every bundled adapter against its library (pinned in pyproject's `ecosystem` extra)
    through poolcheck check; writes reports/ecosystem.{json,md} (0 harness errors expected)."""
    session.install("-e", ".[ecosystem]")
    session.run("python", "-m", "harness.ecosystem", "--report-dir", "reports", *session.posargs)


@nox.session
def stress(session: nox.Session) -> None:
    """The built-in stress catalog on the reference; writes reports/stress/."""
    session.install("-e", ".")
    session.run("poolcheck", "stress", "--all", "--report-dir", "reports/stress", *session.posargs)
