"""``tether top``'s table rows (`tui.app.top_rows`), read from one sample: a row per
running job and per process on a GPU, whose each process is, the order a sort
asks for, and which rows may be signalled."""

from __future__ import annotations

from protocol.signals import not_a_job_process
from protocol.stats import GpuProcess, GpuReading, JobUsage, StatsSample
from tests.tui.test_cursors import BARE_HOST
from tui.app.top_rows import COLUMNS, header, ordered, refusal, top_rows
from tui.job_directory import JobDirectory

HOST = BARE_HOST
GIB = 1 << 30


def _sample() -> StatsSample:
    worker = GpuProcess(pid=500, gpu_memory_bytes=2 * GIB, job_id=7, name="python3")
    return StatsSample(
        seq=1,
        t=0.0,
        host=HOST,
        gpus=[
            GpuReading(
                index=0,
                processes=[
                    worker,
                    GpuProcess(pid=600, gpu_memory_bytes=GIB, name="leftover"),
                    GpuProcess(pid=700, name="xorg\x1b[31m"),
                ],
            ),
            GpuReading(index=1, processes=[worker]),
        ],
        jobs=[
            JobUsage(job_id=7, cpu_pct=250.0, rss_bytes=3 * GIB, processes=4, gpus=[0, 1]),
            JobUsage(job_id=9, cpu_pct=0.5, rss_bytes=GIB, processes=1),
        ],
    )


def _directory() -> JobDirectory:
    jobs = JobDirectory()
    jobs.names = {7: "train", 9: "eval", 3: "old"}
    jobs.leaked = {600: 3}
    return jobs


def test_each_job_and_each_gpu_process_is_one_row_with_its_owner() -> None:
    rows = {row.key: row for row in top_rows(_sample(), _directory())}
    assert list(rows) == ["job:7", "job:9", "pid:500", "pid:600", "pid:700"]
    assert rows["job:7"].cells == (
        "job 7",
        "train",
        "0,1",
        "0 B",
        "250.0",
        "3.0 GiB",
        "4",
        "tether job",
    )
    worker = rows["pid:500"]  # on two GPUs: one row, its memory summed
    assert worker.cells[:4] == ("pid 500", "python3", "0,1", "4.0 GiB")
    assert worker.cells[-1] == "job 7 (train)" and worker.job_id == 7 and not worker.leaked
    leftover = rows["pid:600"]
    assert leftover.cells[-1] == "LEAKED by ended job 3"
    assert leftover.job_id == 3 and leftover.leaked
    stranger = rows["pid:700"]
    assert stranger.cells[1] == "xorg\\x1b[31m"  # a host's text, its controls made visible
    assert stranger.cells[3] == "n/a" and stranger.cells[-1] == "not a tether job"


def test_a_sort_orders_by_its_column_either_way_with_empty_cells_last() -> None:
    rows = top_rows(_sample(), _directory())
    cpu = [c.label for c in COLUMNS].index("CPU%")
    assert [r.key for r in ordered(rows, cpu, descending=True)][:2] == ["job:7", "job:9"]
    assert [r.key for r in ordered(rows, cpu, descending=False)][:2] == ["job:9", "job:7"]
    assert [r.key for r in ordered(rows, cpu, descending=False)][2:] == [
        "pid:500",
        "pid:600",
        "pid:700",
    ]  # no CPU of their own: last, in their order, both ways
    memory = [c.label for c in COLUMNS].index("GPU MEM")
    assert [r.key for r in ordered(rows, memory, descending=True)] == [
        "pid:500",
        "pid:600",
        "job:7",
        "job:9",
        "pid:700",
    ]
    assert header(cpu, descending=True)[cpu] == "CPU% ▼"
    assert header(cpu, descending=False)[cpu] == "CPU% ▲"
    assert header(cpu, descending=False)[0] == "WHAT"


def test_only_a_process_of_no_job_is_refused_before_the_runner_is_asked() -> None:
    rows = {row.key: row for row in top_rows(_sample(), _directory())}
    assert refusal(rows["job:7"]) is None
    assert refusal(rows["pid:500"]) is None
    assert refusal(rows["pid:600"]) is None  # a leak: the runner decides
    assert refusal(rows["pid:700"]) == not_a_job_process(700)
