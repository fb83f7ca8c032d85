"""What a request handler may use: the daemon's parts, and nothing of its wiring.

Handlers get this instead of the whole daemon, so they depend on the job table,
the GPU queue and the sampler, never on sockets, locks or each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from runner.gpu.scheduler import GpuScheduler
from runner.jobs.signals import JobSignals
from runner.jobs.table import JobManager
from runner.logs.file_watch import FileWatcher
from runner.paths import RunnerPaths
from runner.stats.sampler import Sampler
from runner.sync.store import SyncStore


@dataclass(frozen=True)
class Services:
    paths: RunnerPaths
    jobs: JobManager
    #: Signals sent to jobs (``tether signal``), each key's answer remembered.
    signals: JobSignals
    gpus: GpuScheduler
    stats: Sampler
    #: The snapshot store (the job table's: it copies synced jobs' trees from it).
    sync: SyncStore
    file_watcher: FileWatcher
    #: Wall-clock time the daemon started.
    started_at: float
    #: How many clients are connected now.
    client_count: Callable[[], int]
    #: Ask the daemon to stop (after answering); jobs keep running.
    request_stop: Callable[[], None]
