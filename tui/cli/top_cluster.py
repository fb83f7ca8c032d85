"""The cluster part of ``tether top`` on a Slurm login node: each partition's
nodes by state, CPUs and GPUs (GRES) in use of all, then the person's own Slurm
jobs, each with its tether job where tether submitted it.

Asked of the runner every frame (it asks Slurm at most every 2 s, however many
watch); a host without Slurm is asked once, and its frames have no such part.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from protocol.cluster import ClusterLoad, PartitionLoad
from protocol.errors import ErrorCode
from tui.cli.format import text_table
from tui.errors import RemoteError
from tui.session import HostSession
from tui.visible import visible

#: Codes that mean "no cluster here": no Slurm, or a runner too old to know.
_NO_CLUSTER = (ErrorCode.NO_SLURM, ErrorCode.UNKNOWN_TYPE)


class ClusterView:
    """The newest load of the host's cluster, or why there is none to show."""

    def __init__(self) -> None:
        self.load: Optional[ClusterLoad] = None
        self.error: Optional[str] = None
        #: False once the host said it has no Slurm: it is not asked again.
        self.present = True

    async def refresh(self, session: HostSession) -> None:
        if not self.present:
            return
        try:
            self.load, self.error = await session.cluster_load(), None
        except RemoteError as exc:
            if exc.code in _NO_CLUSTER:
                self.present, self.load = False, None
            else:  # Slurm failed this time: said, and asked again next frame
                self.error = str(exc)

    def lines(self) -> List[str]:
        """The part's lines (none without a cluster)."""
        if not self.present:
            return []
        if self.load is None:
            return [f"slurm: {visible(self.error or 'no answer yet')}"]
        load = self.load
        lines = [f"slurm: cluster {visible(load.cluster)}"]
        if self.error:
            lines.append(f"  (Slurm did not answer just now: {visible(self.error)})")
        other = any(p.nodes_other for p in load.partitions)  # a column only where seen
        rows = [
            ["PARTITION", "IDLE", "MIXED", "ALLOC", "DOWN", *(["OTHER"] * other), "CPUS", "GPUS"]
        ]
        rows += [_partition_row(p, other) for p in load.partitions]
        lines += text_table(rows, right=frozenset(range(1, len(rows[0]))))
        lines.append("")
        if not load.jobs:
            lines.append(f"no Slurm jobs of {visible(load.user)}")
            return lines
        rows = [["SLURM ID", "JOB", "NAME", "STATE", "TIME", "NODES", "NODELIST (REASON)"]]
        for job in load.jobs:
            where = job.where if job.state != "PENDING" else f"({job.where})"
            rows.append(
                [
                    str(job.slurm_id),
                    str(job.job_id) if job.job_id is not None else "-",
                    visible(job.name)[:24],
                    visible(job.state),
                    visible(job.elapsed),
                    str(job.nodes),
                    visible(where),
                ]
            )
        lines += text_table(rows, right=frozenset({0, 1, 5}))
        if load.jobs_omitted:
            lines.append(f"... and {load.jobs_omitted} more Slurm jobs")
        return lines

    def json(self) -> Optional[Dict[str, Any]]:
        """The part as JSON: None without a cluster."""
        if not self.present:
            return None
        load = self.load.model_dump(exclude={"id", "type"}) if self.load is not None else None
        return {"load": load, "error": self.error}


def _partition_row(partition: PartitionLoad, other: bool) -> List[str]:
    """Nodes by state, then CPUs and GPUs used of all (``-``: no GPU GRES)."""
    gpus = f"{partition.gpus_used}/{partition.gpus_total}" if partition.gpus_total else "-"
    return [
        visible(partition.name) + ("*" if partition.default else ""),
        str(partition.nodes_idle),
        str(partition.nodes_mixed),
        str(partition.nodes_allocated),
        str(partition.nodes_down),
        *([str(partition.nodes_other)] * other),
        f"{partition.cpus_used}/{partition.cpus_total}",
        gpus,
    ]
