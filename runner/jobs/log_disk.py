"""A job's log on a disk that fills: where its output was cut, and writes that wait
for room instead of failing.

Stdlib and the runner's base only: the shim imports it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from runner.disk_space import Space, is_disk_full, measure
from runner.jobs.files import create_private

#: Backoff of `retry_while_full`: the first wait, doubled up to the last.
_RETRY_FIRST_S = 0.05
_RETRY_MAX_S = 2.0


class LogDisk:
    """Watches the disk under the job's log, and says in the log where it was cut.

    The job writes its output straight into the log, so the shim never sees one of
    its writes fail: it looks at the disk instead. Once the disk was seen full, the
    first look that finds room again (while the job runs, or after it ended)
    appends a line saying the output was cut there; one line for each time the
    disk fills, not one for each look at a disk that stays full."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        #: The line owed to the log, from when the disk was seen full until it is written.
        self._unwritten = b""
        #: Whether the disk was seen with room since the last cut line.
        self._had_room = True

    def look(self) -> None:
        """Note a full disk, or say so in the log if there is room again; never
        raises for a disk still full (the next look tries again)."""
        try:
            self._look()
        except OSError as exc:
            if not is_disk_full(exc):
                raise

    def note_cut(self) -> None:
        """Look one last time and append the cut line, if one is owed; raises
        OSError (ENOSPC) while there is no room for it."""
        self._look()

    def _look(self) -> None:
        if not self._unwritten:
            space = measure(self.log_path.parent)
            if space is None or not space.full:
                self._had_room = True
                return
            if not self._had_room:
                return
            self._had_room = False
            self._unwritten = self._cut_line(space)
        fd = create_private(self.log_path)
        try:
            while self._unwritten:  # a short write leaves the rest for the next try
                self._unwritten = self._unwritten[os.write(fd, self._unwritten) :]
        finally:
            os.close(fd)

    def _cut_line(self, space: Space) -> bytes:
        line = f"tether: output was cut here: the disk holding this log was full ({space})\n"
        return (b"" if self._ends_a_line() else b"\n") + line.encode()

    def _ends_a_line(self) -> bool:
        try:
            with open(self.log_path, "rb") as log:
                if log.seek(0, os.SEEK_END) == 0:
                    return True
                log.seek(-1, os.SEEK_END)
                return log.read(1) == b"\n"
        except FileNotFoundError:
            return True


def retry_while_full(write: Callable[[], None]) -> None:
    """Run `write` until the disk has room for it (backing off up to `_RETRY_MAX_S`):
    what the shim has to record is kept, never lost to a full disk."""
    delay = _RETRY_FIRST_S
    while True:
        try:
            write()
            return
        except OSError as exc:
            if not is_disk_full(exc):
                raise
        time.sleep(delay)
        delay = min(delay * 2, _RETRY_MAX_S)
