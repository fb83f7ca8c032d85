"""The verbs that move files: ``run --sync``'s upload, ``pull``, ``rerun`` and ``gc``,
each on a connected `HostSession`, returning the exit code.

A transfer draws one progress line on stderr, rewritten in place, and only when
stderr is a terminal: a script reading stdout sees exactly what it saw before
(``run`` prints the job id and nothing else).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from protocol.units import plural, size
from tui.session import HostSession
from tui.sync import (
    Progress,
    SyncLimits,
    default_pull_dir,
    describe_skipped,
    pull_outputs,
    upload_tree,
)
from tui.visible import visible


class ProgressLine:
    """One line on stderr, redrawn with each `Progress` when stderr is a terminal;
    `close` clears it. Elsewhere it writes nothing."""

    def __init__(self) -> None:
        self._on = sys.stderr.isatty()
        self._drawn = False

    def show(self, progress: Progress) -> None:
        if self._on and progress.phase != "done":
            self._write(f"\r{progress.line()}\x1b[K")
            self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._write("\r\x1b[K")
            self._drawn = False

    @staticmethod
    def _write(text: str) -> None:
        # Past the guard of `tui.cli.output`: the line is tether's own, with its
        # carriage return and erase; the numbers in it come from this process.
        sys.stderr.buffer.write(text.encode())
        sys.stderr.buffer.flush()


@dataclass(frozen=True)
class SyncRequest:
    """``--sync [DIR]`` and its limits, checked before anything connects."""

    folder: Path
    limits: SyncLimits


async def upload(session: HostSession, request: SyncRequest) -> str:
    """Send the folder as a snapshot; its id. Tells the person (stderr) what was
    left out, and how much travelled when stderr is a terminal."""
    line = ProgressLine()
    try:
        result = await upload_tree(
            session, request.folder, limits=request.limits, on_progress=line.show
        )
    finally:
        line.close()
    if result.skipped:
        print(f"tether: {describe_skipped(result.skipped)}", file=sys.stderr)
    if sys.stderr.isatty():
        snap = result.snapshot
        print(
            f"tether: snapshot {snap.id[:12]}: {plural(snap.files, 'file')}, {size(snap.bytes)}; "
            f"sent {plural(result.files_sent, 'file')}, {size(result.bytes_sent)}",
            file=sys.stderr,
        )
    return result.snapshot.id


async def rerun(session: HostSession, job_id: int) -> int:
    job = await session.rerun(job_id)
    print(job.id)
    return 0


async def pull(
    session: HostSession,
    host: str,
    job_id: int,
    paths: List[str],
    to: Optional[str],
    follow: bool,
) -> int:
    dest = Path(to) if to else default_pull_dir(host, job_id)
    line = ProgressLine()
    try:
        result = await pull_outputs(
            session, job_id, paths, dest, follow=follow, on_progress=line.show
        )
    finally:
        line.close()
    print(
        f"pulled {plural(result.files_pulled, 'file')} ({size(result.bytes_pulled)}) to "
        f"{visible(str(result.dest))}; {result.files_unchanged:,} already up to date"
    )
    for path in result.unsettled:
        print(
            f"tether: {visible(path)} kept changing while it was read; pull again "
            "(or with -f, until the job ends)",
            file=sys.stderr,
        )
    return 1 if result.unsettled else 0


async def gc(session: HostSession, dry_run: bool, keep_days: Optional[float]) -> int:
    report = await session.collect_garbage(dry_run=dry_run, keep_days=keep_days)
    snapshots, blobs = plural(report.snapshots, "snapshot"), plural(report.blobs, "stored file")
    what = f"{snapshots} and {blobs}, {size(report.bytes)}"
    print(f"would remove {what}" if report.dry_run else f"removed {what}")
    return 0
