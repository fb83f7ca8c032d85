"""The ring buffer of recent samples a (re)attaching client draws at once.

It keeps one sample per sampling interval (samples taken faster, for a client
that asked for a faster rate, are not kept), so its size is bounded by
``history_s / interval_s`` however clients behave. Each sample is stored with
its size on the wire, so the history can be cut into batches that fit a frame
without encoding anything twice.
"""

from __future__ import annotations

import collections
import math
from typing import Deque, List, Optional, Tuple

from protocol.limits import MAX_HISTORY_BATCH
from protocol.stats import StatsSample

#: A history batch is closed before it passes this many bytes on the wire.
HISTORY_BATCH_BYTES = 256 * 1024


class SampleHistory:
    def __init__(self, history_s: float, interval_s: float) -> None:
        self.interval_s = interval_s
        self._ring: Deque[Tuple[StatsSample, int]] = collections.deque(
            maxlen=max(1, math.ceil(history_s / interval_s) + 1)
        )

    def __len__(self) -> int:
        return len(self._ring)

    def add(self, sample: StatsSample, wire_bytes: int) -> None:
        """Keep `sample` unless it follows the newest kept one too closely."""
        if self._ring and sample.t - self._ring[-1][0].t < self.interval_s * 0.9:
            return
        self._ring.append((sample, wire_bytes))

    def batches(
        self,
        seconds: float,
        after_seq: Optional[int] = None,
        batch_bytes: int = HISTORY_BATCH_BYTES,
    ) -> List[List[StatsSample]]:
        """The last `seconds` (only samples after `after_seq`), oldest first, in
        batches of at most `batch_bytes` (a bigger sample travels alone)."""
        if not self._ring or seconds <= 0:
            return []
        since = self._ring[-1][0].t - seconds
        batches: List[List[StatsSample]] = []
        batch: List[StatsSample] = []
        size = 0
        for sample, wire_bytes in self._ring:
            if sample.t < since or (after_seq is not None and sample.seq <= after_seq):
                continue
            if batch and (size + wire_bytes > batch_bytes or len(batch) >= MAX_HISTORY_BATCH):
                batches.append(batch)
                batch, size = [], 0
            batch.append(sample)
            size += wire_bytes
        if batch:
            batches.append(batch)
        return batches
