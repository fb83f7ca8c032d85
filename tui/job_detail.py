"""Everything known about one job, as labelled rows a person reads top to bottom:
the app's describe view (``d``, as k9s has) and ``tether show`` print the same.

Times are local wall-clock times with how long ago, since a person compares
them with their own clock; JSON (``--json``) keeps ISO 8601 in UTC.
"""

from __future__ import annotations

import datetime as dt
import shlex
import time
from typing import List, Optional, Sequence, Tuple

from protocol.jobs import JobInfo
from protocol.units import duration, plural, size
from tui.job_text import exit_text, runtime
from tui.visible import visible

Row = Tuple[str, str]


def when(ts: Optional[float], now: float) -> str:
    """``2026-12-03 06:02:11 (4m58s ago)``, or ``(in 12m)`` for a time still to
    come; ``-`` when it has not happened."""
    if ts is None:
        return "-"
    local = dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")
    if ts > now:
        return f"{local} (in {duration(ts - now)})"
    return f"{local} ({duration(now - ts)} ago)"


def job_rows(
    job: JobInfo, *, host: str, forwards: Sequence[str] = (), now: Optional[float] = None
) -> List[Row]:
    """The job's rows; a label is empty where a row continues the one above (one
    environment variable a row). Every text is made visible (no escape reaches the
    terminal)."""
    at = time.time() if now is None else now
    state = job.state.value
    if job.queue_position is not None:
        state += f", #{job.queue_position} in the GPU queue"
    if job.waiting_for:
        state += f", waiting for {'jobs' if len(job.waiting_for) > 1 else 'job'} "
        state += ", ".join(map(str, job.waiting_for))
    rows: List[Row] = [
        ("job", f"{job.id} on {visible(host)}"),
        ("name", visible(job.name)),
        ("state", state),
    ]
    if job.reason:
        rows.append(("reason", visible(job.reason)))
    if job.executor == "slurm":
        rows.append(("slurm", _slurm_text(job, at)))
    if job.flags:
        rows.append(("noticed", ", ".join(job.flags)))
    if job.state.is_active and job.stall_after is not None:
        quiet = f"{duration(job.stall_after)} without output or a metric"
        rows.append(("stall after", quiet if job.stall_after else "never (--stall-after 0)"))
    if job.after:
        how = "ended, however" if job.after_any else "succeeded"
        named = "job" if len(job.after) == 1 else "jobs"
        rows.append(("after", f"{named} {', '.join(map(str, job.after))} {how}"))
    if job.priority:
        rows.append(("priority", str(job.priority)))
    if job.group:
        rows.append(("group", visible(job.group)))
    for index, (key, value) in enumerate(sorted(job.labels.items())):
        rows.append(("labels" if index == 0 else "", visible(f"{key}={value}")))
    if job.attempts > 1:
        rows.append(("attempt", _attempts(job, at)))
        for past in job.past_attempts:
            ended = f"exit {past.exit_code}" if past.exit_code is not None else past.signal or "-"
            rows.append(("", f"attempt {past.attempt}: {past.state.value} ({ended})"))
    rows += [
        ("command", visible(shlex.join(job.argv))),
        ("directory", visible(job.cwd)),
    ]
    env = sorted(job.env.items())
    for index, (key, value) in enumerate(env):
        rows.append(("environment" if index == 0 else "", visible(f"{key}={value}")))
    if not env:
        rows.append(("environment", "(the login shell's, nothing added)"))
    asked = job.gpus_requested or "none"
    given = ",".join(map(str, job.gpus)) or "-"
    rows.append(("GPUs", f"{given} (asked: {asked})"))
    if job.leaked_gpu_pids:
        pids = ", ".join(map(str, job.leaked_gpu_pids))
        rows.append(("GPU leak", f"processes {pids} still hold its GPUs"))
    rows += [
        ("created", when(job.created_at, at)),
        ("started", when(job.started_at, at)),
        ("finished", when(job.finished_at, at)),
        ("runtime", runtime(job, at)),
        ("exit", exit_text(job)),
        ("log", size(job.log_bytes)),
    ]
    snap = job.snapshot
    if snap is not None:
        rows.append(("snapshot", f"{snap.id} ({plural(snap.files, 'file')}, {size(snap.bytes)})"))
    if job.ports:
        ports = list(forwards) or [str(port) for port in job.ports]
        for index, port in enumerate(ports):
            rows.append(("ports" if index == 0 else "", visible(port)))
    return rows


def _slurm_text(job: JobInfo, now: float) -> str:
    """``job 42 on node[01-02]; partition gpu, time 4:00:00, nodes 2`` (what was
    asked; the rest is the cluster's default)."""
    said = f"job {job.slurm_id}" if job.slurm_id is not None else "not submitted yet"
    if job.nodes:
        said += f" on {visible(job.nodes)}"
    elif job.expected_start is not None:
        said += f", expected to start {when(job.expected_start, now)}"
    asked = job.slurm.model_dump(exclude_none=True) if job.slurm is not None else {}
    extra = asked.pop("sbatch_args", [])
    words = [f"{name} {visible(str(value))}" for name, value in asked.items()]
    words += [visible(arg) for arg in extra]
    return f"{said}; {', '.join(words)}" if words else said


def _attempts(job: JobInfo, now: float) -> str:
    said = f"{job.attempt} of {job.attempts}, retried on {job.retry_on}"
    if job.retry_at is not None and job.retry_at > now:
        said += f"; the next starts in {duration(job.retry_at - now)}"
    return said


def rows_text(rows: Sequence[Row]) -> str:
    """The rows as aligned plain text (``tether show``)."""
    width = max((len(label) for label, _ in rows), default=0)
    return "\n".join(f"{label:<{width}}  {value}".rstrip() for label, value in rows)


__all__ = ["Row", "job_rows", "rows_text", "when"]
