"""What ``tether top``'s table shows: a row per running job and per process on a
GPU, from one stats sample, and the order a person sorted them in.

Pure (no Textual): the rows, their order and what may be signalled are read
and tested without a screen. A row's `key` (``job:7``, ``pid:4242``) is what
the table's selection follows from one sample to the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from protocol.signals import not_a_job_process
from protocol.stats import GpuProcess, JobUsage, StatsSample
from protocol.units import size
from tui.job_directory import JobDirectory
from tui.visible import visible


@dataclass(frozen=True)
class Column:
    label: str
    #: Numbers, set flush right.
    right: bool = False


COLUMNS: Tuple[Column, ...] = (
    Column("WHAT"),
    Column("NAME"),
    Column("GPU"),
    Column("GPU MEM", right=True),
    Column("CPU%", right=True),
    Column("RSS", right=True),
    Column("PROCS", right=True),
    Column("OWNER"),
)
NAME_CHARS = 24


@dataclass(frozen=True)
class TopRow:
    """One line of the table: a running job (`pid` None) or a process on a GPU."""

    key: str
    cells: Tuple[str, ...]
    #: What each column sorts by; None sorts last whichever way.
    sort_keys: Tuple[Any, ...]
    #: The job row's job; a process row's job (running, or the ended one that left it).
    job_id: Optional[int]
    pid: Optional[int] = None
    name: str = ""
    #: A process an ended job left on a GPU.
    leaked: bool = False

    @property
    def what(self) -> str:
        """The row in words, for a dialog's title: ``job 7``, ``pid 4242``."""
        return self.cells[0]


def top_rows(sample: StatsSample, jobs: JobDirectory) -> List[TopRow]:
    """The running jobs, then each process on a GPU (one row however many GPUs it
    is on), as the sample and the job directory name them."""
    rows = [_job_row(usage, jobs) for usage in sample.jobs]
    on_gpus: Dict[int, List[Tuple[int, GpuProcess]]] = {}
    for reading in sample.gpus:
        for proc in reading.processes:
            on_gpus.setdefault(proc.pid, []).append((reading.index, proc))
    rows += [_process_row(pid, seen, jobs) for pid, seen in on_gpus.items()]
    return rows


def _job_row(usage: JobUsage, jobs: JobDirectory) -> TopRow:
    name = visible(jobs.names.get(usage.job_id, ""))
    return TopRow(
        key=f"job:{usage.job_id}",
        cells=(
            f"job {usage.job_id}",
            name[:NAME_CHARS],
            ",".join(map(str, usage.gpus)) or "-",
            size(usage.gpu_memory_bytes),
            f"{usage.cpu_pct:.1f}",
            size(usage.rss_bytes),
            str(usage.processes),
            "tether job",
        ),
        sort_keys=(
            (0, usage.job_id),
            name.lower(),
            usage.gpus[0] if usage.gpus else None,
            usage.gpu_memory_bytes,
            usage.cpu_pct,
            usage.rss_bytes,
            usage.processes,
            "tether job",
        ),
        job_id=usage.job_id,
        name=name,
    )


def _process_row(pid: int, seen: List[Tuple[int, GpuProcess]], jobs: JobDirectory) -> TopRow:
    proc = seen[0][1]
    name = visible(proc.name or "?")
    memories = [p.gpu_memory_bytes for _, p in seen if p.gpu_memory_bytes is not None]
    memory = sum(memories) if memories else None
    job_id, leaked, owner = _owner(proc, jobs)
    indexes = sorted({index for index, _ in seen})
    return TopRow(
        key=f"pid:{pid}",
        cells=(
            f"pid {pid}",
            name[:NAME_CHARS],
            ",".join(map(str, indexes)),
            size(memory),
            "",
            "",
            "",
            owner,
        ),
        sort_keys=((1, pid), name.lower(), indexes[0], memory, None, None, None, owner.lower()),
        job_id=job_id,
        pid=pid,
        name=name,
        leaked=leaked,
    )


def _owner(proc: GpuProcess, jobs: JobDirectory) -> Tuple[Optional[int], bool, str]:
    """The job a GPU process is of, whether that job has ended, and in words."""
    if proc.job_id is not None:
        name = jobs.names.get(proc.job_id)
        return proc.job_id, False, f"job {proc.job_id}" + (f" ({visible(name)})" if name else "")
    ended = jobs.leaked.get(proc.pid)
    if ended is not None:
        return ended, True, f"LEAKED by ended job {ended}"
    return None, False, "not a tether job"


def ordered(rows: List[TopRow], column: int, descending: bool) -> List[TopRow]:
    """`rows` by `column` (ties keep their order); rows with nothing in that
    column last, whichever the direction."""
    present = [row for row in rows if row.sort_keys[column] is not None]
    absent = [row for row in rows if row.sort_keys[column] is None]
    present.sort(key=lambda row: row.sort_keys[column], reverse=descending)
    return present + absent


def header(column: int, descending: bool) -> List[str]:
    """The column labels, the sorted one marked ▼ (descending) or ▲."""
    return [
        f"{c.label} {'▼' if descending else '▲'}" if i == column else c.label
        for i, c in enumerate(COLUMNS)
    ]


def refusal(row: TopRow) -> Optional[str]:
    """Why `row` may not be signalled from here, or None. Tether signals its own
    jobs and their processes (the runner runs as the person, and checks the uid
    again); a process of no tether job may be anyone's, and is refused before
    the runner is asked, in the runner's own words."""
    if row.pid is not None and row.job_id is None:
        return not_a_job_process(row.pid)
    return None
