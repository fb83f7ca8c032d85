"""Real process trees shaped like training jobs, started the way the shim starts
a job: as the leader of a session of its own."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

from tests.stats.conftest import read_pid

_SLEEPER = "import time; time.sleep(300)"
_BUSY = "import time\nend = time.time() + 300\nwhile time.time() < end: pass"

#: The job: a worker child, an orphaned grandchild (its parent exits, it stays in
#: the session), and, once DIR/go exists, a child that leaves the session (setsid).
JOB_SCRIPT = f"""
import os, subprocess, sys, time
d = sys.argv[1]
worker = subprocess.Popen([sys.executable, "-c", {_BUSY!r}])
def publish(name, pid):
    open(d + "/" + name + ".tmp", "w").write(str(pid))
    os.rename(d + "/" + name + ".tmp", d + "/" + name)
middle = subprocess.Popen([sys.executable, "-c",
    "import subprocess as s, sys; print(s.Popen([sys.executable, '-c', {_SLEEPER!r}],"
    " stdout=s.DEVNULL).pid)"], stdout=subprocess.PIPE)
publish("orphan.pid", int(middle.stdout.readline()))
middle.wait()
publish("worker.pid", worker.pid)
while not os.path.exists(d + "/go"):
    time.sleep(0.02)
escaped = subprocess.Popen([sys.executable, "-c", "import os, time; os.setsid(); time.sleep(300)"])
publish("escaped.pid", escaped.pid)
time.sleep(300)
"""


class TestJob:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.proc = subprocess.Popen(
            [sys.executable, "-c", JOB_SCRIPT, str(directory)], start_new_session=True
        )
        self.pid = self.proc.pid

    def pid_of(self, name: str) -> int:
        return read_pid(self.dir / f"{name}.pid")

    def spawn_escaped(self) -> int:
        (self.dir / "go").touch()
        return self.pid_of("escaped")

    def kill(self) -> None:
        for name in ("escaped",):
            path = self.dir / f"{name}.pid"
            if path.exists():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(path.read_text()), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait()


@contextlib.contextmanager
def running_job(directory: Path) -> Iterator[TestJob]:
    job = TestJob(directory)
    try:
        yield job
    finally:
        job.kill()
