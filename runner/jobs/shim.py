"""The per-job supervisor: the one process that owns a job's life and exit status.

The runner launches ``python -m runner.jobs.shim JOB_DIR``. That process forks the
shim proper into a session of its own and returns as soon as the job is running,
so the shim belongs to neither the runner nor any SSH connection: the runner can
be killed, upgraded or restarted and the job carries on. The shim starts the job
in yet another session (its own process group), sends its output straight to the
log file, waits for it, and records how it ended with an atomic write. SIGTERM to
the shim means "cancel": the job's whole group gets SIGTERM (and SIGCONT, so a
paused job wakes to hear it), then SIGKILL after a grace period, and nothing of
the group is left behind. Pause and resume (SIGSTOP, SIGCONT) go from the runner
to the job's group directly: a stopped job is not an ended one, so the shim's
wait goes on untouched. A full disk loses
nothing: the shim keeps the exit status and retries until there is room for it,
and says in the log where the job's output was cut (`LogDisk`).

Stdlib only, so a job starts without paying for pydantic or msgpack.

The shim runs with the daemon's private umask (what it writes holds the job's
environment and output); the job, and the login shell that reads its
environment, get the person's own umask back (`runner.jobs.files.job_umask`), so
checkpoints come out as they would from a terminal.
"""

from __future__ import annotations

import errno
import os
import pwd
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

from runner.disk_space import full_error
from runner.faults import crash_point
from runner.jobs.files import (
    ExitRecord,
    JobFiles,
    LaunchSpec,
    ShimRecord,
    create_private,
    job_umask,
)
from runner.jobs.log_disk import LogDisk, retry_while_full
from runner.jobs.proc import boot_id, pidfd_open, start_ticks

_ENV_MARKER = b"__TETHER_LOGIN_ENV__"
_LOGIN_TIMEOUT_S = 15.0
#: Variables a login shell starts from: the same whoever started the runner
#: (cron, ssh, a terminal), so a job's environment does not depend on it.
_KEPT_VARS = ("HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
_BASE_PATH = "/usr/local/bin:/usr/bin:/bin"
#: How often the shim looks at the disk under the job's log while the job runs.
_LOOK_INTERVAL_S = 0.5
#: Retrying a write the disk has no room for: the first wait, and the longest.


def login_shell() -> str:
    shell = os.environ.get("SHELL")
    if not shell:
        try:
            shell = pwd.getpwuid(os.getuid()).pw_shell
        except KeyError:
            shell = ""
    return shell if shell and os.access(shell, os.X_OK) else "/bin/sh"


def login_environment() -> tuple[Dict[str, str], Optional[str]]:
    """The environment the person's login shell sets up (PATH, conda, venvs...),
    and a warning when it could not be read and a plain one is used instead."""
    base = {k: os.environ[k] for k in _KEPT_VARS if k in os.environ}
    # Inside a Slurm allocation the job needs Slurm's word on it (SLURM_JOB_ID,
    # SLURM_NODEID, the node list): srun and torchrun read them.
    base.update({k: v for k, v in os.environ.items() if k.startswith("SLURM_")})
    base["PATH"] = _BASE_PATH
    script = "printf '%s\\0' " + _ENV_MARKER.decode() + "; exec env -0"
    try:
        out = subprocess.run(
            [login_shell(), "-lc", script],
            env=base,
            cwd=base.get("HOME", "/"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            umask=job_umask(),
            timeout=_LOGIN_TIMEOUT_S,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return base, f"could not read the login shell's environment ({exc})"
    _, found, tail = out.partition(_ENV_MARKER + b"\0")
    if not found:
        return base, "the login shell printed no environment"
    env: Dict[str, str] = {}
    for entry in tail.split(b"\0"):
        key, sep, value = entry.partition(b"=")
        if sep and key:
            env[os.fsdecode(key)] = os.fsdecode(value)
    for noise in ("SHLVL", "_", "OLDPWD", "PWD"):
        env.pop(noise, None)
    return env, None


class Supervisor:
    """Runs one job and turns SIGTERM into a graceful, then forceful, group kill."""

    def __init__(self, files: JobFiles, spec: LaunchSpec) -> None:
        self.files = files
        self.spec = spec
        self.job: Optional[subprocess.Popen[bytes]] = None
        #: Why the program could not be started at all (the submit is refused).
        self.start_error: Optional[str] = None
        self.cancelled = False
        self.log_disk = LogDisk(files.log_path)

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_cancel)
        signal.signal(signal.SIGINT, self._on_cancel)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGALRM, self._on_grace_over)

    def _killpg(self, sig: int) -> None:
        if self.job is None:
            return
        try:
            os.killpg(self.job.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _on_cancel(self, signum: int, frame: object) -> None:
        if self.cancelled:
            return
        self.cancelled = True
        self._killpg(signal.SIGTERM)
        self._killpg(signal.SIGCONT)  # a paused job (SIGSTOP) must wake to hear it
        signal.setitimer(signal.ITIMER_REAL, max(self.spec.cancel_grace_s, 0.01))

    def _on_grace_over(self, signum: int, frame: object) -> None:
        self._killpg(signal.SIGKILL)

    def start(self, env: Dict[str, str], warning: Optional[str]) -> Optional[ExitRecord]:
        """Start the job; an ExitRecord if it could not even be started."""
        os.close(create_private(self.files.metrics_path))  # 0600 however the job opens it
        log_fd = create_private(self.files.log_path)
        try:
            if warning:
                os.write(log_fd, f"tether: {warning}; using a plain environment\n".encode())
            full_env = dict(env)
            full_env.update(self.spec.env)
            try:
                self.job = subprocess.Popen(
                    self.spec.argv,
                    cwd=self.spec.cwd,
                    env=full_env,
                    stdin=subprocess.DEVNULL,
                    stdout=log_fd,
                    stderr=log_fd,
                    start_new_session=True,
                    close_fds=True,
                    umask=job_umask(),
                    executable=_resolve(self.spec.argv[0], full_env.get("PATH", _BASE_PATH)),
                    preexec_fn=_dies_with_this_process(),  # noqa: PLW1509 (one thread)
                )
            except OSError as exc:
                code = 127 if exc.errno == errno.ENOENT else 126
                program = self.spec.argv[0]
                self.start_error = f"cannot run {program!r}: {exc.strerror}"
                if exc.errno == errno.ENOENT and "/" not in program:
                    searched = full_env.get("PATH", _BASE_PATH)
                    self.start_error = (
                        f"no program {program!r} on the login shell's PATH ({searched})"
                    )
                os.write(log_fd, f"tether: {self.start_error}\n".encode())
                return ExitRecord(code, None, time.time(), self.cancelled)
        finally:
            os.close(log_fd)
        if self.cancelled:  # SIGTERM arrived while starting
            self.cancelled = False
            self._on_cancel(signal.SIGTERM, None)
        return None

    def wait(self) -> ExitRecord:
        """Wait for the job to end, looking at its log's disk meanwhile (`LogDisk`).
        The signal handlers stay in charge of cancelling it all along."""
        assert self.job is not None
        pidfd = pidfd_open(self.job.pid)
        try:
            while not self._ended_within(pidfd, _LOOK_INTERVAL_S):
                self.log_disk.look()
        finally:
            if pidfd is not None:
                os.close(pidfd)
        returncode = self.job.wait()
        signal.setitimer(signal.ITIMER_REAL, 0)
        if self.cancelled:
            self._killpg(signal.SIGKILL)  # leave nothing of the job behind
        if returncode < 0:
            name = signal.Signals(-returncode).name
            return ExitRecord(None, name, time.time(), self.cancelled)
        return ExitRecord(returncode, None, time.time(), self.cancelled)

    def _ended_within(self, pidfd: Optional[int], seconds: float) -> bool:
        """Whether the job ended within `seconds` (woken at once by its pidfd;
        where there are none, `Popen.wait` polls)."""
        assert self.job is not None
        if pidfd is not None:
            readable, _, _ = select.select([pidfd], [], [], seconds)
            return bool(readable)
        try:
            self.job.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        return True


_PR_SET_PDEATHSIG = 1


def _dies_with_this_process() -> Optional[Callable[[], None]]:
    """What the job runs before its program: ask the kernel to SIGKILL it if the
    shim dies, so a shim killed at any instant never leaves a job running that
    nobody records (and that would run a second time if relaunched). None where
    there is no prctl (the job then outlives a killed shim, as it always did)."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError, ImportError):
        return None
    shim_pid = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != shim_pid:  # the shim died before the request took
            os._exit(137)

    return arm


def _resolve(program: str, path: str) -> str:
    """Look the program up on the job's PATH (the login shell's), not the shim's."""
    if "/" in program:
        return program
    for directory in path.split(os.pathsep):
        candidate = os.path.join(directory or ".", program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return program


def _run_shim(files: JobFiles, spec: LaunchSpec, ready_fd: int) -> int:
    supervisor = Supervisor(files, spec)
    supervisor.install_signals()
    env, warning = login_environment()
    early_exit = supervisor.start(env, warning)
    now = time.time()
    if early_exit is not None:
        files.write_shim(
            ShimRecord(os.getpid(), start_ticks(os.getpid()) or 0, 0, 0, now, boot_id())
        )
        files.write_exit(early_exit)
        os.write(ready_fd, (supervisor.start_error or "").encode() or b"ok")
        return 0
    assert supervisor.job is not None
    job_pid = supervisor.job.pid
    crash_point("shim.job_forked")
    files.write_shim(
        ShimRecord(
            shim_pid=os.getpid(),
            shim_start=start_ticks(os.getpid()) or 0,
            job_pid=job_pid,
            job_start=start_ticks(job_pid) or 0,
            started_at=now,
            boot_id=boot_id(),
        )
    )
    os.write(ready_fd, b"ok")
    os.close(ready_fd)
    exit_record = supervisor.wait()
    crash_point("shim.job_exited")
    # While the disk is full the shim waits here, alive, so the runner shows the
    # job running; once both are written it exits and the runner records the end.
    retry_while_full(supervisor.log_disk.note_cut)
    retry_while_full(lambda: files.write_exit(exit_record))
    return 0


def _detach_stdio() -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def _in_allocation(files: JobFiles) -> int:
    """The shim in the foreground: inside a Slurm allocation the batch script is
    the shim, so Slurm's signals (cancel, time limit) reach it, and the job ends
    when it does. No launcher waits for it: the runner learns from Slurm and the
    files."""
    spec = files.read_spec()
    if not files.claim():
        print(f"job {spec.job_id} was already launched", file=sys.stderr)
        return 3
    ready = os.open(os.devnull, os.O_WRONLY)
    sampler = _start_gpu_sampler(files, spec.job_id)
    try:
        return _run_shim(files, spec, ready)
    finally:
        if sampler is not None:
            sampler.terminate()
            sampler.wait()


def _start_gpu_sampler(files: JobFiles, job_id: int) -> Optional[subprocess.Popen[bytes]]:
    """Where Slurm gave the job GPUs, read them on this node beside it
    (`runner.stats.allocation`, a process of its own: the shim stays stdlib-only)."""
    if not (os.environ.get("SLURM_JOB_GPUS") or os.environ.get("SLURM_STEP_GPUS")):
        return None
    module = "runner.stats.allocation"
    try:
        return subprocess.Popen([sys.executable, "-m", module, str(files.dir), str(job_id)])
    except OSError as exc:  # the job runs all the same; only its GPU readings are missing
        print(f"tether: the job's GPUs will not be read: {exc}", file=sys.stderr)
        return None


def main(argv: List[str]) -> int:
    if len(argv) == 3 and argv[1] == "--in-allocation":
        return _in_allocation(JobFiles(Path(argv[2])))
    if len(argv) != 2:
        print("usage: python -m runner.jobs.shim [--in-allocation] JOB_DIR", file=sys.stderr)
        return 2
    files = JobFiles(Path(argv[1]))
    spec = files.read_spec()
    if not files.claim():
        print(f"job {spec.job_id} was already launched", file=sys.stderr)
        return 3
    ready_r, ready_w = os.pipe()
    if os.fork() > 0:
        # The launcher: report once the job runs (or could not), then get out of the
        # way so the shim is reparented away from the runner.
        os.close(ready_w)
        answer = b""
        while chunk := os.read(ready_r, 4096):
            answer += chunk
        if answer == b"ok":
            return 0
        sys.stderr.write(answer.decode(errors="replace") or "the job's shim died while starting")
        return 1
    os.close(ready_r)
    os.setsid()
    crash_point("shim.claimed")
    try:
        _detach_stdio()
        code = _run_shim(files, spec, ready_w)
    except BaseException as exc:
        try:
            full = full_error(exc, files.dir.parent.parent)  # STATE/jobs/ID
            os.write(ready_w, (str(full) if full else f"the job's shim failed: {exc!r}").encode())
        finally:
            os._exit(1)
    os._exit(code)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
