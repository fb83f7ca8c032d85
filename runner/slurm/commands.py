"""Slurm's commands, run without blocking the event loop: probe, submit, query, load,
cancel.

Each call starts the real command (``sbatch``, ``squeue``, ``sacct``, ``scontrol``,
``scancel``) with `asyncio.create_subprocess_exec` and a timeout, and reads its output
through `runner.slurm.states` and `runner.slurm.cluster`. What Slurm refuses is raised
as `SlurmError` in Slurm's own words.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from protocol.cluster import ClusterJob, PartitionLoad
from protocol.errors import ErrorCode
from runner.errors import RunnerError
from runner.slurm.cluster import SINFO_FORMAT, ClusterInfo, cluster_info
from runner.slurm.script import SlurmResources, sbatch_argv
from runner.slurm.states import (
    ACTIVE_STATES,
    SACCT_FORMAT,
    SQUEUE_FORMAT,
    TIME_FORMAT_ENV,
    SlurmJob,
    SlurmOutputError,
    parse_sacct,
    parse_scontrol_job,
    parse_squeue,
)
from runner.slurm.usage import (
    SINFO_NODES_FORMAT,
    SQUEUE_MINE_FORMAT,
    parse_my_jobs,
    parse_partitions,
)

#: How long a Slurm command may take: slurmctld answers in milliseconds when well, and
#: its own MessageTimeout (10 s by default) bounds a busy one.
COMMAND_TIMEOUT = 30.0


class SlurmError(RunnerError):
    """Slurm refused or could not do what was asked; the message is Slurm's own words."""

    code = ErrorCode.BAD_REQUEST


@dataclass(frozen=True)
class _Finished:
    returncode: int
    stdout: str
    stderr: str


async def _run(argv: Sequence[str], timeout: float = COMMAND_TIMEOUT) -> _Finished:
    """Run a Slurm command to its end; times come back as epoch seconds."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **TIME_FORMAT_ENV},
        )
    except FileNotFoundError:
        raise SlurmError(f"{argv[0]} is not on PATH: is this a Slurm login node?") from None
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except asyncio.TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise SlurmError(f"{argv[0]} did not answer within {timeout:.0f} s") from None
    assert process.returncode is not None
    return _Finished(
        process.returncode,
        stdout.decode(errors="replace"),
        stderr.decode(errors="replace"),
    )


def slurm_sentence(command: str, stderr: str) -> str:
    """Slurm's error lines as one sentence: ``sbatch: error: `` prefixes dropped, each
    line kept once, in order."""
    said: list[str] = []
    for line in stderr.splitlines():
        text = line.strip()
        for prefix in (f"{command}: error: ", f"{command}: fatal: ", f"{command}: "):
            if text.startswith(prefix):
                text = text[len(prefix) :]
                break
        if text and text not in said:
            said.append(text)
    return "; ".join(said) if said else f"{command} failed without saying why"


async def probe() -> Optional[ClusterInfo]:
    """The cluster this host submits to, or None where Slurm is not usable here
    (``sbatch`` not on PATH, or ``scontrol ping`` finds no controller up)."""
    if shutil.which("sbatch") is None:
        return None
    try:
        ping = await _run(["scontrol", "ping"])
        if ping.returncode != 0 or "is UP" not in ping.stdout:
            return None
        config = await _run(["scontrol", "show", "config"])
        sinfo = await _run(["sinfo", "--noheader", f"--format={SINFO_FORMAT}"])
    except SlurmError:
        return None
    if config.returncode != 0 or sinfo.returncode != 0:
        return None
    return cluster_info(config.stdout, sinfo.stdout)


async def submit(script_path: str, resources: SlurmResources) -> int:
    """Submit the batch script at `script_path`; its Slurm job id. Raises `SlurmError`
    with Slurm's words when ``sbatch`` refuses it (unknown partition, time over the
    partition's limit, an account the person lacks...)."""
    finished = await _run(sbatch_argv(script_path, resources))
    if finished.returncode != 0:
        raise SlurmError(f"Slurm refused the job: {slurm_sentence('sbatch', finished.stderr)}")
    # --parsable prints "id" or "id;cluster".
    answer = finished.stdout.strip().split(";", 1)[0]
    if not answer.isdigit():
        raise SlurmError(f"sbatch answered {finished.stdout.strip()!r}, not a job id")
    return int(answer)


async def check_submit(script_path: str, resources: SlurmResources) -> None:
    """Ask Slurm whether it would take the job (``sbatch --test-only``: nothing is
    submitted), so an unknown partition or a time over its limit is refused while
    the person waits, before tether records the job."""
    argv = sbatch_argv(script_path, resources)
    finished = await _run([argv[0], "--test-only", *argv[1:]])
    if finished.returncode != 0:
        raise SlurmError(f"Slurm refused the job: {slurm_sentence('sbatch', finished.stderr)}")


async def query(
    slurm_ids: Iterable[int], *, accounting: bool = True
) -> Dict[int, Optional[SlurmJob]]:
    """Each job as Slurm knows it now; None for one that neither ``squeue`` nor
    ``sacct`` knows (vanished: lost). Live jobs come from ``squeue`` (pending reasons);
    finished ones from ``sacct`` (exit codes, steps), or, where accounting is off or
    ``sacct`` fails or lags, from ``scontrol show job`` while Slurm remembers them."""
    ids = sorted(set(slurm_ids))
    if not ids:
        return {}
    live = await _squeue(ids)
    known: Dict[int, Optional[SlurmJob]] = {}
    ended = []
    for slurm_id in ids:
        job = live.get(slurm_id)
        if job is not None and job.state in ACTIVE_STATES:
            known[slurm_id] = job
        else:
            ended.append(slurm_id)
    accounted = await _sacct(ended) if accounting and ended else {}
    for slurm_id in ended:
        record = accounted.get(slurm_id)
        if record is not None and record.state not in ACTIVE_STATES:
            known[slurm_id] = record
        elif slurm_id in live:
            known[slurm_id] = await _scontrol_job(slurm_id) or live[slurm_id]
        else:
            known[slurm_id] = record
    return known


async def _squeue(ids: Sequence[int]) -> Dict[int, SlurmJob]:
    finished = await _run(
        [
            "squeue",
            "--noheader",
            "--states=all",
            f"--jobs={','.join(map(str, ids))}",
            f"--format={SQUEUE_FORMAT}",
        ]
    )
    if finished.returncode != 0:
        # Asked only about ids it has forgotten, squeue fails rather than list none.
        if "Invalid job id" in finished.stderr:
            return {}
        raise SlurmError(f"squeue failed: {slurm_sentence('squeue', finished.stderr)}")
    return parse_squeue(finished.stdout)


async def _sacct(ids: Sequence[int]) -> Dict[int, SlurmJob]:
    """What accounting says about `ids`; nothing where accounting is off or down."""
    try:
        finished = await _run(
            [
                "sacct",
                "--noheader",
                "--parsable2",
                f"--jobs={','.join(map(str, ids))}",
                f"--format={SACCT_FORMAT}",
            ]
        )
    except SlurmError:
        return {}
    if finished.returncode != 0:
        return {}
    return parse_sacct(finished.stdout)


async def _scontrol_job(slurm_id: int) -> Optional[SlurmJob]:
    finished = await _run(["scontrol", "show", "job", "--oneliner", str(slurm_id)])
    if finished.returncode != 0:
        return None
    return parse_scontrol_job(finished.stdout)


async def load() -> Tuple[List[PartitionLoad], List[ClusterJob]]:
    """Each partition's nodes, CPUs and GPUs in use, and the runner's user's own
    jobs in ``squeue``, newest first."""
    sinfo, squeue = await asyncio.gather(
        _run(["sinfo", "--noheader", "--Node", f"--Format={SINFO_NODES_FORMAT}"]),
        _run(["squeue", "--me", "--noheader", f"--format={SQUEUE_MINE_FORMAT}"]),
    )
    for command, finished in (("sinfo", sinfo), ("squeue", squeue)):
        if finished.returncode != 0:
            raise SlurmError(f"{command} failed: {slurm_sentence(command, finished.stderr)}")
    try:
        partitions, jobs = parse_partitions(sinfo.stdout), parse_my_jobs(squeue.stdout)
    except SlurmOutputError as exc:
        raise SlurmError(str(exc)) from None
    return partitions, sorted(jobs, key=lambda job: job.slurm_id, reverse=True)


async def cancel(slurm_ids: Sequence[int]) -> Dict[int, SlurmJob]:
    """Cancel whole jobs, their steps with them, with one ``squeue`` and one
    ``scancel`` however many. Returns each cancelled job as it was just before
    (so a caller can say whether it was pending or running); a job that was no
    longer pending or running is not in it (nothing was cancelled)."""
    before = {
        slurm_id: job
        for slurm_id, job in (await _squeue(list(slurm_ids))).items()
        if job.state in ACTIVE_STATES
    }
    if not before:
        return {}
    finished = await _run(["scancel", *map(str, sorted(before))])
    if finished.returncode != 0:
        which = ", ".join(map(str, sorted(before)))
        raise SlurmError(
            f"Slurm did not cancel job{'s' if len(before) > 1 else ''} {which}: "
            f"{slurm_sentence('scancel', finished.stderr)}"
        )
    return before
