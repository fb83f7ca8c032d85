"""A full disk is a state, not a crash: the runner's state dir on a real 2 MiB tmpfs.

A request that meets the full disk is answered with what is full and what to do;
a job that fills it keeps its exit code (its shim waits for room to write it) and
its log says where the output was cut; once space is back, everything catches up
with the same runner, and nothing recorded before is lost.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.errors import ErrorCode
from runner.disk_space import full_error
from runner.jobs.atomic import write_json_atomic
from tests.conftest import UserEnv, alive, wait_for
from tests.processes import reap

DISK_SIZE = "2.0 MiB"
STATE_DIR_FULL = (
    f"the state dir ~/.local/state/tether is full (0 B free of {DISK_SIZE}): "
    "free space there or set XDG_STATE_HOME"
)
CUT_LINE = (
    f"tether: output was cut here: the disk holding this log was full (0 B free of {DISK_SIZE})\n"
)
#: A job that waits for the file `go` (so that it is recorded as running before
#: the disk fills), writes its output until the disk is full, then exits 7
#: (saying nothing: its stderr is the full log too).
FILLING_JOB = (
    "import os, time\n"
    "while not os.path.exists('go'):\n"
    "    time.sleep(0.02)\n"
    "try:\n"
    "    while True:\n"
    "        os.write(1, b'x' * 65536)\n"
    "except OSError:\n"
    "    os._exit(7)\n"
)


def _mount_small_disk(where: Path, options: str = "size=2m") -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a 2 MiB tmpfs needs root (the suite runs as root here and in CI)")
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"{options},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")


def _unmount(where: Path, tmp_path: Path) -> None:
    reap([tmp_path])  # the runner, shims and jobs that hold files on it
    if subprocess.run(["umount", str(where)], capture_output=True, check=False).returncode:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


@contextlib.contextmanager
def _small_disk(where: Path, tmp_path: Path, options: str = "size=2m") -> Iterator[Path]:
    """A small tmpfs at `where`, unmounted afterwards whatever happened."""
    _mount_small_disk(where, options)
    try:
        yield where
    finally:
        _unmount(where, tmp_path)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with _small_disk(tmp_path / "disk", tmp_path) as where:
        yield where


@contextlib.contextmanager
def serving_on_small_disk(env: UserEnv, tmp_path: Path) -> Iterator[UserEnv]:
    """`env`'s runner serving with its state dir on a 2 MiB tmpfs."""
    with _small_disk(env.state_dir, tmp_path):
        try:
            started = env.runner("serve", "--daemon")
            assert started.returncode == 0, started.stderr
            yield env
        finally:
            env.stop_runner()


@pytest.fixture
def full_disk_runner(user_env: UserEnv, tmp_path: Path) -> Iterator[UserEnv]:
    with serving_on_small_disk(user_env, tmp_path) as env:
        yield env


def _fill(directory: Path, limit: int | None = None) -> Path:
    """A file taking `limit` bytes of the disk, or all that is left of it."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    written = 0
    with open(filler, "wb", buffering=0) as f:
        try:
            while limit is None or written < limit:
                written += f.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def _free(directory: Path) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def _run(env: UserEnv, *argv: str) -> int:
    return int(env.tether("run", "--", *argv, check=True).stdout)


def _jobs(env: UserEnv) -> dict[int, dict]:
    return {j["id"]: j for j in json.loads(env.tether("ls", "--all", "--json", check=True).stdout)}


def _follow(env: UserEnv, job_id: int) -> subprocess.CompletedProcess[bytes]:
    """`tether logs -f`: the job's whole log, once it ended, and its exit code."""
    return env.tether("logs", "-f", str(job_id))


def _assert_intact(job: dict, name: str) -> None:
    assert (job["state"], job["exit_code"], job["name"]) == ("succeeded", 0, name)


def test_run_on_a_full_state_dir_says_what_is_full_and_what_to_do_once(
    full_disk_runner: UserEnv,
) -> None:
    env = full_disk_runner
    before = _run(env, "echo", "before")
    assert _follow(env, before).stdout == b"before\n"
    runner_pid = env.runner_pid()
    filler = _fill(env.state_dir)

    refused = env.tether("run", "--", "echo", "refused")

    assert refused.returncode == 1
    assert refused.stdout == b""
    assert refused.stderr.decode() == f"tether: {STATE_DIR_FULL}\n"
    assert b"OperationalError" not in refused.stderr and b"Errno" not in refused.stderr

    filler.unlink()
    after = _run(env, "echo", "after")
    followed = _follow(env, after)
    assert (followed.returncode, followed.stdout) == (0, b"after\n")
    jobs = _jobs(env)
    _assert_intact(jobs[before], "echo before")
    _assert_intact(jobs[after], "echo after")
    assert (env.job_dir(before) / "output.log").read_bytes() == b"before\n"
    assert env.runner_pid() == runner_pid


def test_a_job_that_fills_the_disk_keeps_its_exit_code_and_its_log_says_where_it_was_cut(
    full_disk_runner: UserEnv,
) -> None:
    env = full_disk_runner
    before = _run(env, "echo", "before")
    assert _follow(env, before).stdout == b"before\n"
    runner_pid = env.runner_pid()
    filler = _fill(env.state_dir, limit=1 << 20)
    filling = _run(env, sys.executable, "-c", FILLING_JOB)
    files = env.job_dir(filling)
    shim = json.loads((files / "shim.json").read_text())

    (env.home / "go").touch()
    wait_for(lambda: not alive(shim["job_pid"]) and _free(env.state_dir) == 0)

    # The job has ended; its shim waits for room to write how, alive, so the job
    # still shows running and its exit code is not lost.
    assert alive(shim["shim_pid"])
    assert not (files / "status.json").exists()
    waiting = _jobs(env)[filling]
    assert (waiting["state"], waiting["exit_code"]) == ("running", None)

    filler.unlink()
    assert _follow(env, filling).returncode == 7
    log = (files / "output.log").read_bytes()
    output, cut = log[: -len(CUT_LINE) - 1], log[-len(CUT_LINE) - 1 :]
    assert cut == b"\n" + CUT_LINE.encode()
    assert len(output) > 512 * 1024 and output == b"x" * len(output)

    after = _run(env, "echo", "after")
    assert _follow(env, after).stdout == b"after\n"
    jobs = _jobs(env)
    assert (jobs[filling]["state"], jobs[filling]["exit_code"]) == ("failed", 7)
    assert jobs[filling]["signal"] is None
    _assert_intact(jobs[before], "echo before")
    _assert_intact(jobs[after], "echo after")
    assert (env.job_dir(before) / "output.log").read_bytes() == b"before\n"
    assert env.runner_pid() == runner_pid


def test_a_full_database_names_the_state_dir_and_what_to_do(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(small_disk.parent))
    database = sqlite3.connect(small_disk / "jobs.db")
    database.execute("PRAGMA journal_mode=WAL")
    database.execute("CREATE TABLE t (blob BLOB)")
    database.commit()
    database.close()
    _fill(small_disk)
    # Opened on the full disk, SQLite cannot grow its -shm file: "disk I/O error".
    with pytest.raises(sqlite3.OperationalError) as cannot_open:
        sqlite3.connect(small_disk / "jobs.db").execute("SELECT * FROM t").fetchall()
    (small_disk / "filler").unlink()
    database = sqlite3.connect(small_disk / "jobs.db")
    database.execute("SELECT * FROM t").fetchall()
    _fill(small_disk)
    with pytest.raises(sqlite3.OperationalError) as cannot_write:
        database.execute("INSERT INTO t VALUES (?)", (b"\0" * 65536,))
        database.commit()
    database.close()

    errors = [full_error(e.value, small_disk) for e in (cannot_open, cannot_write)]

    assert [str(e.value) for e in (cannot_open, cannot_write)] == [
        "disk I/O error",
        "database or disk is full",
    ]
    for error in errors:
        assert error is not None and error.code is ErrorCode.DISK_FULL
        assert str(error) == (
            f"the state dir ~/disk is full (0 B free of {DISK_SIZE}): "
            "free space there or set XDG_STATE_HOME"
        )
    assert full_error(sqlite3.OperationalError("no such table: t"), small_disk) is None


def test_a_file_that_cannot_be_made_outside_the_state_dir_names_its_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with _small_disk(tmp_path / "few", tmp_path, "size=2m,nr_inodes=3") as few:
        with pytest.raises(OSError) as refused:
            for n in range(10):
                (few / f"file{n}").touch()
        error = full_error(refused.value, tmp_path / "state")

    assert error is not None and error.code is ErrorCode.DISK_FULL
    assert str(error) == (
        f"the disk holding ~/few/{Path(refused.value.filename).name} has no room for new "
        f"files ({DISK_SIZE} free of {DISK_SIZE}): remove files there"
    )


def test_a_status_write_on_a_full_disk_keeps_the_old_file_and_leaves_no_tmp(
    small_disk: Path,
) -> None:
    status = small_disk / "status.json"
    write_json_atomic(status, {"exit_code": 0})
    _fill_leaving(small_disk, 8192)  # room for part of a bigger status, not all of it

    with pytest.raises(OSError) as refused:
        write_json_atomic(status, {"exit_code": 7, "padding": "p" * 65536})

    assert refused.value.errno == errno.ENOSPC
    assert json.loads(status.read_bytes()) == {"exit_code": 0}
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "status.json"]


def _fill_leaving(directory: Path, room: int) -> None:
    """A file taking all of the disk but `room` bytes."""
    (directory / "filler").write_bytes(b"\0" * (_free(directory) - room))
    assert _free(directory) == room
