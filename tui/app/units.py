"""How sizes, percentages and ages read on screen: short, fixed-width where it helps."""

from __future__ import annotations

from typing import Optional

_BYTE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def human_bytes(count: Optional[float]) -> str:
    """``1.2 MB``; decimal units, as file managers and ``df -H`` show them."""
    if count is None:
        return "n/a"
    value = float(count)
    for unit in _BYTE_UNITS:
        if abs(value) < 1000 or unit == _BYTE_UNITS[-1]:
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def gib(count: Optional[float]) -> str:
    """GPU and host memory the way nvidia-smi thinks of it: binary gigabytes."""
    if count is None:
        return "n/a"
    return f"{count / 2**30:.1f}"
