"""`runner.report`: what a training script calls, in the processes a script runs in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

from tests.conftest import REPO

HEAVY = ("pydantic", "msgpack", "torch", "numpy", "lightning", "pytorch_lightning", "psutil")


def _python(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # One thread: torch's OpenMP threads spin while they wait, and a few tiny tensors
    # on a busy machine then cost many times the CPU (and time) they need.
    full_env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_importing_the_helper_costs_no_third_party_import(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "from runner.report import report\n"
        "print(sorted(m.split('.')[0] for m in set(sys.modules) - before))\n"
    )
    result = _python(code, {}, tmp_path)
    assert result.returncode == 0, result.stderr
    loaded = set(eval(result.stdout))
    assert not loaded & set(HEAVY), loaded
    assert loaded - {"runner"} <= set(sys.stdlib_module_names), loaded


def test_report_appends_one_json_line_per_call_with_step_time_and_numbers(
    tmp_path: Path,
) -> None:
    metrics = tmp_path / "metrics.jsonl"
    code = (
        "import time, torch, numpy\n"
        "from runner.report import report\n"
        "t0 = time.time()\n"
        "report(step=0, loss=torch.tensor(2.5), lr=3e-4)\n"
        "report(step=numpy.int64(10), loss=numpy.float32(0.5), acc=1)\n"
        "report(step=20, loss=float('nan'))\n"
        "print(t0)\n"
    )
    result = _python(code, {"TETHER_METRICS": str(metrics)}, tmp_path)
    assert result.returncode == 0, result.stderr
    records = _records(metrics)
    assert [r["step"] for r in records] == [0, 10, 20]
    assert records[0]["loss"] == 2.5 and records[0]["lr"] == 3e-4
    assert records[1] == {**records[1], "loss": 0.5, "acc": 1.0}
    assert records[2]["loss"] != records[2]["loss"]  # NaN survives, for the person to see
    assert all(r["time"] >= float(result.stdout) - 1 for r in records)
    assert result.stderr == ""


def test_without_tether_report_does_nothing_and_warns_once(tmp_path: Path) -> None:
    code = (
        "from runner.report import report\nfor step in range(3):\n    report(step=step, loss=1.0)\n"
    )
    result = _python(code, {}, tmp_path)
    assert result.returncode == 0
    assert result.stderr.count("TETHER_METRICS is not set") == 1
    assert list(tmp_path.iterdir()) == []


def test_only_rank_zero_writes_under_a_distributed_launcher(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.jsonl"
    code = "from runner.report import report\nreport(step=1, loss=1.0)\n"
    for rank in ("1", "0"):
        result = _python(code, {"TETHER_METRICS": str(metrics), "RANK": rank}, tmp_path)
        assert result.returncode == 0, result.stderr
    assert len(_records(metrics)) == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("report(step='x', loss=1)", "report(step=...) takes a whole number of steps, not 'x'"),
        ("report(step=1.5, loss=1)", "report(step=...) takes a whole number of steps, not 1.5"),
        ("report(step=-1, loss=1)", "report(step=...) must be 0 or more, not -1"),
        ("report(step=1)", "report() needs at least one value, e.g. report(step=10, loss=0.3)"),
        ("report(step=1, loss='low')", "report(loss=...) takes a number, not the text 'low'"),
        ("report(step=1, loss=[1, 2])", "report(loss=...) takes a number or a one-element tensor"),
        ("report(step=1, time=5)", "report() sets 'time' itself; give the value another name"),
    ],
)
def test_bad_reports_raise_a_clear_error_and_write_nothing(
    tmp_path: Path, call: str, message: str
) -> None:
    metrics = tmp_path / "metrics.jsonl"
    code = (
        "from runner.report import report\n"
        f"try:\n    {call}\nexcept (TypeError, ValueError) as exc:\n    print(exc)\n"
    )
    result = _python(code, {"TETHER_METRICS": str(metrics)}, tmp_path)
    assert result.stdout.startswith(message), result.stdout + result.stderr
    assert not metrics.exists()


def test_processes_reporting_at_once_never_interleave_lines(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.jsonl"
    code = (
        "import os, sys\n"
        "from runner.report import report\n"
        "who = int(sys.argv[1])\n"
        "for step in range(400):\n"
        "    report(step=step, **{f'value_{who}_{i}': step * i for i in range(40)})\n"
    )
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "TETHER_METRICS": str(metrics)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(who)], env=env, cwd=tmp_path)
        for who in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    records = _records(metrics)  # every line parses: no torn or mixed lines
    assert len(records) == 1600
    for who in range(4):
        mine = [r for r in records if f"value_{who}_1" in r]
        assert [r["step"] for r in mine] == list(range(400))
        assert all(len(r) == 42 for r in mine)


LIGHTNING_SCRIPT = """
import torch
from torch.utils.data import DataLoader, TensorDataset
import lightning.pytorch as pl
from runner.report import TetherCallback

class Model(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, index):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, index):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

torch.manual_seed(0)
x = torch.randn(64, 4)
y = x.sum(dim=1, keepdim=True)
data = DataLoader(TensorDataset(x, y), batch_size=8)
trainer = pl.Trainer(
    max_epochs=3, callbacks=[TetherCallback(every_n_steps=2)], accelerator="cpu",
    logger=False, enable_checkpointing=False, enable_progress_bar=False,
    enable_model_summary=False,
)
trainer.fit(Model(), data, data)
"""


@pytest.mark.skipif(find_spec("lightning") is None, reason="needs lightning")  # not imported here
def test_lightning_callback_reports_train_steps_and_each_validation_once(
    tmp_path: Path,
) -> None:
    metrics = tmp_path / "metrics.jsonl"
    result = _python(LIGHTNING_SCRIPT, {"TETHER_METRICS": str(metrics)}, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    records = _records(metrics)
    train = [r for r in records if "train_loss" in r]
    assert [r["step"] for r in train][:4] == [2, 4, 6, 8]
    assert train[-1]["train_loss"] < train[0]["train_loss"]
    val = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in val] == [8, 16, 24]  # once per epoch, never repeated
