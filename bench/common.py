"""What every scenario shares: result rows, timing, the machine description."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Row:
    """One measured figure; ``ratio`` is against ``baseline`` measured in the same run."""

    scenario: str
    what: str
    value: float | None
    unit: str
    ratio: float | None = None
    baseline: str = ""
    target: float | None = None  # the ratio (or value, with ``lower_is_better``) aimed at
    target_text: str = ""
    lower_is_better: bool = False
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        got = self.value if self.lower_is_better else self.ratio
        if got is None:
            return "n/a"
        ok = got <= self.target if self.lower_is_better else got >= self.target
        return "met" if ok else "MISSED"


@dataclass
class Skipped:
    scenario: str
    reason: str


@dataclass
class Context:
    """Run options given to every scenario."""

    quick: bool = False
    profile: bool = False
    notes: list[str] = field(default_factory=list)


def best_of(fn: Callable[[], Any], *, repeat: int, min_seconds: float = 0.0) -> float:
    """The fastest of ``repeat`` runs of ``fn`` (at least one), in seconds."""
    times = []
    started = time.perf_counter()
    while len(times) < repeat or (time.perf_counter() - started < min_seconds and len(times) < 50):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def percentile(values: list[float], p: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory = 0.0
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )
