"""A Slurm cluster's load, as ``tether top -H cluster`` shows it.

Each partition's nodes by state, its CPUs and GPUs (Slurm's GRES) in use of all,
and the person's own jobs in ``squeue`` (each with its tether job, where tether
submitted it). A runner with no Slurm answers `GetClusterLoad` with an error.
"""

from __future__ import annotations

from typing import Annotated, List, Literal, Optional

from pydantic import Field, StringConstraints

from protocol.envelope import Reply, Request, WireModel
from protocol.limits import MAX_CLUSTER_JOBS, MAX_PARTITIONS, MAX_SLURM_TEXT

SlurmText = Annotated[str, StringConstraints(max_length=MAX_SLURM_TEXT)]


class GetClusterLoad(Request):
    type: Literal["get_cluster_load"] = "get_cluster_load"


class PartitionLoad(WireModel):
    name: SlurmText
    default: bool = False
    #: Nodes by state: idle, mixed (some CPUs in use), allocated (all in use),
    #: down (down, drained or not responding: takes no job), other.
    nodes_idle: int = 0
    nodes_mixed: int = 0
    nodes_allocated: int = 0
    nodes_down: int = 0
    nodes_other: int = 0
    cpus_used: int = 0
    cpus_total: int = 0
    #: GPUs from the nodes' GRES (0 of 0 where the partition has none).
    gpus_used: int = 0
    gpus_total: int = 0


class ClusterJob(WireModel):
    """One of the person's jobs in ``squeue``."""

    slurm_id: int
    name: SlurmText
    #: Slurm's own word: PENDING, RUNNING, COMPLETING...
    state: SlurmText
    partition: SlurmText
    #: Time used, in Slurm's words (``1:02:03``).
    elapsed: SlurmText
    nodes: int
    #: A running job's node list, or why a pending one waits (Slurm's word).
    where: SlurmText
    #: The tether job it is, where this runner submitted it.
    job_id: Optional[int] = None


class ClusterLoad(Reply):
    type: Literal["cluster_load"] = "cluster_load"
    cluster: SlurmText
    #: The account the jobs are listed for (the runner's user).
    user: SlurmText
    t: float
    partitions: List[PartitionLoad] = Field(default_factory=list, max_length=MAX_PARTITIONS)
    jobs: List[ClusterJob] = Field(default_factory=list, max_length=MAX_CLUSTER_JOBS)
    #: The person's jobs not listed (past `MAX_CLUSTER_JOBS`).
    jobs_omitted: int = 0
