"""The on-disk contract between the runner and a job's shim.

Each job has a directory holding its spec, the shim's identity, its exit status,
its log and its metrics. The shim writes `shim.json` and `status.json` (each
atomically); the runner only reads them, so any runner version that knows the
`FORMAT` can re-adopt a job started by another. Stdlib only: the shim imports it.

The directory is 0700 and every file in it 0600, set explicitly: the spec holds
the job's environment. The job itself runs with the person's own umask (its
checkpoints are its business), which the daemon remembers for it in
`JOB_UMASK_VAR` before making its own private.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from protocol.socket_path import PRIVATE_DIR_MODE, make_private_dirs, open_private
from runner.jobs.atomic import read_json, write_json_atomic

FORMAT = 1
#: The umask the runner was started with, kept in its environment (which the
#: shims inherit) so that a job gets it back: octal digits.
JOB_UMASK_VAR = "TETHER_JOB_UMASK"


def remember_job_umask(umask: int) -> None:
    """Record `umask` for the jobs, unless a runner up the chain (one that re-executed
    itself, e.g. into a logind scope) already recorded the person's."""
    os.environ.setdefault(JOB_UMASK_VAR, f"{umask:o}")


def job_umask() -> int:
    """The umask a job runs with: the one the runner was started with (0022 when
    it was started some other way)."""
    try:
        return int(os.environ.get(JOB_UMASK_VAR, "22"), 8) & 0o777
    except ValueError:
        return 0o022


def create_private(path: Path) -> int:
    """Open `path` for appending, created 0600 (and made 0600 if it was not)."""
    return open_private(path, os.O_WRONLY | os.O_APPEND)


@dataclass
class LaunchSpec:
    """What the shim needs to start a job, written by the runner before launch."""

    job_id: int
    argv: List[str]
    cwd: str
    env: Dict[str, str]
    cancel_grace_s: float
    format: int = FORMAT


@dataclass
class ShimRecord:
    """Who is running the job, with start times so a reused pid is never mistaken."""

    shim_pid: int
    shim_start: int
    job_pid: int
    job_start: int
    started_at: float
    boot_id: str
    format: int = FORMAT


@dataclass
class ExitRecord:
    """How the job ended. Written once, last, by the shim."""

    exit_code: Optional[int]
    signal: Optional[str]
    finished_at: float
    cancelled: bool
    format: int = FORMAT


#: A job's output, in its directory.
LOG_NAME = "output.log"


def log_size(job_dir: str) -> int:
    """The bytes of the log in `job_dir` (0 before it has one). Takes a string:
    a listing asks this of every job, and building paths cost more than the stat."""
    try:
        return os.stat(f"{job_dir}/{LOG_NAME}").st_size
    except FileNotFoundError:
        return 0


def _fields(cls: Any, data: Dict[str, Any]) -> Dict[str, Any]:
    names = cls.__dataclass_fields__.keys()
    return {k: v for k, v in data.items() if k in names}


class JobFiles:
    def __init__(self, directory: Path) -> None:
        self.dir = directory

    @property
    def spec_path(self) -> Path:
        return self.dir / "spec.json"

    @property
    def shim_path(self) -> Path:
        return self.dir / "shim.json"

    @property
    def status_path(self) -> Path:
        return self.dir / "status.json"

    @property
    def claim_path(self) -> Path:
        return self.dir / "claim"

    @property
    def log_path(self) -> Path:
        return self.dir / LOG_NAME

    @property
    def metrics_path(self) -> Path:
        return self.dir / "metrics.jsonl"

    def attempt_dir(self, attempt: int) -> Path:
        """Where an earlier attempt's files are kept once a retry replaced it."""
        return self.dir / f"attempt-{attempt}"

    def log_path_of(self, attempt: Optional[int], current: int) -> Path:
        """The log of `attempt` (None, or the `current` one: the job's own)."""
        if attempt is None or attempt >= current:
            return self.log_path
        return self.attempt_dir(attempt) / self.log_path.name

    def archive_attempt(self, attempt: int) -> None:
        """Move attempt `attempt`'s files (its log, metrics, status, shim and claim)
        into `attempt_dir`, so the next attempt starts on a clean directory and
        the old log stays readable. Done once: gathered in a hidden folder and
        renamed whole, so a runner that dies half way finishes it on restart
        (and one that finished it does nothing)."""
        target = self.attempt_dir(attempt)
        if target.exists():
            return
        staging = self.dir / f".attempt-{attempt}.tmp"
        staging.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
        os.chmod(staging, PRIVATE_DIR_MODE)
        for path in (
            self.log_path,
            self.metrics_path,
            self.status_path,
            self.shim_path,
            self.spec_path,
            self.claim_path,
        ):
            try:
                os.rename(path, staging / path.name)
            except FileNotFoundError:
                continue
        os.rename(staging, target)

    def log_size(self) -> int:
        return log_size(str(self.dir))

    def write_spec(self, spec: LaunchSpec) -> None:
        make_private_dirs(self.dir)
        os.chmod(self.dir, PRIVATE_DIR_MODE)
        for stale in self.dir.glob(f".{self.spec_path.name}.*.tmp"):  # a launch cut short
            stale.unlink(missing_ok=True)
        write_json_atomic(self.spec_path, asdict(spec), crash_name="launch.spec_partial")

    def read_spec(self) -> LaunchSpec:
        data = read_json(self.spec_path)
        if data is None:
            raise FileNotFoundError(self.spec_path)
        return LaunchSpec(**_fields(LaunchSpec, data))

    def write_shim(self, record: ShimRecord) -> None:
        write_json_atomic(self.shim_path, asdict(record))

    def read_shim(self) -> Optional[ShimRecord]:
        data = read_json(self.shim_path)
        return None if data is None else ShimRecord(**_fields(ShimRecord, data))

    def write_exit(self, record: ExitRecord) -> None:
        write_json_atomic(self.status_path, asdict(record))

    def read_exit(self) -> Optional[ExitRecord]:
        data = read_json(self.status_path)
        return None if data is None else ExitRecord(**_fields(ExitRecord, data))

    def claim(self) -> bool:
        """True for exactly one caller ever: stops a job being launched twice when
        the runner dies between spawning a shim and recording it."""
        try:
            fd = open_private(self.claim_path, os.O_WRONLY | os.O_EXCL)
        except FileExistsError:
            return False
        os.close(fd)
        return True
