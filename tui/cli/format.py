"""How jobs look on a terminal and in JSON."""

from __future__ import annotations

import signal
from typing import Any, Dict, FrozenSet, List

from protocol.jobs import JobInfo, JobState
from protocol.units import iso_time
from tui.job_text import command_line, exit_text, queue_state, runtime
from tui.visible import visible


def job_json(job: JobInfo) -> Dict[str, Any]:
    return {
        "id": job.id,
        "name": job.name,
        "state": job.state.value,
        "exit_code": job.exit_code,
        "signal": job.signal,
        "command": command_line(job),
        "argv": job.argv,
        "cwd": job.cwd,
        "created_at": iso_time(job.created_at),
        "started_at": iso_time(job.started_at),
        "finished_at": iso_time(job.finished_at),
        "log_bytes": job.log_bytes,
        "gpus_requested": job.gpus_requested,
        "gpus": job.gpus,
        "queue_position": job.queue_position,
        "reason": job.reason,
        "leaked_gpu_pids": job.leaked_gpu_pids,
        "snapshot": job.snapshot.model_dump() if job.snapshot is not None else None,
        "ports": job.ports,
        "after": job.after,
        "after_any": job.after_any,
        "waiting_for": job.waiting_for,
        "priority": job.priority,
        "attempt": job.attempt,
        "attempts": job.attempts,
        "retry_on": job.retry_on,
        "retry_at": iso_time(job.retry_at),
        "past_attempts": [
            {
                "attempt": a.attempt,
                "state": a.state.value,
                "exit_code": a.exit_code,
                "signal": a.signal,
                "started_at": iso_time(a.started_at),
                "finished_at": iso_time(a.finished_at),
                "reason": a.reason,
            }
            for a in job.past_attempts
        ],
        "group": job.group,
        "labels": job.labels,
        "flags": job.flags,
        "stall_after_s": job.stall_after,
        "executor": job.executor,
        "slurm_id": job.slurm_id,
        "nodes": job.nodes,
        "slurm": job.slurm.model_dump() if job.slurm is not None else None,
        "expected_start": iso_time(job.expected_start),
    }


def shell_exit_code(job: JobInfo) -> int:
    """What `ssh host cmd` would have exited with: the code, or 128 + signal."""
    if job.exit_code is not None:
        return job.exit_code
    if job.signal:
        try:
            return 128 + int(signal.Signals[job.signal])
        except KeyError:
            return 255
    return 255 if job.state is JobState.LOST else 1


#: The widest NAME `tether ls` shows; a longer one is cut, with …
NAME_WIDTH = 24


def text_table(rows: List[List[str]], right: FrozenSet[int] = frozenset()) -> List[str]:
    """Rows (the first the header) as aligned lines; columns in `right` to the right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def jobs_table(jobs: List[JobInfo], width: int = 100) -> str:
    """The ``tether ls`` table; names and commands with control characters made visible."""
    header = ("ID", "NAME", "STATE", "EXIT", "GPUS", "RUNTIME", "COMMAND")
    rows = [header]
    for job in jobs:
        state = queue_state(job)
        rows.append(
            (
                str(job.id),
                _cut(visible(job.name), NAME_WIDTH),
                state,
                exit_text(job),
                ",".join(map(str, job.gpus)) or "-",
                runtime(job),
                visible(command_line(job)),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        head = "  ".join(cell.ljust(w) for cell, w in zip(row, widths))
        line = f"{head}  {row[-1]}"
        lines.append(line if len(line) <= width else line[: width - 1] + "…")
    return "\n".join(lines)
