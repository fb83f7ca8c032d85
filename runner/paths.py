"""Where the runner keeps its socket and its state.

The socket's directory follows `protocol.socket_path` (the user alone decides
it); the state directory follows ``XDG_STATE_HOME`` as the XDG spec asks. Both
are spelled in `protocol.host_layout`, which the client's installer and doctor
read too.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from protocol import host_layout
from protocol.socket_path import SOCKET_NAME, home_dir, run_dir
from runner.errors import RunnerError

__all__ = ["CODE_ROOT", "RunnerPaths", "home_dir", "run_dir", "state_dir"]

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
        return cls(run_dir=run_dir(), state_dir=state_dir())

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

    def ensure(self) -> None:
        """Create both directories 0700 and refuse a run dir someone else owns."""
        for directory in (self.run_dir, self.state_dir, self.jobs_dir):
            try:
                directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:
                raise RunnerError(
                    f"cannot create {directory}: {exc.strerror}; "
                    "fix or remove whatever is in the way and start again"
                ) from exc
        info = self.run_dir.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise RunnerError(
                f"{self.run_dir} is not a directory owned by you; remove it and start again"
            )
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(self.run_dir, 0o700)
