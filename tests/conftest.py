"""Shared fixtures: an isolated user environment and a real runner daemon in it.

Every test that starts a runner gets its own HOME and XDG dirs (so its socket,
lock, database and logs are its own) and the runner is a real process, started
and stopped exactly as a person's would be.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from tests.processes import describe, end, processes_under, reap

pytest_plugins = ["tests.sshd"]

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass
class UserEnv:
    """A throwaway user environment: HOME, XDG dirs, and helpers to run tether in it."""

    home: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.home / ".local" / "state" / "tether"

    @property
    def socket(self) -> Path:
        sys.path.insert(0, str(REPO))
        from protocol.socket_path import socket_path

        return socket_path(self.home)

    def job_dir(self, job_id: int) -> Path:
        return self.state_dir / "jobs" / str(job_id)

    def tether(
        self, *args: str, timeout: float = 60, check: bool = False, input: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            [PYTHON, "-m", "tui.cli", *args],
            env=self.env,
            capture_output=True,
            timeout=timeout,
            input=input,
            cwd=self.home,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"tether {' '.join(args)} exited {result.returncode}: {result.stderr.decode()}"
            )
        return result

    def runner(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [PYTHON, "-m", "runner", *args],
            env=self.env,
            capture_output=True,
            timeout=timeout,
            cwd=self.home,
        )

    def runner_pid(self) -> int | None:
        lock = self.socket.parent / "runner.lock"
        try:
            text = lock.read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else None

    def stop_runner(self) -> None:
        """Stop this HOME's runner as ``tether-runner stop`` does (SIGTERM to the holder
        of its lock, then wait for it to let go), from this process: a python started
        only to find that no runner runs costs a test half a second."""
        from runner.lock import read_holder

        lock = self.socket.parent / "runner.lock"
        pid = read_holder(lock)
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            wait_for(lambda: read_holder(lock) is None and not alive(pid), timeout=15)
        except AssertionError:
            # As `tether-runner stop` gives up after 15 s; on a machine this loaded
            # that is the load's doing, and the test's clean-up ends it either way.
            print(f"runner {pid} still running 15 s after SIGTERM: killed", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def make_user_env(root: Path) -> UserEnv:
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "LANG": "C.UTF-8",
        "TETHER_CANCEL_GRACE": "3",
        "SHELL": "/bin/bash",
        # No kept SSH connections (tui.keeper) outliving a test: the tests of them say so.
        "TETHER_PERSIST": "0",
    }
    # Measured runs (scripts/test): the CLI, the runner and its shims measure themselves.
    env.update({k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")})
    return UserEnv(home=home, env=env)


@pytest.fixture
def user_env(tmp_path: Path) -> Iterator[UserEnv]:
    """A fresh HOME with no runner; any runner started in it is stopped afterwards."""
    ue = make_user_env(tmp_path)
    yield ue
    ue.stop_runner()


@pytest.fixture
def local_runner(user_env: UserEnv) -> UserEnv:
    """A fresh HOME with a real runner daemon already serving in it."""
    result = user_env.runner("serve", "--daemon")
    assert result.returncode == 0, result.stderr
    return user_env


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie nobody reaped (PID 1 of a container may not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll until `predicate()` is truthy; fail the test with what was last seen."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last value: {value!r})")


# -- the GPU machine check ------------------------------------------------------------


def nvidia_driver_loaded() -> bool:
    """Whether NVML starts here: an NVIDIA driver and its library are present."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return False
    pynvml.nvmlShutdown()
    return True


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_tests = [item for item in items if item.get_closest_marker("gpu")]
    if gpu_tests and not nvidia_driver_loaded():
        for item in gpu_tests:
            item.add_marker(pytest.mark.skip(reason="no NVIDIA driver"))
    for item in items:
        if _shares_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))  # type: ignore[attr-defined]


def _shares_a_module_fixture(item: pytest.Item) -> bool:
    """Whether the test uses a fixture set up once per module (or class): its module's
    tests then run in one parallel worker (``--dist loadgroup``), which sets it up once."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        defs and defs[-1].scope in ("module", "package", "class")
        for defs in info.name2fixturedefs.values()
    )


# -- nothing left running ------------------------------------------------------------
#
# Each test's processes (its runner, shims, jobs, CLI) are ended when it ends, passed
# or failed: they are the processes whose HOME lies in its tmp_path. At the end of
# the run, anything still running under this run's directories (module and session
# fixtures, the SSH accounts) fails the run, loudly, and is ended.

_HOMES_FILE = "tether-homes.txt"


def session_root(config: pytest.Config) -> Path:
    """This run's directory for temporary files; a worker's is one level down."""
    base: Path = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    return base.parent if hasattr(config, "workerinput") else base


_config: list[pytest.Config] = []


def pytest_configure(config: pytest.Config) -> None:
    _config[:] = [config]


def register_home_root(root: Path) -> None:
    """Count processes whose HOME is under `root` (outside the run's own temporary
    directory, e.g. an SSH test account's) as this run's, for the end-of-run check."""
    if _config:
        with open(session_root(_config[0]) / _HOMES_FILE, "a") as f:
            f.write(f"{root}\n")


def _run_roots(config: pytest.Config) -> list[Path]:
    root = session_root(config)
    try:
        extra = (root / _HOMES_FILE).read_text().split()
    except FileNotFoundError:
        extra = []
    return [root, *(Path(p) for p in extra)]


@pytest.fixture(autouse=True)
def _end_what_the_test_started(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test, stop the runners and kill the jobs and shims it left."""
    tmp = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if tmp is not None:
        reap([tmp])
        _remove_fallback_run_dirs(tmp)


def _remove_fallback_run_dirs(tmp: Path) -> None:
    """A HOME too deep for a socket path keeps its runner's socket in /tmp
    (`protocol.socket_path`): remove those of every home the test made, once its
    runners are stopped, so that a run leaves nothing behind in /tmp."""
    from protocol.socket_path import fallback_candidates

    homes = [tmp, *(d for d in tmp.glob("*") if d.is_dir()), *tmp.glob("*/*")]
    for home in homes:
        for run_dir in fallback_candidates(home, os.getuid()):
            if run_dir.is_dir() and not run_dir.is_symlink():
                shutil.rmtree(run_dir, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return  # the controller checks for every worker, once they have all ended
    roots = _run_roots(config)
    deadline = time.monotonic() + 10
    left = processes_under(roots)
    while left and time.monotonic() < deadline:  # e.g. a runner still stopping
        time.sleep(0.2)
        left = processes_under(roots)
    if not left:
        return
    lines = [describe(p) for p in left]
    end(left)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    message = f"{len(lines)} tether process(es) outlived the tests that started them:"
    if reporter is not None:
        reporter.write_sep("=", "LEFT RUNNING", red=True, bold=True)
        reporter.write_line(message, red=True)
        for line in lines:
            reporter.write_line(f"  {line}", red=True)
    else:
        print(message, *lines, sep="\n  ", file=sys.stderr)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
