"""The example trainer, for real, on the CPU, under a real runner: progress bar in
its log, falling loss in its metrics, and a cancel then --resume that carries on."""

from __future__ import annotations

import json
import re
import subprocess
from importlib.util import find_spec
from statistics import mean

import pytest

from tests.conftest import PYTHON, REPO, UserEnv, wait_for

#: The trainer runs as a job, in its own process: the tests only need torch and
#: scikit-learn to be there, and importing them here (seconds, in every parallel
#: worker as it collects the tests) would be for nothing.
needs_torch = pytest.mark.skipif(
    find_spec("torch") is None or find_spec("sklearn") is None,
    reason="the example trainer needs torch and scikit-learn",
)

TRAINER = str(REPO / "scripts" / "train_example.py")
STEPS_PER_EPOCH = 23  # 1,437 training images in batches of 64


def _train(env: UserEnv, *args: str) -> int:
    # One thread: torch's OpenMP threads spin while they wait, so a tiny model on a
    # busy machine costs many times the CPU (and time) it needs.
    run = env.tether("run", "--env", "OMP_NUM_THREADS=1", "--", PYTHON, TRAINER, *args, check=True)
    return int(run.stdout)


def _metrics(env: UserEnv, job_id: int) -> list[dict]:
    out = env.tether("metrics", "--json", str(job_id), check=True).stdout.decode()
    return [json.loads(line) for line in out.splitlines()]


def _log(env: UserEnv, job_id: int) -> str:
    return env.tether("logs", str(job_id), check=True).stdout.decode()


def test_help_needs_no_torch_import_and_names_the_options() -> None:
    result = subprocess.run(
        [PYTHON, "-X", "importtime", TRAINER, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert "--resume" in result.stdout and "--checkpoint-dir" in result.stdout
    assert "torch" not in result.stderr  # -X importtime lists every import on stderr


@needs_torch
def test_trainer_shows_progress_and_reports_a_falling_loss(local_runner: UserEnv) -> None:
    job = _train(local_runner, "--epochs", "6")
    follow = local_runner.tether("logs", "-f", str(job), timeout=180)
    assert follow.returncode == 0, follow.stdout.decode()[-2000:]
    log = follow.stdout.decode()
    assert "device: cpu" in log
    for epoch in range(1, 7):
        assert re.search(rf"epoch {epoch}/6: 100%\|█+\| 23/23 \[", log), log[-2000:]
    assert "step/s" in log
    records = _metrics(local_runner, job)
    losses = [(r["step"], r["loss"]) for r in records if "loss" in r]
    assert [s for s, _ in losses] == list(range(5, 6 * STEPS_PER_EPOCH + 1, 5))
    first = mean(loss for step, loss in losses if step <= STEPS_PER_EPOCH)
    last = mean(loss for step, loss in losses if step > 5 * STEPS_PER_EPOCH)
    assert last < first / 3, (first, last)
    val = [r for r in records if "val_acc" in r]
    assert [r["epoch"] for r in val] == [1, 2, 3, 4, 5, 6]
    assert val[-1]["val_acc"] > 0.9
    assert val[-1]["val_loss"] < val[0]["val_loss"]
    # Its checkpoint is in the job's own folder, never where the command was started.
    assert (local_runner.job_dir(job) / "checkpoints" / "last.pt").is_file()
    assert not (local_runner.home / "checkpoints").exists()


@needs_torch
def test_cancel_mid_run_then_resume_continues_from_the_last_checkpoint(
    local_runner: UserEnv,
) -> None:
    env = local_runner
    first = _train(env, "--epochs", "300", "--checkpoint-dir", "run")

    def epochs_done() -> int:  # read where the job writes them: no CLI per look
        written = env.job_dir(first) / "metrics.jsonl"
        return written.read_text().count('"epoch"') if written.exists() else 0

    wait_for(lambda: epochs_done() >= 3, timeout=120, interval=0.2)
    cancelled = env.tether("cancel", str(first), check=True).stdout.decode()
    assert cancelled.startswith(f"cancelled job {first}")
    printed = [int(n) for n in re.findall(r"^epoch (\d+): val_loss", _log(env, first), re.M)]
    assert printed and printed[-1] < 300  # stopped mid-run
    loss_before = [r["loss"] for r in _metrics(env, first) if "loss" in r][-1]

    second = _train(env, "--epochs", str(printed[-1] + 3), "--checkpoint-dir", "run", "--resume")
    follow = env.tether("logs", "-f", str(second), timeout=180)
    assert follow.returncode == 0, follow.stdout.decode()[-2000:]
    log = follow.stdout.decode()
    resumed = re.search(r"resumed from run/last\.pt: epoch (\d+), step (\d+)", log)
    assert resumed, log[:2000]
    epoch, step = int(resumed.group(1)), int(resumed.group(2))
    # The checkpoint is the last epoch printed, or the one whose save the cancel
    # interrupted between its (atomic) write and its log line.
    assert epoch in (printed[-1], printed[-1] + 1)
    assert step == epoch * STEPS_PER_EPOCH
    assert f"epoch {epoch + 1}/{printed[-1] + 3}:" in log
    assert f"epoch {epoch}/" not in log  # nothing done twice
    records = _metrics(env, second)
    assert records[0]["step"] == (step // 5 + 1) * 5
    # It carries on learning from where it was, not from an untrained model (~2.3).
    assert records[0]["loss"] < 1.0 and records[0]["loss"] < 3 * loss_before
    assert [r["epoch"] for r in records if "epoch" in r][-1] == printed[-1] + 3
