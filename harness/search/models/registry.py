"""Which model chooses the operations of which pattern."""

from __future__ import annotations

from harness.drivers import component
from harness.rules import Pattern
from harness.search.model import Model


def model_for(pattern: Pattern) -> type[Model]:
    """The model class of ``pattern`` (``harness.search.models.queue:QueueModel``)."""
    model: type[Model] = component("harness.search.models", pattern, "Model")
    return model
