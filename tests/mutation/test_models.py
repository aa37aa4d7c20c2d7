"""mutmut's test suite: each harness model searches the reference through the plug-in path.

mutmut runs these against every mutant of ``reference/``; a mutant is killed when some model
flags it (a rule violation, a guard verdict or a harness error). The profile is derandomized so
that a mutant's verdict is the same on every run.
"""

from __future__ import annotations

import pytest

from harness.drivers import patterns
from harness.plugin import load_implementation
from harness.rules import Pattern, rules_for
from harness.search.engine import PROFILES, search_model
from harness.search.models.registry import model_for

#: The ``quick`` profile (150 derandomized examples per model, the examples ``ci`` ran before it
#: grew to 1,000, so the survivors explained in equivalent.toml stay those). Deeper searches
#: kill more (a blocking ``submit`` that is admitted later needs ~600 pool examples) but cost
#: minutes per mutant.
MUTATION_PROFILE = PROFILES["quick"]


@pytest.mark.parametrize("pattern", patterns(), ids=str)
def test_model_passes_reference(pattern: Pattern) -> None:
    implementation = load_implementation("reference.plugin:implementation")
    outcome = search_model(model_for(pattern), implementation, MUTATION_PROFILE)
    assert outcome.error is None, outcome.error
    assert outcome.failures == {}, {k: v.render() for k, v in outcome.failures.items()}
    # A required rule no example exercises fails a conformance run as "unknown", so a mutant
    # that keeps the model from reaching one of its pattern's own rules is caught too.
    own_rules = {rule.id for rule in rules_for(pattern) if rule.pattern is pattern}
    assert outcome.exercised >= own_rules, f"not exercised: {sorted(own_rules - outcome.exercised)}"
