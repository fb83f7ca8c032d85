"""Every host tether knows, asked at once: which answer, what they run, what is free.

The hosts are those the app remembers, those reached with ``-H`` before (their
routes are cached), and those listed under ``[fleet] hosts`` in ``config.toml``.
Each is asked in parallel, with its own deadline: a host that refuses, or one
that swallows packets and never answers, costs only its own line, never the
others' time. What each answered is kept (``~/.cache/tether/fleet.json``) so an
unreachable host still says when it was last seen and what it had then.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Awaitable, Callable, Dict, Iterable, List, Optional, Sequence, TypeVar

from protocol.jobs import JobInfo
from protocol.messages import StatusReply
from protocol.stats import HostReading, StatsSnapshot
from tui.cache_file import cache_home, replace_json
from tui.errors import TetherError
from tui.hosts import is_local, make_session
from tui.session import HostSession

#: Seconds one host may take to answer before it counts as unreachable.
DEFAULT_TIMEOUT_S = 8.0
#: ``-H`` spelling for every known host.
ALL_HOSTS = "@all"

T = TypeVar("T")


@dataclass(frozen=True)
class Seen:
    """What a host said the last time it answered."""

    at: float
    version: str
    gpus_total: int
    gpus_free: int
    running: int
    queued: int
    #: The 1-minute load average per CPU core (0 from a file of an older tether).
    load: float = 0.0


@dataclass(frozen=True)
class HostReport:
    host: str
    #: What it says now, None when it did not answer (`problem` says why).
    seen: Optional[Seen]
    problem: Optional[str]
    #: The last time it answered before, when it did not now.
    last: Optional[Seen] = None

    @property
    def reachable(self) -> bool:
        return self.seen is not None


def fleet_path() -> Path:
    return cache_home() / "fleet.json"


def known_hosts(*sources: Iterable[str]) -> List[str]:
    """The hosts of every source, each once (``local`` for this machine), in order."""
    hosts: List[str] = []
    for source in sources:
        for host in source:
            name = "local" if is_local(host.strip()) else host.strip()
            if name not in hosts:
                hosts.append(name)
    return hosts


def split_hosts(text: str, every: Callable[[], List[str]]) -> Optional[List[str]]:
    """The hosts of ``-H a,b,c`` or ``-H @all`` (from `every`), None for one host."""
    if text.strip() == ALL_HOSTS:
        hosts = every()
        if not hosts:
            raise TetherError(
                "-H @all: tether knows no hosts yet; open some in the app, use -H HOST once, "
                "or list them under [fleet] hosts in ~/.config/tether/config.toml"
            )
        return hosts
    if "," not in text:
        return None
    hosts = known_hosts(part for part in text.split(",") if part.strip())
    if not hosts:
        raise TetherError(f"-H {text!r} names no host: give names separated by commas")
    return hosts


def _free(snapshot: StatsSnapshot, jobs: Iterable[JobInfo]) -> int:
    """GPUs no process uses now (tether's or anyone's) and no job of the runner
    holds (one that has its GPUs but has not touched them yet)."""
    held = {index for job in jobs if job.state.is_active for index in job.gpus}
    return sum(
        1
        for gpu in snapshot.sample.gpus
        if not gpu.processes and gpu.error is None and gpu.index not in held
    )


def _load(host: HostReading) -> float:
    cores = len(host.cpu_per_core_pct) + host.cpu_cores_omitted
    return host.load_avg[0] / cores if host.load_avg and cores else 0.0


def _seen(status: StatusReply, snapshot: StatsSnapshot, jobs: List[JobInfo], now: float) -> Seen:
    counts = status.job_counts
    return Seen(
        at=now,
        version=status.runner_version,
        gpus_total=len(snapshot.gpu.devices),
        gpus_free=_free(snapshot, jobs),
        running=counts.get("running", 0),
        queued=counts.get("queued", 0),
        load=round(_load(snapshot.sample.host), 3),
    )


async def on_host(host: str, ask: Callable[[HostSession], Awaitable[T]], timeout_s: float) -> T:
    """`ask(session)` on `host` within `timeout_s`, the session closed after;
    `TetherError` saying why when it could not be asked."""
    session = make_session(host, reconnect=False, kept=True)
    try:
        return await asyncio.wait_for(_asked(session, ask), timeout_s)
    except asyncio.TimeoutError:
        raise TetherError(f"no answer within {timeout_s:g} s (--timeout waits longer)") from None
    finally:
        await session.close()


async def _asked(session: HostSession, ask: Callable[[HostSession], Awaitable[T]]) -> T:
    await session.start()
    return await ask(session)


async def survey(host: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> HostReport:
    async def ask(session: HostSession) -> Seen:
        status, snapshot, jobs = await asyncio.gather(
            session.status(), session.stats_snapshot(), session.list_jobs()
        )
        return _seen(status, snapshot, jobs, time.time())

    try:
        return HostReport(host, await on_host(host, ask, timeout_s), None)
    except TetherError as exc:
        return HostReport(host, None, str(exc))


async def survey_all(
    hosts: Sequence[str], timeout_s: float = DEFAULT_TIMEOUT_S, path: Optional[Path] = None
) -> List[HostReport]:
    """Every host asked at once; the answers remembered, the last answer of each
    host that did not answer now attached to its report."""
    reports = await asyncio.gather(*(survey(host, timeout_s) for host in hosts))
    memory = await asyncio.to_thread(_remembered, path or fleet_path())
    for report in reports:
        if report.seen is not None:
            memory[report.host] = report.seen
    await asyncio.to_thread(_save, path or fleet_path(), memory)
    return [
        r if r.reachable else HostReport(r.host, None, r.problem, memory.get(r.host))
        for r in reports
    ]


def _remembered(path: Path) -> Dict[str, Seen]:
    """What each host said last; a damaged file counts as empty (it is only memory)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {host: Seen(**entry) for host, entry in data.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _save(path: Path, memory: Dict[str, Seen]) -> None:
    # Memory only: a file that cannot be written costs "last seen", nothing else.
    replace_json(path, {host: asdict(seen) for host, seen in memory.items()}, ".fleet.")
