"""The batch script and sbatch command line built from a job's Slurm resources."""

from __future__ import annotations

import subprocess

import pytest

from runner.slurm.script import (
    ON_EACH_NODE,
    SlurmResourceError,
    SlurmResources,
    batch_script,
    per_node_argv,
    sbatch_argv,
)


def test_resources_become_sbatch_lines_and_the_command_is_quoted() -> None:
    resources = SlurmResources(
        partition="gpu", time="4:00:00", gpus=8, cpus=16, mem="64G", account="ml", qos="high"
    )
    script = batch_script(
        ["python", "-c", "print('a b')"], resources, job_name="train run", output="/j/7/log"
    )
    assert script.splitlines() == [
        "#!/bin/bash",
        '#SBATCH --job-name="train run"',
        '#SBATCH --output="/j/7/log"',
        "#SBATCH --nodes=1",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=4:00:00",
        "#SBATCH --gpus-per-node=8",
        "#SBATCH --cpus-per-task=16",
        "#SBATCH --mem=64G",
        "#SBATCH --account=ml",
        "#SBATCH --qos=high",
        "",
        "exec python -c 'print('\"'\"'a b'\"'\"')'",
    ]


def test_no_output_path_sends_slurms_own_output_nowhere() -> None:
    script = batch_script(["true"], SlurmResources(), job_name="j")
    assert '#SBATCH --output="/dev/null"' in script


def test_several_nodes_run_the_command_once_per_node_with_rendezvous_variables() -> None:
    script = batch_script(["shim"], SlurmResources(nodes=4), job_name="j")
    assert "#SBATCH --nodes=4" in script and "#SBATCH --ntasks-per-node=1" in script
    assert script.endswith("exec shim\n")  # one shim: one log, one exit status
    wrapped = per_node_argv(["trainer", "--lr", "1e-3"])
    assert wrapped[:2] == ["bash", "-c"] and wrapped[3:] == [
        "tether-nodes",
        "trainer",
        "--lr",
        "1e-3",
    ]
    across = wrapped[2]
    assert 'scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1' in across
    assert "export MASTER_ADDR MASTER_PORT NNODES" in across
    assert "srun --label" in across
    subprocess.run(["bash", "-n", "-c", across], check=True)  # bash itself checks it parses


def test_the_per_node_wrapper_sets_node_rank_and_runs_argv_exactly() -> None:
    argv = ["bash", "-c", 'printf "%s|%s|%s" "$NODE_RANK" "$1" "$2"', "-", "a b", "$HOME"]
    # What srun runs on each node, run here as node 1 would run it.
    done = subprocess.run(
        ["bash", "-c", ON_EACH_NODE, "tether-node", *argv],
        env={"PATH": "/usr/bin:/bin", "SLURM_NODEID": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == "1|a b|$HOME"


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"time": "4 hours"}, "not a Slurm time"),
        ({"time": "1:2:3:4"}, "not a Slurm time"),
        ({"mem": "64GB"}, "not a memory size"),
        ({"nodes": 0}, "--nodes must be at least 1"),
        ({"gpus": -1}, "--gpus must be at least 1"),
        ({"cpus": 0}, "--cpus must be at least 1"),
        ({"partition": "gpu;rm"}, "not a Slurm partition name"),
        ({"account": "-x"}, "not a Slurm account name"),
        ({"sbatch_args": ("constraint=a100",)}, "must start with -"),
    ],
)
def test_invalid_resources_are_refused_with_what_to_write(
    resources: dict[str, object], message: str
) -> None:
    with pytest.raises(SlurmResourceError, match=message):
        SlurmResources(**resources)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "time", ["30", "30:00", "4:00:00", "1-00", "1-12:00", "1-00:00:00", "UNLIMITED"]
)
def test_slurm_time_formats_are_accepted(time: str) -> None:
    assert SlurmResources(time=time).time == time


def test_memory_zero_asks_for_all_of_a_nodes_memory() -> None:
    assert "#SBATCH --mem=0" in batch_script(["true"], SlurmResources(mem="0"), job_name="j")


def test_quotes_and_line_breaks_cannot_escape_an_sbatch_line() -> None:
    with pytest.raises(SlurmResourceError, match="quote"):
        batch_script(["true"], SlurmResources(), job_name='x"\n#SBATCH --uid=0')
    with pytest.raises(SlurmResourceError, match="no command"):
        batch_script([], SlurmResources(), job_name="j")


def test_extra_sbatch_arguments_go_on_the_command_line_before_the_script() -> None:
    resources = SlurmResources(sbatch_args=("--constraint=a100", "--exclusive"))
    assert sbatch_argv("/j/7/job.sbatch", resources) == [
        "sbatch",
        "--parsable",
        "--constraint=a100",
        "--exclusive",
        "/j/7/job.sbatch",
    ]
