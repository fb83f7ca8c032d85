"""Versions stated in the handshake, and how two of them compare.

`__version__` is the release both halves ship with; `PROTOCOL_VERSION` changes only
when the wire changes incompatibly, so a client can tell "upgrade me" from "upgrade
the runner" by comparing the two.

The rule both sides follow: a client meeting a runner of another version replaces
the runner with its own (the runner is installed per user and costs seconds to
replace), unless the runner is *newer*; then the person's own tether is the one to
upgrade, and nothing on the host is downgraded behind another client's back.
"""

from __future__ import annotations

import re
from typing import Tuple

__version__ = "0.2.0"
#: 2: a job table stream sends the table once, then its changes (`JobTableUpdate`).
PROTOCOL_VERSION = 2

_RELEASE = re.compile(r"\s*v?(\d+(?:\.\d+)*)(.*)")


def version_key(version: str) -> Tuple[Tuple[int, ...], int, str]:
    """A sort key for a version string: release numbers, then a pre-release suffix
    (``rc1``, ``.dev3``) before the plain release. A local part (``+g1234``) is
    ignored: two builds of one release sort equal, and `is_newer` tells them apart
    by string only."""
    match = _RELEASE.match(version)
    if match is None:
        return ((), 0, version)
    release = tuple(int(part) for part in match.group(1).split("."))
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    suffix = match.group(2).split("+", 1)[0].lstrip(".-_")
    return (release, 0 if suffix else 1, suffix)


def is_newer(version: str, than: str) -> bool:
    """Whether `version` is a later release than `than` (another build of the same
    release is not newer)."""
    return version_key(version) > version_key(than)
