"""How every number a person reads is written: sizes, durations and times.

Both sides print numbers (the client's app and verbs, the runner's own
``tether-runner status``), and the runner cannot import the client, so the one
owner of the convention lives in the package both import. The convention:

- sizes in binary units, spelled as such (``812 MiB``, ``1.5 GiB``), because
  nvidia-smi, ``free`` and the kernel count memory in powers of two, and one
  screen must not show the same bytes as ``GB`` in one place and ``GiB`` in
  another;
- durations as ``4m58s`` (``12s``, ``3h07m``, ``2d05h``): two units at most,
  no spaces, so they fit a table column;
- times in JSON as ISO 8601 in UTC (``2024-05-01T12:00:00+00:00``), which a
  script can parse and a person can read; a span of time stays a number of
  seconds (``uptime_s``).

Standard library only and Python 3.9, like all of `protocol`.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Optional

_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_GIB = float(2**30)


def size(count: Optional[float]) -> str:
    """``512 B``, ``12.3 MiB``, ``812 MiB``, ``1.5 GiB``; ``n/a`` when unknown.

    Three significant digits or so: one decimal below 100 of a unit, none above.
    """
    if count is None:
        return "n/a"
    value = float(count)
    for unit in _BINARY_UNITS:
        if abs(value) < 1024 or unit == _BINARY_UNITS[-1]:
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.1f} {unit}" if abs(value) < 100 else f"{value:.0f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def gib(count: Optional[float]) -> str:
    """The number of GiB with one decimal and no unit (``79.6``), for pairs such as
    ``12.3 / 79.6 GiB`` whose unit is written once after both; ``n/a`` when unknown."""
    return "n/a" if count is None else f"{count / _GIB:.1f}"


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_SIZE_UNIT = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> Optional[int]:
    """``500M``, ``2G``, ``1.5GiB``, ``4096`` (bytes) in binary units, as sizes are
    printed; None for text that is not a size (the caller says which setting)."""
    match = _SIZE.match(text)
    if match is None:
        return None
    return int(float(match.group(1)) * _SIZE_UNIT[match.group(2).lower()])


def duration(seconds: float) -> str:
    """``58s``, ``4m58s``, ``3h07m``, ``2d05h``: whole seconds, never negative."""
    whole = int(max(seconds, 0))
    if whole < 60:
        return f"{whole}s"
    minutes, whole = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{whole:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds from what a person types: ``90`` (seconds), ``90s``, ``30m``,
    ``1h30m``, ``2d``; the way `duration` writes them reads back. Raises
    ValueError saying what a duration looks like."""
    word = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", word):
        return float(word)
    parts = _DURATION_PART.findall(word)
    if not parts or "".join(n + u for n, u in parts) != word:
        raise ValueError(f"a duration is like 90s, 30m, 1h30m or 2d, not {text!r}")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def known_at(as_of: float, now: float) -> str:
    """When something was true, as a person reads it: ``14:02, 12m03s ago``
    (the date too when it was not today), local time."""
    then = time.localtime(as_of)
    same_day = time.localtime(now)[:3] == then[:3]
    clock = time.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M", then)
    return f"{clock}, {duration(max(0.0, now - as_of))} ago"


def iso_time(ts: Optional[float]) -> Optional[str]:
    """A unix time as ISO 8601 in UTC, to the second, for JSON; ``None`` stays ``None``."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds")


def plural(count: int, noun: str) -> str:
    """``1 file``, ``2 files``, ``1,204 files``: a count a person reads."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
