"""The jobs table's columns: what each shows and how it sorts, declared once.

Six are shown until the person chooses (``C``); AGE and the running jobs' CPU,
memory and GPU memory (from the host's stats, as nvitop and htop show them) can
be added. A column whose values change between rebuilds (RUNTIME, AGE, the
usage) reserves room for its widest value, so a ticking number never runs into
its neighbour.

Sorting: newest first until the person chooses; states in lifecycle order
(queued, running, then the ends), not alphabetically; a job that has not
started, has no exit code or no usage sorts below every one that has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import AbstractSet, Callable, Dict, Mapping, Optional, Tuple, Union

from rich.text import Text

from protocol.jobs import JobInfo, JobState
from protocol.stats import JobUsage
from protocol.units import duration, size
from tui.job_text import exit_text, queue_state, runtime
from tui.visible import visible

SortValue = Union[int, float, str, Tuple[int, ...]]

STATE_STYLES = {
    JobState.QUEUED: "yellow",
    JobState.RUNNING: "bold cyan",
    JobState.SUCCEEDED: "green",
    JobState.FAILED: "bold red",
    JobState.CANCELLED: "magenta",
    JobState.LOST: "red",
    JobState.PAUSED: "bold yellow",
}
_STATE_RANK = {state: rank for rank, state in enumerate(JobState)}


@dataclass(frozen=True)
class Facts:
    """What a cell needs beyond its job: the time, the host's latest usage by job,
    the marked jobs."""

    now: float
    usage: Mapping[int, JobUsage] = field(default_factory=dict)
    marked: AbstractSet[int] = frozenset()


@dataclass(frozen=True)
class JobColumn:
    key: str
    label: str
    cell: Callable[[JobInfo, Facts], Text]
    sort: Callable[[JobInfo, Facts], SortValue]
    #: Room kept for values that change between rebuilds.
    min_width: int = 0
    #: Filled from the host's stats (redrawn on each sample).
    from_usage: bool = False


def state_text(job: JobInfo) -> Text:
    """As ``tether ls`` says it (``queued #2``, ``waiting for job 3``), coloured."""
    style = STATE_STYLES.get(job.state, "")
    if job.flags and job.state is JobState.RUNNING:
        style = "bold yellow"  # running, but not working as it should
    return Text(queue_state(job, start=False), style=style)


def _id(job: JobInfo, facts: Facts) -> Text:
    if job.id in facts.marked:
        return Text(f"*{job.id}", justify="right", style="bold yellow")
    return Text(str(job.id), justify="right")


def _runtime_s(job: JobInfo, facts: Facts) -> float:
    if job.started_at is None:
        return -1.0
    end = job.finished_at if job.finished_at is not None else facts.now
    return end - job.started_at


def _exit_rank(job: JobInfo, facts: Facts) -> float:
    if job.exit_code is not None:
        return float(job.exit_code)
    return 1000.0 if job.signal else -1.0  # a signal reads as worse than any code


def _usage(job: JobInfo, facts: Facts) -> Optional[JobUsage]:
    return facts.usage.get(job.id) if job.state is JobState.RUNNING else None


def _usage_text(value: Callable[[JobUsage], str]) -> Callable[[JobInfo, Facts], Text]:
    def cell(job: JobInfo, facts: Facts) -> Text:
        usage = _usage(job, facts)
        return Text(value(usage) if usage is not None else "-", justify="right")

    return cell


def _usage_rank(value: Callable[[JobUsage], float]) -> Callable[[JobInfo, Facts], float]:
    def rank(job: JobInfo, facts: Facts) -> float:
        usage = _usage(job, facts)
        return value(usage) if usage is not None else -1.0

    return rank


COLUMNS: Tuple[JobColumn, ...] = (
    JobColumn("id", "ID", _id, lambda job, facts: job.id),
    JobColumn(
        "name",
        "NAME",
        lambda job, facts: Text(visible(job.name), overflow="ellipsis", no_wrap=True),
        lambda job, facts: job.name.casefold(),
    ),
    JobColumn(
        "state",
        "STATE",
        lambda job, facts: state_text(job),
        lambda job, facts: _STATE_RANK.get(job.state, len(_STATE_RANK)),
    ),
    JobColumn(
        "age",
        "AGE",
        lambda job, facts: Text(duration(facts.now - job.created_at)),
        lambda job, facts: facts.now - job.created_at,
        min_width=len("23h59m"),
    ),
    JobColumn(
        "runtime",
        "RUNTIME",
        lambda job, facts: Text(runtime(job, facts.now)),
        _runtime_s,
        min_width=len("23h59m"),
    ),
    JobColumn(
        "gpus",
        "GPUS",
        lambda job, facts: Text(",".join(map(str, job.gpus)) or (job.gpus_requested or "-")),
        lambda job, facts: (len(job.gpus), *job.gpus),
    ),
    JobColumn(
        "cpu",
        "CPU",
        _usage_text(lambda usage: f"{usage.cpu_pct:.0f}%"),
        _usage_rank(lambda usage: usage.cpu_pct),
        min_width=len("1600%"),
        from_usage=True,
    ),
    JobColumn(
        "mem",
        "MEM",
        _usage_text(lambda usage: size(usage.rss_bytes)),
        _usage_rank(lambda usage: float(usage.rss_bytes)),
        min_width=len("1023 MiB"),
        from_usage=True,
    ),
    JobColumn(
        "gmem",
        "GMEM",
        _usage_text(lambda usage: size(usage.gpu_memory_bytes)),
        _usage_rank(lambda usage: float(usage.gpu_memory_bytes)),
        min_width=len("1023 MiB"),
        from_usage=True,
    ),
    JobColumn("exit", "EXIT", lambda job, facts: Text(exit_text(job)), _exit_rank),
)

BY_KEY: Dict[str, JobColumn] = {column.key: column for column in COLUMNS}
#: Shown until the person chooses.
DEFAULT_KEYS: Tuple[str, ...] = ("id", "name", "state", "runtime", "gpus", "exit")
#: Never hidden: without them a row says nothing.
FIXED_KEYS: Tuple[str, ...] = ("id", "name", "state")


def in_table_order(keys: AbstractSet[str]) -> Tuple[str, ...]:
    """`keys` (the fixed ones always) in the order the table draws its columns."""
    return tuple(c.key for c in COLUMNS if c.key in keys or c.key in FIXED_KEYS)
