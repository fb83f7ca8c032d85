"""The runner itself: its status, and stopping it (jobs keep running)."""

from __future__ import annotations

import os
import socket
import time
from typing import Optional, Tuple

from protocol import exchanges as ex
from protocol.messages import GetStatus, Ok, Shutdown, SlurmCluster, StatusReply
from protocol.version import PROTOCOL_VERSION, __version__
from runner.jobs.slurm_jobs import has_slurm
from runner.server.routes import AnswersOnce, AnswersStream, unary
from runner.server.services import Services


async def get_status(services: Services, msg: GetStatus) -> StatusReply:
    return StatusReply(
        id=msg.id,
        runner_version=__version__,
        protocol=PROTOCOL_VERSION,
        pid=os.getpid(),
        hostname=socket.gethostname(),
        started_at=services.started_at,
        uptime_s=time.time() - services.started_at,
        state_dir=str(services.paths.state_dir),
        socket_path=str(services.paths.socket),
        job_counts=await services.jobs.counts(),
        clients=services.client_count(),
        problems=services.jobs.health.problems(),
        queue_paused=services.gpus.paused,
        slurm=await _slurm_cluster(services),
        executor=services.jobs.executor,
    )


async def _slurm_cluster(services: Services) -> Optional[SlurmCluster]:
    """The cluster, asked once (a few Slurm commands) where ``sbatch`` is on PATH."""
    if not has_slurm():
        return None
    info = await services.jobs.slurm.probe()
    if info is None:
        return None
    return SlurmCluster(
        name=info.name,
        partitions=[p.name for p in info.partitions],
        default_partition=info.default_partition,
        accounting=info.accounting,
    )


async def shutdown(services: Services, msg: Shutdown) -> Ok:
    services.request_stop()
    return Ok(id=msg.id)


#: This family's requests, bound to their handlers (mypy checks each pair).
UNARY: Tuple[AnswersOnce, ...] = (
    unary(ex.GET_STATUS, get_status),
    unary(ex.SHUTDOWN, shutdown),
)
STREAMS: Tuple[AnswersStream, ...] = ()
