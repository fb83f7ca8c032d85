"""What a transfer reports while it runs: one `Progress` value, for the CLI's
progress line and the app's progress bar alike."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable, Literal, Optional

from protocol.units import size

#: ``listing`` the tree, ``hashing`` it, ``uploading`` what the host lacks,
#: ``pulling`` a job's files, ``waiting`` for a running job to write more (pull -f).
Phase = Literal["listing", "hashing", "uploading", "pulling", "waiting", "done"]


@dataclass(frozen=True)
class Progress:
    """Where a transfer stands. ``files_total``/``bytes_total`` are those of the
    current phase (while uploading: only what the host lacks); ``rate`` is bytes
    per second since the phase began."""

    phase: Phase
    files_done: int = 0
    files_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    rate: float = 0.0

    @property
    def fraction(self) -> Optional[float]:
        """Done, from 0 to 1, by bytes (by files when there are no bytes); None
        before the total is known."""
        if self.bytes_total:
            return min(self.bytes_done / self.bytes_total, 1.0)
        if self.files_total:
            return min(self.files_done / self.files_total, 1.0)
        return None

    def line(self) -> str:
        """``uploading: 1,204/3,000 files, 12.0 MiB/80.0 MiB, 35.1 MiB/s``."""
        if self.phase in ("listing", "waiting", "done"):
            return f"{self.phase}: {self.files_done:,} files, {size(self.bytes_done)}"
        return (
            f"{self.phase}: {self.files_done:,}/{self.files_total:,} files, "
            f"{size(self.bytes_done)}/{size(self.bytes_total)}, {size(self.rate)}/s"
        )


OnProgress = Callable[[Progress], None]


def ignore_progress(progress: Progress) -> None:
    del progress


class Meter:
    """Counts one phase's files and bytes and reports them, at most every
    `every_s` seconds (and always at the phase's start and end)."""

    def __init__(
        self,
        on_progress: OnProgress,
        phase: Phase,
        files_total: int,
        bytes_total: int,
        every_s: float = 0.1,
    ) -> None:
        self._on_progress = on_progress
        self._started = time.monotonic()
        self._last = 0.0
        self._every_s = every_s
        self.progress = Progress(phase, files_total=files_total, bytes_total=bytes_total)
        on_progress(self.progress)

    def add(self, files: int = 0, nbytes: int = 0) -> None:
        p = self.progress
        self.progress = replace(
            p, files_done=p.files_done + files, bytes_done=p.bytes_done + nbytes
        )
        now = time.monotonic()
        if now - self._last >= self._every_s:
            self._report(now)

    def finish(self) -> Progress:
        self._report(time.monotonic())
        return self.progress

    def _report(self, now: float) -> None:
        self._last = now
        elapsed = max(now - self._started, 1e-6)
        self.progress = replace(self.progress, rate=self.progress.bytes_done / elapsed)
        self._on_progress(self.progress)
