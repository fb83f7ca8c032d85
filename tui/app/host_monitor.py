"""`HostMonitor`: one host as the app shows it, kept current from its session.

It keeps the host's `HostSession` connected (retrying a failed first contact with
the same backoff the session uses after a drop), and holds what the screen draws:
the link state, the job table (pushed by the runner on every change), and the
GPU and host stats with their recent history. When the link goes down it keeps
all of that, stamped with when it became stale, so the screen can show the last
known state and its age instead of going blank.

No Textual here: widgets subscribe through `listeners` and read attributes.
Every task it starts belongs to it and ends in `close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Coroutine, Deque, List, Optional

from protocol.jobs import JobInfo
from protocol.stats import GpuInventory, StatsHistory, StatsInfo, StatsSample, StatsUpdate
from tui.errors import ConnectError, TetherError
from tui.hosts import is_local, make_app_session
from tui.session import BACKOFF_S, HostSession, SessionState

#: Seconds of stats history kept for the sparklines (what the runner keeps too).
HISTORY_S = 900.0

SessionFactory = Callable[[str], HostSession]
Clock = Callable[[], float]


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
        self.jobs_known = False
        self.include_finished = False
        self.gpu: Optional[GpuInventory] = None
        self.history: Deque[StatsSample] = deque()
        self.listeners: List[Callable[[str], None]] = []
        self.ask_host_key: Optional[HostKeyAsker] = None
        self._retry = asyncio.Event()
        self._main: Optional[asyncio.Task[None]] = None
        self._watchers: List[asyncio.Task[Any]] = []
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

    def job(self, job_id: int) -> Optional[JobInfo]:
        return next((j for j in self.jobs if j.id == job_id), None)

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        if self._main is None:
            self._main = asyncio.ensure_future(self._run())

    def retry_now(self) -> None:
        """Cut a backoff wait short, or try again after the host went offline."""
        self._retry.set()
        if self.session is not None:
            self.session.reconnect_now()

    def set_include_finished(self, include: bool) -> None:
        """Show every job ever run (True) or only active and recent ones."""
        if include == self.include_finished:
            return
        self.include_finished = include
        if self.session is not None and self.connected:
            self._restart_watchers(self.session)

    async def close(self) -> None:
        self._closed = True
        await self._stop_watchers()
        if self._main is not None:
            self._main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._main
        if self.session is not None:
            await self.session.close()

    # -- connecting -------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while not self._closed:
            session = self._factory(self.host)
            self.session = session
            session.listeners.append(self._on_link)
            try:
                await session.start()
            except TetherError as exc:
                await self._discard(session)
                if isinstance(exc, ConnectError) and await self._answered_host_key(exc):
                    continue
                attempt += 1
                await self._wait_before_retry(exc, attempt)
                continue
            attempt = 0
            await self._until_offline(session)

    async def _discard(self, session: HostSession) -> None:
        session.listeners.clear()
        await session.close()
        if self.session is session:
            self.session = None

    async def _wait_before_retry(self, exc: TetherError, attempt: int) -> None:
        self._retry.clear()
        reason = str(exc)
        if isinstance(exc, ConnectError) and exc.retryable:
            delay = BACKOFF_S[min(attempt, len(BACKOFF_S)) - 1] * random.uniform(0.8, 1.2)  # noqa: S311
            self._set_link(SessionState("reconnecting", reason, attempt, time.time() + delay))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._retry.wait(), delay)
        else:
            self._set_link(SessionState("offline", reason))
            await self._retry.wait()
        self._set_link(SessionState("connecting", reason))

    async def _answered_host_key(self, exc: ConnectError) -> bool:
        """True when `exc` was an unknown host key that the person has now accepted."""
        question = host_key_question(self.label, exc)
        if question is None or self.ask_host_key is None:
            return False
        self._set_link(
            SessionState("connecting", "waiting for you to accept or refuse its host key")
        )
        if not await self.ask_host_key(question):
            return False
        await accept_host_key(question)
        return True

    async def _until_offline(self, session: HostSession) -> None:
        """Serve a connected session until it gives up (it reconnects by itself)."""
        gone = asyncio.Event()

        def watch(state: SessionState) -> None:
            if state.kind in ("offline", "closed"):
                gone.set()

        session.listeners.append(watch)
        try:
            await gone.wait()
        finally:
            session.listeners.remove(watch)
            await self._stop_watchers()
            await self._discard(session)
        self._retry.clear()
        await self._retry.wait()
        self._set_link(SessionState("connecting", self.link.reason))

    def _on_link(self, state: SessionState) -> None:
        if state.kind == "closed":
            return
        if state.kind == "connected":
            self.generation += 1
            self.stale_since = None
            if self.session is not None:
                self._restart_watchers(self.session)
        elif self.stale_since is None and (self.jobs_known or self.history):
            self.stale_since = self.clock()
        self._set_link(state)

    def _set_link(self, state: SessionState) -> None:
        self.link = state
        self._notify("link")

    # -- keeping the data current ---------------------------------------------------

    def _restart_watchers(self, session: HostSession) -> None:
        for task in self._watchers:
            task.cancel()
        self._watchers = [self._spawn(self._watch_jobs(session))]
        if self._watch_stats:
            self._watchers.append(self._spawn(self._watch_stats_stream(session)))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return asyncio.ensure_future(coro)

    async def _stop_watchers(self) -> None:
        tasks, self._watchers = self._watchers, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _watch_jobs(self, session: HostSession) -> None:
        with contextlib.suppress(ConnectError):
            async for jobs in session.watch_jobs(self.include_finished):
                self.jobs = sorted(jobs, key=lambda j: j.id, reverse=True)
                self.jobs_known = True
                self._notify("jobs")

    async def _watch_stats_stream(self, session: HostSession) -> None:
        with contextlib.suppress(ConnectError):
            async for event in session.subscribe_stats(history_s=HISTORY_S):
                if isinstance(event, StatsInfo):
                    self.gpu = event.gpu
                    self._notify("stats")
                elif isinstance(event, StatsHistory):
                    self._add_samples(event.samples)
                    if event.last:
                        self._notify("stats")
                elif isinstance(event, StatsUpdate):
                    self._add_samples([event.sample])
                    self._notify("stats")

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
        self._notify("jobs")

    def _notify(self, change: str) -> None:
        for listener in list(self.listeners):
            listener(change)


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
