"""`CollectorPacing`: the app's own full collections, and what they leave frozen."""

from __future__ import annotations

import gc
import weakref
from typing import Optional

from tui.app.collector import BIG_TABLE_GROWTH, CollectorPacing


class _Node:
    other: Optional[_Node] = None


def test_the_first_table_and_a_big_one_settle_and_close_leaves_nothing_frozen() -> None:
    now = [100.0]
    pacing = CollectorPacing(clock=lambda: now[0])
    try:
        pacing.jobs_held(3)  # the first table: the app's own objects are made by now
        assert pacing.settled_at == 100.0 and gc.get_freeze_count() > 0
        now[0] = 110.0
        pacing.jobs_held(3 + BIG_TABLE_GROWTH - 1)  # not big enough to stop the app for
        assert pacing.settled_at == 100.0
        pacing.jobs_held(3 + BIG_TABLE_GROWTH)
        assert pacing.settled_at == 110.0
        now[0] = 120.0
        pacing.jobs_held(10)  # fewer jobs: no collection, and growth counts from here
        pacing.jobs_held(10 + BIG_TABLE_GROWTH)
        assert pacing.settled_at == 120.0
        # Cyclic garbage made after a freeze is collected by the next settle.
        cycle = _Node()
        cycle.other = cycle
        gone = weakref.ref(cycle)
        del cycle
        pacing.settle()
        assert gone() is None
    finally:
        pacing.close()
    assert gc.get_freeze_count() == 0
