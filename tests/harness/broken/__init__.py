"""Deliberately broken implementations, one module per pattern: each must be caught."""
