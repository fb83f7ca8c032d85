"""When Python's garbage collector may pause the app.

A table of 10,000 jobs is some 400,000 objects, and every full collection walks
them all: 60-150 ms with the event loop stopped, every few seconds while jobs
change or a log streams, and a key pressed then waits for it. So the app makes
its own full collection when it chooses (the first table or a big one has just
arrived, or five minutes have passed) and then freezes what survived
(`gc.freeze`): the automatic collections in between walk only what is newer.
Cyclic garbage made from frozen objects waits for the next one; nothing is kept
longer than that.
"""

from __future__ import annotations

import gc
import time
from typing import Callable

#: Seconds between the app's own full collections: each costs a pause of up to
#: ~100 ms with 10,000 jobs held, so rarely; what it frees is only cyclic garbage
#: made of frozen objects, which waits that long.
EVERY_S = 300.0
#: Jobs that, newly held, are worth a collection at once rather than at the next round.
BIG_TABLE_GROWTH = 2000


class CollectorPacing:
    """Owned by the app: `settle` from its timer, `jobs_held` as tables arrive,
    `close` when it exits (nothing stays frozen behind it)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._held_at_settle = 0
        self.settled_at = 0.0

    def settle(self, jobs_held: int = 0) -> None:
        """A full collection now, then freeze what survived."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.settled_at = self._clock()
        self._held_at_settle = max(jobs_held, self._held_at_settle)

    def jobs_held(self, count: int) -> None:
        """The app holds `count` jobs (all hosts): settle on the first table (the
        app's own objects are all made by then), and when a big one arrived."""
        if not self.settled_at or count - self._held_at_settle >= BIG_TABLE_GROWTH:
            self.settle(count)
        elif count < self._held_at_settle:
            self._held_at_settle = count

    def close(self) -> None:
        gc.unfreeze()
