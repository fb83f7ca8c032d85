"""`HostMonitor`: one host as the app shows it, kept current from its session.

The session connects, retries and reconnects (`HostSession.keep_connected`);
the monitor only observes. It holds what the screen draws: the link state, the
job table (pushed by the runner on every change), and the GPU and host stats
with their recent history. When the link goes down it keeps all of that,
stamped with when it became stale, so the screen can show the last known state
and its age instead of going blank.

On a remote host it also forwards the declared ports of the running jobs to
this machine (`tui.forward.jobs`), brought in line with each new job table,
opens on the job table the mirror kept (`tui.mirror`), stale, until the host
answers, and keeps the mirror's copies of the running jobs' logs and metrics
current (`tui.app.mirror_keeper`).

Its two watchers (jobs, stats) are supervised: one that fails puts its error in
`problems`, under the part of the screen it feeds, and is started again after
the session's backoff; the problem goes when data flows again. An unknown SSH
host key found on first contact is put to the person (`ask_host_key`).

No Textual here: widgets subscribe through `listeners`, are told what changed
(a `HostChange`) and read attributes. Every task it starts belongs to it and
ends in `close`.
"""

from __future__ import annotations

import asyncio
import enum
import math
import time
from collections import deque
from dataclasses import dataclass
from operator import attrgetter
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Coroutine,
    Deque,
    Dict,
    List,
    Optional,
    Set,
)

from protocol.jobs import ACTIVE_STATES, JobFlag, JobInfo, JobState
from protocol.stats import GpuInventory, StatsHistory, StatsInfo, StatsSample, StatsUpdate
from tui.app.mirror_keeper import MirrorKeeper
from tui.errors import ConnectError, TetherError
from tui.hosts import is_local, make_app_session
from tui.mirror.host import HostMirror
from tui.mirror.writer import MirrorWriter
from tui.session import HostSession, SessionState, backoff_delay
from tui.session.cursors import StatsPosition

if TYPE_CHECKING:  # asyncssh is imported only where a host is remote
    from tui.forward.jobs import JobForwards

#: Seconds of stats history kept for the sparklines (what the runner keeps too).
HISTORY_S = 900.0
#: Seconds between the stats samples of a host whose view is not on screen (its
#: row on the hosts screen is all that shows them): twenty hosts open cost the
#: app a twentieth of what they would at the runner's rate.
BACKGROUND_STATS_S = 5.0
#: A notice repeated within this many seconds is not shown again.
NOTICE_REPEAT_S = 10.0

SessionFactory = Callable[[str], HostSession]
Clock = Callable[[], float]


_ID = attrgetter("id")
#: A running job's flag for silence, as `JobInfo.flags` carries it.
_STALLED = JobFlag.STALLED.value


class HostChange(enum.Enum):
    """What changed on a `HostMonitor`; listeners read the attributes named."""

    LINK = "link"  # link, stale_since, generation
    JOBS = "jobs"  # jobs, jobs_known
    STATS = "stats"  # gpu, history
    PROBLEM = "problem"  # problems
    FORWARDS = "forwards"  # forwards_of(job)


@dataclass(frozen=True)
class HostKeyQuestion:
    """An SSH host key nobody has vouched for yet: the person must accept or refuse."""

    host: str
    fingerprint: str
    algorithm: str
    #: The `tui.ssh.hostkeys.OfferedKey` to write to known_hosts when accepted.
    offered: Any


#: Answers a `HostKeyQuestion`: True to trust the key (it is then written to known_hosts).
HostKeyAsker = Callable[[HostKeyQuestion], Awaitable[bool]]
HostListener = Callable[[HostChange], None]
#: Told something the person should read once (a forwarded port that failed).
NoticeSink = Callable[[str], None]


class HostMonitor:
    def __init__(
        self,
        host: str,
        *,
        session_factory: SessionFactory = make_app_session,
        clock: Clock = time.time,
        watch_stats: bool = True,
    ) -> None:
        self.host = host
        self.label = "local" if is_local(host) else host
        self.clock = clock
        self._factory = session_factory
        self._watch_stats = watch_stats
        self.session: Optional[HostSession] = None
        self.link = SessionState("connecting")
        #: When the data on show stopped being live (None while connected).
        self.stale_since: Optional[float] = None
        #: Bumped on every (re)connection: followers resume when it changes.
        self.generation = 0
        self.jobs: List[JobInfo] = []
        #: The host has more jobs than the newest `MAX_LIST_JOBS` it sent.
        self.jobs_more = False
        self.jobs_known = False
        #: The ids of the active jobs in the last table (`_tell_ended`).
        self._active_ids: Set[int] = set()
        self.include_finished = False
        self.gpu: Optional[GpuInventory] = None
        self.history: Deque[StatsSample] = deque()
        #: Why a watcher stopped, by what it feeds (JOBS or STATS); empty when all flow.
        self.problems: Dict[HostChange, str] = {}
        self._failures: Dict[HostChange, int] = {}
        self.listeners: List[HostListener] = []
        self.ask_host_key: Optional[HostKeyAsker] = None
        self.on_notice: Optional[NoticeSink] = None
        #: Told of each job that ended since the last job table (`_tell_ended`).
        self.on_job_ended: Optional[Callable[[JobInfo], None]] = None
        #: Told of each job the runner newly flagged stalled (`_tell_stalled`).
        self.on_job_stalled: Optional[Callable[[JobInfo], None]] = None
        self._forwards: Optional[JobForwards] = None
        self._mirror_keeper: Optional[MirrorKeeper] = None
        self._opening: Optional[asyncio.Task[None]] = None
        self._forwarding: Optional[asyncio.Task[None]] = None
        self._forwards_stale = False
        self._noticed: Dict[str, float] = {}
        self._connected = asyncio.Event()
        self._watchers: List[asyncio.Task[Any]] = []
        self._stats_watcher: Optional[asyncio.Task[None]] = None
        #: Not on screen: its stats come at `BACKGROUND_STATS_S` (`set_background`).
        self.background = False
        self._stats_epoch: Optional[str] = None
        self._asking: Optional[asyncio.Task[None]] = None
        self._closed = False

    # -- what the screen reads ------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.link.kind == "connected"

    @property
    def latest(self) -> Optional[StatsSample]:
        return self.history[-1] if self.history else None

    def stale_age(self) -> Optional[float]:
        """Seconds since the data on show was last live, or None while it is live."""
        if self.stale_since is None:
            return None
        return max(0.0, self.clock() - self.stale_since)

    @property
    def mirror_keeper(self) -> Optional[MirrorKeeper]:
        """What keeps the mirror current while the host is open (None: local, or off)."""
        return self._mirror_keeper

    @property
    def mirror(self) -> Optional[HostMirror]:
        """The host's local mirror (None: this machine, or the mirror is off)."""
        return self._mirror_keeper.mirror if self._mirror_keeper is not None else None

    def job(self, job_id: int) -> Optional[JobInfo]:
        return next((j for j in self.jobs if j.id == job_id), None)

    def forwards_of(self, job: JobInfo) -> List[str]:
        """What a person opens to reach the job's declared ports: forwarded URLs on a
        remote host (``http://127.0.0.1:16006 → gpu1:6006``), the ports themselves
        here, where they are on 127.0.0.1 already."""
        if self._forwards is not None:
            return [pf.describe() for pf in self._forwards.of(job.id)]
        if is_local(self.host) and job.state is JobState.RUNNING:
            return [f"http://127.0.0.1:{port}" for port in job.ports]
        return []

    def connected_session(self) -> HostSession:
        """The session, for an action a person asked for now; `TetherError` saying
        why when the host is not connected (rather than waiting for it)."""
        if self.session is None or not self.connected:
            raise TetherError(f"{self.label} is not connected: {self.link.describe()}")
        return self.session

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Open the host's session (it connects in the background) and watch it."""
        if self.session is not None or self._closed:
            return
        session = self._factory(self.host)
        self.session = session
        session.listeners.append(self._on_link)
        self._forwards = self._job_forwards(session)
        mirror = session.mirror
        if isinstance(mirror, MirrorWriter):
            self._mirror_keeper = MirrorKeeper(session, mirror.mirror)
            self._opening = self._spawn(self._open_on_mirror(mirror.mirror))
        session.keep_connected()
        self._restart_watchers(session)

    async def _open_on_mirror(self, mirror: HostMirror) -> None:
        """Show the job table and the stats as the mirror kept them, stale, until
        the host answers."""
        kept, stats = await asyncio.gather(
            asyncio.to_thread(mirror.jobs), asyncio.to_thread(mirror.stats)
        )
        if stats is not None and self.gpu is None and not self.history:
            self.gpu = stats.gpu
            self._add_samples(stats.samples)
            self._mark_stale(stats.as_of)
            self._notify(HostChange.STATS)
        if kept is not None and not self.jobs_known:
            self.jobs = sorted(kept.jobs, key=_ID, reverse=True)
            self.jobs_known = True
            # What ended while away is told once the host answers.
            self._active_ids = {job.id for job in self.jobs if job.state in ACTIVE_STATES}
            self._mark_stale(kept.as_of)
            self._notify(HostChange.JOBS)

    def _mark_stale(self, as_of: float) -> None:
        """What the mirror gave is as old as `as_of` (while the host has not answered)."""
        if not self.connected:
            self.stale_since = min(as_of, self.stale_since or as_of)
            self._notify(HostChange.LINK)

    def _job_forwards(self, session: HostSession) -> Optional[JobForwards]:
        if is_local(self.host):
            return None
        from tui.forward.jobs import JobForwards
        from tui.remote import SshOpener

        opener = session.opener
        if not isinstance(opener, SshOpener):
            return None
        return JobForwards(self.label, opener.ssh_connection, self._notice)

    def _notice(self, text: str) -> None:
        """Pass `text` on, once while it repeats: a browser retries a refused port
        many times a second, and one notice says it all."""
        now = self.clock()
        last = self._noticed.get(text)
        self._noticed = {t: at for t, at in self._noticed.items() if now - at < NOTICE_REPEAT_S}
        if last is not None and now - last < NOTICE_REPEAT_S:
            return
        self._noticed[text] = now
        if self.on_notice is not None:
            self.on_notice(text)

    def retry_now(self) -> None:
        """Cut a backoff wait short, or try again after the host went offline."""
        if self.session is not None:
            self.session.reconnect_now()

    def set_include_finished(self, include: bool) -> None:
        """Show every job ever run (True) or only active and recent ones."""
        if include == self.include_finished:
            return
        self.include_finished = include
        if self.session is not None:
            self._restart_watchers(self.session)

    async def close(self) -> None:
        self._closed = True
        tasks, self._watchers = self._watchers, []
        for task in (self._asking, self._forwarding, self._opening):
            if task is not None:
                tasks.append(task)
        await _cancel(tasks)
        if self._forwards is not None:
            await self._forwards.close()
        if self._mirror_keeper is not None:
            await self._mirror_keeper.close()
        if self.session is not None:
            await self.session.close()

    # -- the link -------------------------------------------------------------------

    def _on_link(self, state: SessionState) -> None:
        if state.kind == "connected":
            self.generation += 1
            self.stale_since = None
            self._connected.set()
        else:
            self._connected.clear()
            if self.stale_since is None and (self.jobs_known or self.history):
                self.stale_since = self.clock()
        self._set_link(state)
        if state.kind == "offline" and isinstance(state.error, ConnectError):
            self._maybe_ask_about_host_key(state.error)

    def _set_link(self, state: SessionState) -> None:
        self.link = state
        self._notify(HostChange.LINK)

    def _maybe_ask_about_host_key(self, exc: ConnectError) -> None:
        question = host_key_question(self.label, exc)
        if question is None or self.ask_host_key is None:
            return
        if self._asking is None or self._asking.done():
            self._asking = asyncio.ensure_future(self._ask_about_host_key(question))

    async def _ask_about_host_key(self, question: HostKeyQuestion) -> None:
        """Put an unknown host key to the person; accepted, the session tries again
        at once, refused, the host stays offline (R asks again)."""
        assert self.ask_host_key is not None and self.session is not None
        session = self.session
        self._set_link(
            SessionState("connecting", "waiting for you to accept or refuse its host key")
        )
        if await self.ask_host_key(question):
            await accept_host_key(question)
            session.reconnect_now()
        else:
            self._set_link(session.state)

    # -- keeping the data current ---------------------------------------------------

    def _restart_watchers(self, session: HostSession) -> None:
        for task in self._watchers:
            task.cancel()
        # Cancelled ones still ending stay listed, so that `close` waits for them.
        self._watchers = [t for t in self._watchers if not t.done()]
        self._watchers += [self._spawn(self._supervised(HostChange.JOBS, self._watch_jobs))]
        if self._watch_stats:
            self._start_stats_watcher()

    def _start_stats_watcher(self) -> None:
        self._stats_watcher = self._spawn(
            self._supervised(HostChange.STATS, self._watch_stats_stream)
        )
        self._watchers.append(self._stats_watcher)

    def set_background(self, background: bool) -> None:
        """The host's view went off screen (True) or came on: its stats follow at
        `BACKGROUND_STATS_S`, or at the runner's rate again, from the last sample
        held (the history is not drawn again)."""
        if background == self.background:
            return
        self.background = background
        if self._stats_watcher is not None and not self._closed:
            self._stats_watcher.cancel()
            self._watchers = [t for t in self._watchers if not t.done()]
            self._start_stats_watcher()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return asyncio.ensure_future(coro)

    async def _supervised(
        self, part: HostChange, watch: Callable[[HostSession], Awaitable[None]]
    ) -> None:
        """Run `watch` while the host is connected, for as long as the monitor
        lives. The session's streams ride out lost links themselves; what ends
        one here is the host going offline (its link state says why: wait for
        it to come back) or a failure (shown under `part`, retried after a
        backoff that grows while it keeps failing)."""
        while not self._closed:
            await self._connected.wait()
            session = self.session
            assert session is not None
            try:
                await watch(session)
            except ConnectError as exc:
                if not self.connected:
                    continue  # offline or closed: the link state says why
                await self._failed(part, exc)
            except Exception as exc:  # any failure is shown, never a silent stop
                await self._failed(part, exc)

    async def _failed(self, part: HostChange, exc: Exception) -> None:
        """Show why the watcher of `part` stopped, and wait before it starts again
        (longer while it keeps failing without delivering anything)."""
        self._failures[part] = self._failures.get(part, 0) + 1 if part in self.problems else 1
        delay = backoff_delay(self._failures[part])
        retry = f"retrying in {math.ceil(delay)} s"
        self._set_problem(part, f"{_what(part)} stopped: {exc} ({retry})")
        await asyncio.sleep(delay)

    def _set_problem(self, part: HostChange, text: Optional[str]) -> None:
        if self.problems.get(part) == text:
            return
        if text is None:
            del self.problems[part]
        else:
            self.problems[part] = text
        self._notify(HostChange.PROBLEM)

    def _flowing(self, part: HostChange) -> None:
        if part in self.problems:
            self._set_problem(part, None)

    async def _watch_jobs(self, session: HostSession) -> None:
        async for table in session.watch_job_table(self.include_finished):
            jobs, self.jobs_more = table.jobs, table.more
            first = not self.jobs_known
            was_active = self._active_ids
            stalled_before = {job.id for job in self.jobs if job.flags and _STALLED in job.flags}
            self.jobs = jobs  # newest first, as every JobList is
            self.jobs_known = True
            self._tell_ended(was_active)
            if not first:  # a job stalled before the app opened is shown, not announced
                self._tell_stalled(stalled_before)
            self._flowing(HostChange.JOBS)
            self._notify(HostChange.JOBS)
            self._forward_ports()
            if self._mirror_keeper is not None:
                self._mirror_keeper.update(self.jobs)

    def _tell_ended(self, was_active: Set[int]) -> None:
        """Tell `on_job_ended` of each job that was active in the last table and has
        ended in this one: while the app watched, or while the link was down (the
        first table after a reconnect). Jobs the app never saw active are not news.
        One pass over the table, which also notes its active jobs for the next."""
        active: Set[int] = set()
        ended: List[JobInfo] = []
        for job in self.jobs:
            if job.state in ACTIVE_STATES:
                active.add(job.id)
            elif job.id in was_active:
                ended.append(job)
        self._active_ids = active
        if self.on_job_ended is not None:
            for job in ended:
                self.on_job_ended(job)

    def _tell_stalled(self, before: Set[int]) -> None:
        """Tell `on_job_stalled` of each job flagged stalled that was not in the
        last table: once per episode, as the runner's hook is."""
        if self.on_job_stalled is None:
            return
        for job in self.jobs:
            if job.flags and _STALLED in job.flags and job.id not in before:
                self.on_job_stalled(job)

    def _forward_ports(self) -> None:
        """Bring the forwards in line with the job table, one update at a time; a
        table that arrives meanwhile is taken when the running update ends."""
        if self._forwards is None or self._closed:
            return
        self._forwards_stale = True
        if self._forwarding is None or self._forwarding.done():
            self._forwarding = asyncio.ensure_future(self._update_forwards(self._forwards))

    async def _update_forwards(self, forwards: JobForwards) -> None:
        while self._forwards_stale and not self._closed:
            self._forwards_stale = False
            if await forwards.update(self.jobs):
                self._notify(HostChange.FORWARDS)

    async def _watch_stats_stream(self, session: HostSession) -> None:
        held = self.history[-1].seq if self.history and self._stats_epoch else None
        stream = session.subscribe_stats(
            interval_s=BACKGROUND_STATS_S if self.background else None,
            history_s=HISTORY_S,
            since=StatsPosition(self._stats_epoch, held),
        )
        async for event in stream:
            self._flowing(HostChange.STATS)
            if isinstance(event, StatsInfo):
                self._stats_epoch = event.epoch
                self.gpu = event.gpu
                self._notify(HostChange.STATS)
            elif isinstance(event, StatsHistory):
                self._add_samples(event.samples)
                if event.last:
                    self._notify(HostChange.STATS)
            elif isinstance(event, StatsUpdate):
                self._add_samples([event.sample])
                self._notify(HostChange.STATS)
            if self._mirror_keeper is not None and self.gpu is not None:
                self._mirror_keeper.stats_seen(self.gpu, self.history)

    def _add_samples(self, samples: List[StatsSample]) -> None:
        history = self.history
        for sample in samples:
            if history and sample.t < history[-1].t:
                history.clear()  # another runner epoch: its history replaces ours
            history.append(sample)
        while history and history[-1].t - history[0].t > HISTORY_S:
            history.popleft()

    def note_job(self, job: JobInfo) -> None:
        """Show a job this app just submitted, unless the runner's table has it
        already: that one is newer (a short job may have ended before the reply
        to its submit was read)."""
        if any(j.id == job.id for j in self.jobs):
            return
        self.jobs = sorted([*self.jobs, job], key=lambda j: j.id, reverse=True)
        self._notify(HostChange.JOBS)

    def _notify(self, change: HostChange) -> None:
        for listener in list(self.listeners):
            listener(change)


def _what(part: HostChange) -> str:
    return {HostChange.JOBS: "job table", HostChange.STATS: "stats"}.get(part, part.value)


async def _cancel(tasks: List[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and wait for them; an error other than the cancellation
    is raised, not dropped."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the cancellation was ours, not the task's


def host_key_question(host: str, exc: ConnectError) -> Optional[HostKeyQuestion]:
    """The question to ask when `exc` says the host's key is unknown (first contact),
    else None. A *changed* key is never offered for acceptance: it stays an error."""
    if type(exc).__name__ != "HostKeyUnknown":
        return None  # checked by name first so local-only use never imports asyncssh
    from tui.ssh.errors import HostKeyUnknown

    if not isinstance(exc, HostKeyUnknown) or exc.offered is None:
        return None
    offered = exc.offered
    return HostKeyQuestion(host, offered.fingerprint, offered.algorithm, offered)


async def accept_host_key(question: HostKeyQuestion) -> None:
    """Append the key to ``~/.ssh/known_hosts``, as ``ssh`` does when one answers yes."""
    from tui.ssh.hostkeys import append_known_host

    await asyncio.to_thread(append_known_host, question.offered)
