"""The command that enters a job's place, built from its record: what it holds, and
what it does when a real ``sh`` runs it, directly (this machine) and as the one
line a login shell is handed (a remote host)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Optional

import pytest

from protocol.job_env import gpu_env_of, job_env, launch_env
from protocol.jobs import JobInfo, JobState
from tui.shell.enter import ENTER_SCRIPT, GONE_EXIT, command_line, enter_argv, remote_command

#: Prints where it runs and what it was given, one field a line.
REPORT = (
    'printf "%s\\n" "$PWD" "id=${TETHER_JOB_ID-unset}" "cvd=${CUDA_VISIBLE_DEVICES-unset}" '
    '"order=${CUDA_DEVICE_ORDER-unset}" "odd=$ODD" "metrics=${TETHER_METRICS-unset}"; exit 3'
)
ODD = 'it\'s "$HOME" `x` \\n\\\\ ; \n| ünï'


def job(cwd: Path, gpus_requested: Optional[str] = None, gpus: tuple[int, ...] = ()) -> JobInfo:
    return JobInfo(
        id=7,
        name="train",
        state=JobState.RUNNING,
        argv=["python", "train.py"],
        cwd=str(cwd),
        env={"ODD": ODD},
        gpus_requested=gpus_requested,
        gpus=list(gpus),
        created_at=0.0,
    )


def run(argv: list[str], home: Path, through_login_shell: bool) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "SHELL": "/bin/sh"}
    if through_login_shell:  # as sshd does: the account's shell gets one line
        argv = ["bash", "-c", remote_command(argv)]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, cwd="/")


@pytest.mark.parametrize("through_login_shell", [False, True], ids=["local", "ssh-line"])
def test_a_command_runs_in_the_jobs_directory_with_its_variables_and_status(
    tmp_path: Path, through_login_shell: bool
) -> None:
    work = tmp_path / "a dir with 'quotes' and $signs"
    work.mkdir()
    argv = enter_argv(job(work, "2", (1, 3)), [REPORT], "on gpu")
    done = run(argv, tmp_path, through_login_shell)
    assert done.returncode == 3, done.stderr
    assert done.stdout.split("\n")[:6] == [
        str(work),
        "id=7",
        "cvd=1,3",
        "order=PCI_BUS_ID",
        *f"odd={ODD}".split("\n"),
    ]
    assert "metrics=unset" in done.stdout  # the job's metrics file is its own


def test_without_gpus_asked_the_cuda_variables_are_left_alone(tmp_path: Path) -> None:
    done = run(enter_argv(job(tmp_path), [REPORT], "on gpu"), tmp_path, False)
    assert "cvd=unset" in done.stdout and "order=unset" in done.stdout
    done = run(enter_argv(job(tmp_path, "0"), [REPORT], "on gpu"), tmp_path, False)
    assert "cvd=\n" in done.stdout  # --gpus 0: every GPU hidden, as the job had it


def test_a_gone_directory_is_said_and_a_command_is_not_run_there_or_anywhere(
    tmp_path: Path,
) -> None:
    gone = tmp_path / "collected"
    done = run(enter_argv(job(gone), ["touch ran"], "on gpu"), tmp_path, True)
    assert done.returncode == GONE_EXIT
    assert done.stderr == (
        f"tether: job 7's working directory {gone} is gone on gpu (or not open to you): "
        "the command was not run\n"
    )
    assert not (tmp_path / "ran").exists()


def test_a_gone_directory_still_opens_the_shell_in_the_home_directory(tmp_path: Path) -> None:
    argv = enter_argv(job(tmp_path / "collected"), [], "on gpu")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SHELL": "/bin/sh"}
    done = subprocess.run(
        argv, env=env, input='echo "at $PWD id $TETHER_JOB_ID"; exit 4\n', capture_output=True,
        text=True, timeout=30, cwd="/",
    )  # fmt: skip
    assert done.returncode == 4
    assert f"at {tmp_path} id 7" in done.stdout
    assert "the shell starts in your home directory" in done.stderr


def test_no_job_means_a_plain_login_shell_or_command() -> None:
    argv = enter_argv(None, [], "on gpu")
    assert argv[:4] == ["sh", "-c", ENTER_SCRIPT, "tether-shell"]
    assert argv[4:] == ["", "", "0"]
    done = run(enter_argv(None, ["echo", "a b", "$HOME"], "on gpu"), Path("/"), True)
    assert done.stdout == "a b $HOME\n"


def test_the_script_survives_any_login_shell_unchanged() -> None:
    """Single-quoted as one word, it must hold nothing that a login shell (fish,
    tcsh) reads inside single quotes: no quote, no backslash."""
    assert "'" not in ENTER_SCRIPT and "\\" not in ENTER_SCRIPT and "\n" not in ENTER_SCRIPT
    assert remote_command(["sh", "-c", ENTER_SCRIPT]) == f"sh -c '{ENTER_SCRIPT}'"


def test_one_word_is_a_line_for_the_shell_several_are_quoted_one_by_one() -> None:
    assert command_line(["nvidia-smi | head -3"]) == "nvidia-smi | head -3"
    assert command_line(["sh", "-c", "exit 3"]) == "sh -c 'exit 3'"


def test_the_job_env_is_the_runners_launch_env() -> None:
    """The shell's variables and the job's come from one rule (`protocol.job_env`)."""
    record = job(Path("/w"), "2", (0, 1))
    assert job_env(record) == launch_env(7, {"ODD": ODD}, gpu_env_of("2", [0, 1]))
    assert job_env(record) == {
        "PYTHONUNBUFFERED": "1",
        "ODD": ODD,
        "CUDA_VISIBLE_DEVICES": "0,1",
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        "TETHER_JOB_ID": "7",
    }
    sneaky = record.model_copy(update={"env": {"TETHER_JOB_ID": "1", "CUDA_VISIBLE_DEVICES": ""}})
    assert job_env(sneaky)["TETHER_JOB_ID"] == "7"
    assert job_env(sneaky)["CUDA_VISIBLE_DEVICES"] == "0,1"
