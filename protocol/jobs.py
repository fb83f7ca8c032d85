"""What a job is on the wire: the spec a client submits and the record it gets back.

The models are built on first use (``defer_build``, see `protocol.envelope.WireModel`):
built at import, these three cost 30 ms to every process that imports them.
"""

from __future__ import annotations

import enum
import re
from typing import Dict, List, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from protocol.limits import (
    MAX_AFTER_JOBS,
    MAX_ARGV_BYTES,
    MAX_ARGV_ITEMS,
    MAX_ENV_ITEMS,
    MAX_ENV_VALUE_CHARS,
    MAX_GROUP_CHARS,
    MAX_JOB_PORTS,
    MAX_LABEL_KEY_CHARS,
    MAX_LABEL_VALUE_CHARS,
    MAX_LABELS,
    MAX_NAME_CHARS,
    MAX_PATH_CHARS,
    MAX_PRIORITY,
    MAX_RETRIES,
    MAX_SBATCH_ARGS,
    MAX_SLURM_NODES,
    MAX_STALL_AFTER_S,
    MIN_PRIORITY,
)

_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: A group's name and a label's key: one word a shell, a table and JSON carry as is.
_NAME_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_name_word(what: str, word: str, limit: int) -> str:
    """`word` if it is a valid group name or label key (`what` says which), else
    ValueError with the sentence a person reads."""
    if len(word) > limit or not _NAME_WORD.match(word):
        raise ValueError(
            f"{what} {word!r} is not valid: up to {limit} letters, digits, '.', '_' "
            "or '-', starting with a letter or digit"
        )
    return word


def printable(text: str) -> str:
    """`text` with every character `str.isprintable` rejects written as Python writes
    it in a string literal (``\\x1b``, ``\\n``, ``\\u202e``, ``\\udcff``), the rest
    as it is: printable text that says what was there. What a job name must be, so
    a default name (the command line) is made one with this."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class JobState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"
    #: Stopped with SIGSTOP (`tether pause`): still alive, its GPUs and their
    #: memory still held, continued by `tether resume`.
    PAUSED = "paused"

    @property
    def is_active(self) -> bool:
        return self in ACTIVE_STATES


class JobFlag(str, enum.Enum):
    """What the runner noticed of a running job, shown beside its state."""

    #: No output and no metric for its ``--stall-after``.
    STALLED = "stalled"
    #: It holds GPUs whose utilisation stayed under `IDLE_GPU_PCT` a while.
    IDLE_GPUS = "idle GPUs"


#: Under this utilisation (percent) a job's GPU counts as idle.
IDLE_GPU_PCT = 5.0

#: The states of a job that has not ended: it may still change.
ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING, JobState.PAUSED)

#: What ``--retry-on`` takes: run a failed attempt again when it exited badly
#: (``exit``: a non-zero code or a signal), when it was lost, or either.
RetryOn = Literal["exit", "lost", "any"]
RETRY_ON_CHOICES = ("exit", "lost", "any")


#: Requested GPU count: a number, or "all" to wait for every GPU of the host.
GPU_REQUEST_ALL = "all"


class SnapshotInfo(BaseModel):
    """A snapshot of a working tree on the host (`tether run --sync`): its id is
    the sha256 of its manifest (`protocol.manifest`)."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    id: str = Field(pattern=r"^[0-9a-f]{64}$")
    files: int = Field(ge=0)
    bytes: int = Field(ge=0)


#: Where a job runs: started by the runner on its own host, or given to Slurm
#: (the runner on a cluster's login node submits it with ``sbatch``).
Executor = Literal["local", "slurm"]
EXECUTORS = ("local", "slurm")


class SlurmRequest(BaseModel):
    """What a job asks Slurm for (``tether run --slurm``); None leaves each to the
    cluster's defaults. The runner checks the words (`runner.slurm.script`), and
    Slurm itself the rest at ``sbatch``."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    partition: Optional[str] = Field(default=None, max_length=MAX_NAME_CHARS)
    #: Slurm's time format: ``30`` (minutes), ``4:00:00``, ``1-00:00:00``.
    time: Optional[str] = Field(default=None, max_length=32)
    #: Run the command once on each of this many nodes (None: one node, plainly).
    nodes: Optional[int] = Field(default=None, ge=1, le=MAX_SLURM_NODES)
    #: GPUs on each node, CPUs for the command on each node, memory on each node.
    gpus: Optional[int] = Field(default=None, ge=1, le=1024)
    cpus: Optional[int] = Field(default=None, ge=1, le=1_000_000)
    mem: Optional[str] = Field(default=None, max_length=32)
    account: Optional[str] = Field(default=None, max_length=MAX_NAME_CHARS)
    qos: Optional[str] = Field(default=None, max_length=MAX_NAME_CHARS)
    sbatch_args: List[str] = Field(default_factory=list, max_length=MAX_SBATCH_ARGS)


class JobSpec(BaseModel):
    """What the person asked to run. Commands are argv lists, never shell strings:
    a line typed as one string travels explicitly as ``["bash", "-lc", LINE]``."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    argv: List[str] = Field(max_length=MAX_ARGV_ITEMS)
    name: Optional[str] = Field(default=None, max_length=MAX_NAME_CHARS)
    cwd: Optional[str] = Field(default=None, max_length=MAX_PATH_CHARS)
    env: Dict[str, str] = Field(default_factory=dict)
    gpus: Optional[str] = None
    #: Run in a private copy of this snapshot (made with `make_snapshot`); `cwd`
    #: is then a path inside it (default: its root).
    snapshot: Optional[str] = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    #: TCP ports the job serves on the host's 127.0.0.1 (TensorBoard, a notebook),
    #: for `tether forward` and the app to bring to the person's machine.
    ports: List[int] = Field(default_factory=list, max_length=MAX_JOB_PORTS)
    #: Start only once these jobs (of the same host, submitted before) ended:
    #: all of them succeeded, or with `after_any` however they ended. A job they
    #: leave unable to start (one failed) ends `cancelled`, saying which.
    after: List[int] = Field(default_factory=list, max_length=MAX_AFTER_JOBS)
    after_any: bool = False
    #: Among jobs waiting for GPUs, higher goes first; equal ones in submission order.
    priority: int = Field(default=0, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    #: Run a failed attempt again, up to `retry` more times, when it failed as
    #: `retry_on` says (`runner.jobs.lifecycle.should_retry`).
    retry: int = Field(default=0, ge=0, le=MAX_RETRIES)
    retry_on: RetryOn = "any"
    #: A group to list and cancel jobs by, and labels of the person's own.
    group: Optional[str] = None
    labels: Dict[str, str] = Field(default_factory=dict)
    #: Flag the job `stalled` once it has written no output and reported no
    #: metric for this many seconds (None: the runner's default; 0: never).
    stall_after: Optional[float] = Field(default=None, ge=0, le=MAX_STALL_AFTER_S)
    #: Where it runs (None: as the host is set up, ``TETHER_EXECUTOR``), and for
    #: Slurm what it asks for.
    executor: Optional[Executor] = None
    slurm: Optional[SlurmRequest] = None

    @field_validator("group")
    @classmethod
    def _group_word(cls, group: Optional[str]) -> Optional[str]:
        return None if group is None else check_name_word("group", group, MAX_GROUP_CHARS)

    @field_validator("labels")
    @classmethod
    def _labels_valid(cls, labels: Dict[str, str]) -> Dict[str, str]:
        if len(labels) > MAX_LABELS:
            raise ValueError(f"at most {MAX_LABELS} labels")
        for key, value in labels.items():
            check_name_word("label", key, MAX_LABEL_KEY_CHARS)
            if len(value) > MAX_LABEL_VALUE_CHARS or not value.isprintable():
                raise ValueError(
                    f"label {key}'s value must be printable text of up to "
                    f"{MAX_LABEL_VALUE_CHARS} characters"
                )
        return labels

    @field_validator("argv")
    @classmethod
    def _argv_fits(cls, argv: List[str]) -> List[str]:
        if sum(len(a.encode("utf-8", "surrogateescape")) for a in argv) > MAX_ARGV_BYTES:
            raise ValueError(f"command is longer than {MAX_ARGV_BYTES} bytes")
        if any("\x00" in a for a in argv):
            raise ValueError("command arguments cannot contain NUL bytes")
        return argv

    @field_validator("name")
    @classmethod
    def _name_printable(cls, name: Optional[str]) -> Optional[str]:
        if name is not None and not name.isprintable():
            raise ValueError("job name must be printable text (no control characters)")
        return name

    @field_validator("env")
    @classmethod
    def _env_well_formed(cls, env: Dict[str, str]) -> Dict[str, str]:
        if len(env) > MAX_ENV_ITEMS:
            raise ValueError(f"at most {MAX_ENV_ITEMS} environment variables")
        for key, value in env.items():
            if not _ENV_KEY.match(key):
                raise ValueError(
                    f"environment variable name {key!r} is not valid "
                    "(letters, digits and _, not starting with a digit)"
                )
            if len(value) > MAX_ENV_VALUE_CHARS or "\x00" in value:
                raise ValueError(f"value of {key} is too long or contains NUL")
        return env

    @field_validator("ports")
    @classmethod
    def _ports_valid(cls, ports: List[int]) -> List[int]:
        for port in ports:
            if not 1 <= port <= 65535:
                raise ValueError(f"--port takes a TCP port from 1 to 65535, not {port}")
        return sorted(set(ports))

    @field_validator("after")
    @classmethod
    def _after_ids(cls, after: List[int]) -> List[int]:
        for job_id in after:
            if job_id < 1:
                raise ValueError(f"--after takes job ids (1 or more), not {job_id}")
        return sorted(set(after))

    @field_validator("gpus")
    @classmethod
    def _gpus_request(cls, gpus: Optional[str]) -> Optional[str]:
        if gpus is None or gpus == GPU_REQUEST_ALL:
            return gpus
        if not gpus.isdigit() or int(gpus) > 1024:
            raise ValueError(f"--gpus takes a count or 'all', not {gpus!r}")
        return str(int(gpus))


class AttemptInfo(BaseModel):
    """How one earlier attempt of a retried job ended (its log is kept beside)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    attempt: int
    state: JobState
    exit_code: Optional[int] = None
    signal: Optional[str] = None
    started_at: Optional[float] = None
    finished_at: Optional[float] = None
    reason: Optional[str] = None


class JobInfo(BaseModel):
    """A job as the runner knows it. Times are UNIX seconds; clients format them."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    id: int
    name: str
    state: JobState
    argv: List[str]
    cwd: str
    env: Dict[str, str] = Field(default_factory=dict)
    gpus_requested: Optional[str] = None
    gpus: List[int] = Field(default_factory=list)
    created_at: float
    started_at: Optional[float] = None
    finished_at: Optional[float] = None
    exit_code: Optional[int] = None
    signal: Optional[str] = None
    log_bytes: int = 0
    queue_position: Optional[int] = None
    reason: Optional[str] = None
    leaked_gpu_pids: List[int] = Field(default_factory=list)
    #: The snapshot the job runs in (its copy is `cwd`'s tree), if it was synced.
    snapshot: Optional[SnapshotInfo] = None
    #: The ports it declared (`JobSpec.ports`).
    ports: List[int] = Field(default_factory=list)
    #: What it waits for (`JobSpec.after`, `after_any`) and, while queued, which
    #: of those have not ended yet: "waiting for job 3".
    after: List[int] = Field(default_factory=list)
    after_any: bool = False
    waiting_for: List[int] = Field(default_factory=list)
    priority: int = 0
    #: Which attempt this is (1 first) and how many it may have in all
    #: (``--retry N`` gives N + 1), what a retry answers to, and, while a
    #: failed attempt waits to run again, when the next one starts.
    attempt: int = 1
    attempts: int = 1
    retry_on: RetryOn = "any"
    retry_at: Optional[float] = None
    #: Each earlier attempt's end (`AttemptInfo`), oldest first.
    past_attempts: List[AttemptInfo] = Field(default_factory=list)
    group: Optional[str] = None
    labels: Dict[str, str] = Field(default_factory=dict)
    #: What the runner has noticed of a running job besides its state
    #: (`JobFlag` values): it went quiet, or its GPUs sit idle. Each clears when
    #: the job speaks again, or its GPUs work.
    flags: List[str] = Field(default_factory=list)
    #: Its ``--stall-after`` in seconds, as the runner applies it (0: never).
    stall_after: Optional[float] = None
    #: Where it runs; for a Slurm job, its Slurm job id once submitted, the nodes
    #: it was given, and what it asked for.
    executor: Executor = "local"
    slurm_id: Optional[int] = None
    nodes: Optional[str] = None
    slurm: Optional[SlurmRequest] = None
    #: When Slurm expects a pending Slurm job to start (UNIX seconds), where it
    #: gives one: a job's ``--begin``, or the backfill scheduler's estimate.
    expected_start: Optional[float] = None
