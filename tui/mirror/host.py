"""The mirror of one host: what this client last saw of its jobs, and every byte
of their logs and metrics it has read, kept so that an unreachable host still
answers (`tui.cli.offline`), marked as stale.

::

    ~/.cache/tether/mirror/HOST/
        jobs.json                   the job list as last seen, and when
        stats.json                  the GPU inventory and recent stats samples
        jobs/ID/output.log (.meta)  an exact prefix of the job's (latest) log
        jobs/ID/metrics.jsonl (.meta)  the metric chunks read, in host order
        .lock                       writers and readers of this host's mirror

The log holds the host's bytes at the host's offsets (`PrefixFile`), of the
newest attempt (``--retry``) read. A chunk that overlaps what is held must agree
with it: one that does not means the host's log is another one now (an attempt
began that the reader did not name), and the copy starts over. A chunk past the
end (``logs --tail``) leaves a gap the mirror cannot hold, so it is not kept;
the copy grows again from where it ends.

Blocking file I/O: called off the event loop (`tui.mirror.writer`) or from a
verb that has nothing else to do (reading the mirror when the host is down).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, TypeVar
from urllib.parse import quote

from protocol.jobs import JobInfo
from protocol.metrics import MetricsChunk
from protocol.stats import GpuInventory, StatsSample
from tui.cache_file import cache_home, replace_json
from tui.mirror.prefix_file import PrefixFile

T = TypeVar("T")

LOG_NAME = "output.log"
METRICS_NAME = "metrics.jsonl"


def mirror_root() -> Path:
    return cache_home() / "mirror"


def host_dir_name(host: str) -> str:
    """A directory name for `host` as typed (``user@box:2222`` stays readable)."""
    return quote(host, safe="@.-_+") or "%00"


@dataclass(frozen=True)
class MirroredJobs:
    """The job list as the host last gave it."""

    as_of: float
    jobs: List[JobInfo]


@dataclass(frozen=True)
class MirroredStats:
    """The host's GPUs and its recent samples, oldest first, as last seen."""

    as_of: float
    gpu: GpuInventory
    samples: List[StatsSample]


class HostMirror:
    def __init__(self, host: str, root: Optional[Path] = None) -> None:
        self.host = host
        self.dir = (root or mirror_root()) / host_dir_name(host)
        self._files: Dict[str, PrefixFile] = {}

    @contextlib.contextmanager
    def locked(self, shared: bool = False) -> Iterator[None]:
        """Hold the host's lock: appends are exclusive, reads shared."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with (self.dir / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield

    # -- the job list -------------------------------------------------------------

    def record_jobs(self, jobs: Sequence[JobInfo], at: float, whole: bool) -> None:
        """Keep `jobs` as seen at `at`: merged into what is kept, or (`whole`: every
        job the host has) in its place."""
        known: Dict[int, JobInfo] = {}
        if not whole:
            kept = self.jobs()
            known = {job.id: job for job in kept.jobs} if kept else {}
        known.update((job.id, job) for job in jobs)
        data = {
            "as_of": at,
            "jobs": [job.model_dump(mode="json") for _, job in sorted(known.items())],
        }
        replace_json(self.dir / "jobs.json", data, ".jobs.")

    def jobs(self) -> Optional[MirroredJobs]:
        """The kept job list, None when there is none (or it was damaged: dropped)."""
        return _kept(
            self.dir / "jobs.json",
            lambda data: MirroredJobs(
                float(data["as_of"]), [JobInfo.model_validate(job) for job in data["jobs"]]
            ),
        )

    def job(self, job_id: int) -> Optional[JobInfo]:
        kept = self.jobs()
        return next((job for job in kept.jobs if job.id == job_id), None) if kept else None

    # -- stats ----------------------------------------------------------------------------

    def record_stats(self, gpu: GpuInventory, samples: Sequence[StatsSample], at: float) -> None:
        data = {
            "as_of": at,
            "gpu": gpu.model_dump(mode="python"),
            "samples": [sample.model_dump(mode="python") for sample in samples],
        }
        replace_json(self.dir / "stats.json", data, ".stats.")

    def stats(self) -> Optional[MirroredStats]:
        """The kept stats, None when there are none (or they were damaged: dropped)."""
        return _kept(
            self.dir / "stats.json",
            lambda data: MirroredStats(
                float(data["as_of"]),
                GpuInventory.model_validate(data["gpu"]),
                [StatsSample.model_validate(sample) for sample in data["samples"]],
            ),
        )

    # -- logs and metrics ---------------------------------------------------------------

    def _file(self, job_id: int, name: str) -> PrefixFile:
        key = f"{job_id}/{name}"
        if key not in self._files:
            self._files[key] = PrefixFile(self.dir / "jobs" / str(job_id) / name)
        return self._files[key]

    def log(self, job_id: int) -> PrefixFile:
        return self._file(job_id, LOG_NAME)

    def add_log(self, job_id: int, attempt: Optional[int], offset: int, data: bytes) -> None:
        """Bytes the host's log of `attempt` (None: the latest, whichever that is)
        has at `offset` (see the module docstring). Only the newest attempt's log
        is kept: bytes of an older one are let go, a newer one starts over."""
        log = self.log(job_id)
        held = log.prefix()
        if attempt is not None and held.attempt:
            if attempt < held.attempt:
                return
            if attempt > held.attempt:
                log.reset()
                held = log.prefix()
        end = offset + len(data)
        if offset > held.size or not data:
            return  # a gap: not a prefix any more
        size = held.size
        overlap = min(end, size) - offset
        if overlap and log.read_at(offset, overlap) != data[:overlap]:
            log.reset()  # the host's log is another one now
            if offset != 0:
                return
            size = 0
        if end > size:
            log.append(data[size - offset :], end, attempt or 0)

    def metrics_file(self, job_id: int) -> PrefixFile:
        return self._file(job_id, METRICS_NAME)

    def add_metrics(self, chunk: MetricsChunk) -> None:
        """A chunk of records, kept when it continues what is held."""
        kept = self.metrics_file(chunk.job_id)
        if chunk.offset != kept.prefix().host_offset or chunk.next_offset == chunk.offset:
            return
        line = json.dumps(chunk.model_dump(mode="python"), separators=(",", ":")) + "\n"
        kept.append(line.encode(), chunk.next_offset)

    def metrics(self, job_id: int) -> Iterator[MetricsChunk]:
        """The kept chunks, in the host's order."""
        pending = b""
        for block in self.metrics_file(job_id).blocks():
            pending += block
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield MetricsChunk.model_validate(json.loads(line))

    def written_at(self, job_id: int, name: str = LOG_NAME) -> Optional[float]:
        """When the mirror last took bytes for that file (None: it holds none)."""
        try:
            return os.stat(self._file(job_id, name).meta_path).st_mtime
        except FileNotFoundError:
            return None


def _kept(path: Path, parse: Callable[[Any], T]) -> Optional[T]:
    """What a JSON file of the mirror holds, parsed; None when there is none, and
    when it is damaged (it is dropped, to be written afresh from the host)."""
    try:
        return parse(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        with contextlib.suppress(OSError):
            path.unlink()
        return None


def tail_offset(log: PrefixFile, lines: int) -> int:
    """Where the last `lines` lines of the kept log start (a last line without
    its newline counts as a line, as the runner counts it)."""
    size = log.prefix().size
    if lines <= 0 or size == 0:
        return size
    end = size
    if log.read_at(size - 1, 1) == b"\n":
        end -= 1
    seen, position = 0, end
    while position > 0:
        start = max(0, position - (1 << 16))
        block = log.read_at(start, position - start)
        index = len(block)
        while True:
            index = block.rfind(b"\n", 0, index)
            if index < 0:
                break
            seen += 1
            if seen == lines:
                return start + index + 1
        position = start
    return 0
