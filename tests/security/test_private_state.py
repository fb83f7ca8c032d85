"""What tether keeps for the victim (job environments, logs, its database) is the
victim's alone: another account can neither read it nor lock it."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from tests.security.conftest import SYSTEM_PYTHON, TwoAccounts, wait_until

SECRET = "hunter2-do-not-leak"

#: Run as the attacker: try to read every file and list every directory given.
READ_EVERYTHING = """
import os, sys
for path in sys.argv[1:]:
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as f:
                f.read(1)
    except OSError:
        continue
    print("read", path)
"""

#: Run as the attacker: what sqlite3 does on a WAL database it can open, held:
#: a shared lock on the -shm's write-lock byte (offset 120) stalls every writer.
HOLD_WRITE_LOCK = """
import fcntl, os, sys, time
shm = sys.argv[1]
try:
    fd = os.open(shm, os.O_RDONLY)
except OSError as exc:
    print("denied", exc.strerror, flush=True)
    raise SystemExit(0)
fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 120)
print("locked", flush=True)
time.sleep(120)
"""


def _run_job(accounts: TwoAccounts, *command: str) -> int:
    victim = accounts.victim
    result = victim.tether("run", "--env", f"SECRET={SECRET}", "--", *command)
    assert result.returncode == 0, result.stderr.decode()
    job = int(result.stdout)
    follow = victim.tether("logs", "-f", str(job))
    assert follow.returncode == 0, follow.stderr.decode()
    return job


def _tree(top: Path) -> list[Path]:
    found = [top]
    for root, dirs, files in os.walk(top):
        found.extend(Path(root, name) for name in dirs + files)
    return found


def _victims_paths(accounts: TwoAccounts) -> list[Path]:
    victim = accounts.victim
    tops = [victim.state_dir, *(c for c in victim.candidates() if c.exists())]
    return [path for top in tops for path in _tree(top)]


def test_every_path_tether_creates_for_the_victim_is_private(accounts: TwoAccounts) -> None:
    victim = accounts.victim
    created_above = [victim.home / ".local", victim.home / ".local" / "state"]
    absent_before = [p for p in created_above if not p.exists()]
    _run_job(accounts, "sh", "-c", "echo training; sleep 0.2")
    paths = _victims_paths(accounts)
    names = {p.name for p in paths}
    assert {"jobs.db", "jobs.db-wal", "jobs.db-shm", "runner.log", "output.log"} <= names
    assert {"spec.json", "shim.json", "status.json", "metrics.jsonl", "runner.sock"} <= names
    loose = []
    for path in paths + absent_before:
        info = path.lstat()
        want = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
        if stat.S_IMODE(info.st_mode) != want or info.st_uid != victim.account.uid:
            loose.append(f"{path} {stat.S_IMODE(info.st_mode):04o} uid {info.st_uid}")
    assert not loose, "\n".join(loose)


def test_the_attacker_cannot_read_the_victims_jobs(accounts: TwoAccounts) -> None:
    _run_job(accounts, "sh", "-c", "echo the secret is $SECRET")
    paths = _victims_paths(accounts)
    assert any(p.name == "jobs.db" for p in paths)
    tried = accounts.attacker.run(SYSTEM_PYTHON, "-c", READ_EVERYTHING, *map(str, paths))
    assert tried.returncode == 0, tried.stderr.decode()
    assert tried.stdout.decode() == "", "the attacker read:\n" + tried.stdout.decode()


def test_a_job_still_runs_with_the_persons_own_umask(accounts: TwoAccounts) -> None:
    victim = accounts.victim
    own = os.umask(0)
    os.umask(own)
    _run_job(accounts, "sh", "-c", "umask > umask.txt; touch checkpoint.pt")
    assert int((victim.home / "umask.txt").read_text(), 8) == own
    checkpoint = victim.home / "checkpoint.pt"
    assert stat.S_IMODE(checkpoint.stat().st_mode) == 0o666 & ~own


def test_a_state_tree_left_readable_is_tightened_at_start(accounts: TwoAccounts) -> None:
    victim = accounts.victim
    job_dir = victim.state_dir / "jobs" / "7"
    made = victim.run("sh", "-c", f"umask 022; mkdir -p {job_dir}; echo x > {job_dir}/spec.json")
    assert made.returncode == 0, made.stderr.decode()
    assert stat.S_IMODE(job_dir.stat().st_mode) == 0o755
    started = victim.tether_runner("serve", "--daemon")
    assert started.returncode == 0, started.stderr.decode()
    for path in (victim.state_dir, job_dir.parent, job_dir):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    assert stat.S_IMODE((job_dir / "spec.json").stat().st_mode) == 0o600
    log = (victim.state_dir / "runner.log").read_text()
    tightened = [line for line in log.splitlines() if "took group and other access" in line]
    assert len(tightened) == 1 and str(job_dir / "spec.json") in log, log


def test_the_attacker_cannot_lock_the_victims_database(accounts: TwoAccounts) -> None:
    victim, attacker = accounts.victim, accounts.attacker
    _run_job(accounts, "true")  # the runner is up, holding jobs.db with -wal and -shm
    shm = victim.state_dir / "jobs.db-shm"
    assert shm.exists()
    holder = attacker.popen(SYSTEM_PYTHON, "-c", HOLD_WRITE_LOCK, str(shm))
    try:
        assert holder.stdout is not None
        said = holder.stdout.readline().decode().strip()
        assert said.startswith(("denied", "locked")), holder.communicate()[1]
        started = time.monotonic()
        result = victim.tether("run", "--", "true", timeout=30)
        took = time.monotonic() - started
        assert result.returncode == 0, f"{said}: {result.stderr.decode()}"
        assert took < 4, f"{said}: tether run took {took:.1f} s"
        assert said.startswith("denied")
    finally:
        holder.kill()
        holder.wait()
    assert wait_until(lambda: holder.poll() is not None)
