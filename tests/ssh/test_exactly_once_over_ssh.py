"""A submit whose SSH link is cut after the runner recorded the job and before the
answer came back: `tether run` reconnects, asks again with the same key, and prints
the one job's id; the job runs once."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.conftest import wait_for
from tests.sshd import SshClient, SshWorld


def _job_ids(world: SshWorld) -> set[int]:
    jobs = world.remote_state / "jobs"
    return {int(p.name) for p in jobs.iterdir()} if jobs.is_dir() else set()


def test_a_link_cut_between_the_submit_and_its_answer_makes_one_job_and_one_id(
    ssh_client: SshClient, ssh_world: SshWorld, tmp_path: Path
) -> None:
    account = ssh_world.account
    slow = ssh_world.flag(f"slow-login-{tmp_path.name}")
    starts = account.home / f"starts-{tmp_path.name}"
    profile = account.home / ".bash_profile"
    assert not profile.exists()
    # The job's login shell takes a while: the runner holds the answer that long,
    # after the job is recorded, so that the link can be cut in between.
    profile.write_text(f'[ -e "{slow}" ] && sleep 1.5\n. "$HOME/.profile"\n')
    profile.chmod(0o644)
    slow.touch()
    slow.chmod(0o644)
    try:
        ssh_client.tether("ls", "-H", "gpu", check=True)  # the runner is up and reached
        before = _job_ids(ssh_world)
        run = ssh_client.popen(
            "run",
            "-H",
            "gpu",
            "--",
            "sh",
            "-c",
            f'echo started >> "{starts}"; exit 4',
            stdout=-1,
            stderr=-1,
        )
        new = wait_for(lambda: _job_ids(ssh_world) - before, timeout=30, interval=0.002)
        assert ssh_world.gpu.kill_connections() >= 1
        slow.unlink()
        out, err = run.communicate(timeout=120)
    finally:
        profile.unlink(missing_ok=True)
        slow.unlink(missing_ok=True)
    assert run.returncode == 0, err.decode()
    (job_id,) = new
    assert out.decode() == f"{job_id}\n"
    stderr = err.decode()
    assert "tether: reconnecting" in stderr  # the answer was lost with the link
    assert "tether: reconnected" in stderr

    def ended() -> list[dict] | None:
        listing = ssh_client.tether("ls", "-H", "gpu", "--all", "--json", check=True).stdout
        jobs = [j for j in json.loads(listing) if j["id"] not in before]
        active = [j for j in jobs if j["state"] in ("queued", "running")]
        return jobs if jobs and not active else None

    jobs = wait_for(ended, timeout=60, interval=0.2)
    assert [(j["id"], j["state"], j["exit_code"]) for j in jobs] == [(job_id, "failed", 4)], jobs
    time.sleep(0.2)
    assert starts.read_text() == "started\n"
