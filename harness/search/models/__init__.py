"""Hypothesis stateful models, one module per pattern."""
