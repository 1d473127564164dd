"""Principled task grouping for multi-task learning: probe transfer gains, group tasks exactly."""

__version__ = "0.1.0"
