"""Where the runner keeps its socket and its state, and who may read them.

The socket's directory follows `protocol.socket_path` (the user alone decides
it); the state directory follows ``XDG_STATE_HOME`` as the XDG spec asks. Both
are spelled in `protocol.host_layout`, which the client's installer and doctor
read too.

Everything under them is the user's alone: job records hold environments
(tokens, API keys), and another account that can open ``jobs.db-shm`` can lock
the database. So every directory the runner creates is 0700 and every file
0600, set explicitly rather than left to the umask, and a tree left looser by
an older runner is tightened when the daemon starts (`RunnerPaths.tighten`).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import AbstractSet, List

from protocol import host_layout
from protocol.socket_path import (
    PRIVATE_DIR_MODE,
    PRIVATE_FILE_MODE,
    SOCKET_NAME,
    RunDirError,
    check_private_dir,
    claim_run_dir,
    home_dir,
    make_private_dirs,
    run_dir,
)
from runner.errors import RunnerError

__all__ = [
    "CODE_ROOT",
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "RunnerPaths",
    "home_dir",
    "run_dir",
    "state_dir",
]

#: The process umask of the daemon and the shims (a belt: files SQLite or logging
#: create on their own come out private too). Jobs get the person's own back.
PRIVATE_UMASK = 0o077

#: The directory holding the `runner` and `protocol` packages: what a process
#: started from here (a shim, a cron entry) needs on its PYTHONPATH.
CODE_ROOT = Path(__file__).resolve().parent.parent


def state_dir() -> Path:
    return host_layout.state_dir(home_dir(), os.environ)


@dataclass(frozen=True)
class RunnerPaths:
    run_dir: Path
    state_dir: Path

    @classmethod
    def default(cls) -> RunnerPaths:
        """The user's paths, the run dir claimed by the rule in `protocol.socket_path`
        (created 0700 if absent, passing over any another account planted)."""
        try:
            chosen = claim_run_dir()
        except RunDirError as exc:
            raise RunnerError(str(exc)) from exc
        return cls(run_dir=chosen.path, state_dir=state_dir())

    @property
    def socket(self) -> Path:
        return self.run_dir / SOCKET_NAME

    @property
    def lock(self) -> Path:
        return self.run_dir / "runner.lock"

    @property
    def database(self) -> Path:
        return self.state_dir / "jobs.db"

    @property
    def jobs_dir(self) -> Path:
        return self.state_dir / "jobs"

    @property
    def daemon_log(self) -> Path:
        return self.state_dir / "runner.log"

    def job_dir(self, job_id: int) -> Path:
        return self.jobs_dir / str(job_id)

    @property
    def store_dir(self) -> Path:
        """The snapshot store: blobs by digest, partial uploads, snapshot marks."""
        return self.state_dir / "store"

    @property
    def work_dir(self) -> Path:
        """The jobs' private copies of their snapshots (their working trees)."""
        return self.state_dir / "work"

    def ensure(self) -> None:
        """Create the run, state and jobs dirs 0700 and refuse a run dir someone else
        owns. Cheap (every verb calls it); `tighten` is the full walk."""
        for directory in (self.run_dir, self.state_dir, self.jobs_dir):
            try:
                make_private_dirs(directory)
                if not directory.is_dir():
                    raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST))
            except OSError as exc:
                raise RunnerError(
                    f"cannot create {directory}: {exc.strerror}; "
                    "fix or remove whatever is in the way and start again"
                ) from exc
        info = self.run_dir.lstat()
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
            _tighten_one(self.run_dir, info)
        try:
            check_private_dir(self.run_dir)
        except RunDirError as exc:
            raise RunnerError(str(exc)) from exc

    def tighten(self) -> List[Path]:
        """Take group and other access away from everything of the user's under the
        state dir and the run dir (left by an older runner, or a umask of 0022);
        returns what was changed, for one line in the runner's log.

        The store and the jobs' working trees are tightened at their top only: the
        store makes every file private itself, the trees hold the jobs' own files
        (modes are their business, the 0700 folder above keeps others out), and
        both can hold far too many files to walk at every start."""
        changed: List[Path] = []
        for top in (self.state_dir, self.run_dir):
            changed.extend(_tighten_tree(top, skip={self.store_dir, self.work_dir}))
        return changed


def _tighten_one(path: Path, info: os.stat_result) -> bool:
    """Clear group/other bits on one own directory or regular file; links are left alone."""
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.getuid() or not mode & 0o077:
        return False
    if stat.S_ISDIR(info.st_mode):
        os.chmod(path, PRIVATE_DIR_MODE)
    elif stat.S_ISREG(info.st_mode) or stat.S_ISSOCK(info.st_mode):
        os.chmod(path, mode & 0o700)
    else:
        return False
    return True


def _tighten_tree(top: Path, skip: AbstractSet[Path] = frozenset()) -> List[Path]:
    """Tighten `top` and what lies under it; a folder in `skip` is tightened but
    not walked into."""
    changed: List[Path] = []
    try:
        if _tighten_one(top, top.lstat()):
            changed.append(top)
    except FileNotFoundError:
        return changed
    for root, dirs, files in os.walk(top):
        if Path(root) in skip:
            dirs.clear()
            continue
        for name in dirs + files:
            path = Path(root, name)
            try:
                if _tighten_one(path, path.lstat()):
                    changed.append(path)
            except FileNotFoundError:
                continue  # removed while walking (a temp file renamed into place)
    return changed
