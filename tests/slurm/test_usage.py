"""`runner.slurm.usage`: a cluster's load read from captured ``sinfo`` and
``squeue`` lines (the shapes Slurm 22.05 prints, GRES included)."""

from __future__ import annotations

import pytest

from runner.slurm.states import SlurmOutputError
from runner.slurm.usage import gpu_count, node_state, parse_my_jobs, parse_partitions

#: ``sinfo --noheader --Node --Format=SINFO_NODES_FORMAT`` on a small GPU cluster.
SINFO = """\
gpu01|gpu*|mixed|gpu:a100:4(S:0-1)|gpu:a100:2(IDX:0-1)|32/32/0/64|
gpu02|gpu*|allocated|gpu:a100:4(S:0-1)|gpu:a100:4(IDX:0-3)|64/0/0/64|
gpu03|gpu*|idle|gpu:a100:4(S:0-1)|gpu:a100:0(IDX:N/A)|0/64/0/64|
gpu04|gpu*|down*|gpu:a100:4(S:0-1)|gpu:a100:0(IDX:N/A)|0/0/64/64|
gpu05|gpu*|mixed+drain|gpu:a100:2,gpu:v100:2|gpu:a100:1(IDX:0),gpu:v100:0(IDX:N/A)|8/0/56/64|
cpu01|cpu|idle|(null)|(null)|0/128/0/128|
cpu01|long|reserved|(null)|(null)|0/128/0/128|
"""


def test_partitions_count_nodes_by_state_and_cpus_and_gpus_in_use() -> None:
    gpu, cpu, long = parse_partitions(SINFO)
    assert (gpu.name, gpu.default, cpu.default) == ("gpu", True, False)
    assert (gpu.nodes_idle, gpu.nodes_mixed, gpu.nodes_allocated, gpu.nodes_down) == (1, 1, 1, 2)
    assert (gpu.cpus_used, gpu.cpus_total) == (104, 320)
    assert (gpu.gpus_used, gpu.gpus_total) == (7, 20)
    assert (cpu.nodes_idle, cpu.gpus_total, cpu.cpus_total) == (1, 0, 128)
    assert (long.nodes_other, long.nodes_idle) == (1, 0)  # one node in two partitions


def test_node_states_read_as_the_words_top_counts() -> None:
    assert [node_state(w) for w in ("idle", "idle~", "mixed", "completing", "allocated+")] == [
        "idle",
        "idle",
        "mixed",
        "allocated",
        "allocated",
    ]
    assert {node_state(w) for w in ("down*", "drained", "mixed+drain", "idle+drain", "fail")} == {
        "down"
    }
    assert node_state("reserved") == node_state("maint") == "other"


def test_gpus_come_from_gres_of_every_shape() -> None:
    assert gpu_count("gpu:4") == 4
    assert gpu_count("gpu:a100:4(S:0-1)") == 4
    assert gpu_count("gpu:a100:2(IDX:0,2),gpu:v100:1(IDX:1)") == 3
    assert gpu_count("gpu:a100:2(S:0),shard:8,mps:100") == 2
    assert gpu_count("(null)") == gpu_count("") == gpu_count("N/A") == 0


def test_the_persons_jobs_with_node_lists_and_reasons() -> None:
    jobs = parse_my_jobs(
        "42|tether-7|RUNNING|gpu|1:02:03|2|gpu[01-02]\n"
        "43|train|PENDING|gpu|0:00|1|(QOSMaxJobsPerUserLimit)\n"
        "44_[1-3]|sweep|PENDING|gpu|0:00|1|(Priority)\n"
    )
    assert [(j.slurm_id, j.state, j.nodes, j.where) for j in jobs] == [
        (42, "RUNNING", 2, "gpu[01-02]"),
        (43, "PENDING", 1, "QOSMaxJobsPerUserLimit"),
    ]  # an array's pending tasks are skipped: tether submits none
    assert jobs[0].elapsed == "1:02:03" and jobs[0].job_id is None


@pytest.mark.parametrize(
    ("parse", "text", "said"),
    [
        (parse_partitions, "gpu01|gpu|idle\n", "not node|partition|state"),
        (parse_partitions, "gpu01|gpu|idle|(null)|(null)|lots|\n", "not A/I/O/T"),
        (parse_my_jobs, "42|name|RUNNING\n", "not id|name|state"),
    ],
)
def test_output_in_another_shape_is_an_error_that_quotes_it(parse, text, said) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SlurmOutputError, match=said):
        parse(text)
