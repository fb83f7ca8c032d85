"""The job table's way to Slurm: a job's batch script, its submission, what
Slurm says of every Slurm job at once, and cancelling.

The batch script runs tether's shim in the foreground inside the allocation
(``python -m runner.jobs.shim --in-allocation JOB_DIR``), with the Python and
the code of this runner: a cluster's login and compute nodes share their
filesystem, so the shim writes the log and exit status where the runner reads
them. One ``squeue`` (and ``sacct`` for the ended) answers for every Slurm job
of the table, at most once per `LOOK_INTERVAL_S`, so a hundred Slurm jobs cost
the controller what one does.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from protocol.cluster import ClusterJob, PartitionLoad
from protocol.errors import ErrorCode
from runner.errors import RunnerError
from runner.jobs.files import JobFiles
from runner.jobs.store import JobRecord
from runner.paths import CODE_ROOT
from runner.slurm import commands
from runner.slurm.cluster import ClusterInfo
from runner.slurm.script import SlurmResourceError, SlurmResources, batch_script
from runner.slurm.states import SlurmJob

#: How often Slurm is asked about the table's Slurm jobs.
LOOK_INTERVAL_S = 2.0
#: How long a cancel waits for others to go to Slurm with it (a group's).
CANCEL_GATHER_S = 0.05
#: The batch script, in the job's directory: it says by itself what was asked.
SCRIPT_NAME = "slurm.sh"


def resources_of(request: Optional[Dict[str, object]]) -> SlurmResources:
    """A job's `protocol.jobs.SlurmRequest` (as its record keeps it) checked as
    Slurm resources; raises `RunnerError` (bad request) naming what is wrong."""
    asked = dict(request or {})
    nodes = asked.get("nodes")
    try:
        return SlurmResources(
            partition=_text(asked.get("partition")),
            time=_text(asked.get("time")),
            nodes=nodes if isinstance(nodes, int) else 1,
            gpus=_int(asked.get("gpus")),
            cpus=_int(asked.get("cpus")),
            mem=_text(asked.get("mem")),
            account=_text(asked.get("account")),
            qos=_text(asked.get("qos")),
            sbatch_args=_words(asked.get("sbatch_args")),
        )
    except SlurmResourceError as exc:
        raise RunnerError(str(exc), ErrorCode.BAD_REQUEST) from None


def _text(value: object) -> Optional[str]:
    return None if value is None else str(value)


def _words(value: object) -> Tuple[str, ...]:
    return tuple(str(word) for word in value) if isinstance(value, list) else ()


def _int(value: object) -> Optional[int]:
    return value if isinstance(value, int) else None


def has_slurm() -> bool:
    return shutil.which("sbatch") is not None


class SlurmJobs:
    def __init__(self) -> None:
        self._answers: Dict[int, Optional[SlurmJob]] = {}
        self._asked_at = 0.0
        self._load: Optional[Tuple[List[PartitionLoad], List[ClusterJob]]] = None
        self._load_at = 0.0
        self.cluster: Optional[ClusterInfo] = None
        #: The cancels gathering for the next `commands.cancel`, by Slurm id.
        self._cancelling: Optional[Dict[int, asyncio.Future[Optional[SlurmJob]]]] = None
        self._cancel_task: Optional[asyncio.Task[None]] = None

    async def probe(self) -> Optional[ClusterInfo]:
        """The cluster this runner submits to (asked once, then remembered)."""
        if self.cluster is None:
            self.cluster = await commands.probe()
        return self.cluster

    def write_script(self, record: JobRecord, directory: Path) -> str:
        shim = [sys.executable, "-m", "runner.jobs.shim", "--in-allocation", str(directory)]
        script = batch_script(
            ["env", f"PYTHONPATH={CODE_ROOT}", *shim],
            resources_of(record.slurm),
            job_name=f"tether-{record.id}",
            output=str(directory / "slurm-%j.out"),
            workdir="/tmp",
        )
        path = directory / SCRIPT_NAME
        tmp = path.with_suffix(".tmp")
        tmp.write_text(script)
        os.replace(tmp, path)
        return str(path)

    async def check(self, record: JobRecord) -> None:
        """Refuse now what Slurm would refuse at submission (``--test-only``),
        before the job is recorded."""
        if not has_slurm():
            raise RunnerError(
                "this host has no Slurm (sbatch is not on the runner's PATH): run the job "
                "here without --slurm, or on the cluster's login node",
                ErrorCode.BAD_REQUEST,
            )
        resources = resources_of(record.slurm)
        with tempfile.TemporaryDirectory(prefix="tether-slurm-") as scratch:
            await commands.check_submit(self.write_script(record, Path(scratch)), resources)

    async def submit(self, record: JobRecord, files: JobFiles) -> int:
        path = self.write_script(record, files.dir)
        slurm_id = await commands.submit(path, resources_of(record.slurm))
        self._answers.pop(slurm_id, None)
        return slurm_id

    async def refresh(self, records: Iterable[JobRecord]) -> None:
        """Ask Slurm about every submitted Slurm job of `records`, unless it was
        asked within `LOOK_INTERVAL_S`."""
        ids = _slurm_ids(records)
        now = time.monotonic()
        if not ids or now - self._asked_at < LOOK_INTERVAL_S:
            return
        self._answers = await commands.query(ids)
        self._asked_at = now

    async def answer(self, slurm_id: int) -> Optional[SlurmJob]:
        """What Slurm last said of the job: asked now if it was not in the last look."""
        if slurm_id not in self._answers:
            self._answers.update(await commands.query([slurm_id]))
        return self._answers.get(slurm_id)

    async def load(self) -> Tuple[List[PartitionLoad], List[ClusterJob]]:
        """The cluster's load (`commands.load`), asked at most once per
        `LOOK_INTERVAL_S` however many ``tether top`` watch it."""
        now = time.monotonic()
        if self._load is None or now - self._load_at >= LOOK_INTERVAL_S:
            self._load = await commands.load()
            self._load_at = time.monotonic()
        return self._load

    async def cancel(self, slurm_id: int) -> Optional[SlurmJob]:
        """``scancel`` the job; the job as it was before, None when it was no
        longer pending or running. The cancels asked for in one turn of the loop
        (a group cancel asks for all of its jobs at once) go to Slurm as one
        ``squeue`` and one ``scancel``; the next look asks Slurm again, for
        every job at once."""
        loop = asyncio.get_running_loop()
        if self._cancelling is None:
            self._cancelling = {}
            self._cancel_task = loop.create_task(self._cancel_batch())
        waiter = self._cancelling.setdefault(slurm_id, loop.create_future())
        return await asyncio.shield(waiter)

    async def _cancel_batch(self) -> None:
        await asyncio.sleep(CANCEL_GATHER_S)
        batch, self._cancelling = self._cancelling or {}, None
        try:
            before = await commands.cancel(list(batch))
        except BaseException as exc:
            for waiter in batch.values():
                if not waiter.done():
                    waiter.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            self._asked_at = 0.0
        for slurm_id, waiter in batch.items():
            if not waiter.done():
                waiter.set_result(before.get(slurm_id))


def _slurm_ids(records: Iterable[JobRecord]) -> List[int]:
    return [r.slurm_id for r in records if r.on_slurm and r.slurm_id is not None]
