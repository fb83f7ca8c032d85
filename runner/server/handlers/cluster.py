"""A Slurm cluster's load, for ``tether top`` on a login node."""

from __future__ import annotations

import os
import pwd
import time
from typing import Tuple

from protocol import exchanges as ex
from protocol.cluster import ClusterLoad, GetClusterLoad
from protocol.errors import ErrorCode
from protocol.limits import MAX_CLUSTER_JOBS
from runner.errors import RunnerError
from runner.jobs.slurm_jobs import has_slurm
from runner.server.routes import AnswersOnce, AnswersStream, unary
from runner.server.services import Services


async def cluster_load(services: Services, msg: GetClusterLoad) -> ClusterLoad:
    slurm = services.jobs.slurm
    cluster = await slurm.probe() if has_slurm() else None
    if cluster is None:
        raise RunnerError(
            "this host has no Slurm (sbatch is not on the runner's PATH, or scontrol ping "
            "finds no controller): tether top shows its own GPUs and jobs",
            ErrorCode.NO_SLURM,
        )
    partitions, jobs = await slurm.load()
    ours = {r.slurm_id: r.id for r in services.jobs.active_records() if r.slurm_id is not None}
    listed = [
        job.model_copy(update={"job_id": ours.get(job.slurm_id)}) for job in jobs[:MAX_CLUSTER_JOBS]
    ]
    return ClusterLoad(
        id=msg.id,
        cluster=cluster.name,
        user=_user(),
        t=time.time(),
        partitions=partitions,
        jobs=listed,
        jobs_omitted=max(0, len(jobs) - MAX_CLUSTER_JOBS),
    )


def _user() -> str:
    """Whom ``squeue --me`` lists: the runner's own uid."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid with no passwd entry (a container)
        return str(os.getuid())


#: This family's requests, bound to their handlers (mypy checks each pair).
UNARY: Tuple[AnswersOnce, ...] = (unary(ex.GET_CLUSTER_LOAD, cluster_load),)
STREAMS: Tuple[AnswersStream, ...] = ()
