"""What a person should see about a host's link, and how long to wait between tries.

The backoff lives here once: the session waits by it before every (re)connect
attempt, and the app waits by it before restarting a watcher that failed.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Optional

from tui.errors import TetherError

#: Seconds to wait before attempt n (1-based), capped at the last value.
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


def backoff_delay(attempt: int) -> float:
    """The wait before try `attempt` (1-based), jittered ±20 % so that many
    clients cut off at once do not all come back in the same instant."""
    base = BACKOFF_S[min(max(attempt, 1), len(BACKOFF_S)) - 1]
    return base * random.uniform(0.8, 1.2)  # noqa: S311  # jitter, not a secret


@dataclass(frozen=True)
class SessionState:
    """What a person should see about a host's link.

    ``kind`` is one of ``connecting`` (first contact, or a step of it such as
    installing the runner, named in ``reason``), ``connected``, ``reconnecting``
    (waiting ``next_try_at`` for try ``attempt``; ``reason`` says what failed),
    ``offline`` (a failure waiting will not fix: ``reason`` and ``error`` say
    which; only `HostSession.reconnect_now` tries again) and ``closed``.
    """

    kind: str
    reason: str = ""
    attempt: int = 0
    next_try_at: Optional[float] = None  # wall-clock seconds
    #: The failure behind an ``offline`` state, for a caller that can act on its
    #: type (an unknown SSH host key can be accepted). Not part of equality.
    error: Optional[TetherError] = field(default=None, compare=False, repr=False)

    def describe(self) -> str:
        if self.kind == "reconnecting":
            wait = max(0.0, (self.next_try_at or time.time()) - time.time())
            return f"reconnecting (attempt {self.attempt}, next try in {wait:.0f} s): {self.reason}"
        if self.kind == "offline":
            return f"offline: {self.reason}"
        return self.kind
