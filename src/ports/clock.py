"""Time and chance, injected so the domain stays deterministic under test."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class RandomSource(Protocol):
    def random(self) -> float:
        """A uniform draw in [0, 1)."""
        ...
