"""Which model chooses the operations of which pattern: the one place that lists them."""

from __future__ import annotations

import importlib
from typing import Final

from harness.rules import Pattern
from harness.search.model import Model

_MODELS: Final[dict[Pattern, str]] = {
    Pattern.QUEUE: "harness.search.models.queue:QueueModel",
    Pattern.POOL: "harness.search.models.pool:PoolModel",
    Pattern.GROUP: "harness.search.models.group:GroupModel",
    Pattern.RETRY: "harness.search.models.retry:RetryModel",
    Pattern.IDEMPOTENCY: "harness.search.models.idempotency:IdempotencyModel",
    Pattern.ORDERING: "harness.search.models.ordering:OrderingModel",
    Pattern.RATE: "harness.search.models.rate:RateModel",
    Pattern.BATCH: "harness.search.models.batch:BatchModel",
}


def model_for(pattern: Pattern) -> type[Model]:
    """The model class of ``pattern`` (imported on first use)."""
    module_name, _, class_name = _MODELS[pattern].partition(":")
    model: type[Model] = getattr(importlib.import_module(module_name), class_name)
    return model

