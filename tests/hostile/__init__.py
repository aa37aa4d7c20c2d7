"""Hostile and careless implementations: each fault is the implementation's, never poolcheck's."""
