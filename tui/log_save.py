"""A job's log, saved to a file here as it is on the host (the app's ``Ctrl+S``):
byte for byte, up to the size it had when the save began, so a job still
writing does not keep the save going forever.

The bytes land in ``NAME.part`` and are renamed into place when whole, as
``tether pull`` does: a save cut short never leaves a file that looks complete.
Writes run in a thread; a log of gigabytes does not hold up the app.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import BinaryIO, Callable, Optional

from tui.errors import TetherError
from tui.session import HostSession

#: Told (bytes saved, bytes to save) after each chunk.
SaveProgress = Callable[[int, int], None]


class SaveError(TetherError):
    """The log could not be written here."""


async def save_log(
    session: HostSession, job_id: int, dest: Path, progress: Optional[SaveProgress] = None
) -> int:
    """Write job `job_id`'s log to `dest`; the number of bytes written."""
    first = await session.read_log(job_id, 0)
    total = first.size
    part = dest.with_name(dest.name + ".part")
    try:
        await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
        out: BinaryIO = await asyncio.to_thread(open, part, "wb")
    except OSError as exc:
        raise SaveError(f"cannot write {dest}: {exc.strerror}") from exc
    try:
        chunk, done = first, 0
        while True:
            data = chunk.data[: max(0, total - done)]
            await asyncio.to_thread(out.write, data)
            done += len(data)
            if progress is not None:
                progress(done, total)
            if done >= total or not chunk.data:
                break
            chunk = await session.read_log(job_id, done)
        await asyncio.to_thread(out.close)
        await asyncio.to_thread(os.replace, part, dest)
    except OSError as exc:
        raise SaveError(f"cannot write {dest}: {exc.strerror}") from exc
    finally:
        if not out.closed:
            await asyncio.to_thread(out.close)
    return done
