"""A job's files back to the person's machine: `pull_outputs`.

The host lists the files (``list_outputs``, paged), and each one whose local copy
differs in size or mtime is read by offset (``read_output``, a few reads in flight)
into ``NAME.part`` beside its place, then given the host's mode and mtime and
renamed over it, so a reader never sees half a file. A ``.part`` left by a cut
pull is continued from its size when the host's file has not changed since (the
``.part`` carries the host file's mtime while it grows), else started again.

Every path the host names is checked before anything is written: a path that is
not plain and relative, or that would pass through a symlink leading out of the
destination, raises `UnsafePath`. A file that changes while it is read is read
again from its start, up to `MAX_TRIES` times; after that it is left for the next
pull and named in `PullResult.unsettled` (a log the job keeps writing).

Over SSH, a file of a MiB or more is read over SFTP on the same SSH connection
when the server offers it (`tui.sync.sftp_source`: about twice the rate, the
runner no longer relaying the bytes), then confirmed with the runner; a failed
SFTP read goes on through the runner from the ``.part``.

With ``follow`` the pull goes on until the job ends: a pass, a pause of
`FOLLOW_POLL_S`, another pass (only what changed travels), and one last pass
once the host says the job is no longer active.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

from protocol.limits import MAX_OUTPUT_CHUNK_BYTES
from protocol.manifest import ManifestError, check_relative_path
from protocol.sync import OutputChunk, OutputFile
from tui.errors import SyncError, UnsafePath
from tui.session import HostSession
from tui.sync.progress import Meter, OnProgress, Progress, ignore_progress
from tui.sync.select import PULLED_FOLDER
from tui.sync.sftp_source import SFTP_MIN_BYTES, SftpFailed, SftpSource
from tui.visible import visible

#: Reads in flight for one file.
READS_IN_FLIGHT = 4
#: Times a file that keeps changing is read again before it is left for later.
MAX_TRIES = 3
#: Seconds between passes of ``pull -f``.
FOLLOW_POLL_S = 1.0
PART_SUFFIX = ".part"
#: Two mtimes closer than this (ns) are the same: the wire carries a float.
MTIME_SLACK_NS = 1000


@dataclass
class PullResult:
    """What a pull did: files written, files already up to date, bytes received,
    and files that kept changing while read (left for the next pull)."""

    dest: Path
    files_pulled: int = 0
    files_unchanged: int = 0
    bytes_pulled: int = 0
    unsettled: List[str] = field(default_factory=list)


def default_pull_dir(host: str, job_id: int) -> Path:
    """``tether-out/HOST/JOB`` under the current folder (``local`` for this machine)."""
    name = re.sub(r"[^A-Za-z0-9._@:+-]", "_", host) or "local"
    return Path(PULLED_FOLDER) / name / str(job_id)


def check_pull_paths(paths: List[str]) -> List[str]:
    """`paths` stripped of a trailing ``/``, each a plain relative path; else
    `UnsafePath` naming it, before anything asks the host."""
    checked = []
    for path in paths:
        clean = path.rstrip("/") if path.rstrip("/") else path
        try:
            checked.append(check_relative_path(clean))
        except ManifestError as exc:
            raise UnsafePath(
                f"cannot pull {visible(path)}: {exc}; give paths relative to the job's "
                "working directory, without '..'"
            ) from None
    return checked


async def pull_outputs(
    session: HostSession,
    job_id: int,
    paths: List[str],
    dest: Path,
    *,
    follow: bool = False,
    on_progress: OnProgress = ignore_progress,
) -> PullResult:
    """Copy job `job_id`'s files (under `paths`, relative to its working directory;
    none: what it created or changed) into `dest` (created), keeping mtime and
    the executable bit; see the module docstring. `on_progress` gets a
    `Progress` per pass (``pulling``) and, following, between passes
    (``waiting``).

    Raises `UnsafePath` (a path leading out of `dest`), `SyncError` (a local file
    that cannot be written), `RemoteError` (no such job or path) and the
    session's `ConnectError`; a cut link is resumed by the session.
    """
    wanted = check_pull_paths(paths)
    job = await session.get_job(job_id)  # an unknown job fails here, before any folder
    result = PullResult(dest=Path.cwd() / dest)
    await asyncio.to_thread(_make_dir, result.dest)
    source = await SftpSource.open(session, job.cwd)
    while True:
        files, active = await _listing(session, job_id, wanted)
        await _pass(session, job_id, files, result, on_progress, source)
        if not (follow and active):
            return result
        on_progress(Progress("waiting", result.files_pulled, 0, result.bytes_pulled))
        await asyncio.sleep(FOLLOW_POLL_S)


async def _listing(
    session: HostSession, job_id: int, paths: List[str]
) -> Tuple[List[OutputFile], bool]:
    files: List[OutputFile] = []
    after: Optional[str] = None
    while True:
        page = await session.list_outputs(job_id, paths, after)
        files.extend(page.files)
        if not page.more or not page.files:
            return files, page.job_active
        after = page.files[-1].path


async def _pass(
    session: HostSession,
    job_id: int,
    files: List[OutputFile],
    result: PullResult,
    on_progress: OnProgress,
    source: Optional[SftpSource],
) -> None:
    dest = result.dest
    targets = [(f, _target(dest, f.path)) for f in files]

    def stale_ones() -> List[Tuple[OutputFile, Path]]:
        for _, target in targets:
            _inside(dest, target)
        return [(f, t) for f, t in targets if not _up_to_date(t, f)]

    stale = await asyncio.to_thread(stale_ones)
    result.files_unchanged = len(files) - len(stale)
    meter = Meter(on_progress, "pulling", len(stale), sum(f.size for f, _ in stale))
    for f, target in stale:
        if f.path in result.unsettled:
            result.unsettled.remove(f.path)
        pulled = await _pull_file(session, job_id, f, dest, target, meter, source)
        if pulled is None:
            result.unsettled.append(f.path)
        else:
            result.files_pulled += 1
            result.bytes_pulled += pulled
    meter.finish()


# -- where a file lands --------------------------------------------------------------


def _make_dir(path: Path) -> None:
    """`path` and its missing parents, each created with mode 0755."""
    missing = []
    cur = path
    while not os.path.lexists(cur):
        missing.append(cur)
        cur = cur.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o755)
        except FileExistsError:
            continue
        except OSError as exc:
            raise SyncError(
                f"cannot make the folder {visible(str(folder))}: {exc.strerror}"
            ) from None
        os.chmod(folder, 0o755)  # noqa: S103 - a folder of pulled files, as mkdir -p makes it
    if not path.is_dir():
        raise SyncError(f"{visible(str(path))} is not a folder: pull needs one to write into")


def _target(dest: Path, path: str) -> Path:
    """Where host path `path` lands under `dest`; `UnsafePath` if it would not."""
    try:
        check_relative_path(path)
    except ManifestError as exc:
        raise UnsafePath(f"the host named a file that would land outside {dest}: {exc}") from None
    return dest.joinpath(*path.split("/"))


def _inside(dest: Path, target: Path) -> None:
    """Check every existing folder between `dest` and `target`: a symlink among
    them must resolve inside `dest` (`UnsafePath`), anything else be a folder."""
    real_dest = os.path.realpath(dest)
    cur = dest
    for part in target.relative_to(dest).parts[:-1]:
        cur = cur / part
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(st.st_mode):
            real = os.path.realpath(cur)
            if os.path.commonpath([real, real_dest]) != real_dest:
                raise UnsafePath(
                    f"{visible(str(cur))} is a symlink to {visible(real)}, outside "
                    f"{visible(str(dest))}: refusing to write {visible(str(target))} through it"
                )
        elif not stat.S_ISDIR(st.st_mode):
            raise SyncError(
                f"{visible(str(cur))} is a file where the job has a folder: "
                f"move it away or pull into another --to"
            )


def _mtime_ns(f: OutputFile) -> int:
    return round(f.mtime * 1e9)


def _up_to_date(target: Path, f: OutputFile) -> bool:
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise SyncError(f"cannot look at {visible(str(target))}: {exc.strerror}") from None
    return (
        stat.S_ISREG(st.st_mode)
        and st.st_size == f.size
        and abs(st.st_mtime_ns - _mtime_ns(f)) <= MTIME_SLACK_NS
    )


# -- one file ------------------------------------------------------------------------


class _Changed(Exception):
    """The host's file changed while it was read; `now` is how it is now."""

    def __init__(self, now: OutputFile) -> None:
        self.now = now


def _part_path(target: Path) -> Path:
    return target.with_name(target.name + PART_SUFFIX)


def _open_part(dest: Path, target: Path, f: OutputFile) -> Tuple[int, int]:
    """The ``.part`` of `target`, opened for writing, and the offset to go on
    from: its size when it was growing towards this very version of the host's
    file, else 0 (emptied)."""
    _inside(dest, target)
    _make_dir(target.parent)
    part = _part_path(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(part, flags, 0o600)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise SyncError(f"cannot write {visible(str(part))}: {exc.strerror}") from None
        os.unlink(part)  # a symlink in the way of our own .part: not followed
        fd = os.open(part, flags, 0o600)
    st = os.fstat(fd)
    same_version = abs(st.st_mtime_ns - _mtime_ns(f)) <= MTIME_SLACK_NS
    if same_version and st.st_size <= f.size:
        return fd, st.st_size
    os.ftruncate(fd, 0)
    return fd, 0


def _write(fd: int, offset: int, data: bytes, mtime_ns: int) -> None:
    """Write a chunk at `offset` and stamp the ``.part`` with the host file's
    mtime, so a cut pull knows which version it holds."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written
    os.utime(fd, ns=(mtime_ns, mtime_ns))


def _finish(fd: int, target: Path, f: OutputFile) -> None:
    os.fchmod(fd, 0o755 if f.executable else 0o644)
    os.utime(fd, ns=(_mtime_ns(f), _mtime_ns(f)))
    os.close(fd)
    os.replace(_part_path(target), target)


async def _pull_file(
    session: HostSession,
    job_id: int,
    f: OutputFile,
    dest: Path,
    target: Path,
    meter: Meter,
    source: Optional[SftpSource],
) -> Optional[int]:
    """Bytes received for `f` once it is in place; None when it kept changing."""
    tries = 0
    sftp_from: Optional[int] = None  # where a failed SFTP read of this file began
    carried = 0  # bytes it wrote to the .part before failing, kept and counted
    while tries < MAX_TRIES:
        fd, start = await asyncio.to_thread(_open_part, dest, target, f)
        if sftp_from is not None:
            carried, sftp_from = max(start - sftp_from, 0), None
        try:
            if source is not None and source.usable and f.size - start >= SFTP_MIN_BYTES:
                received = await _fill_over_sftp(source, session, job_id, f, fd, start, meter)
            else:
                received = await _fill(session, job_id, f, fd, start, meter)
        except _Changed as changed:
            await asyncio.to_thread(os.close, fd)
            f = changed.now
            tries += 1
            carried = 0  # the .part starts again
            continue
        except SftpFailed:
            # On through the runner, from what the .part holds (the session
            # reconnects if the link itself went).
            await asyncio.to_thread(os.close, fd)
            assert source is not None
            source.usable = False
            sftp_from = start
            continue
        except BaseException:
            await asyncio.to_thread(os.close, fd)
            raise
        await asyncio.to_thread(_finish, fd, target, f)
        meter.add(files=1)
        return carried + received
    return None


async def _fill_over_sftp(
    source: SftpSource,
    session: HostSession,
    job_id: int,
    f: OutputFile,
    fd: int,
    start: int,
    meter: Meter,
) -> int:
    """`_fill` over SFTP (`tui.sync.sftp_source`); then the runner confirms the
    file is still the one it listed, inside the job's directory, unchanged."""
    size, mtime_s = await source.stat(f.path)
    if size != f.size or mtime_s != int(f.mtime):
        raise _Changed(await _as_now(session, job_id, f))
    received = 0
    async for offset, data in source.chunks(f.path, start, f.size):
        await asyncio.to_thread(_write, fd, offset, data, _mtime_ns(f))
        received += len(data)
        meter.add(nbytes=len(data))
    now = await _as_now(session, job_id, f)
    if now.size != f.size or abs(_mtime_ns(now) - _mtime_ns(f)) > MTIME_SLACK_NS:
        raise _Changed(now)
    return received


async def _as_now(session: HostSession, job_id: int, f: OutputFile) -> OutputFile:
    """`f` as the runner sees it now."""
    chunk = await session.read_output(job_id, f.path, max(f.size - 1, 0), 1)
    return OutputFile(path=f.path, size=chunk.size, mtime=chunk.mtime, executable=chunk.executable)


async def _fill(
    session: HostSession, job_id: int, f: OutputFile, fd: int, start: int, meter: Meter
) -> int:
    """Read `f` from `start` to its end into `fd`, `READS_IN_FLIGHT` reads at a time,
    written in order. `_Changed` as soon as a chunk says the file is another one."""
    offsets = list(range(start, f.size, MAX_OUTPUT_CHUNK_BYTES))
    reads: List[asyncio.Future[OutputChunk]] = []
    received = 0
    try:
        for index, offset in enumerate(offsets):
            while len(reads) < READS_IN_FLIGHT and index + len(reads) < len(offsets):
                at = offsets[index + len(reads)]
                reads.append(asyncio.ensure_future(session.read_output(job_id, f.path, at)))
            chunk = await reads.pop(0)
            expected = min(MAX_OUTPUT_CHUNK_BYTES, f.size - offset)
            if (
                chunk.size != f.size
                or abs(round(chunk.mtime * 1e9) - _mtime_ns(f)) > MTIME_SLACK_NS
                or len(chunk.data) != expected
            ):
                raise _Changed(
                    OutputFile(
                        path=f.path, size=chunk.size, mtime=chunk.mtime, executable=chunk.executable
                    )
                )
            await asyncio.to_thread(_write, fd, offset, chunk.data, _mtime_ns(f))
            received += len(chunk.data)
            meter.add(nbytes=len(chunk.data))
    finally:
        for read in reads:
            read.cancel()
        await asyncio.gather(*reads, return_exceptions=True)
    return received
