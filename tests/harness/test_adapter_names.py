"""A bundled adapter is named by its short name; a missing or broken library is one line.

``--impl janus`` stands for ``harness.adapters.janus:implementation``. Without the library
installed the error names the distribution and the extra that installs it; an import error
raised inside the library says it came from the library, not from the spec.
"""

from __future__ import annotations

import importlib

import pytest

from harness import adapters
from harness.adapters import ADAPTERS, Adapter
from harness.cli import main
from harness.plugin import ConfigError, load_implementation


def _register(monkeypatch: pytest.MonkeyPatch, adapter: Adapter) -> None:
    monkeypatch.setitem(adapters.ADAPTERS, adapter.name, adapter)


def test_every_short_name_points_at_a_module_of_the_package() -> None:
    for name, adapter in ADAPTERS.items():
        assert adapter.name == name
        assert adapter.module.startswith("harness.adapters.")
        module = importlib.import_module(adapter.module) if adapter.distribution is None else None
        assert module is None or callable(getattr(module, adapter.attr)), name


def test_a_short_name_loads_its_adapter() -> None:
    implementation = load_implementation("trio-channels")
    assert implementation.backend == "trio"
    assert "bounded_queue" in implementation.factories


def test_a_missing_library_names_the_distribution_and_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _register(monkeypatch, Adapter("ghost", "harness.adapters.janus", "ghost-lib-xyz", "Ghost"))
    assert main(["check", "--impl", "ghost", "--report-dir", "/tmp/poolcheck-ghost"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "'ghost-lib-xyz' is not installed" in err[0]
    assert "pip install 'poolcheck[ecosystem]'" in err[0]


def test_an_import_error_inside_the_library_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    module = "tests.fixtures_adapters.adapter_of_broken"
    _register(monkeypatch, Adapter("broken", module, "trio", "a broken library"))
    with pytest.raises(ConfigError) as caught:
        load_implementation("broken")
    message = str(caught.value)
    assert "from inside the library trio" in message
    assert "_speedups" in message


def test_an_error_in_the_adapter_itself_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    module = "tests.fixtures_adapters.broken_adapter"
    _register(monkeypatch, Adapter("mine", module, None, "stdlib"))
    with pytest.raises(ConfigError, match="from inside the adapter"):
        load_implementation("mine")


def test_an_unknown_short_name_lists_the_bundled_ones() -> None:
    with pytest.raises(ConfigError, match=r"bundled adapter .*janus"):
        load_implementation("no-such-adapter")
