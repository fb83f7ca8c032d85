"""A job's metric series as the app holds them: bounded, whatever the run's length.

Each series keeps at most `MAX_POINTS` points. When it is full it keeps every
other point and from then on takes every second record (then every fourth...),
so a million-step run costs the same memory as a short one and the curve keeps
its shape. The newest value of each series is kept exactly, for the numbers shown
beside the plot. Pure data, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from protocol.metrics import MetricRecord

MAX_POINTS = 8192


@dataclass
class Series:
    points: List[Tuple[float, float]] = field(default_factory=list)
    stride: int = 1
    seen: int = 0
    latest: Optional[Tuple[float, float]] = None

    def add(self, x: float, y: float) -> None:
        self.latest = (x, y)
        self.seen += 1
        if (self.seen - 1) % self.stride:
            return
        self.points.append((x, y))
        if len(self.points) > MAX_POINTS:
            self.points = self.points[::2]
            self.stride *= 2


@dataclass
class JobMetrics:
    """Every series one job reported, keyed by name (``loss``, ``lr``...)."""

    job_id: int
    series: Dict[str, Series] = field(default_factory=dict)
    records: int = 0
    malformed: int = 0
    malformed_first: Optional[str] = None
    #: The offset to follow from next (the metrics file is read like a log).
    offset: int = 0
    ended: bool = False

    def add(self, records: Iterable[MetricRecord]) -> None:
        for record in records:
            x = float(record.step) if record.step is not None else float(self.records)
            self.records += 1
            for name, value in record.values.items():
                if name == "step":
                    continue
                self.series.setdefault(name, Series()).add(x, value)

    def note_malformed(self, count: int, first: Optional[str]) -> None:
        self.malformed += count
        if first and self.malformed_first is None:
            self.malformed_first = first

    def names(self) -> List[str]:
        """Series names, the usual suspects (loss first) before the rest."""
        return sorted(self.series, key=_series_rank)

    def latest(self, name: str) -> Optional[float]:
        series = self.series.get(name)
        return series.latest[1] if series is not None and series.latest else None

    def last_step(self) -> Optional[float]:
        steps = [s.latest[0] for s in self.series.values() if s.latest is not None]
        return max(steps) if steps else None


def _series_rank(name: str) -> Tuple[int, str]:
    lowered = name.lower()
    if "loss" in lowered:
        return (0, name)
    if lowered in ("acc", "accuracy") or "acc" in lowered:
        return (1, name)
    if lowered in ("lr", "learning_rate"):
        return (3, name)
    return (2, name)


def format_value(value: Optional[float]) -> str:
    """A metric the way it reads best: 4 significant digits, exponent when tiny or huge."""
    if value is None:
        return "-"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-3 or magnitude >= 1e5):
        return f"{value:.3e}"
    return f"{value:.4g}"
