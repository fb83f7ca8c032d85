"""What ``tether forward`` was asked to forward: a job's declared ports, or one port.

``14`` is job 14 when the host has such a job, else port 14; ``:6006`` is always a
port. The person never has to know which numbers are jobs: the verb says which
it took.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from tui.errors import TetherError

MAX_PORT = 65535


@dataclass(frozen=True)
class ForwardTarget:
    number: int
    #: ``:PORT``: a port whatever jobs exist.
    port_only: bool


def parse_target(text: str) -> ForwardTarget:
    raw = text.strip()
    port_only = raw.startswith(":")
    digits = raw[1:] if port_only else raw
    if not digits.isdigit():
        raise TetherError(f"forward takes a job id or :PORT (like 14 or :6006), not {text!r}")
    number = int(digits)
    if port_only:
        check_port(number, "the port to forward")
    return ForwardTarget(number, port_only)


def check_port(port: int, what: str) -> int:
    if not 1 <= port <= MAX_PORT:
        raise TetherError(f"{what} must be from 1 to {MAX_PORT}, not {port}")
    return port


def local_port(text: Optional[str]) -> Optional[int]:
    """``--local PORT`` (argparse type)."""
    if text is None:
        return None
    if not text.strip().isdigit():
        raise TetherError(f"--local takes a port number, not {text!r}")
    return check_port(int(text), "--local")
