"""The daemon: lock, socket, job table, and an orderly stop that leaves jobs running."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from typing import Callable, Optional, Set, Tuple

from protocol.units import parse_duration
from runner.gpu.queue import DEFAULT_STARVE_AFTER_S
from runner.gpu.scheduler import GpuScheduler
from runner.jobs.hooks import DEFAULT_HOOK_TIMEOUT_S, Hooks, hook_command
from runner.jobs.lifecycle import RETRY_BACKOFF_S
from runner.jobs.signals import JobSignals
from runner.jobs.table import DEFAULT_STALL_AFTER_S, JobManager
from runner.jobs.watchdog import DEFAULT_IDLE_GPU_AFTER_S, Watchdog
from runner.lock import RunnerLock
from runner.logs.file_watch import FileWatcher
from runner.paths import RunnerPaths, home_dir
from runner.server.connection import Connection
from runner.server.services import Services
from runner.stats.sampler import Sampler
from runner.sync.store import keep_days_from_env
from runner.tasks import Health

log = logging.getLogger(__name__)


class Runner:
    """Everything one daemon owns. Handlers reach the job table through it."""

    def __init__(self, paths: RunnerPaths) -> None:
        self.paths = paths
        self.started_at = time.time()
        self.health = Health()
        self.jobs = JobManager(
            paths,
            cancel_grace_s=_env_float("TETHER_CANCEL_GRACE", 10.0),
            health=self.health,
            snapshot_keep_days=keep_days_from_env(),
            retry_backoff_s=_env_floats("TETHER_RETRY_BACKOFF", RETRY_BACKOFF_S),
            stall_after_s=_env_duration("TETHER_STALL_AFTER", DEFAULT_STALL_AFTER_S),
            executor="slurm" if os.environ.get("TETHER_EXECUTOR") == "slurm" else "local",
        )
        # Listening before the table starts: a job that ended while no runner ran
        # is told when the table finds out, at its start.
        self.hooks = Hooks(
            hook_command(os.environ, home_dir()),
            _env_duration("TETHER_HOOK_TIMEOUT", DEFAULT_HOOK_TIMEOUT_S),
        )
        self.stats = Sampler.from_env(paths.state_dir, self.jobs)
        # The sampler is the one reader of the GPUs; the queue reads its samples.
        self.gpus = GpuScheduler(
            self.jobs,
            readings=self.stats,
            starve_after_s=_env_float("TETHER_STARVE_AFTER", DEFAULT_STARVE_AFTER_S),
        )
        self.watchdog = Watchdog(
            self.jobs,
            self.stats.newest,
            self.hooks,
            idle_after_s=_env_duration("TETHER_IDLE_GPU_AFTER", DEFAULT_IDLE_GPU_AFTER_S),
        )
        self._connections: Set[Connection] = set()
        self._stop = asyncio.Event()
        self._server: Optional[asyncio.AbstractServer] = None
        self.file_watcher: Optional[FileWatcher] = None
        self._services: Optional[Services] = None

    def request_stop(self) -> None:
        self._stop.set()

    async def start(self) -> None:
        self.file_watcher = FileWatcher()
        self._services = Services(
            paths=self.paths,
            jobs=self.jobs,
            signals=JobSignals(self.jobs, self.stats.process_owner),
            gpus=self.gpus,
            stats=self.stats,
            sync=self.jobs.snapshots,
            file_watcher=self.file_watcher,
            started_at=self.started_at,
            client_count=lambda: len(self._connections),
            request_stop=self.request_stop,
        )
        await self.jobs.start()
        await self.stats.start()  # opens the GPU source: the queue's inventory
        await self.gpus.start()
        await self.watchdog.start(self.health)
        self._server = await asyncio.start_unix_server(self._on_client, sock=_bind(self.paths))

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._services is not None, "clients are accepted only once started"
        connection = Connection(self._services, reader, writer)
        self._connections.add(connection)
        try:
            await connection.serve()
        finally:
            self._connections.discard(connection)

    async def run_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        await self._stop.wait()
        await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            await connection.close()
        if self._server is not None:
            await self._server.wait_closed()
        await self.watchdog.close()
        await self.hooks.close()
        await self.stats.close()
        await self.gpus.close()
        await self.jobs.close()
        if self.file_watcher is not None:
            self.file_watcher.close()
        try:
            os.unlink(self.paths.socket)
        except FileNotFoundError:
            pass


def _bind(paths: RunnerPaths) -> socket.socket:
    """A listening socket that only its owner can connect to (0600 in a 0700 dir).
    Called only while holding the lock, so removing a stale socket is safe."""
    try:
        os.unlink(paths.socket)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        sock.bind(str(paths.socket))
    finally:
        os.umask(old_umask)
    os.chmod(paths.socket, 0o600)
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _env_floats(name: str, default: Tuple[float, ...]) -> Tuple[float, ...]:
    """A comma-separated list of seconds (``10,30,90``), each 0 or more;
    `default` when unset or not such a list."""
    try:
        values = tuple(float(word) for word in os.environ[name].split(","))
    except (KeyError, ValueError):
        return default
    return values if values and all(v >= 0 for v in values) else default


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ[name])
    except (KeyError, ValueError):
        return default


def _env_duration(name: str, default: float) -> float:
    """Seconds, or a duration such as ``30m``; `default` when unset or not one."""
    try:
        return max(0.0, parse_duration(os.environ[name]))
    except (KeyError, ValueError):
        return default


async def serve(
    paths: RunnerPaths, lock: RunnerLock, on_ready: Optional[Callable[[], None]] = None
) -> None:
    runner = Runner(paths)
    await runner.start()
    log.info("tether runner serving on %s (pid %d)", paths.socket, os.getpid())
    if on_ready is not None:
        on_ready()
    try:
        await runner.run_until_stopped()
    finally:
        lock.release()
