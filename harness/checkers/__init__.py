"""Checkers, one module per pattern; each class decides one or more rule IDs."""
