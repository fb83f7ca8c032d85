"""Fixtures for the shell's tests: tmux, a local runner with GPUs to hand out, and
a running job on a host behind a real sshd."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import UserEnv
from tests.sshd import SshClient, SshWorld
from tests.tui.conftest import H100


@pytest.fixture
def tmux_here() -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (scripts/setup.sh installs it)")


@pytest.fixture
def four_gpu_runner(user_env: UserEnv) -> UserEnv:
    """A runner handing out GPUs 0-3 (readings replayed from the recorded H100,
    whose recorded process is let be)."""
    user_env.env.update(
        {
            "TETHER_GPU_SOURCE": f"replay:{H100}",
            "TETHER_GPUS": "0,1,2,3",
            "TETHER_GPUS_ALLOW_BUSY": "1",
        }
    )
    result = user_env.runner("serve", "--daemon")
    assert result.returncode == 0, result.stderr
    return user_env


#: A job that prints all the time: an app showing its log repaints all the time.
TICKER = "while :; do echo tick; sleep 0.02; done"


@pytest.fixture
def remote_job(ssh_client: SshClient, ssh_world: SshWorld) -> Iterator[tuple[int, str]]:
    """A running job on ``gpu`` (`TICKER`, named ``ticker``) with every GPU hidden
    (``--gpus 0``), in a folder of its own, with ``GREETING``; cancelled and
    removed afterwards, passed or failed."""
    work = ssh_world.account.home / f"shell {uuid.uuid4().hex[:8]}"
    made = ssh_world.account.run("mkdir", str(work))
    assert made.returncode == 0, made.stderr
    job_id = None
    try:
        job_id = int(
            ssh_client.tether(
                "run", "-H", "gpu", "--gpus", "0", "--cwd", str(work), "--name", "ticker",
                "--env", "GREETING=hello there", "--", "sh", "-c", TICKER, check=True,
            ).stdout
        )  # fmt: skip
        yield job_id, str(work)
    finally:
        if job_id is not None:
            ssh_client.tether("cancel", "-H", "gpu", str(job_id))
        ssh_world.account.run("rm", "-rf", str(work))
