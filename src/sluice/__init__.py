"""Sluice: turn an agent's knowledge sources into searchable vectors, as tracked jobs."""

__version__ = "0.1.0"
